// Power-loss simulation for the engine's file I/O (test only).
//
// PowerLossRecorder is the Env of one database (env(), a HookEnv with Create/Rename) over one
// directory tree; once installed it remembers what a real disk would have made durable:
//   * file contents: per file, the size at its last fsync/fdatasync and the ranges written since
//     (with the bytes they overwrote, if any);
//   * directory entries: per directory, the entries that existed when it was last fsynced
//     (sync_directory). An entry created or renamed since is not durable.
// At a chosen operation (the n-th Sync of a segment file, or the n-th hooked operation of any
// kind), or when crash_now() is called, it freezes: the calling thread copies the tree to a
// snapshot directory (every other thread that reaches the hook waits meanwhile), then applies a
// random power loss to the copy, and from then on every hooked operation fails with EIO so the
// live engine acknowledges nothing more. The power loss, per file with unsynced bytes: keep
// them all, drop them all, keep a random prefix, keep a prefix followed by zeros or garbage, or
// lose/zero/garble random 4 KiB pages; per non-durable directory entry: keep it or drop it
// (with its subtree).
//
// Modelling notes: a Sync is counted as done when its hook returns (the bytes were written
// before the call, so the snapshot holds them): appends acknowledged after the freeze by another
// writer thread are consistent with the snapshot. Removals done outside the hook (remove_all of
// leftover directories) are taken as durable. A file first seen under the recorder is taken as
// synced up to its size at that moment.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/fault_env.hpp"
#include "engine/file.hpp"

namespace sierra::powerloss {

namespace fs = std::filesystem;

// Copies a directory tree one level at a time, skipping entries that vanish meanwhile.
inline void copy_tree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    const fs::file_status st = it->symlink_status(ec2);
    if (ec2) continue;
    const fs::path target = to / it->path().filename();
    if (fs::is_directory(st)) {
      copy_tree(it->path(), target);
    } else if (fs::is_regular_file(st)) {
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, ec2);
    }
  }
}

// What the power loss did, for the test's log.
struct PowerLossReport {
  std::string trigger;                  // the operation that crashed, or "crash_now"
  std::string trigger_kind;             // e.g. "sync data.evts", "rename dir entry", "crash_now"
  std::vector<std::string> file_fates;  // "<rel path>: <mode> ..." for files with unsynced bytes
  std::vector<std::string> dropped;     // non-durable directory entries removed
  size_t kept_entries = 0;              // non-durable directory entries kept
  uint64_t unsynced_bytes = 0;          // bytes written but not synced when the power went
  // Of those, bytes the loss took: cut off, zeroed or garbled (and overwritten synced bytes put
  // back to their old content). A run where this stays 0 never tested a loss.
  uint64_t lost_bytes = 0;
  std::string summary() const {
    std::string s = "crash at " + trigger + "; ";
    for (const auto& f : file_fates) s += f + "; ";
    for (const auto& d : dropped) s += "dropped entry " + d + "; ";
    s += std::to_string(kept_entries) + " non-durable entries kept; ";
    s += std::to_string(lost_bytes) + " of " + std::to_string(unsynced_bytes) +
         " unsynced bytes lost";
    return s;
  }
};

class PowerLossRecorder {
 public:
  enum class Trigger { Never, SegmentSync, AnyOp };

  // `root`: the data directory (every entry under it that exists now is taken as durable).
  // `snapshot`: where the crash copies the tree (must not exist yet).
  PowerLossRecorder(fs::path root, fs::path snapshot, uint64_t seed)
      : root_(fs::absolute(root).lexically_normal()), snapshot_(std::move(snapshot)), rng_(seed) {
    mark_tree_durable(root_);
  }
  ~PowerLossRecorder() { env_->clear(); }
  PowerLossRecorder(const PowerLossRecorder&) = delete;
  PowerLossRecorder& operator=(const PowerLossRecorder&) = delete;

