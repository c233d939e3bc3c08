#include "engine/env.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace sierra {
namespace {

// Runs a system call returning -1/errno, retrying on EINTR; returns 0 or the errno value.
template <class Call>
int retry(Call call) {
  int r;
  do {
    r = call();
  } while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

}  // namespace

const std::shared_ptr<Env>& Env::real() {
  static const std::shared_ptr<Env> env = std::make_shared<Env>();
  return env;
}

std::expected<int, int> Env::open(const std::filesystem::path& path, int flags, bool /*creates*/) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return std::unexpected(errno);
  return fd;
}

int Env::pwrite_all(int fd, const std::filesystem::path& /*path*/, const void* buf, size_t n,
                    uint64_t offset) {
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO;  // no progress
    done += static_cast<size_t>(r);
  }
  return 0;
}

int Env::datasync(int fd, const std::filesystem::path& /*path*/) {
  return retry([&] { return ::fdatasync(fd); });
}

int Env::sync(int fd, const std::filesystem::path& /*path*/) {
  return retry([&] { return ::fsync(fd); });
}

int Env::truncate(int fd, const std::filesystem::path& /*path*/, uint64_t size) {
  return retry([&] { return ::ftruncate(fd, static_cast<off_t>(size)); });
}

int Env::sync_directory(const std::filesystem::path& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  const int err = retry([&] { return ::fsync(fd); });
  ::close(fd);
  return err;
}

int Env::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  return ::rename(from.c_str(), to.c_str()) < 0 ? errno : 0;
}

}  // namespace sierra
