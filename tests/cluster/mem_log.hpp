// An in-memory ReplicatedLog for the cluster tests and the simulation: MemDisk is what survives
// a crash or a power loss (with fault knobs), MemLog the log and state machine opened over it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/replicated_log.hpp"
#include "engine/transaction.hpp"
#include "engine/transaction_digest.hpp"

namespace sierra::test {

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

// The ReplicatedLog contract (engine/replicated_log.hpp) over a MemDisk, with a proposer like
// the single-node engine's: event-id retry/uniqueness, expected sequence, expected versions.
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
  uint64_t applied_transactions() const { return applied_tx_count_; }
  // Proposals not yet applied nor abandoned, and answers deferred on them (CLUSTER §3.6 rule 9).
  size_t pending_proposals() const { return pending_.size(); }
  size_t deferred_answers() const { return deferred_.size(); }
  // The error that stopped the replay of open(), if any.
  const std::optional<Error>& open_error() const { return open_error_; }
  const MemDisk& disk() const { return disk_; }

 private:
  struct StreamKey {
    PartitionId pid = 0;
    std::string stream;
    auto operator<=>(const StreamKey&) const = default;
  };
  struct StreamState {
    uint64_t version = 0;
    Uuid partition_key;
  };
  // Where an event id lives: the transaction at `index`, its `pos`-th event.
  struct IdRef {
    uint64_t index = 0;
    uint32_t pos = 0;
  };
  // What a retry of a transaction is compared with, and answered.
  struct TxRecord {
    AppendResult result;
    TransactionDigest digest;
    std::vector<Uuid> ids;
  };
  struct Pending {
    TxRecord tx;
    std::vector<std::string> streams;  // of each event
    Uuid partition_key;
    AppendCallback done;
  };
  struct Deferred {
    uint64_t rests_on = 0;  // delivered once this index is applied
    Result<AppendResult> answer;
    AppendCallback done;
  };
  using Ready = std::vector<std::pair<AppendCallback, Result<AppendResult>>>;

  Status check_live() const;
  // Applies entry `index` to the applied state; its transaction goes to `applied`, the
  // callbacks now due to `ready` (run by the caller once every state change is done).
  Status apply_one(uint64_t index, std::vector<AppliedTransaction>& applied, Ready& ready);
  // Rebuilds the speculative overlay from pending_.
  void rebuild_spec();
  void add_spec(uint64_t index, const Pending& p);
  // Speculative (applied + pending) state.
  uint64_t spec_next_sequence(PartitionId pid) const;
  const StreamState* spec_stream(const StreamKey& key) const;
  // Every deferred answer resting on an index >= from gets OutcomeUnknown.
  void drop_deferred_from(uint64_t from, const std::string& why, Ready& ready);
  static void run(Ready& ready);

  MemDisk& disk_;
  uint64_t generation_;
  uint16_t partition_count_;
  std::optional<Error> open_error_;

  // Applied state.
  uint64_t applied_index_ = 0;
  uint64_t applied_tx_count_ = 0;
  std::map<PartitionId, uint64_t> next_seq_;
  std::map<StreamKey, StreamState> streams_;
  std::unordered_map<Uuid, IdRef> ids_;
  std::map<uint64_t, TxRecord> txs_;  // by index
  uint64_t clock_ns_ = 0;             // the last timestamp given or seen

  // Proposals (by index) and the overlay they make over the applied state.
  std::map<uint64_t, Pending> pending_;
  std::map<PartitionId, uint64_t> spec_seq_;
  std::map<StreamKey, StreamState> spec_streams_;
  std::unordered_map<Uuid, IdRef> spec_ids_;
  std::map<PartitionId, uint64_t> spec_last_index_;  // highest pending index of a partition
  std::vector<Deferred> deferred_;
};

}  // namespace sierra::test