  // Crash at the n-th (1-based) matching operation. Trigger::Never: only crash_now().
  void arm(Trigger trigger, uint64_t n) {
    std::lock_guard lock(mu_);
    trigger_ = trigger;
    crash_at_ = n;
  }

  // Worst case instead of random choices: every unsynced byte and every non-durable directory
  // entry is lost.
  void force_worst_case() {
    std::lock_guard lock(mu_);
    worst_case_ = true;
  }

  // The Env to open the database with (DatabaseBuilder::env). It records nothing until
  // install() and after uninstall() (or the recorder's end).
  std::shared_ptr<Env> env() const { return env_; }
  void install() {
    env_->set([this](HookEnv::Op op, const fs::path& path, uint64_t offset, size_t len) {
      return hook(op, path, offset, len);
    });
  }
  void uninstall() { env_->clear(); }

  // Crashes now (if not crashed yet); returns false if it had crashed already.
  bool crash_now() {
    std::lock_guard lock(mu_);
    if (frozen_) return false;
    report_.trigger_kind = "crash_now";
    freeze("crash_now");
    return true;
  }

  bool crashed() const {
    std::lock_guard lock(mu_);
    return frozen_;
  }
  const fs::path& snapshot() const { return snapshot_; }
  PowerLossReport report() const {
    std::lock_guard lock(mu_);
    return report_;
  }
  uint64_t segment_syncs() const {
    std::lock_guard lock(mu_);
    return segment_syncs_;
  }
  uint64_t ops() const {
    std::lock_guard lock(mu_);
    return ops_;
  }

 private:
  struct Range {
    uint64_t begin = 0;
    uint64_t end = 0;
  };
  struct Overwritten {  // bytes below the synced size that an unsynced write replaced
    uint64_t offset = 0;
    std::string old_bytes;
  };
  struct FileState {
    uint64_t synced_size = 0;
    std::vector<Range> unsynced;
    std::vector<Overwritten> overwritten;
  };

