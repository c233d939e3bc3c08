// The event map of PROTOCOL.md §5, shared by EGET, ESCAN, EPSCAN and subscription pushes:
// 11 entries with simple-string keys, in this order: event_id (simple), partition_key (simple),
// partition_id (number), transaction_id (simple), partition_sequence (number), stream_version
// (number), timestamp (number, milliseconds), stream_id, event_name, metadata and payload (blob).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/segment/event_view.hpp"
#include "engine/segment/record.hpp"
#include "resp/reply_writer.hpp"

namespace sierra::server {

inline constexpr uint64_t kNanosPerMilli = 1'000'000;

// Nanoseconds since the epoch -> milliseconds for replies (rounded down).
inline int64_t timestamp_ms(uint64_t timestamp_ns) {
  return static_cast<int64_t>(timestamp_ns / kNanosPerMilli);
}

// Writes a UUID as a simple string (+xxxxxxxx-...\r\n) without allocating.
void write_uuid(resp::ReplyWriter& w, const Uuid& id);

// Upper bound of the bytes write_event produces for `event` (used to size reply buffers).
std::size_t encoded_event_size(const EventView& event);

// Writes one event map, encoded straight into the writer's buffer.
void write_event(resp::ReplyWriter& w, const EventView& event);
void write_event(resp::ReplyWriter& w, const EventRecord& event);

// Writes the ESCAN / EPSCAN reply, a map {has_more: boolean, events: [event maps]}, while the
// events are read, without holding them:
// each add() encodes one event into the writer's buffer at once (from views into the reader's
// buffer, so an event's body is copied once, from the segment read window into the reply). The
// header (has_more, the events' count) comes first in the reply but is known last: room for it
// is left at construction, sized for `max_events`, and finish() writes it there (moving the
// events only if the actual count has fewer digits than `max_events`). abandon() removes
// everything written since construction (to reply with an error instead).
class EventBatchWriter {
 public:
  EventBatchWriter(resp::ReplyWriter& w, uint64_t max_events);
  EventBatchWriter(const EventBatchWriter&) = delete;
  EventBatchWriter& operator=(const EventBatchWriter&) = delete;

  void add(const EventView& event);
  // Capacity hint: about `events` more events of the size of the last one added.
  void expect(uint64_t events);
  uint64_t size() const { return count_; }
  void finish(bool has_more);
  void abandon();

 private:
  resp::ReplyWriter& w_;
  std::size_t base_;  // buffer size at construction: the reply's header starts here
  std::size_t gap_;   // bytes left for the header
  std::size_t last_size_ = 0;
  uint64_t count_ = 0;
};

}  // namespace sierra::server
