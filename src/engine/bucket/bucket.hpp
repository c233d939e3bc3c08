// One bucket: its live segment (writer + reader + in-memory indexes), the registry of its closed
// segments, and the per-partition visibility watermarks.
//
// Threading: the "writer side" methods are called only by the bucket's writer thread. The
// "reader side" takes a short shared lock to capture a consistent view (live indexes + closed
// segment list) and never waits for I/O of the writer. The writer mutates shared state only in
// publish() and rollover, under the unique lock, after the bytes are durable.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/bucket/closed_segment.hpp"
#include "engine/bucket/event_id_check.hpp"
#include "engine/bucket/index_write_retry.hpp"
#include "engine/bucket/quarantine.hpp"
#include "engine/database.hpp"
#include "engine/index/live_index.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_writer.hpp"
#include "engine/transaction.hpp"
#include "engine/transaction_digest.hpp"

namespace sierra {

using ClosedList = std::vector<std::shared_ptr<const ClosedSegment>>;  // ascending segment id

// Background work the bucket hands out at rollover: write the index files of a closed segment.
using IndexJobSink = std::function<void(std::function<void()>)>;

class Bucket {
 public:
  struct Config {
    std::filesystem::path base;
    BucketId id = 0;
    uint64_t segment_size = 0;
    uint16_t partition_count = 0;
    LogSink log;
    IndexJobSink index_jobs;                 // runs a job on the background thread
    std::shared_ptr<Env> env = Env::real();  // every file of the bucket goes through it
  };

  static Result<std::unique_ptr<Bucket>> open(Config config);
  explicit Bucket(Config config);  // use open()
  ~Bucket();

  BucketId id() const { return cfg_.id; }

  // ---------------------------------------------------------------- reader side (any thread)
  struct View {
    SegmentId live_id = 0;
    std::shared_ptr<SegmentReader> live_reader;
    std::shared_ptr<const ClosedList> closed;
  };
  // Calls fn(view, live indexes) under the shared lock. Keep fn short (no I/O).
  template <class Fn>
  auto with_live(Fn&& fn) const {
    std::shared_lock lock(mu_);
    View v{live_id_, live_reader_, closed_};
    return fn(v, static_cast<const LiveIndexes&>(*live_));
  }
  // Next sequence that will become visible in `pid` (= latest visible + 1), 0 if none.
  uint64_t watermark(PartitionId pid) const;

  // ---------------------------------------------------------------- writer side (writer thread)
  // Validates and encodes the transaction into the live segment's buffer; `done` is called when
  // it is durable (by commit_staged) or at once with the error if it is rejected.
  void stage_append(PartitionId pid, Transaction tx, Database::AppendCallback done);
  size_t staged_events() const { return staged_events_; }
  // Writes + fdatasyncs everything staged, publishes it to readers, completes the callbacks.
  // Returns the (partition, latest sequence) pairs that moved.
  std::vector<std::pair<PartitionId, uint64_t>> commit_staged();
  Status set_confirmations(SegmentId segment, std::span<const uint64_t> offsets, const Uuid& txid,
                           uint8_t count);
  // Flushes staged work and closes the live writer (shutdown).
  void close();

  // Called by the index job when a closed segment's files are ready.
  void replace_closed(std::shared_ptr<const ClosedSegment> seg);

  // Closed segments served from memory because writing their index files failed (disk full):
  // they are retried with backoff (IndexWriteRetry). Any thread.
  std::vector<SegmentId> index_writes_waiting() const { return index_retry_->waiting(); }
  // Damaged closed segments found at open (null if none). Fixed at open, immutable.
  const std::shared_ptr<const Quarantine>& quarantine() const { return quarantine_; }

  // Replaces a closed segment whose index file turned out damaged by one served from indexes
  // rebuilt from its data (and rewrites the files in the background). Any thread.
  Result<std::shared_ptr<const ClosedSegment>> heal_closed(
      const std::shared_ptr<const ClosedSegment>& damaged, const Error& why);

  // Runs fn(segment); if it fails with CorruptIndex, heals the segment and runs fn once more.
  template <class Fn>
  auto query_closed_healing(const std::shared_ptr<const ClosedSegment>& seg, Fn&& fn)
      -> decltype(fn(*seg)) {
    auto r = fn(*seg);
    if (!r && r.error().code == Errc::CorruptIndex) {
      auto healed = heal_closed(seg, r.error());
      if (!healed) return std::unexpected(r.error());
      return fn(**healed);
    }
    return r;
  }

