// The event map of PROTOCOL.md §5, shared by EGET, ESCAN, EPSCAN and subscription pushes:
// 11 entries with simple-string keys, in this order: event_id (simple), partition_key (simple),
// partition_id (number), transaction_id (simple), partition_sequence (number), stream_version
// (number), timestamp (number, milliseconds), stream_id, event_name, metadata and payload (blob).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/segment/record.hpp"
#include "server/resp/reply_writer.hpp"

namespace sierra::server {

inline constexpr uint64_t kNanosPerMilli = 1'000'000;

// Nanoseconds since the epoch -> milliseconds for replies (rounded down).
inline int64_t timestamp_ms(uint64_t timestamp_ns) {
  return static_cast<int64_t>(timestamp_ns / kNanosPerMilli);
}

// Writes a UUID as a simple string (+xxxxxxxx-...\r\n) without allocating.
void write_uuid(resp::ReplyWriter& w, const Uuid& id);

// Upper bound of the bytes write_event produces for `event` (used to size reply buffers).
std::size_t encoded_event_size(const EventRecord& event);

// Writes one event map.
void write_event(resp::ReplyWriter& w, const EventRecord& event);

// Writes the ESCAN / EPSCAN reply: a map {has_more: boolean, events: [event maps]}.
void write_event_batch(resp::ReplyWriter& w, bool has_more, std::span<const EventRecord> events);

}  // namespace sierra::server
