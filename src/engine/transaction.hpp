// What a caller appends: NewEvent, grouped into a Transaction (atomic, one partition), with
// optimistic concurrency via ExpectedVersion (per event stream) and an expected partition
// sequence (per transaction). AppendResult is what a successful append reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"

namespace sierra {

// The state of a stream (or partition) *before* a write, as the writer expects it.
struct ExpectedVersion {
  enum class Kind : uint8_t { Any, Exists, Empty, Exact };
  Kind kind = Kind::Any;
  uint64_t value = 0;  // for Exact

  static ExpectedVersion any() { return {Kind::Any, 0}; }
  static ExpectedVersion exists() { return {Kind::Exists, 0}; }
  static ExpectedVersion empty() { return {Kind::Empty, 0}; }
  static ExpectedVersion exact(uint64_t v) { return {Kind::Exact, v}; }
  // 0 -> Empty, n -> Exact(n - 1).
  static ExpectedVersion from_next_version(uint64_t next);
  // Empty -> 0, Exact(v) -> v + 1; nullopt for Any/Exists or on overflow.
  std::optional<uint64_t> into_next_version() const;
  // "any", "exists", "empty" or the number.
  std::string to_string() const;
  bool operator==(const ExpectedVersion&) const = default;
};

// The actual state: empty, or the version (sequence) of the latest event.
struct CurrentVersion {
  bool is_empty = true;
  uint64_t value = 0;

  static CurrentVersion empty() { return {}; }
  static CurrentVersion current(uint64_t v) { return {false, v}; }
  uint64_t next() const { return is_empty ? 0 : value + 1; }
  ExpectedVersion as_expected() const {
    return is_empty ? ExpectedVersion::empty() : ExpectedVersion::exact(value);
  }
  // Current(c) += n -> Current(c + n); Empty += n (n > 0) -> Current(n - 1); Empty += 0 -> Empty.
  CurrentVersion& operator+=(uint64_t n);
  // The number, or "empty".
  std::string to_string() const;
  // Whether a write expecting `e` may proceed against this state.
  bool satisfies(const ExpectedVersion& e) const;
  bool operator==(const CurrentVersion&) const = default;
};

struct NewEvent {
  Uuid event_id;       // must embed the partition hash of partition_key (new_event_id)
  Uuid partition_key;  // same for every event of a transaction
  std::string stream_id;
  ExpectedVersion expected_version;
  std::string event_name;     // <= 255 bytes
  uint64_t timestamp_ns = 0;  // < 2^63
  std::string metadata;
  std::string payload;
  // True when the id was generated just now (new_event_id): it cannot exist yet, so the append
  // skips the uniqueness check. Ids given by a client (the default) are checked: a repeat is a
  // retry of its transaction or a DuplicateEventId error (docs/ARCHITECTURE.md "Event ids").
  bool fresh_id = false;
};

// An atomic group of events of one partition. Construct with Transaction::make, which checks
// what can be checked without the database (see below).
class Transaction {
 public:
  // Errors: EmptyTransaction; DuplicateEventId (an id repeated inside the transaction);
  // InvalidEventId (an event id without the key's partition hash); PartitionKeyMismatch (events
  // with different keys); InvalidLength/ContainsNullByte (stream id); InvalidArgument (name > 255
  // bytes, timestamp >= 2^63, metadata/payload > 4 GiB).
  static Result<Transaction> make(std::vector<NewEvent> events);

  Transaction& expected_partition_sequence(ExpectedVersion e) {
    expected_sequence_ = e;
    return *this;
  }
  Transaction& transaction_id(const Uuid& id);  // for replication/tests; flag is forced

  const std::vector<NewEvent>& events() const { return events_; }
  const Uuid& partition_key() const { return events_.front().partition_key; }
  PartitionHash partition_hash() const { return sierra::partition_hash(partition_key()); }
  const Uuid& id() const { return transaction_id_; }
  const ExpectedVersion& expected_sequence() const { return expected_sequence_; }

 private:
  explicit Transaction(std::vector<NewEvent> events);
  std::vector<NewEvent> events_;
  Uuid transaction_id_;
  ExpectedVersion expected_sequence_;
};

// Where and how a transaction was stored.
struct AppendResult {
  Uuid transaction_id;
  PartitionId partition_id = 0;
  SegmentId segment_id = 0;
  std::vector<uint64_t> offsets;          // of each event record in segment_id
  uint64_t first_partition_sequence = 0;  // sequence of the first event
  uint64_t last_partition_sequence = 0;   // sequence of the last event
  std::vector<uint64_t> stream_versions;  // version given to each event, in request order
  uint64_t log_position = 0;
  std::vector<uint64_t> timestamps_ns;  // stored timestamp of each event, in request order
  bool retry = false;  // a retry of a committed transaction: this is its original result
};

}  // namespace sierra
