#include "engine/segment/record_window.hpp"

#include <algorithm>

#include "engine/segment/format.hpp"

namespace sierra {

namespace sf = segment_format;

Status RecordWindow::fill(uint64_t offset, uint64_t want, uint64_t end) {
  const uint64_t n = std::min<uint64_t>(std::max<uint64_t>(want, kWindowSize), end - offset);
  if (buf_.size() < n) buf_.resize(n);
  len_ = 0;
  auto got = reader_->file().pread_some(buf_.data(), n, offset);
  if (!got) return std::unexpected(got.error());
  start_ = offset;
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
                                                  uint64_t offset, bool header_only) {
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
    if (auto s = fill(offset, sf::kMinRecordSize, end); !s) return std::unexpected(s.error());
    if (!covers(offset, sf::kMinRecordSize)) return read_fallback(*reader, offset, header_only);
  }
  const uint32_t len = sf::peek_record_length(
      std::span<const uint8_t>(buf_.data() + (offset - start_), sf::kMinRecordSize));
  if (len < sf::kMinRecordSize || len > end - offset) {
    return read_fallback(*reader, offset, header_only);  // reports the bad length
  }
  if (!covers(offset, len)) {
    if (auto s = fill(offset, len, end); !s) return std::unexpected(s.error());
    if (!covers(offset, len)) return read_fallback(*reader, offset, header_only);
  }
  auto is_event = sf::decode_event_view(
      std::span<const uint8_t>(buf_.data() + (offset - start_), len), offset, header_only, view_);
  if (!is_event) return std::unexpected(std::move(is_event.error()));
  if (!*is_event) return nullptr;
  return &view_;
}

}  // namespace sierra