 private:
  // What the writer knows of a stream: its latest version (tentative: includes staged
  // transactions), or that it has no event yet (cached too, so that a new stream is looked up
  // in the indexes once, not on every append).
  struct StreamState {
    Uuid partition_key;
    uint64_t version = 0;
    bool exists = false;
    // The stream's entry in the live segment's stream index once it has one, so that a commit
    // adds to it without looking the stream up again. Valid because index entries are never
    // erased and streams_ is cleared whenever live_ is replaced (rollover).
    StreamEntry* live_entry = nullptr;
  };
  using CachedStream = StreamMap<StreamState>::value_type;  // (pid, stream id) -> state
  struct PendingEvent {
    Uuid event_id;
    PartitionId pid;
    uint64_t sequence;
    // The stream's cache entry (its key holds the stream id). Valid until the commit: streams_
    // is never cleared while events are pending.
    CachedStream* stream;
    Uuid partition_key;
    uint64_t version;
    uint64_t offset;
  };
  struct Staged {
    Database::AppendCallback done;
    AppendResult result;
    TransactionDigest digest;  // of its events, when some id was client-supplied
  };
  // An answer that rests on the staged batch (a rejection, a retry of a staged transaction):
  // sent once the batch is durable; if the batch fails, the transaction is checked again.
  struct Deferred {
    PartitionId pid;
    Transaction tx;
    Database::AppendCallback done;
    Result<AppendResult> outcome;
  };
  struct StagedId {
    uint32_t staged;  // index in staged_
    uint32_t event;   // index of the event in its transaction
  };

  Status recover();
  Status rollover();
  // The cache entry of a stream, filled from the indexes on a miss. The pointer stays valid
  // until streams_ is cleared (node-based map).
  Result<CachedStream*> lookup_stream(PartitionId pid, const std::string& sid);
  uint64_t next_sequence(PartitionId pid);
  void reset_tentative_state();
  Status reopen_writer();
  void schedule_index_write(SegmentId seg_id, std::shared_ptr<const LiveIndexes> mem,
                            std::shared_ptr<SegmentReader> reader);
  void log(LogLevel level, const std::string& msg) const;
  // Event-id uniqueness (event_id_check.cpp).
  // Rewrites, in the background, the event index files written without a Bloom filter.
  void upgrade_event_indexes();
  Result<EventIdVerdict> check_event_ids(const Transaction& tx);
  struct LocatedEvent {
    std::shared_ptr<SegmentReader> reader;
    SegmentId segment = 0;
    uint64_t offset = 0;
  };
  Result<std::optional<LocatedEvent>> locate_durable_event(const Uuid& id);
  void remember_staged_ids(const Transaction& tx);
  // Sends `outcome` now if nothing is staged, else once the staged batch is durable.
  void answer_when_durable(PartitionId pid, Transaction tx, Database::AppendCallback done,
                           Result<AppendResult> outcome);
  // After a failed batch: checks the deferred transactions again against the durable state.
  std::vector<std::pair<PartitionId, uint64_t>> recheck_deferred(std::vector<Deferred> deferred,
                                                                 const Error& why);

  Config cfg_;

  // Shared state (guarded by mu_).
  mutable std::shared_mutex mu_;
  std::mutex heal_mu_;  // one heal at a time
  SegmentId live_id_ = 0;
  std::shared_ptr<SegmentReader> live_reader_;
  std::shared_ptr<LiveIndexes> live_;
  std::shared_ptr<const ClosedList> closed_;
  std::unordered_map<PartitionId, uint64_t> watermarks_;
  std::shared_ptr<const Quarantine> quarantine_;  // set by recover, then never changed

  // Writer-thread state.
  std::unique_ptr<SegmentWriter> writer_;
  uint64_t next_log_position_ = 1;
  uint64_t durable_log_position_ = 0;
  std::unordered_map<PartitionId, uint64_t> next_seq_;  // tentative
  StreamMap<StreamState> streams_;                      // tentative cache
  std::vector<PendingEvent> pending_;
  std::vector<Staged> staged_;
  tsl::robin_map<Uuid, StagedId, UuidHash> staged_ids_;  // client-supplied ids of staged_
  std::vector<Deferred> deferred_;
  int recheck_depth_ = 0;
  size_t staged_events_ = 0;
  std::vector<std::pair<PartitionId, uint64_t>> carried_changes_;  // from mid-batch commits
  std::vector<uint8_t> encode_buf_;
  std::vector<EventToWrite> to_write_;
  // Per-transaction scratch of stage_append: the cache entry of each event's stream, and each
  // stream of the transaction with the index of its last event so far.
  std::vector<CachedStream*> tx_states_;
  std::vector<std::pair<std::string_view, size_t>> tx_streams_;
  std::vector<uint32_t> rel_offsets_;

  // Last member: its thread calls replace_closed, so it is stopped before the rest goes.
  std::unique_ptr<IndexWriteRetry> index_retry_;
};

}  // namespace sierra
