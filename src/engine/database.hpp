// The embeddable event store. Open a data directory with DatabaseBuilder, append
// transactions with append_events, read events by id, by stream and by partition.
//
//   auto db = sierra::DatabaseBuilder().total_buckets(4).open("./data");
//   auto tx = sierra::Transaction::make({event});
//   auto result = (*db)->append_events(partition_id, std::move(*tx));
//
// Durability: an append returns (or calls back) only after its bytes are fdatasync'ed; its
// events are then visible to every read. Appends to a bucket are executed by that bucket's
// writer thread with group commit; reads run on the caller's thread and never block writers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/env.hpp"
#include "engine/error.hpp"
#include "engine/health.hpp"
#include "engine/ids.hpp"
#include "engine/log.hpp"
#include "engine/segment/event_view.hpp"
#include "engine/segment/record.hpp"
#include "engine/transaction.hpp"

namespace sierra {

class DatabaseImpl;
class Database;
class PartitionIteratorImpl;
class StreamIteratorImpl;

// Called on a writer thread after a batch became durable and visible: the partitions whose
// latest sequence moved, with their new latest sequence. Must be fast and must not block.
using CommitListener = std::function<void(std::span<const std::pair<PartitionId, uint64_t>>)>;

struct DatabaseOptions {
  uint64_t segment_size = 256ull * 1024 * 1024;
  uint16_t partition_count = 32;
  uint16_t total_buckets = 4;
  std::vector<BucketId> bucket_ids;                      // empty: all of 0..total_buckets-1
  uint16_t writer_threads = 0;                           // 0: one per owned bucket
  std::chrono::microseconds flush_interval_duration{0};  // longest wait for company (D3)
  uint32_t flush_interval_events = 1000;                 // cap of events per group commit
  LogSink log;                                           // default: warnings and errors to stderr
  CommitListener on_commit;                              // optional
  // The filesystem every file of the database goes through (null: Env::real()). Tests give each
  // database its own (fault injection, power-loss simulation).
  std::shared_ptr<Env> env;
};

class DatabaseBuilder {
 public:
  DatabaseBuilder& segment_size(uint64_t bytes);
  DatabaseBuilder& partition_count(uint16_t n);
  DatabaseBuilder& total_buckets(uint16_t n);
  DatabaseBuilder& bucket_ids(std::vector<BucketId> ids);
  // [first, last) — e.g. (0, 4) owns buckets 0,1,2,3.
  DatabaseBuilder& bucket_ids_from_range(BucketId first, BucketId last);
  DatabaseBuilder& writer_threads(uint16_t n);
  DatabaseBuilder& flush_interval_duration(std::chrono::microseconds d);
  DatabaseBuilder& flush_interval_events(uint32_t n);
  DatabaseBuilder& log_sink(LogSink sink);
  DatabaseBuilder& on_commit(CommitListener listener);
  DatabaseBuilder& env(std::shared_ptr<Env> env);

  const DatabaseOptions& options() const { return options_; }
  // Validates the options (InvalidConfig), checks/creates meta.json (ConfigMismatch), recovers
  // every owned bucket, starts the writer threads.
  Result<std::shared_ptr<Database>> open(const std::filesystem::path& dir) const;

 private:
  DatabaseOptions options_;
  bool range_error_ = false;
};

// Latest state of a partition or stream.
struct StreamVersionInfo {
  Uuid partition_key;
  uint64_t version = 0;
};

// Forward iterator over the events of a partition from a sequence, up to what was visible
// when it was created. next() returns nullopt at the end; an error is returned once and
// ends the iteration.
//
// next_view() is next() without copies: nullptr at the end, else an event whose stream id, name,
// metadata and payload are views into the iterator's read buffer; the event and its views are
// valid until the next call on the iterator (or its destruction). Every check of next() (checksums
// included) is made. remaining_hint() is how many events the iterator already knows are left (at
// least; 0 when it does not know yet): a hint to size output buffers.
class PartitionIterator {
 public:
  PartitionIterator(PartitionIterator&&) noexcept;
  PartitionIterator& operator=(PartitionIterator&&) noexcept;
  ~PartitionIterator();
  Result<std::optional<EventRecord>> next(bool header_only = false);
  Result<const EventView*> next_view(bool header_only = false);
  uint64_t remaining_hint() const;

