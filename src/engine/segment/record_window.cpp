#include "engine/segment/record_window.hpp"

#include <algorithm>

#include "engine/segment/format.hpp"

namespace sierra {

namespace sf = segment_format;

std::pair<uint64_t, uint64_t> RecordWindow::plan(uint64_t offset, uint64_t want, uint64_t end,
                                                 std::span<const SeqOffset> upcoming) {
  uint64_t lo = offset;  // lowest and highest record start the read covers
  uint64_t hi = offset;
  int direction = 0;
  for (const SeqOffset& next : upcoming) {
    const uint64_t o = next.offset;
    if (o > hi && direction >= 0 && o - offset < kWindowSize) {
      hi = o;
      direction = 1;
    } else if (o < lo && direction <= 0 && offset - o < kWindowSize) {
      lo = o;
      direction = -1;
    } else {
      break;
    }
  }
  const uint64_t stop = std::min(end, std::max(offset + want, hi + kPage));
  return {lo, stop};
}

Status RecordWindow::fill(uint64_t offset, uint64_t want, uint64_t end,
                          std::span<const SeqOffset> upcoming) {
  const auto [from, stop] = plan(offset, want, end, upcoming);
  const uint64_t n = stop - from;
  if (buf_.size() < n) buf_.resize(n);
  len_ = 0;
  auto got = reader_->file().pread_some(buf_.data(), n, from);
  if (!got) return std::unexpected(got.error());
  start_ = from;
  len_ = *got;
  return {};
}

Result<const EventView*> RecordWindow::read_fallback(const SegmentReader& reader, uint64_t offset,
                                                     bool header_only) {
  auto rec = reader.read_record(offset, header_only);
  if (!rec) return std::unexpected(std::move(rec.error()));
  auto* ev = std::get_if<EventRecord>(&*rec);
  if (ev == nullptr) return nullptr;
  fallback_ = std::move(*ev);
  view_ = EventView::of(fallback_);
  return &view_;
}

Result<const EventView*> RecordWindow::read_event(const std::shared_ptr<SegmentReader>& reader,
                                                  uint64_t offset, bool header_only,
                                                  std::span<const SeqOffset> upcoming) {
  if (reader.get() != reader_) {
    reader_ = reader.get();
    len_ = 0;
  }
  const uint64_t end = reader->visible_end();
  // The visible end went down (truncate_after): cached bytes past it may be rewritten.
  if (start_ + len_ > end) len_ = 0;
  if (offset < sf::kHeaderSize || offset >= end || end - offset < sf::kMinRecordSize) {
    return read_fallback(*reader, offset, header_only);  // reports the error
  }
  if (!covers(offset, sf::kMinRecordSize)) {
    if (auto s = fill(offset, sf::kMinRecordSize, end, upcoming); !s) {
      return std::unexpected(s.error());
    }
    if (!covers(offset, sf::kMinRecordSize)) return read_fallback(*reader, offset, header_only);
  }
  const uint32_t len = sf::peek_record_length(
      std::span<const uint8_t>(buf_.data() + (offset - start_), sf::kMinRecordSize));
  if (len < sf::kMinRecordSize || len > end - offset) {
    return read_fallback(*reader, offset, header_only);  // reports the bad length
  }
  if (!covers(offset, len)) {
    if (auto s = fill(offset, len, end, upcoming); !s) return std::unexpected(s.error());
    if (!covers(offset, len)) return read_fallback(*reader, offset, header_only);
  }
  auto is_event = sf::decode_event_view(
      std::span<const uint8_t>(buf_.data() + (offset - start_), len), offset, header_only, view_);
  if (!is_event) return std::unexpected(std::move(is_event.error()));
  if (!*is_event) return nullptr;
  return &view_;
}

}  // namespace sierra
