#include "cluster/frame.hpp"

#include <cstring>
#include <string>

#include "engine/crc32c.hpp"

namespace sierra::cluster {

namespace {

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

bool known_kind(uint8_t k) {
  return k >= static_cast<uint8_t>(FrameKind::Hello) &&
         k <= static_cast<uint8_t>(FrameKind::ForwardReply);
}

}  // namespace

void encode_frame(std::vector<uint8_t>& out, uint32_t group, FrameKind kind,
                  std::span<const uint8_t> payload) {
  uint8_t h[kFrameHeaderSize] = {};
  put32(h, kFrameMagic);
  put32(h + 4, group);
  h[8] = static_cast<uint8_t>(kind);
  put32(h + 12, static_cast<uint32_t>(payload.size()));
  uint32_t crc = crc32c::extend(0, h, 16);
  crc = crc32c::extend(crc, payload.data(), payload.size());
  put32(h + 16, crc);
  out.insert(out.end(), h, h + kFrameHeaderSize);
  out.insert(out.end(), payload.begin(), payload.end());
}

void FrameReader::feed(std::span<const uint8_t> bytes) {
  // Drop what was consumed before growing, so the buffer holds at most one partial frame plus
  // what was just received.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (64u << 10) && pos_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Frame>> FrameReader::next() {
  if (buffered() < kFrameHeaderSize) return std::optional<Frame>();
  const uint8_t* h = buf_.data() + pos_;
  if (get32(h) != kFrameMagic) return make_error(Errc::CorruptRecord, "frame: bad magic");
  if (!known_kind(h[8]) || h[9] != 0 || h[10] != 0 || h[11] != 0) {
    return make_error(Errc::CorruptRecord, "frame: unknown kind " + std::to_string(h[8]));
  }
  const uint32_t len = get32(h + 12);
  if (len > max_) {
    return make_error(Errc::InvalidLength, "frame: payload of " + std::to_string(len) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(max_));
  }
  if (buffered() < kFrameHeaderSize + len) return std::optional<Frame>();
  uint32_t crc = crc32c::extend(0, h, 16);
  crc = crc32c::extend(crc, h + kFrameHeaderSize, len);
  if (crc != get32(h + 16)) return make_error(Errc::Crc32cMismatch, "frame: checksum mismatch");
  Frame f;
  f.group = get32(h + 4);
  f.kind = static_cast<FrameKind>(h[8]);
  f.payload.assign(h + kFrameHeaderSize, h + kFrameHeaderSize + len);
  pos_ += kFrameHeaderSize + len;
  return std::optional<Frame>(std::move(f));
}

void encode_raft_batch(std::vector<uint8_t>& out, std::span<const BatchItem> items) {
  for (const BatchItem& it : items) {
    const auto len = static_cast<uint32_t>(it.message.size());
    const size_t at = out.size();
    out.resize(at + 8);
    std::memcpy(out.data() + at, &it.group, 4);
    std::memcpy(out.data() + at + 4, &len, 4);
    out.insert(out.end(), it.message.begin(), it.message.end());
  }
}

Result<std::vector<BatchItem>> decode_raft_batch(std::span<const uint8_t> payload) {
  std::vector<BatchItem> items;
  size_t pos = 0;
  while (pos < payload.size()) {
    if (payload.size() - pos < 8) {
      return make_error(Errc::CorruptRecord, "raft batch: truncated item header");
    }
    BatchItem it;
    uint32_t len = 0;
    std::memcpy(&it.group, payload.data() + pos, 4);
    std::memcpy(&len, payload.data() + pos + 4, 4);
    pos += 8;
    if (len > payload.size() - pos) {
      return make_error(Errc::CorruptRecord, "raft batch: item longer than the frame");
    }
    it.message = payload.subspan(pos, len);
    pos += len;
    items.push_back(it);
  }
  return items;
}

}  // namespace sierra::cluster
