// The event map encoder (write_event, EventBatchWriter) against a reference built from the plain
// ReplyWriter calls it replaces, byte for byte, in RESP3 and RESP2.
#include "server/commands/event_reply.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace sierra::server {
namespace {

// The encoding of PROTOCOL.md §5 written with the generic writer calls.
void reference_event(resp::ReplyWriter& w, const EventRecord& e) {
  w.map(11);
  w.simple("event_id");
  w.simple(e.event_id.to_string());
  w.simple("partition_key");
  w.simple(e.partition_key.to_string());
  w.simple("partition_id");
  w.integer(e.partition_id);
  w.simple("transaction_id");
  w.simple(e.tx.transaction_id.to_string());
  w.simple("partition_sequence");
  w.integer(static_cast<int64_t>(e.partition_sequence));
  w.simple("stream_version");
  w.integer(static_cast<int64_t>(e.stream_version));
  w.simple("timestamp");
  w.integer(static_cast<int64_t>(e.timestamp_ns / 1'000'000));
  w.simple("stream_id");
  w.bulk(e.stream_id);
  w.simple("event_name");
  w.bulk(e.event_name);
  w.simple("metadata");
  w.bulk(e.metadata);
  w.simple("payload");
  w.bulk(e.payload);
}

std::string reference_batch(int protocol, bool has_more, const std::vector<EventRecord>& events) {
  std::string out;
  resp::ReplyWriter w(out, protocol);
  w.map(2);
  w.simple("has_more");
  w.boolean(has_more);
  w.simple("events");
  w.array(events.size());
  for (const auto& e : events) reference_event(w, e);
  return out;
}

Uuid random_uuid(std::mt19937_64& rng) {
  Uuid u;
  for (auto& b : u.bytes) b = static_cast<uint8_t>(rng());
  return u;
}

// Numbers around every power of ten and the limits, where digit counts change.
std::vector<uint64_t> edge_numbers() {
  std::vector<uint64_t> v{0,
                          1,
                          9,
                          std::numeric_limits<uint64_t>::max(),
                          std::numeric_limits<uint64_t>::max() - 1,
                          uint64_t{1} << 63,
                          (uint64_t{1} << 63) - 1,
                          (uint64_t{1} << 32),
                          (uint64_t{1} << 32) - 1};
  uint64_t p = 10;
  for (int i = 1; i < 20; ++i, p *= 10) {
    v.push_back(p - 1);
    v.push_back(p);
    v.push_back(p + 1);
  }
  return v;
}

EventRecord make_record(std::mt19937_64& rng, uint64_t number, size_t i) {
  EventRecord e;
  e.event_id = random_uuid(rng);
  e.partition_key = i % 3 == 0 ? Uuid{} : random_uuid(rng);
  for (auto& b : e.tx.transaction_id.bytes) b = i % 2 == 0 ? 0xFF : static_cast<uint8_t>(rng());
  e.partition_id = static_cast<PartitionId>(number);
  e.partition_sequence = number;
  e.stream_version = number / 3;
  e.timestamp_ns = number;
  e.stream_id = "stream-" + std::to_string(i);
  e.event_name = i % 4 == 0 ? "" : "Name\r\nWith CRLF";
  e.metadata = i % 5 == 0 ? "" : std::string("\0\x01\xff", 3);
  e.payload = std::string(i * 7 % 300, static_cast<char>('a' + i % 26));
  if (i % 101 == 0) e.payload = std::string(100'000, '\n');
  return e;
}

TEST(EventReply, WriteEventMatchesTheReferenceEncoding) {
  std::mt19937_64 rng(7);
  const auto numbers = edge_numbers();
  for (int protocol : {2, 3}) {
    for (size_t i = 0; i < numbers.size(); ++i) {
      const EventRecord e = make_record(rng, numbers[i], i);
      std::string got = "prefix";
      std::string want = "prefix";
      resp::ReplyWriter gw(got, protocol);
      resp::ReplyWriter ww(want, protocol);
      write_event(gw, e);
      reference_event(ww, e);
      ASSERT_EQ(got, want) << "protocol " << protocol << " number " << numbers[i];
      EXPECT_LE(got.size() - 6, encoded_event_size(EventView::of(e)));
      // The view overload writes the same bytes.
      std::string via_view;
      resp::ReplyWriter vw(via_view, protocol);
      write_event(vw, EventView::of(e));
      EXPECT_EQ("prefix" + via_view, want);
    }
  }
}

TEST(EventReply, WriteUuid) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 1000; ++i) {
    const Uuid u = random_uuid(rng);
    std::string out;
    resp::ReplyWriter w(out);
    write_uuid(w, u);
    ASSERT_EQ(out, "+" + u.to_string() + "\r\n");
  }
}

// EventBatchWriter (header written last, into room left for it) gives the bytes of the reference
// for every count, including counts with fewer digits than max_events, after earlier replies in
// the same buffer.
TEST(EventReply, BatchWriterMatchesTheReference) {
  std::mt19937_64 rng(3);
  std::vector<EventRecord> pool;
  for (size_t i = 0; i < 1200; ++i) pool.push_back(make_record(rng, rng() >> (i % 64), i + 1));
  for (int protocol : {2, 3}) {
    for (uint64_t max_events : {0ull, 1ull, 9ull, 10ull, 100ull, 1000ull, 10000ull}) {
      for (size_t n : {0, 1, 5, 9, 10, 11, 99, 100, 101, 999, 1000}) {
        if (n > max_events) continue;
        for (bool has_more : {false, true}) {
          const std::vector<EventRecord> events(pool.begin(), pool.begin() + n);
          std::string got = "+earlier reply\r\n";
          resp::ReplyWriter w(got, protocol);
          EventBatchWriter batch(w, max_events);
          for (size_t i = 0; i < n; ++i) {
            batch.add(EventView::of(events[i]));
            if (i == 0) batch.expect(n - 1);
          }
          EXPECT_EQ(batch.size(), n);
          batch.finish(has_more);
          ASSERT_EQ(got, "+earlier reply\r\n" + reference_batch(protocol, has_more, events))
              << "protocol " << protocol << " max " << max_events << " n " << n;
        }
      }
    }
  }
}

TEST(EventReply, BatchWriterAbandonRestoresTheBuffer) {
  std::mt19937_64 rng(5);
  std::string out = "+earlier\r\n";
  resp::ReplyWriter w(out);
  EventBatchWriter batch(w, 100);
  for (size_t i = 0; i < 50; ++i) batch.add(EventView::of(make_record(rng, i, i)));
  batch.abandon();
  EXPECT_EQ(out, "+earlier\r\n");
  EXPECT_EQ(batch.size(), 0u);
  w.error("READERR", "read error: x");
  EXPECT_EQ(out, "+earlier\r\n-READERR read error: x\r\n");
}

}  // namespace
}  // namespace sierra::server
