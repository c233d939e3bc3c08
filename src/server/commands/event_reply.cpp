#include "server/commands/event_reply.hpp"

namespace sierra::server {

void write_event(resp::ReplyWriter& w, const EventRecord& e) {
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
  w.integer(timestamp_ms(e.timestamp_ns));
  w.simple("stream_id");
  w.bulk(e.stream_id);
  w.simple("event_name");
  w.bulk(e.event_name);
  w.simple("metadata");
  w.bulk(e.metadata);
  w.simple("payload");
  w.bulk(e.payload);
}

void write_event_batch(resp::ReplyWriter& w, bool has_more, std::span<const EventRecord> events) {
  w.map(2);
  w.simple("has_more");
  w.boolean(has_more);
  w.simple("events");
  w.array(events.size());
  for (const EventRecord& e : events) write_event(w, e);
}

}  // namespace sierra::server
