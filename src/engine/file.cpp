#include "engine/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <utility>

namespace sierra {
namespace {

// Fault hook storage. `g_has_hook` keeps the common (no hook) path free of the mutex.
std::atomic<bool> g_has_hook{false};
std::atomic<bool> g_namespace_ops{false};  // the hook also wants Create / Rename
std::mutex g_hook_mutex;
std::shared_ptr<FileFaults::Hook> g_hook;  // guarded by g_hook_mutex

int consult_faults(FileFaults::Op op, const std::filesystem::path& path, uint64_t offset,
                   size_t len) {
  if (!g_has_hook.load(std::memory_order_acquire)) return 0;
  if ((op == FileFaults::Op::Create || op == FileFaults::Op::Rename) &&
      !g_namespace_ops.load(std::memory_order_acquire)) {
    return 0;
  }
  std::shared_ptr<FileFaults::Hook> hook;
  {
    std::lock_guard lock(g_hook_mutex);
    hook = g_hook;
  }
  if (!hook || !*hook) return 0;
  return (*hook)(op, path, offset, len);
}

std::string describe(std::string_view op, const std::filesystem::path& path) {
  std::string s(op);
  s += ' ';
  s += path.string();
  return s;
}

int open_flags(File::Mode mode) {
  switch (mode) {
    case File::Mode::ReadOnly:
      return O_RDONLY;
    case File::Mode::ReadWrite:
      return O_RDWR;
    case File::Mode::CreateNew:
      return O_RDWR | O_CREAT | O_EXCL;
    case File::Mode::CreateTruncate:
      return O_RDWR | O_CREAT | O_TRUNC;
  }
  return O_RDONLY;
}

}  // namespace

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Result<File> File::open(const std::filesystem::path& path, Mode mode) {
  if (mode == Mode::CreateNew || mode == Mode::CreateTruncate) {
    if (int err = consult_faults(FileFaults::Op::Create, path, 0, 0); err != 0) {
      return errno_error(err, describe("open", path));
    }
  }
  int fd;
  do {
    fd = ::open(path.c_str(), open_flags(mode) | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error(errno, describe("open", path));
  File f;
  f.fd_ = fd;
  f.path_ = path;
  return f;
}

Status File::pread_exact(void* buf, size_t n, uint64_t offset) const {
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, describe("pread", path_));
    }
    if (r == 0) {
      return make_error(Errc::CorruptRecord, "unexpected end of file reading " + path_.string(),
                        offset + done);
    }
    done += static_cast<size_t>(r);
  }
  return {};
}

Result<size_t> File::pread_some(void* buf, size_t n, uint64_t offset) const {
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, describe("pread", path_));
    }
    if (r == 0) break;  // EOF
    done += static_cast<size_t>(r);
  }
  return done;
}

Status File::pwrite_all(const void* buf, size_t n, uint64_t offset) {
  if (int err = consult_faults(FileFaults::Op::Write, path_, offset, n); err != 0) {
    return errno_error(err, describe("pwrite", path_));
  }
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, describe("pwrite", path_));
    }
    if (r == 0) return errno_error(EIO, describe("pwrite", path_));  // no progress
    done += static_cast<size_t>(r);
  }
  return {};
}

// Runs a sync-like system call: consults the fault hook first, retries on EINTR.
template <class Call>
Status File::checked_call(FileFaults::Op op, uint64_t offset, std::string_view what,
                          Call call) const {
  if (int err = consult_faults(op, path_, offset, 0); err != 0) {
    return errno_error(err, describe(what, path_));
  }
  int r;
  do {
    r = call();
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno_error(errno, describe(what, path_));
  return {};
}

Status File::datasync() {
  return checked_call(FileFaults::Op::Sync, 0, "fdatasync", [&] { return ::fdatasync(fd_); });
}

Status File::sync() {
  return checked_call(FileFaults::Op::Sync, 0, "fsync", [&] { return ::fsync(fd_); });
}

Status File::truncate(uint64_t size) {
  return checked_call(FileFaults::Op::Truncate, size, "ftruncate",
                      [&] { return ::ftruncate(fd_, static_cast<off_t>(size)); });
}

Result<uint64_t> File::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) < 0) return errno_error(errno, describe("fstat", path_));
  return static_cast<uint64_t>(st.st_size);
}

void File::advise_willneed(uint64_t offset, uint64_t len) const {
  if (fd_ < 0) return;
  (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len),
                        POSIX_FADV_WILLNEED);
}

Status File::close() {
  if (fd_ < 0) return {};
  const int fd = std::exchange(fd_, -1);
  // On Linux the descriptor is released even when close fails with EINTR: never retry.
  if (::close(fd) < 0 && errno != EINTR) return errno_error(errno, describe("close", path_));
  return {};
}

Status sync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path& d = dir.empty() ? std::filesystem::path(".") : dir;
  if (int err = consult_faults(FileFaults::Op::Sync, d, 0, 0); err != 0) {
    return errno_error(err, describe("fsync directory", d));
  }
  int fd;
  do {
    fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_error(errno, describe("open directory", d));
  int r;
  do {
    r = ::fsync(fd);
  } while (r < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (r < 0) return errno_error(err, describe("fsync directory", d));
  return {};
}

Status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  auto remove_tmp = [&] {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  auto file = File::open(tmp, File::Mode::CreateTruncate);
  if (!file) return std::unexpected(std::move(file.error()));
  Status st = file->pwrite_all(data.data(), data.size(), 0);
  if (st) st = file->sync();
  if (st) st = file->close();
  if (!st) {
    remove_tmp();
    return st;
  }
  if (int err = consult_faults(FileFaults::Op::Rename, path, 0, 0); err != 0) {
    remove_tmp();
    return errno_error(err, "rename " + tmp.string() + " to " + path.string());
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    const int err = errno;
    remove_tmp();
    return errno_error(err, "rename " + tmp.string() + " to " + path.string());
  }
  return sync_directory(path.parent_path());
}

void FileFaults::set(Hook hook, bool namespace_ops) {
  auto p = std::make_shared<Hook>(std::move(hook));
  std::lock_guard lock(g_hook_mutex);
  g_hook = std::move(p);
  g_namespace_ops.store(namespace_ops, std::memory_order_release);
  g_has_hook.store(true, std::memory_order_release);
}

void FileFaults::clear() {
  std::lock_guard lock(g_hook_mutex);
  g_hook.reset();
  g_has_hook.store(false, std::memory_order_release);
  g_namespace_ops.store(false, std::memory_order_release);
}

}  // namespace sierra
