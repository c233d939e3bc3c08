// The simulation's invariant checker (CLUSTER §1, §5a): fed every leader observation, every
// applied transaction of every replica and every client answer; reports the first violation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/replicated_log.hpp"
#include "engine/transaction.hpp"

namespace sierra::test::sim {

// Checks one simulated cluster's history. Deterministic: ordered containers only.
class Checker {
 public:
  // A replica reported itself leader of `term`.
  void on_leader(uint64_t term, uint64_t node);
  // A replica's applied_index and commit_index after a step.
  void on_replica_state(uint64_t node, uint64_t applied, uint64_t commit);
  // Every transaction entry a replica applied (Host::on_applied).
  void on_applied(uint64_t node, const AppliedTransaction& tx);
  // A client transaction before its first attempt (its event ids and expected versions).
  void on_submit(PartitionId pid, const Transaction& tx);
  // A client answer for transaction `txid` (any attempt).
  void on_ack(const Uuid& txid, const AppendResult& result);
  void on_definite_failure(const Uuid& txid, Errc code);
  void fail(std::string what);

  // After every step: the acks of the step against the committed history.
  void check();
  // At the end of a converged run.
  void final_check();

  const std::string& violation() const { return violation_; }
  bool ok() const { return violation_.empty(); }
  size_t committed_transactions() const { return canonical_.size(); }
  size_t acked_transactions() const { return acked_.size(); }
  // The next sequence of partition `pid` in the committed history (0: nothing committed).
  uint64_t next_sequence(PartitionId pid) const;

 private:
  struct Canon {
    uint64_t term = 0;
    PartitionId pid = 0;
    Uuid txid;
    std::vector<AppliedEvent> events;
    uint64_t first_node = 0;
  };
  struct Submitted {
    PartitionId pid = 0;
    std::vector<Uuid> event_ids;
    std::vector<std::string> streams;
    std::vector<ExpectedVersion> expected;
  };
  using Ranges = std::map<uint64_t, std::pair<uint64_t, uint64_t>>;  // index -> [first, last]

  void insert_canonical(uint64_t node, const AppliedTransaction& tx);
  void check_range(Ranges& ranges, uint64_t index, uint64_t first, uint64_t last,
                   const std::string& what);
  void check_ack(const Uuid& txid, const AppendResult& r);

  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<uint64_t, Canon> canonical_;           // log index -> the transaction committed there
  std::map<Uuid, uint64_t> index_of_tx_;          // transaction id -> index
  std::map<Uuid, uint64_t> index_of_event_;       // event id -> index
  std::map<PartitionId, Ranges> seq_ranges_;      // per partition: sequences per index
  std::map<std::string, Ranges> version_ranges_;  // per stream: versions per index
  std::map<Uuid, Submitted> submitted_;
  std::map<Uuid, AppendResult> acked_;
  std::map<Uuid, Errc> failed_;
  std::vector<std::pair<Uuid, AppendResult>> pending_acks_;
  std::string violation_;
};

std::string describe(const Uuid& u);

}  // namespace sierra::test::sim
