// A decoded event record whose variable fields (stream id, event name, metadata, payload) are
// views into the bytes it was decoded from, instead of owned strings. Scans hand these out so
// that a reader can encode a page of events without copying each record's body twice (into an
// EventRecord, then into its output). The views are valid only as long as the bytes they point
// into: for an iterator's next_view(), until the next call on that iterator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/ids.hpp"
#include "engine/segment/record.hpp"

namespace sierra {

struct EventView {
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
  bool batch_start = false;
  // Empty when read header-only.
  std::string_view stream_id;
  std::string_view event_name;
  std::string_view metadata;
  std::string_view payload;

  uint64_t end_offset() const { return offset + length; }

  // An owned copy.
  EventRecord to_record() const {
    EventRecord e;
    e.offset = offset;
    e.length = length;
    e.tx = tx;
    e.timestamp_ns = timestamp_ns;
    e.confirmation_count = confirmation_count;
    e.event_id = event_id;
    e.partition_key = partition_key;
    e.partition_id = partition_id;
    e.partition_sequence = partition_sequence;
    e.stream_version = stream_version;
    e.batch_start = batch_start;
    e.stream_id.assign(stream_id);
    e.event_name.assign(event_name);
    e.metadata.assign(metadata);
    e.payload.assign(payload);
    return e;
  }

  // A view of an owned record (valid while `e` is alive and unchanged).
  static EventView of(const EventRecord& e) {
    EventView v;
    v.offset = e.offset;
    v.length = e.length;
    v.tx = e.tx;
    v.timestamp_ns = e.timestamp_ns;
    v.confirmation_count = e.confirmation_count;
    v.event_id = e.event_id;
    v.partition_key = e.partition_key;
    v.partition_id = e.partition_id;
    v.partition_sequence = e.partition_sequence;
    v.stream_version = e.stream_version;
    v.batch_start = e.batch_start;
    v.stream_id = e.stream_id;
    v.event_name = e.event_name;
    v.metadata = e.metadata;
    v.payload = e.payload;
    return v;
  }
};

}  // namespace sierra
