// A test Env that asks a hook before each operation that changes the disk and fails the
// operation with the errno the hook returns (0: go ahead, on the real filesystem). One per
// Database (DatabaseOptions::env / DatabaseBuilder::env), so several engines with different
// faults can run in one process. It counts the faults it injected, so a test can assert that
// its faults happened and not only that nothing broke.
//   Write     pwrite_all (offset, len)
//   Sync      datasync / sync of a file, and sync_directory (path = the directory)
//   Truncate  truncate (offset = the new size)
//   Create    open in a creating mode, before the file is created (offset = len = 0)
//   Rename    before a rename (path = the target; the source is path + ".tmp")
// Create and Rename reach the hook only with `namespace_ops` (the power-loss simulation tracks
// directory entries); other hooks never see them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "engine/env.hpp"

namespace sierra {

class HookEnv : public Env {
 public:
  enum class Op { Write, Sync, Truncate, Create, Rename };
  static constexpr size_t kOps = 5;
  // Returns 0 to proceed, or an errno value to fail the operation with.
  using Hook =
      std::function<int(Op op, const std::filesystem::path& path, uint64_t offset, size_t len)>;

  explicit HookEnv(Hook hook = {}, bool namespace_ops = false)
      : hook_(std::make_shared<Hook>(std::move(hook))), namespace_ops_(namespace_ops) {}

  static std::shared_ptr<HookEnv> make(Hook hook, bool namespace_ops = false) {
    return std::make_shared<HookEnv>(std::move(hook), namespace_ops);
  }

  // Replaces the hook (an empty one: every operation proceeds). Thread-safe.
  void set(Hook hook) {
    auto p = std::make_shared<Hook>(std::move(hook));
    std::lock_guard lock(mu_);
    hook_ = std::move(p);
  }
  void clear() { set({}); }

  // Faults injected so far (operations the hook failed), in total and per operation.
  uint64_t injected() const {
    uint64_t n = 0;
    for (const auto& c : injected_) n += c.load();
    return n;
  }
  uint64_t injected(Op op) const { return injected_[static_cast<size_t>(op)].load(); }

  std::expected<int, int> open(const std::filesystem::path& path, int flags,
                               bool creates) override {
    if (creates) {
      if (int err = consult(Op::Create, path, 0, 0); err != 0) return std::unexpected(err);
    }
    return Env::open(path, flags, creates);
  }
  int pwrite_all(int fd, const std::filesystem::path& path, const void* buf, size_t n,
                 uint64_t offset) override {
    if (int err = consult(Op::Write, path, offset, n); err != 0) return err;
    return Env::pwrite_all(fd, path, buf, n, offset);
  }
  int datasync(int fd, const std::filesystem::path& path) override {
    if (int err = consult(Op::Sync, path, 0, 0); err != 0) return err;
    return Env::datasync(fd, path);
  }
  int sync(int fd, const std::filesystem::path& path) override {
    if (int err = consult(Op::Sync, path, 0, 0); err != 0) return err;
    return Env::sync(fd, path);
  }
  int truncate(int fd, const std::filesystem::path& path, uint64_t size) override {
    if (int err = consult(Op::Truncate, path, size, 0); err != 0) return err;
    return Env::truncate(fd, path, size);
  }
  int sync_directory(const std::filesystem::path& dir) override {
    if (int err = consult(Op::Sync, dir, 0, 0); err != 0) return err;
    return Env::sync_directory(dir);
  }
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (int err = consult(Op::Rename, to, 0, 0); err != 0) return err;
    return Env::rename(from, to);
  }

 private:
  int consult(Op op, const std::filesystem::path& path, uint64_t offset, size_t len) {
    if ((op == Op::Create || op == Op::Rename) && !namespace_ops_) return 0;
    std::shared_ptr<Hook> hook;
    {
      std::lock_guard lock(mu_);
      hook = hook_;
    }
    if (!hook || !*hook) return 0;
    const int err = (*hook)(op, path, offset, len);
    if (err != 0) injected_[static_cast<size_t>(op)].fetch_add(1);
    return err;
  }

  std::mutex mu_;
  std::shared_ptr<Hook> hook_;  // guarded by mu_
  const bool namespace_ops_;
  std::array<std::atomic<uint64_t>, kOps> injected_{};
};

}  // namespace sierra
