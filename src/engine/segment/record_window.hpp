// A read-ahead window for reading records of one or more segments, owned by one iterator.
// Records that lie inside the window are decoded from memory, as views into the window (no copy
// of their bodies). The caller passes the offsets it will read next (from an index), and one
// pread covers as many of them as lie within 64 KiB (forward or backward) plus a page: a dense
// scan reads 64 KiB at a time, while a stream whose neighbours are far apart in the log (many
// streams written at once, or a reverse scan) reads a page per record, not 64 KiB. Anything
// unusual (a length that does not fit, a record past the visible end) falls back to
// SegmentReader::read_record, which reports it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/segment/event_view.hpp"
#include "engine/segment/record.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/seq_offset.hpp"

namespace sierra {

class RecordWindow {
 public:
  static constexpr size_t kWindowSize = 64 * 1024;

  static constexpr size_t kPage = 4096;  // what a read covers beyond the last planned record

  // Reads and checks (CRC included, except the body with header_only) the record at `offset`.
  // An event record is returned as views into this window, valid until the next call (or the
  // window's destruction); a valid commit record returns nullptr. `upcoming`: the offsets the
  // caller reads next in this segment, in its reading order (only a plan: any order is correct).
  Result<const EventView*> read_event(const std::shared_ptr<SegmentReader>& reader, uint64_t offset,
                                      bool header_only, std::span<const SeqOffset> upcoming = {});

  // The byte range [first, second) one read at `offset` covers for a record of at least `want`
  // bytes: the run of `upcoming` offsets that continue in one direction within kWindowSize of
  // `offset`, plus kPage past the highest; never past `end`. With no upcoming offsets (or the
  // next one far away) a page, or `want` if more.
  static std::pair<uint64_t, uint64_t> plan(uint64_t offset, uint64_t want, uint64_t end,
                                            std::span<const SeqOffset> upcoming);

 private:
  bool covers(uint64_t offset, uint64_t len) const {
    return offset >= start_ && offset + len <= start_ + len_;
  }
  Status fill(uint64_t offset, uint64_t want, uint64_t end, std::span<const SeqOffset> upcoming);
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
