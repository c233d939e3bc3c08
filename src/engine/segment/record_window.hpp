// A read-ahead window for reading records at (mostly) ascending offsets of one or more segments,
// owned by one iterator. One pread fills up to 64 KiB (or a whole large record); records that
// lie inside the window are decoded from memory, as views into the window (no copy of their
// bodies). Anything unusual (a length that does not fit, a record past the visible end) falls
// back to SegmentReader::read_record, which reports it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/error.hpp"
#include "engine/segment/event_view.hpp"
#include "engine/segment/record.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

class RecordWindow {
 public:
  static constexpr size_t kWindowSize = 64 * 1024;

  // Reads and checks (CRC included, except the body with header_only) the record at `offset`.
  // An event record is returned as views into this window, valid until the next call (or the
  // window's destruction); a valid commit record returns nullptr.
  Result<const EventView*> read_event(const std::shared_ptr<SegmentReader>& reader, uint64_t offset,
                                      bool header_only);

 private:
  bool covers(uint64_t offset, uint64_t len) const {
    return offset >= start_ && offset + len <= start_ + len_;
  }
  Status fill(uint64_t offset, uint64_t want, uint64_t end);
  // The record read by SegmentReader::read_record (the unusual cases), kept for the view.
  Result<const EventView*> read_fallback(const SegmentReader& reader, uint64_t offset,
                                         bool header_only);

  const SegmentReader* reader_ = nullptr;
  std::vector<uint8_t> buf_;
  uint64_t start_ = 0;
  uint64_t len_ = 0;
  EventView view_;
  EventRecord fallback_;
};

}  // namespace sierra
