// RAII file handle for all engine I/O: positional reads/writes, fdatasync, truncation.
// Every engine file operation goes through this type so that tests can inject faults
// (see FileFaults) and so that errors come back as values with the path in the message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "engine/error.hpp"

namespace sierra {

// Test-only fault injection. When a hook is set it is consulted before each write/sync and may
// return an error (e.g. ENOSPC / EIO) instead of performing it. Production code never sets these.
//   Write     File::pwrite_all (offset, len)
//   Sync      File::datasync / File::sync, and sync_directory (path = the directory)
//   Truncate  File::truncate (offset = the new size)
//   Create    File::open in a creating mode, before the file is created (offset = len = 0)
//   Rename    write_file_atomically, before its temp file `path` + ".tmp" is renamed onto `path`
// Create and Rename are reported only to a hook set with `namespace_ops` (power-loss simulation
// tracks directory entries); other hooks never see them.
struct FileFaults {
  enum class Op { Write, Sync, Truncate, Create, Rename };
  // Returns 0 to proceed, or an errno value to fail the operation with.
  using Hook =
      std::function<int(Op op, const std::filesystem::path& path, uint64_t offset, size_t len)>;
  static void set(Hook hook, bool namespace_ops = false);
  static void clear();
};

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

  static Result<File> open(const std::filesystem::path& path, Mode mode);

  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }

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
  template <class Call>
  Status checked_call(FileFaults::Op op, uint64_t offset, std::string_view what, Call call) const;
  int fd_ = -1;
  std::filesystem::path path_;
};

// fsyncs a directory (after creating/renaming a file in it).
Status sync_directory(const std::filesystem::path& dir);

// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
Status write_file_atomically(const std::filesystem::path& path, std::span<const uint8_t> data);

}  // namespace sierra
