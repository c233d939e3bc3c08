// SimDisk: the disk of one simulated node, over a real directory. An Env (engine/env.hpp) that
// forwards every operation to the real filesystem and records, cheaply, what a real disk would
// have made durable, so that the simulation can take the power away:
//   * per file: its durable size (as of its last successful sync/datasync), and the durable
//     bytes that a write or a truncation changed since (saved when they are changed, so a power
//     loss can put them back);
//   * per file created through it: whether its directory entry is durable (a sync_directory of
//     its directory after the creation);
//   * per rename: whether it is durable (a sync_directory of the target's directory); the file a
//     rename replaced is kept as a hard link in a stash directory until then.
// Nothing is copied on a sync: a write past the durable size costs nothing to record; a write or
// truncation inside the durable region costs a read of the bytes it changes.
//
// The real fsyncs are not made (the real disk's durability is not what is simulated, and the
// simulation runs thousands of seeds); `real_syncs` turns them on.
//
// crash() is the death of the process: the page cache survives, nothing changes on disk; from
// then until revive(), every operation fails with EIO and changes nothing (the dead process's
// objects may still run destructors). power_loss() also kills the process, then gives every file
// with unsynced changes a seeded fate (everything unsynced kept, everything dropped, or a prefix
// of the unsynced tail kept with the overwritten durable bytes put back), undoes the truncations,
// creations and renames that were not durable, and takes what is left as durable.
//
// Fault knobs: the next N syncs (datasync/sync; optionally only of files whose path contains a
// substring) fail with an errno (EIO, ENOSPC) and make nothing durable; the next N pwrites fail
// with ENOSPC (nothing written). injected() counts the faults that fired.
//
// Removals made outside the Env (std::filesystem::remove) and directories created outside it
// are taken as durable at once. One thread at a time (the simulation's).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/env.hpp"

namespace sierra::test::sim {

class SimDisk final : public Env {
 public:
  // `root`: the node's directory (created if missing). Everything already under it is durable.
  explicit SimDisk(std::filesystem::path root);
  ~SimDisk() override;
  SimDisk(const SimDisk&) = delete;
  SimDisk& operator=(const SimDisk&) = delete;

  const std::filesystem::path& root() const { return root_; }
  bool real_syncs = false;  // also make the real fsyncs (and directory fsyncs)
  // What a power loss does to a file's unsynced changes.
  enum class Fate : uint8_t { Keep, Drop, Prefix };
  std::optional<Fate> forced_fate;  // tests: every file gets this fate instead of a random one
  // The unit of a torn write: a Prefix fate cuts the unsynced tail at a multiple of it (an
  // offset in the file) or keeps it whole. 1: anywhere (a byte-granular tear); 512: what a disk
  // that writes sectors atomically, under a filesystem that writes data before the size that
  // covers it (ext4 data=ordered), can leave.
  uint64_t sector_size = 1;

  // ------------------------------------------------------------------ Env
  std::expected<int, int> open(const std::filesystem::path& path, int flags, bool creates) override;
  int pwrite_all(int fd, const std::filesystem::path& path, const void* buf, size_t n,
                 uint64_t offset) override;
  int datasync(int fd, const std::filesystem::path& path) override;
  int sync(int fd, const std::filesystem::path& path) override;
  int truncate(int fd, const std::filesystem::path& path, uint64_t size) override;
  int sync_directory(const std::filesystem::path& dir) override;
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override;

  // ------------------------------------------------------------------ crashes
  // The process died: the disk keeps what was written (page cache included); every operation
  // fails with EIO until revive().
  void crash();
  // The machine lost power (the process dies too): see the header comment. Draws from `rng`
  // only, in a fixed order: the same state and rng give the same disk.
  void power_loss(std::mt19937_64& rng);
  // A new process may use the disk (after crash() or power_loss()).
  void revive();
  bool dead() const { return dead_; }

  // ------------------------------------------------------------------ fault knobs
  // The next `count` syncs (datasync/sync) of files whose path contains `path_substring` (every
  // file if empty) fail with `err` and make nothing durable. Knobs are consulted in the order
  // they were added; a sync consumes one count of the first knob that matches.
  void fail_syncs(int count, int err = EIO, std::string path_substring = {});
  // The next `count` pwrites fail with ENOSPC and write nothing.
  void fail_writes(int count);
  // Disarms every knob (counts left are dropped).
  void clear_faults();
  // Counts of faults armed but not fired yet.
  int pending_faults() const;

  // ------------------------------------------------------------------ statistics
  uint64_t injected() const { return injected_syncs_ + injected_writes_; }
  uint64_t injected_sync_faults() const { return injected_syncs_; }
  uint64_t injected_write_faults() const { return injected_writes_; }
  uint64_t syncs() const { return syncs_; }  // successful sync/datasync calls
  uint64_t power_losses() const { return power_losses_; }
  // Bytes that power losses took away or put back (a loss that keeps everything: 0), and files
  // they removed.
  uint64_t lost_bytes() const { return lost_bytes_; }
  uint64_t removed_files() const { return removed_files_; }
  // Files with changes that a power loss would undo.
  size_t unsynced_files() const;

 private:
  struct Saved {  // durable bytes a write or truncation changed since the last sync
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
  };
  struct FileState {
    uint64_t durable_size = 0;
    uint64_t size = 0;         // in the page cache (the real file's size)
    std::vector<Saved> saved;  // restore in reverse order: the earliest save holds durable bytes
    bool created = false;      // its directory entry is not durable yet
    bool dirty() const { return created || size != durable_size || !saved.empty(); }
  };
  struct Rename {
    std::string from, to;
    std::optional<std::string> stash;  // the file `to` replaced (a hard link), if any
  };
  struct SyncKnob {
    int count = 0;
    int err = EIO;
    std::string substring;
  };

  static std::string key(const std::filesystem::path& p);
  // The state of `path` (first seen: durable at its current size).
  FileState& state(const std::string& path);
  // Saves the durable bytes of [begin, end) before they change (read through `fd`, or by path
  // if it is -1).
  void save_range(int fd, const std::string& path, FileState& f, uint64_t begin, uint64_t end);
  int do_sync(int fd, const std::string& path, bool data_only);
  void forget_stash();

  std::filesystem::path root_;
  std::filesystem::path stash_dir_;
  std::map<std::string, FileState> files_;
  std::vector<Rename> renames_;
  std::vector<SyncKnob> sync_knobs_;
  int fail_writes_ = 0;
  bool dead_ = false;
  uint64_t stash_seq_ = 0;

  uint64_t injected_syncs_ = 0;
  uint64_t injected_writes_ = 0;
  uint64_t syncs_ = 0;
  uint64_t power_losses_ = 0;
  uint64_t lost_bytes_ = 0;
  uint64_t removed_files_ = 0;
};

}  // namespace sierra::test::sim
