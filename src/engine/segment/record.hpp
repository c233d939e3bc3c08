// The decoded forms of the records stored in a segment file (layout in segment/format.hpp
// and docs/FORMAT.md): event records, commit records, and a committed transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/ids.hpp"

namespace sierra {

// Fields shared by every record of a transaction.
struct TransactionHeader {
  uint64_t log_position = 0;  // per-bucket, consecutive per transaction (DECISIONS D4)
  uint64_t term = 0;          // 0 on a single node
  Uuid transaction_id;        // single-event flag in bit 7 of byte 8
};

// The fixed-size fields of an event record: everything but its four variable-length fields.
// Shared by the owned form (EventRecord) and the borrowed one (EventView).
struct EventFields {
  uint64_t offset = 0;  // start of the record in its segment
  uint32_t length = 0;  // total encoded length of the record
  TransactionHeader tx;
  uint64_t timestamp_ns = 0;
  uint8_t confirmation_count = 0;
  Uuid event_id;
  Uuid partition_key;
  PartitionId partition_id = 0;
  uint64_t partition_sequence = 0;
  uint64_t stream_version = 0;
  // First record of the first transaction of a write batch (segment_format::kBatchStartFlag).
  bool batch_start = false;
  uint64_t end_offset() const { return offset + length; }
};

struct EventRecord : EventFields {
  // Empty when read header-only.
  std::string stream_id;
  std::string event_name;
  std::string metadata;  // arbitrary bytes
  std::string payload;   // arbitrary bytes
};

struct CommitRecord {
  uint64_t offset = 0;
  uint32_t length = 0;
  TransactionHeader tx;
  uint64_t timestamp_ns = 0;
  uint8_t confirmation_count = 0;
  uint32_t event_count = 0;
  uint64_t end_offset() const { return offset + length; }
};

using Record = std::variant<EventRecord, CommitRecord>;

inline uint64_t record_offset(const Record& r) {
  return std::visit([](const auto& x) { return x.offset; }, r);
}
inline uint64_t record_end(const Record& r) {
  return std::visit([](const auto& x) { return x.end_offset(); }, r);
}

// A committed transaction: one event (single-event transaction, no commit record) or N >= 2
// events followed by their commit record.
struct CommittedTransaction {
  std::vector<EventRecord> events;
  std::optional<CommitRecord> commit;  // present iff events.size() >= 2 (or read from mid-tx)
  uint64_t end_offset = 0;             // offset just past the transaction
};

// What the writer is given for one event; the encoder turns it into an event record.
struct EventToWrite {
  Uuid event_id;
  Uuid partition_key;
  PartitionId partition_id = 0;
  uint64_t partition_sequence = 0;
  uint64_t stream_version = 0;
  uint64_t timestamp_ns = 0;  // must be < 2^63
  std::string_view stream_id;
  std::string_view event_name;  // <= 255 bytes
  std::string_view metadata;
  std::string_view payload;
};

}  // namespace sierra
