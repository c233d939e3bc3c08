// The one scratch directory of the tests: a fresh, unique directory under $TMPDIR (or /dev/shm
// for fsync-heavy loops), removed with its contents on destruction. Set SIERRA_KEEP_TMP=1 to keep
// it; a test that failed prints the path. Included as "support/temp_dir.hpp".
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace sierra::test_support {

class TempDir {
 public:
  // Where the directory lives: the temp dir ($TMPDIR, else /tmp), or /dev/shm when it exists
  // (loops that fsync thousands of times), else the temp dir.
  enum Where { kDisk, kMemory };

  explicit TempDir(std::string_view prefix = "sierra-test", Where where = kDisk) {
    std::filesystem::path root = std::filesystem::temp_directory_path();
    std::error_code ec;
    if (where == kMemory && std::filesystem::is_directory("/dev/shm", ec)) root = "/dev/shm";
    std::string tmpl = (root / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      // A test cannot run without its directory: gtest reports the exception as a failure.
      throw std::runtime_error("mkdtemp(" + tmpl + "): " + std::strerror(errno));
    }
    path_ = tmpl;
  }
  explicit TempDir(Where where) : TempDir("sierra-test", where) {}

  ~TempDir() {
    if (path_.empty()) return;
    const bool failed = ::testing::Test::HasFailure();
    if (keep()) {
      std::fprintf(stderr, "[temp dir kept] %s\n", path_.c_str());
      return;
    }
    if (failed) {
      std::fprintf(stderr, "[temp dir of a failed test, removed; SIERRA_KEEP_TMP=1 keeps it] %s\n",
                   path_.c_str());
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempDir& operator=(TempDir&&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `content` to `name` (parents created) inside the directory; returns the full path.
  std::string write(const std::string& name, std::string_view content) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
    return p.string();
  }

  // SIERRA_KEEP_TMP set to anything but "" or "0".
  static bool keep() {
    const char* v = std::getenv("SIERRA_KEEP_TMP");
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
  }

 private:
  std::filesystem::path path_;
};

}  // namespace sierra::test_support
