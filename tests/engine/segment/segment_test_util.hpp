// Helpers shared by the segment format/writer/reader tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/ids.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/record.hpp"
#include "support/temp_dir.hpp"

namespace sierra::segtest {

// The tests' scratch directory (tests/support/temp_dir.hpp).
using TempDir = test_support::TempDir;

// Owns the bytes an EventToWrite points to.
struct OwnedEvent {
  Uuid event_id;
  Uuid partition_key;
  PartitionId partition_id = 0;
  uint64_t partition_sequence = 0;
  uint64_t stream_version = 0;
  uint64_t timestamp_ns = 0;
  std::string stream_id = "stream";
  std::string event_name = "Event";
  std::string metadata;
  std::string payload;

  EventToWrite view() const {
    EventToWrite e;
    e.event_id = event_id;
    e.partition_key = partition_key;
    e.partition_id = partition_id;
    e.partition_sequence = partition_sequence;
    e.stream_version = stream_version;
    e.timestamp_ns = timestamp_ns;
    e.stream_id = stream_id;
    e.event_name = event_name;
    e.metadata = metadata;
    e.payload = payload;
    return e;
  }
};

inline OwnedEvent make_event(uint64_t seq, std::string payload = "payload") {
  OwnedEvent e;
  e.event_id = uuid_v4();
  e.partition_key = uuid_v4();
  e.partition_id = static_cast<PartitionId>(seq % 7);
  e.partition_sequence = seq;
  e.stream_version = seq * 2;
  e.timestamp_ns = 1'700'000'000'000'000'000ull + seq;
  e.stream_id = "stream-" + std::to_string(seq % 5);
  e.event_name = "Event" + std::to_string(seq);
  e.metadata = "{\"m\":" + std::to_string(seq) + "}";
  e.payload = std::move(payload);
  return e;
}

inline std::vector<EventToWrite> views(const std::vector<OwnedEvent>& events) {
  std::vector<EventToWrite> v;
  for (const auto& e : events) v.push_back(e.view());
  return v;
}

inline TransactionHeader make_tx(uint64_t log_position, size_t n_events, uint64_t term = 0) {
  TransactionHeader tx;
  tx.log_position = log_position;
  tx.term = term;
  tx.transaction_id = new_transaction_id(n_events == 1);
  return tx;
}

// Encodes a transaction; fails the test on error.
inline std::vector<uint8_t> encode(const TransactionHeader& tx,
                                   const std::vector<OwnedEvent>& events,
                                   std::vector<uint32_t>* offsets = nullptr) {
  std::vector<uint8_t> out;
  auto v = views(events);
  auto st = segment_format::encode_transaction(out, tx, 42, v, offsets);
  EXPECT_TRUE(st.has_value()) << st.error().to_string();
  return out;
}

inline void expect_event_eq(const EventRecord& r, const OwnedEvent& e, bool header_only = false) {
  EXPECT_EQ(r.event_id, e.event_id);
  EXPECT_EQ(r.partition_key, e.partition_key);
  EXPECT_EQ(r.partition_id, e.partition_id);
  EXPECT_EQ(r.partition_sequence, e.partition_sequence);
  EXPECT_EQ(r.stream_version, e.stream_version);
  EXPECT_EQ(r.timestamp_ns, e.timestamp_ns);
  EXPECT_EQ(r.length, segment_format::encoded_event_size(e.view()));
  if (header_only) {
    EXPECT_TRUE(r.stream_id.empty());
    EXPECT_TRUE(r.payload.empty());
  } else {
    EXPECT_EQ(r.stream_id, e.stream_id);
    EXPECT_EQ(r.event_name, e.event_name);
    EXPECT_EQ(r.metadata, e.metadata);
    EXPECT_EQ(r.payload, e.payload);
  }
}

}  // namespace sierra::segtest
