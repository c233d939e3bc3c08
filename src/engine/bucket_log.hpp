// One bucket's segment log opened as a replicated log (ReplicatedLog): the records written by a
// replication layer at the indexes and terms it decides, visible to readers only once applied.
// The same segment files, record format and indexes as a single-node bucket (docs/FORMAT.md);
// Barrier and Configuration entries are control records (kind 3).
// NOT IMPLEMENTED YET (issue 15): this is the planned interface; nothing defines or uses it, and
// the tests run the replication core over tests/cluster/mem_log.hpp instead.
#pragma once

#include <filesystem>
#include <memory>

#include "engine/env.hpp"
#include "engine/log.hpp"
#include "engine/replicated_log.hpp"

namespace sierra {

class BucketLog final : public ReplicatedLog {
 public:
  struct Options {
    std::filesystem::path dir;  // the node's data directory (the bucket's files go below it)
    BucketId bucket_id = 0;
    uint16_t partition_count = 32;
    uint64_t segment_size = 256ull * 1024 * 1024;
    std::shared_ptr<Env> env;  // null: Env::real()
    LogSink log;
  };
  // Creates the bucket's files if missing; recovers them otherwise (a torn tail is dropped: it
  // was never reported durable). Entries above the persisted applied index are written but not
  // visible until apply().
  static Result<std::unique_ptr<BucketLog>> open(Options options);
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
  Result<std::optional<uint64_t>> stream_version(PartitionId pid, std::string_view stream) const;

 private:
  class Impl;
  explicit BucketLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sierra