  static std::optional<uint64_t> size_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    return static_cast<uint64_t>(st.st_size);
  }

  std::optional<std::string> relative(const fs::path& p) const {
    const fs::path abs = fs::absolute(p).lexically_normal();
    const fs::path rel = abs.lexically_relative(root_);
    if (rel.empty()) return std::nullopt;
    const std::string s = rel.string();
    if (s == ".") return std::string();
    if (s.starts_with("..")) return std::nullopt;
    return s;
  }

  static std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      names.insert(it->path().filename().string());
    }
    return names;
  }

  void mark_tree_durable(const fs::path& dir) {
    const auto rel = relative(dir);
    if (!rel) return;
    durable_[*rel] = listing(dir);
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (it->is_directory(ec2)) mark_tree_durable(it->path());
    }
  }

  FileState& state_for(const std::string& rel, const fs::path& path) {
    auto it = files_.find(rel);
    if (it != files_.end()) return it->second;
    FileState st;
    st.synced_size = size_of(path).value_or(0);
    return files_.emplace(rel, std::move(st)).first->second;
  }

  int hook(HookEnv::Op op, const fs::path& path, uint64_t offset, size_t len) {
    std::lock_guard lock(mu_);
    if (frozen_) return EIO;
    const auto rel = relative(path);
    if (!rel) return 0;
    ++ops_;
    std::error_code ec;
    const bool is_dir = fs::is_directory(path, ec);
    const bool segment_sync = op == HookEnv::Op::Sync && !is_dir && path.filename() == "data.evts";
    if (segment_sync) ++segment_syncs_;
    if ((trigger_ == Trigger::SegmentSync && segment_sync && segment_syncs_ == crash_at_) ||
        (trigger_ == Trigger::AnyOp && ops_ == crash_at_)) {
      static const char* const kNames[] = {"write", "sync", "truncate", "create", "rename"};
      const std::string name = kNames[static_cast<int>(op)];
      report_.trigger_kind = name + " " + (is_dir ? "directory" : path.filename().string());
      freeze(name + " " + *rel + " (op " + std::to_string(ops_) + ")");
      return EIO;
    }
    switch (op) {
      case HookEnv::Op::Write: {
        FileState& st = state_for(*rel, path);
        const uint64_t size = size_of(path).value_or(0);
        if (offset < st.synced_size && offset < size) {
          const uint64_t n = std::min<uint64_t>({len, st.synced_size - offset, size - offset});
          Overwritten o{offset, std::string(n, '\0')};
          const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd >= 0) {
            const ssize_t r = ::pread(fd, o.old_bytes.data(), n, static_cast<off_t>(offset));
            ::close(fd);
            if (r == static_cast<ssize_t>(n)) st.overwritten.push_back(std::move(o));
          }
        }
        st.unsynced.push_back(Range{offset, offset + len});
        break;
      }
      case HookEnv::Op::Sync:
        if (is_dir) {
          durable_[*rel] = listing(path);
        } else {
          FileState& st = state_for(*rel, path);
          st.unsynced.clear();
          st.overwritten.clear();
          st.synced_size = size_of(path).value_or(0);
        }
        break;
      case HookEnv::Op::Truncate: {
        FileState& st = state_for(*rel, path);
        // Bytes cut off are gone in every outcome (the test never needs them back).
        st.synced_size = std::min(st.synced_size, offset);
        break;
      }
      case HookEnv::Op::Create: {
        FileState st;  // a new (or emptied) file: nothing of it is durable
        files_[*rel] = st;
        break;
      }
      case HookEnv::Op::Rename: {
        // The temp file was fsynced before the rename: its state moves to the new name.
        const std::string tmp = *rel + ".tmp";
        auto it = files_.find(tmp);
        if (it != files_.end()) {
          files_[*rel] = it->second;
          files_.erase(tmp);
        } else {
          files_.erase(*rel);
        }
        break;
      }
    }
    return 0;
  }

  uint64_t pick(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + pick(hi - lo + 1); }  // [lo, hi]

  // Called with mu_ held: every other thread entering the hook waits until the copy is done.
  void freeze(const std::string& trigger) {
    report_.trigger = trigger;
    copy_tree(root_, snapshot_);
    for (const auto& [rel, st] : files_) apply_file_loss(rel, st);
    apply_namespace_loss();
    frozen_ = true;
  }

  void apply_file_loss(const std::string& rel, const FileState& st) {
    const fs::path p = snapshot_ / rel;
    const auto cur = size_of(p);
    if (!cur) return;  // not in the snapshot
    const uint64_t size = *cur;
    const bool tail = size > st.synced_size;
    if (!tail && st.overwritten.empty()) return;
    const uint64_t s0 = std::min(st.synced_size, size);
    report_.unsynced_bytes += size - s0;
    for (const auto& o : st.overwritten) report_.unsynced_bytes += o.old_bytes.size();
    enum Mode { KeepAll, DropAll, Prefix, PrefixZeros, PrefixGarbage, Pages, kModes };
    static const char* const kModeNames[] = {"keep all",       "drop all",         "prefix",
                                             "prefix + zeros", "prefix + garbage", "random pages"};
    const Mode mode = worst_case_ ? DropAll : static_cast<Mode>(pick(kModes));
    std::string fate = rel + ": " + kModeNames[mode];
    if (mode == KeepAll) {
      report_.file_fates.push_back(fate + " (" + std::to_string(size) + " bytes)");
      return;
    }
    const int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    auto write_at = [&](const std::string& bytes, uint64_t off) {
      if (!bytes.empty()) {
        [[maybe_unused]] ssize_t w = ::pwrite(fd, bytes.data(), bytes.size(), off);
      }
    };
    auto noise = [&](size_t n, bool zeros) {
      std::string s(n, '\0');
      if (!zeros) {
        for (auto& c : s) c = static_cast<char>(rng_());
      }
      return s;
    };
    // Overwritten synced bytes: each write may or may not have reached the disk.
    for (auto it = st.overwritten.rbegin(); it != st.overwritten.rend(); ++it) {
      if (mode == DropAll || pick(2) == 0) {
        write_at(it->old_bytes, it->offset);
        report_.lost_bytes += it->old_bytes.size();
      }
    }
    uint64_t new_size = size;
    if (tail) {
      switch (mode) {
        case DropAll:
          new_size = s0;
          break;
        case Prefix:
          new_size = between(s0, size);
          break;
        case PrefixZeros:
        case PrefixGarbage: {
          const uint64_t keep = between(s0, size);
          new_size = between(keep, size);
          write_at(noise(new_size - keep, mode == PrefixZeros), keep);
          report_.lost_bytes += new_size - keep;
          fate += " kept " + std::to_string(keep - s0) + " then " +
                  std::to_string(new_size - keep) + " bad";
          break;
        }
        case Pages: {
          new_size = between(s0, size);
          constexpr uint64_t kPage = 4096;
          int lost = 0;
          for (uint64_t page = s0 / kPage * kPage; page < new_size; page += kPage) {
            const uint64_t b = std::max(page, s0);
            const uint64_t e = std::min(page + kPage, new_size);
            const uint64_t r = pick(3);  // 0 keep, 1 zeros, 2 garbage
            if (r != 0) {
              write_at(noise(e - b, r == 1), b);
              report_.lost_bytes += e - b;
              ++lost;
            }
          }
          fate += " (" + std::to_string(lost) + " pages lost)";
          break;
        }
        default:
          break;
      }
      [[maybe_unused]] int r = ::ftruncate(fd, static_cast<off_t>(new_size));
      report_.lost_bytes += size - new_size;
    }
    ::close(fd);
    report_.file_fates.push_back(fate + " synced " + std::to_string(st.synced_size) + ", had " +
                                 std::to_string(size) + ", now " + std::to_string(new_size));
  }

  // Entries created (or renamed) since their directory's last fsync may vanish, with their
  // subtree. One policy per crash: keep all, drop all, or decide each.
  void apply_namespace_loss() {
    const uint64_t policy = worst_case_ ? 1 : pick(3);  // 0 keep all, 1 drop all, 2 random
    walk_namespace(snapshot_, "", policy);
  }

  void walk_namespace(const fs::path& dir, const std::string& rel, uint64_t policy) {
    const auto durable = durable_.find(rel);
    std::vector<fs::path> children;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      children.push_back(it->path());
    }
    std::sort(children.begin(), children.end());
    for (const fs::path& child : children) {
      const std::string name = child.filename().string();
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      const bool is_durable = durable != durable_.end() && durable->second.contains(name);
      if (!is_durable) {
        const bool drop = policy == 1 || (policy == 2 && pick(2) == 0);
        if (drop) {
          fs::remove_all(child, ec);
          report_.dropped.push_back(child_rel);
          continue;
        }
        ++report_.kept_entries;
      }
      std::error_code ec2;
      if (fs::is_directory(child, ec2)) walk_namespace(child, child_rel, policy);
    }
  }

  const fs::path root_;
  const fs::path snapshot_;
  const std::shared_ptr<HookEnv> env_ = HookEnv::make({}, /*namespace_ops=*/true);
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  Trigger trigger_ = Trigger::Never;
  uint64_t crash_at_ = 0;
  uint64_t ops_ = 0;
  uint64_t segment_syncs_ = 0;
  bool frozen_ = false;
  bool worst_case_ = false;
  std::map<std::string, FileState> files_;                // by path relative to the root
  std::map<std::string, std::set<std::string>> durable_;  // dir (relative) -> durable names
  PowerLossReport report_;
};

}  // namespace sierra::powerloss
