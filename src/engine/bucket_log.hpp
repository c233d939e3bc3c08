// One bucket's segment log opened as a replicated log (ReplicatedLog): the records written by a
// replication layer at the indexes and terms it decides, in the bucket's segment files with the
// single-node record format (docs/FORMAT.md); Barrier and Configuration entries are control
// records (kind 3). Term/vote and the applied index live in slot files beside the segments
// (engine/slot_pair.hpp). The state machine is the engine's ReplicatedState: an entry is visible
// (to the proposer and to next_sequence/stream_version) once applied.
//
// Files, under Options::dir:
//   buckets/<bucket:05>/segments/<segment:010>/data.evts   the log (segment_size each)
//   buckets/<bucket:05>/raft/vote.{0,1}                    term and vote (durable on save)
//   buckets/<bucket:05>/raft/applied.{0,1}                 applied index (persisted lazily)
// Not built yet (docs/CLUSTER.md "Not built"): the event-id, partition and stream index files
// beside each segment (the applied state is rebuilt in memory on open), and compaction.
//
// Threading: one thread calls everything.
#pragma once

#include <filesystem>
#include <memory>

#include "engine/env.hpp"
#include "engine/log.hpp"
#include "engine/replicated_log.hpp"

namespace sierra {

class BucketLog final : public ReplicatedLog {
  class Impl;
  struct PassKey {
    explicit PassKey() = default;
  };

 public:
  struct Options {
    std::filesystem::path dir;  // the node's data directory (the bucket's files go below it)
    BucketId bucket_id = 0;
    uint16_t partition_count = 32;
    uint64_t segment_size = 256ull * 1024 * 1024;
    // Zeros written ahead of the log's end each time it grows past them (bounded by the segment
    // size), so that most syncs do not change the file's size and fdatasync skips the inode
    // (the engine's segment writer does the same). 0: none.
    uint64_t preallocate_bytes = 1u << 20;
    std::shared_ptr<Env> env;  // null: Env::real()
    LogSink log;
  };
  // Creates the bucket's files if missing; recovers them otherwise: the segments are scanned,
  // the log ends at the last entry that is whole, verified, consecutive and of a non-decreasing
  // term (the rest, a torn or stale tail, is cut off durably, with a warning), everything left is
  // fsynced (so durable_index() == last_index()), and the entries up to the persisted applied
  // index are applied again. Entries above it are written but not visible until apply().
  // CorruptRecord when the cut would reach an applied entry (damage, not a torn tail).
  static Result<std::unique_ptr<BucketLog>> open(Options options);
  // Use open() (the key is private; the constructor is public for std::make_unique).
  BucketLog(PassKey, std::unique_ptr<Impl> impl);
  ~BucketLog() override;

  VoteState vote_state() const override;
  Status save_vote_state(VoteState state) override;
  uint64_t last_index() const override;
  uint64_t durable_index() const override;
  Result<uint64_t> term_at(uint64_t index) const override;
  Result<std::vector<LogEntry>> read_entries(uint64_t from, size_t max_count,
                                             size_t max_bytes) const override;
  Status append(uint64_t first_index, std::span<const LogEntryRef> entries) override;
  Status sync() override;
  uint64_t applied_index() const override;
  Status apply(uint64_t index, const AppliedSink& sink) override;
  std::optional<Proposal> propose(PartitionId pid, Transaction tx, uint64_t index, uint64_t term,
                                  AppendCallback done) override;
  void abandon_proposals(uint64_t from_index, const Error& why) override;

  // Applied state, for tests and checkers: the next sequence of a partition (0: no event) and
  // the latest version of a stream (nullopt: no event).
  uint64_t next_sequence(PartitionId pid) const;
  CurrentVersion stream_version(PartitionId pid, const std::string& stream_id) const;
  uint64_t applied_transactions() const;
  size_t pending_proposals() const;
  size_t deferred_answers() const;
  // Statistics: fdatasync/fsync calls of the log made by sync(), and bytes cut off by the
  // recovery of open().
  uint64_t log_syncs() const;
  uint64_t recovered_cut_bytes() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sierra
