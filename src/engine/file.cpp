#include "engine/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <utility>

namespace sierra {
namespace {

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
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      env_(std::move(other.env_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    env_ = std::move(other.env_);
  }
  return *this;
}

Result<File> File::open(const std::filesystem::path& path, Mode mode, std::shared_ptr<Env> env) {
  if (!env) env = Env::real();
  const bool creates = mode == Mode::CreateNew || mode == Mode::CreateTruncate;
  auto fd = env->open(path, open_flags(mode), creates);
  if (!fd) return errno_error(fd.error(), describe("open", path));
  File f;
  f.fd_ = *fd;
  f.path_ = path;
  f.env_ = std::move(env);
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
  if (int err = env_->pwrite_all(fd_, path_, buf, n, offset); err != 0) {
    return errno_error(err, describe("pwrite", path_));
  }
  return {};
}

Status File::datasync() {
  if (int err = env_->datasync(fd_, path_); err != 0) {
    return errno_error(err, describe("fdatasync", path_));
  }
  return {};
}

Status File::sync() {
  if (int err = env_->sync(fd_, path_); err != 0) return errno_error(err, describe("fsync", path_));
  return {};
}

Status File::truncate(uint64_t size) {
  if (int err = env_->truncate(fd_, path_, size); err != 0) {
    return errno_error(err, describe("ftruncate", path_));
  }
  return {};
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

Status sync_directory(const std::filesystem::path& dir, Env& env) {
  const std::filesystem::path& d = dir.empty() ? std::filesystem::path(".") : dir;
  if (int err = env.sync_directory(d); err != 0) {
    return errno_error(err, describe("fsync directory", d));
  }
  return {};
}

Status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data,
                             const std::shared_ptr<Env>& env) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  auto remove_tmp = [&] {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  };
  auto file = File::open(tmp, File::Mode::CreateTruncate, env);
  if (!file) return std::unexpected(std::move(file.error()));
  Status st = file->pwrite_all(data.data(), data.size(), 0);
  if (st) st = file->sync();
  if (st) st = file->close();
  if (!st) {
    remove_tmp();
    return st;
  }
  Env& e = env ? *env : *Env::real();
  if (int err = e.rename(tmp, path); err != 0) {
    remove_tmp();
    return errno_error(err, "rename " + tmp.string() + " to " + path.string());
  }
  return sync_directory(path.parent_path(), e);
}

}  // namespace sierra
