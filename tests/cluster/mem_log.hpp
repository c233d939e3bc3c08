// An in-memory ReplicatedLog for the tests and the simulation: MemDisk survives a crash or a
// power loss (with fault knobs); MemLog, the log over it, runs the engine's ReplicatedState.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/replicated_log.hpp"
#include "engine/replicated_state.hpp"
#include "engine/transaction.hpp"

namespace sierra::test {
// Inline namespace: tests/cluster/shim_group.hpp has a struct sierra::test::MemLog of its own
// (the shim's loader); this keeps the two distinct in the one test binary (no ODR clash). Do not
// include both headers in one file.
inline namespace mem_log {

// The simulated disk of one node's bucket: durable state, the page cache over it, fault knobs.
// Entry i (1-based) of the log is written[i - 1]; its first `synced_prefix` entries are durable
// (and equal to durable[0, synced_prefix)). An unsynced truncation shows as `written` being
// shorter than, or different from, `durable` past synced_prefix.
struct MemDisk {
  // What a power loss leaves: the entries as of the last successful sync().
  std::vector<LogEntry> durable;
  // The page cache: every entry as last written (survives a process crash).
  std::vector<LogEntry> written;
  uint64_t synced_prefix = 0;  // leading entries of `written` that are durable
  VoteState vote;              // durable at once (save_vote_state is synchronous)
  uint64_t applied_index = 0;  // persisted applied index (set by each successful sync())

  // Fault knobs: the next `fail_syncs` sync() calls fail with `sync_error` (nothing more becomes
  // durable); the next `fail_vote_saves` save_vote_state() calls fail (state unchanged).
  int fail_syncs = 0;
  Errc sync_error = Errc::Io;  // Io or NoSpace
  int fail_vote_saves = 0;

  // Statistics.
  uint64_t syncs = 0;  // successful sync() calls
  uint64_t vote_saves = 0;
  // Bumped by crash() and power_loss(): a MemLog opened before refuses to write afterwards.
  uint64_t generation = 0;

  // The process died: the page cache survives, so written entries stay written (not durable).
  void crash();
  // The machine lost power: everything not synced is gone (the entries are the durable ones;
  // the vote and the applied index were durable already).
  void power_loss();
  // The last durable index (entries 1..durable_index() survive a power loss as written).
  uint64_t durable_index() const { return synced_prefix; }
};

// The ReplicatedLog contract (engine/replicated_log.hpp) over a MemDisk; the state machine and
// proposer are the engine's ReplicatedState (engine/replicated_state.hpp).
class MemLog final : public ReplicatedLog {
  struct PassKey {
    explicit PassKey() = default;
  };

 public:
  // Opens the log on `disk`; the applied state is rebuilt by replaying the entries up to the
  // persisted applied index (open_error() says if that replay failed).
  static std::unique_ptr<MemLog> open(MemDisk& disk, uint16_t partition_count = 4);
  // Use open() (the key is private; the constructor is public for std::make_unique).
  MemLog(PassKey, MemDisk& disk, uint16_t partition_count);
  ~MemLog() override;

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

  // ---------------------------------------------------------------- for checkers
  // The next sequence of partition `pid` in the applied state (0: empty partition).
  uint64_t next_sequence(PartitionId pid) const;
  // The applied version of a stream (empty if it has no applied event).
  CurrentVersion stream_version(PartitionId pid, const std::string& stream_id) const;
  // How many transaction entries are applied.
  uint64_t applied_transactions() const { return state_.applied_transactions(); }
  // Proposals not yet applied nor abandoned, and answers deferred on them (CLUSTER §3.6 rule 9).
  size_t pending_proposals() const { return state_.pending_proposals(); }
  size_t deferred_answers() const { return state_.deferred_answers(); }
  // The error that stopped the replay of open(), if any.
  const std::optional<Error>& open_error() const { return open_error_; }
  const MemDisk& disk() const { return disk_; }

 private:
  Status check_live() const;

  MemDisk& disk_;
  uint64_t generation_;
  std::optional<Error> open_error_;
  // The applied state, the proposals and the answers deferred on them.
  ReplicatedState state_;
};

}  // namespace mem_log
}  // namespace sierra::test
