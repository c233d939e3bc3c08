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

struct EventView : EventFields {
  // Empty when read header-only.
  std::string_view stream_id;
  std::string_view event_name;
  std::string_view metadata;
  std::string_view payload;

  // An owned copy.
  EventRecord to_record() const {
    EventRecord e;
    static_cast<EventFields&>(e) = *this;
    e.stream_id.assign(stream_id);
    e.event_name.assign(event_name);
    e.metadata.assign(metadata);
    e.payload.assign(payload);
    return e;
  }

  // A view of an owned record (valid while `e` is alive and unchanged).
  static EventView of(const EventRecord& e) {
    EventView v;
    static_cast<EventFields&>(v) = e;
    v.stream_id = e.stream_id;
    v.event_name = e.event_name;
    v.metadata = e.metadata;
    v.payload = e.payload;
    return v;
  }
};

}  // namespace sierra
