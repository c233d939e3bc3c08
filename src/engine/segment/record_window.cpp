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

Result<Record> RecordWindow::read(const std::shared_ptr<SegmentReader>& reader, uint64_t offset,
                                  bool header_only) {
  if (reader.get() != reader_) {
    reader_ = reader.get();
    len_ = 0;
  }
  const uint64_t end = reader->visible_end();
  if (offset < sf::kHeaderSize || offset >= end || end - offset < sf::kMinRecordSize) {
    return reader->read_record(offset, header_only);  // reports the error
  }
  if (!covers(offset, sf::kMinRecordSize)) {
    if (auto s = fill(offset, sf::kMinRecordSize, end); !s) return std::unexpected(s.error());
    if (!covers(offset, sf::kMinRecordSize)) return reader->read_record(offset, header_only);
  }
  const uint32_t len = sf::peek_record_length(
      std::span<const uint8_t>(buf_.data() + (offset - start_), sf::kMinRecordSize));
  if (len < sf::kMinRecordSize || len > end - offset) {
    return reader->read_record(offset, header_only);  // reports the bad length
  }
  if (!covers(offset, len)) {
    if (auto s = fill(offset, len, end); !s) return std::unexpected(s.error());
    if (!covers(offset, len)) return reader->read_record(offset, header_only);
  }
  return sf::decode_record(std::span<const uint8_t>(buf_.data() + (offset - start_), len), offset,
                           header_only);
}

}  // namespace sierra
