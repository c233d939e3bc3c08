// The state machine of a bucket used as a replicated log: applied state, the leader's speculative
// overlay of pending proposals, answers deferred on them (CLUSTER §3.6 rule 9); storage-agnostic,
// fed entries by the log that owns it (a ReplicatedLog implementation, engine/replicated_log.hpp).
//
// Threading: one thread calls everything (the owning log's).
#pragma once

#include <cstdint>
#include <map>
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

namespace sierra {

// Applied state + proposer of one bucket's replicated log: what ReplicatedLog::apply,
// ::propose and ::abandon_proposals do, minus the storage (the owner checks durability).
class ReplicatedState {
 public:
  using AppendCallback = ReplicatedLog::AppendCallback;
  using AppliedSink = ReplicatedLog::AppliedSink;

  // What apply() leaves to deliver once every state change is done: the applied transaction
  // entries (for the sink) and the callbacks now due, in order.
  class Answers {
   public:
    // Reports every transaction to `sink` (if set), then runs the callbacks; empties this.
    // Callbacks may re-enter the log (propose, apply with another Answers).
    void run(const AppliedSink& sink);
    const std::vector<AppliedTransaction>& transactions() const { return applied_; }
    size_t callbacks_due() const { return due_.size(); }

   private:
    friend class ReplicatedState;
    std::vector<AppliedTransaction> applied_;
    std::vector<std::pair<AppendCallback, Result<AppendResult>>> due_;
  };

  explicit ReplicatedState(uint16_t partition_count);

  // Applies `entry` as the entry at `index` (= applied_index() + 1, else InvalidArgument): its
  // transaction goes to `answers`, and the callbacks now due (its proposal, answers deferred on
  // it). An entry that does not continue the applied state gaplessly fails with InvariantViolation
  // (CorruptRecord on bad bytes) and changes nothing.
  Status apply(uint64_t index, const LogEntry& entry, Answers& answers);
  // ReplicatedLog::propose against the applied state plus the pending proposals. `done` is
  // called now when the answer rests on applied state only.
  std::optional<Proposal> propose(PartitionId pid, Transaction tx, uint64_t index, uint64_t term,
                                  AppendCallback done);
  // ReplicatedLog::abandon_proposals: runs the callbacks concerned before returning.
  void abandon(uint64_t from_index, const Error& why);

  uint64_t applied_index() const { return applied_index_; }
  // The next sequence of partition `pid` in the applied state (0: empty partition).
  uint64_t next_sequence(PartitionId pid) const;
  // The applied version of a stream (empty if it has no applied event).
  CurrentVersion stream_version(PartitionId pid, const std::string& stream_id) const;
  // How many transaction entries are applied.
  uint64_t applied_transactions() const { return applied_tx_count_; }
  // Proposals not yet applied nor abandoned, and answers deferred on them.
  size_t pending_proposals() const { return pending_.size(); }
  size_t deferred_answers() const { return deferred_.size(); }

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

  // Rebuilds the speculative overlay from pending_ if an apply made it stale.
  void refresh_spec();
  void rebuild_spec();
  void add_spec(uint64_t index, const Pending& p);
  // Speculative (applied + pending) state.
  uint64_t spec_next_sequence(PartitionId pid) const;
  const StreamState* spec_stream(const StreamKey& key) const;
  // Every deferred answer resting on an index >= from gets OutcomeUnknown.
  void drop_deferred_from(uint64_t from, const std::string& why, Ready& ready);
  static void run(Ready& ready);

  uint16_t partition_count_;

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
  bool spec_stale_ = false;  // an entry was applied since the overlay was built
  std::map<PartitionId, uint64_t> spec_seq_;
  std::map<StreamKey, StreamState> spec_streams_;
  std::unordered_map<Uuid, IdRef> spec_ids_;
  std::map<PartitionId, uint64_t> spec_last_index_;  // highest pending index of a partition
  std::vector<Deferred> deferred_;
};

}  // namespace sierra
