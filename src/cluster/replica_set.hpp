// Every bucket replica of one node, driven in real time on one io_context (issue 16): each
// bucket's BucketLog under the node's data directory and its BucketReplica; Raft messages go
// out through a send function (the Transport) and come in through on_frame(). The messages to
// one peer produced in one turn of the io_context (a tick's heartbeats of every group, say) leave
// as one RaftBatch frame; a lone message, or a large one, as a Raft frame whose group is the
// bucket id. The set ticks the replicas on a timer, coalesces the fsync a replica asks for and
// the flush of queued appends into one posted call per bucket, and reopens a replica that failed
// (fail-stop) from its files after a delay.
//
// Threading: everything on the io_context's one thread; callbacks run there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "cluster/bucket_replica.hpp"
#include "cluster/frame.hpp"
#include "engine/bucket_log.hpp"
#include "engine/env.hpp"
#include "engine/log.hpp"

namespace asio {
class io_context;
}

namespace sierra::cluster {

class ReplicaSet {
 public:
  using Send = std::function<bool(uint64_t to, FrameKind kind, uint32_t group,
                                  std::span<const uint8_t> payload)>;

  struct Options {
    uint64_t node_id = 0;
    std::vector<uint64_t> voters;  // every node of the cluster (each bucket's group)
    std::filesystem::path dir;     // the node's data directory
    std::vector<BucketId> buckets;
    uint16_t partition_count = 32;
    uint64_t segment_size = 256ull * 1024 * 1024;
    unsigned election_timeout_ms = 1000;
    unsigned heartbeat_timeout_ms = 100;
    // How often due replicas are ticked (0: the heartbeat timeout). Every replica is ticked on
    // the same grid, so the leaders' heartbeats fall due on the same tick and leave together.
    unsigned tick_ms = 0;
    unsigned reopen_after_ms = 500;
    std::shared_ptr<Env> env;  // null: the real filesystem
    LogSink log;
    // Each transaction entry as it is applied (in log order per bucket), with its records
    // (decoded from the log): what a node feeds its read side with (DatabaseApplier). When a
    // bucket opens, every entry its log had applied is given again first, in order (the read
    // side may have missed the last ones when the node stopped; it must take repeats as no-ops,
    // as DatabaseApplier does). Optional.
    std::function<void(BucketId bucket, uint64_t index, std::vector<EventRecord> records)>
        on_committed;
  };

  struct BucketStatus {
    bool open = false;  // false while a failed replica waits to be reopened
    Role role = Role::Unavailable;
    uint64_t leader = 0;
    uint64_t term = 0;
    uint64_t commit_index = 0;
    uint64_t applied_index = 0;
    bool ready = false;
  };

  // Opens every bucket's log and replica and starts the tick timer.
  static Result<std::unique_ptr<ReplicaSet>> open(asio::io_context& io, Options options, Send send);
  ~ReplicaSet();  // stop()

  // A frame from peer `from` (Raft and RaftBatch frames; messages of buckets this set does not
  // hold, and other kinds, are ignored).
  void on_frame(uint64_t from, const Frame& frame);
  // A client append to `bucket`: NotLeader at once when this node does not lead it (nothing
  // proposed), else answered once applied (or rejected, or OutcomeUnknown).
  void append(BucketId bucket, PartitionId pid, Transaction tx, BucketReplica::AppendCallback done);

  BucketStatus status(BucketId bucket) const;
  // The bucket's log (null while it is being reopened), for reads and checks.
  const BucketLog* log(BucketId bucket) const;
  uint64_t reopens() const;
  // Raft messages sent, and the frames that carried them.
  uint64_t messages_sent() const;
  uint64_t frames_sent() const;
  // Stops the timers and closes every replica and log (nothing more is sent). Idempotent.
  void stop();

  class Impl;
  struct PassKey {
    explicit PassKey() = default;
  };
  ReplicaSet(PassKey, std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sierra::cluster
