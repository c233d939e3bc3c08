// The filesystem the engine works on: every file operation that changes state on disk (create,
// write, sync, truncate, rename, directory sync) goes through an Env, so that a test can give
// each Database its own simulated disk (faults, power loss) while others in the same process
// use the real one. Env::real() is the real filesystem; it holds no state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>

namespace sierra {

class Env {
 public:
  // The real filesystem (POSIX calls, EINTR retried). Shared, stateless, never null.
  static const std::shared_ptr<Env>& real();

  virtual ~Env() = default;

  // Each operation returns 0 (or the descriptor for open) on success, else an errno value.
  // `path` is the file the descriptor belongs to, for Envs that track files by name.
  // open(2) with `flags` (O_CLOEXEC is added); `creates` says whether it may create the file.
  virtual std::expected<int, int> open(const std::filesystem::path& path, int flags, bool creates);
  // Writes all n bytes at offset (retrying short writes).
  virtual int pwrite_all(int fd, const std::filesystem::path& path, const void* buf, size_t n,
                         uint64_t offset);
  virtual int datasync(int fd, const std::filesystem::path& path);
  virtual int sync(int fd, const std::filesystem::path& path);
  virtual int truncate(int fd, const std::filesystem::path& path, uint64_t size);
  // fsyncs the directory `dir`.
  virtual int sync_directory(const std::filesystem::path& dir);
  // rename(2) `from` onto `to`.
  virtual int rename(const std::filesystem::path& from, const std::filesystem::path& to);
};

}  // namespace sierra