 private:
  friend class DatabaseImpl;
  explicit PartitionIterator(std::unique_ptr<PartitionIteratorImpl> impl);
  std::unique_ptr<PartitionIteratorImpl> impl_;
};

// Iterator over the events of one stream (forward from a version, or reverse from a version
// downwards), up to what was visible when it was created. next_view() and remaining_hint():
// as for PartitionIterator.
class StreamIterator {
 public:
  StreamIterator(StreamIterator&&) noexcept;
  StreamIterator& operator=(StreamIterator&&) noexcept;
  ~StreamIterator();
  Result<std::optional<EventRecord>> next(bool header_only = false);
  Result<const EventView*> next_view(bool header_only = false);
  uint64_t remaining_hint() const;

 private:
  friend class DatabaseImpl;
  explicit StreamIterator(std::unique_ptr<StreamIteratorImpl> impl);
  std::unique_ptr<StreamIteratorImpl> impl_;
};

class Database {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;

  static Result<std::shared_ptr<Database>> open(const std::filesystem::path& dir) {
    return DatabaseBuilder().open(dir);
  }
  ~Database();

  const std::filesystem::path& dir() const;
  const DatabaseOptions& options() const;
  uint16_t partition_count() const;
  uint16_t total_buckets() const;
  bool owns_partition(PartitionId pid) const;

  // Blocks until the transaction is durable (or failed). Event ids are unique: a transaction
  // whose (client-supplied) ids are all those of one committed transaction with the same content
  // is a retry and gets that transaction's original result (AppendResult::retry, nothing
  // written); any other reuse of an id is DuplicateEventId (docs/ARCHITECTURE.md "Event ids").
  Result<AppendResult> append_events(PartitionId partition_id, Transaction tx);
  // Asynchronous form: `done` runs on the bucket's writer thread once the outcome is known.
  void append_events_async(PartitionId partition_id, Transaction tx, AppendCallback done);

  // Rewrites the confirmation count of the records of a transaction, addressed by segment and
  // offset (from AppendResult), after checking they belong to `transaction_id`; synced.
  Status set_confirmations(PartitionId partition_id, SegmentId segment,
                           std::span<const uint64_t> offsets, const Uuid& transaction_id,
                           uint8_t count);

  Result<std::optional<EventRecord>> read_event(PartitionId partition_id, const Uuid& event_id,
                                                bool header_only = false) const;
  // The committed transaction containing `event_id`, from that event to its end.
  Result<std::optional<CommittedTransaction>> read_transaction(PartitionId partition_id,
                                                               const Uuid& event_id,
                                                               bool header_only = false) const;
  // `limit`: the iterator ends after that many events (a page's size: it bounds what is copied
  // from the live segment's index, which otherwise grows with the partition or stream).
  Result<PartitionIterator> read_partition(PartitionId partition_id, uint64_t from_sequence,
                                           uint64_t limit = UINT64_MAX) const;
  // Latest (highest visible) sequence of a partition; nullopt if it has no event.
  Result<std::optional<uint64_t>> get_partition_sequence(PartitionId partition_id) const;
  Result<StreamIterator> read_stream(PartitionId partition_id, std::string_view stream_id,
                                     uint64_t from_version, bool reverse = false,
                                     uint64_t limit = UINT64_MAX) const;
  Result<std::optional<StreamVersionInfo>> get_stream_version(PartitionId partition_id,
                                                              std::string_view stream_id) const;

  // Segments waiting for their index files and quarantined segments (engine/health.hpp).
  DatabaseHealth health() const;

  // Waits for in-flight appends, stops the writer threads and index flushes. Idempotent;
  // called by the destructor. Appends after close fail with ShuttingDown.
  void close();

  // Used by DatabaseBuilder::open (DatabaseImpl is internal).
  explicit Database(std::unique_ptr<DatabaseImpl> impl);

 private:
  std::unique_ptr<DatabaseImpl> impl_;
};

}  // namespace sierra
