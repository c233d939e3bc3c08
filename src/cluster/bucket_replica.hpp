// One node's member of one bucket's Raft group: drives the C-Raft core (through raft_shim) over
// the bucket's ReplicatedLog, obeying every driver obligation of CLUSTER §3.6; proposes client
// transactions while leader (after its first-term barrier has applied), batching those queued
// between two flush_proposals() calls into one submit; applies what commits and is durable.
//
// Single-threaded and I/O-free apart from the log: every call on one thread (the node's event
// loop, or the deterministic simulation). Messages leave through Host::send; time is given by
// the caller (monotonic ms). A failed disk operation or step returns an error: the replica is
// then unusable (fail-stop) and the host must drop it and reopen it from the log.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/error.hpp"
#include "engine/replicated_log.hpp"
#include "engine/transaction.hpp"

namespace sierra::cluster {

// Test-only switches that break one driver obligation each, so the simulation can show its
// checker catches the violation (tests/cluster/sim). Never set outside tests.
enum class Mutation : uint8_t {
  None,
  AckBeforeCommit,      // answer a proposal once written locally, before it commits
  SkipVoteSync,         // keep term/vote in memory only (lost on restart)
  PersistedBeforeSync,  // report entries persisted when written, before the fsync
  SkipLeaderBarrier,    // propose at once on election, without waiting for a barrier
  ApplyBeforeDurable,   // apply committed entries not yet fsynced locally
};

enum class Role : uint8_t { Unavailable = 0, Follower = 1, Candidate = 2, Leader = 3 };

class BucketReplica {
 public:
  using AppendCallback = ReplicatedLog::AppendCallback;

  struct Options {
    uint64_t node_id = 0;          // > 0, the raft id
    std::vector<uint64_t> voters;  // the initial configuration (used when the log is empty)
    unsigned seed = 0;             // the core's PRNG (election jitter)
    unsigned election_timeout_ms = 1000;
    unsigned heartbeat_timeout_ms = 100;
    bool pre_vote = true;
    size_t max_batch = 512;     // most transactions in one submit
    size_t max_queued = 10000;  // appends waiting for the barrier or a flush; more: Busy
    Mutation mutation = Mutation::None;
  };

  // Host functions and AppendCallbacks run inside the replica's calls: they must not call the
  // replica again, except append() (which only queues); schedule anything else for later.
  struct Host {
    // Ship `bytes` to node `to` (may be lost, delayed, duplicated: Raft copes).
    std::function<void(uint64_t to, std::vector<uint8_t> bytes)> send;
    // The log has entries written but not durable: call sync_log() soon (the host decides when,
    // so that several steps share one fsync).
    std::function<void()> want_sync;
    // Every transaction entry as it is applied (optional; the simulation's checker).
    ReplicatedLog::AppliedSink on_applied;
  };

  // Starts the core from the log's durable state; with an empty log, bootstraps the group with
  // `voters` (every member must be given the same list).
  static Result<std::unique_ptr<BucketReplica>> open(Options options, ReplicatedLog& log, Host host,
                                                     uint64_t now_ms);
  ~BucketReplica();

  // Events from the host.
  Status receive(uint64_t now_ms, std::span<const uint8_t> bytes);
  Status tick(uint64_t now_ms);      // at or after next_timeout()
  Status sync_log(uint64_t now_ms);  // fsync what is written, report it persisted, apply

  // A client append. Not the leader: NotLeader at once (nothing proposed: safe to send
  // elsewhere). Otherwise queued until the next flush_proposals() (and the leader barrier);
  // `done` gets the result once applied, a rejection, or OutcomeUnknown when leadership is lost
  // with the proposal pending (a retry with the same event ids is safe).
  void append(PartitionId pid, Transaction tx, AppendCallback done);
  // Proposes every queued append in one submit.
  Status flush_proposals(uint64_t now_ms);

  uint64_t node_id() const;
  uint64_t next_timeout() const;
  Role role() const;
  uint64_t leader_id() const;  // 0: unknown
  uint64_t term() const;
  uint64_t commit_index() const;
  uint64_t applied_index() const;
  // Leader whose first-term barrier has applied: reads and proposals are served.
  bool ready() const;

  // Counters for tests and benchmarks.
  struct Stats {
    uint64_t messages_sent = 0;
    uint64_t submits = 0;            // submit calls with transactions
    uint64_t entries_submitted = 0;  // transaction entries in them
    uint64_t syncs = 0;
    uint64_t loaded_messages = 0;  // AppendEntries filled from the log (obligation 3)
  };
  const Stats& stats() const;

 private:
  class Impl;
  explicit BucketReplica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sierra::cluster
