// RAII file handle for all engine I/O: positional reads/writes, fdatasync, truncation.
// Every engine file operation goes through this type, and every operation that changes the disk
// goes through the file's Env (see env.hpp), so that a test can give one Database a simulated
// disk; errors come back as values with the path in the message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/env.hpp"
#include "engine/error.hpp"

namespace sierra {

class File {
 public:
  enum class Mode {
    ReadOnly,
    ReadWrite,
    CreateNew /* O_CREAT|O_EXCL, read-write */,
    CreateTruncate /* O_CREAT|O_TRUNC, read-write */
  };

  File() = default;
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Opens `path`; the file's creating, writing, syncing and truncating go through `env`.
  static Result<File> open(const std::filesystem::path& path, Mode mode,
                           std::shared_ptr<Env> env = Env::real());

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // The Env this file's operations go through (Env::real() unless one was given).
  const std::shared_ptr<Env>& env() const { return env_; }

  // Reads exactly n bytes at offset; a short read is Errc::CorruptRecord ("unexpected end of
  // file").
  Status pread_exact(void* buf, size_t n, uint64_t offset) const;
  // Reads up to n bytes; returns the count (0 at EOF).
  Result<size_t> pread_some(void* buf, size_t n, uint64_t offset) const;
  // Writes all bytes at offset (retrying short writes).
  Status pwrite_all(const void* buf, size_t n, uint64_t offset);
  Status datasync();
  Status sync();
  Status truncate(uint64_t size);
  Result<uint64_t> size() const;
  void advise_willneed(uint64_t offset, uint64_t len) const;
  Status close();

 private:
  int fd_ = -1;
  std::filesystem::path path_;
  std::shared_ptr<Env> env_;
};

// fsyncs a directory (after creating/renaming a file in it).
Status sync_directory(const std::filesystem::path& dir, Env& env = *Env::real());

// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
Status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data,
                             const std::shared_ptr<Env>& env = Env::real());

}  // namespace sierra
