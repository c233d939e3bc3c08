#include "server/commands/event_reply.hpp"

namespace sierra::server {

namespace {

// Simple-string keys are pre-encoded: "+key\r\n" is the same in RESP2 and RESP3, and writing the
// constant in one append costs a fraction of encoding it (scans write 11 keys per event).
constexpr std::string_view kEventId = "+event_id\r\n";
constexpr std::string_view kPartitionKey = "+partition_key\r\n";
constexpr std::string_view kPartitionId = "+partition_id\r\n";
constexpr std::string_view kTransactionId = "+transaction_id\r\n";
constexpr std::string_view kPartitionSequence = "+partition_sequence\r\n";
constexpr std::string_view kStreamVersion = "+stream_version\r\n";
constexpr std::string_view kTimestamp = "+timestamp\r\n";
constexpr std::string_view kStreamId = "+stream_id\r\n";
constexpr std::string_view kEventName = "+event_name\r\n";
constexpr std::string_view kMetadata = "+metadata\r\n";
constexpr std::string_view kPayload = "+payload\r\n";

// Keys, three UUIDs, four integers, four bulk headers and the map header, rounded up.
constexpr std::size_t kEventFixedBytes = 400;

}  // namespace

void write_uuid(resp::ReplyWriter& w, const Uuid& id) {
  char buf[1 + Uuid::kTextSize + 2];
  buf[0] = '+';
  id.format_to(buf + 1);
  buf[1 + Uuid::kTextSize] = '\r';
  buf[2 + Uuid::kTextSize] = '\n';
  w.raw(std::string_view(buf, sizeof buf));
}

std::size_t encoded_event_size(const EventRecord& e) {
  return kEventFixedBytes + e.stream_id.size() + e.event_name.size() + e.metadata.size() +
         e.payload.size();
}

void write_event(resp::ReplyWriter& w, const EventRecord& e) {
  w.map(11);
  w.raw(kEventId);
  write_uuid(w, e.event_id);
  w.raw(kPartitionKey);
  write_uuid(w, e.partition_key);
  w.raw(kPartitionId);
  w.integer(e.partition_id);
  w.raw(kTransactionId);
  write_uuid(w, e.tx.transaction_id);
  w.raw(kPartitionSequence);
  w.integer(static_cast<int64_t>(e.partition_sequence));
  w.raw(kStreamVersion);
  w.integer(static_cast<int64_t>(e.stream_version));
  w.raw(kTimestamp);
  w.integer(timestamp_ms(e.timestamp_ns));
  w.raw(kStreamId);
  w.bulk(e.stream_id);
  w.raw(kEventName);
  w.bulk(e.event_name);
  w.raw(kMetadata);
  w.bulk(e.metadata);
  w.raw(kPayload);
  w.bulk(e.payload);
}

void write_event_batch(resp::ReplyWriter& w, bool has_more, std::span<const EventRecord> events) {
  std::size_t total = 64;
  for (const EventRecord& e : events) total += encoded_event_size(e);
  w.reserve(w.buffer().size() + total);
  w.map(2);
  w.simple("has_more");
  w.boolean(has_more);
  w.simple("events");
  w.array(events.size());
  for (const EventRecord& e : events) write_event(w, e);
}

}  // namespace sierra::server
