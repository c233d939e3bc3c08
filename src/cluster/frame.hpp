// The frames of the node-to-node connection (one TCP connection per peer pair carries every
// bucket group's messages): {group, kind, length, crc, payload}, little-endian, the CRC-32C over
// the header fields and the payload. FrameReader splits a byte stream into verified frames.
//
//   offset size field
//        0    4 magic "SRF1"
//        4    4 group    (bucket id; kGroupNone for node-level frames)
//        8    1 kind     (FrameKind)
//        9    3 zero
//       12    4 length   (payload bytes, <= max payload)
//       16    4 crc      CRC-32C of bytes [0,16) and the payload
//       20    - payload
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/error.hpp"

namespace sierra::cluster {

enum class FrameKind : uint8_t {
  Hello = 1,      // node-level: who is speaking (node id, cluster id)
  Raft = 2,       // one raft message of one group (raft_shim wire form)
  RaftBatch = 3,  // node-level: several groups' raft messages (a tick's heartbeats), coalesced
  Forward = 4,    // a client command forwarded to the bucket's leader
  ForwardReply = 5,
};

inline constexpr uint32_t kFrameMagic = 0x31465253;  // bytes "SRF1"
inline constexpr size_t kFrameHeaderSize = 20;
inline constexpr uint32_t kGroupNone = 0xffffffffu;
inline constexpr uint32_t kDefaultMaxFramePayload = 64u << 20;

struct Frame {
  uint32_t group = kGroupNone;
  FrameKind kind = FrameKind::Raft;
  std::vector<uint8_t> payload;
};

// Appends the encoded frame to `out`.
void encode_frame(std::vector<uint8_t>& out, uint32_t group, FrameKind kind,
                  std::span<const uint8_t> payload);

// A RaftBatch payload: repeated {u32 group, u32 length, length bytes of one raft message}.
struct BatchItem {
  uint32_t group = 0;
  std::span<const uint8_t> message;
};
void encode_raft_batch(std::vector<uint8_t>& out, std::span<const BatchItem> items);
// The items of a RaftBatch payload (views into it); CorruptRecord if it does not parse exactly.
Result<std::vector<BatchItem>> decode_raft_batch(std::span<const uint8_t> payload);

// Accumulates received bytes and yields whole, verified frames in order. A bad magic, a bad
// CRC, an unknown kind or a length over the limit is an error (CorruptRecord / InvalidLength):
// the connection must then be closed, since the stream can no longer be framed.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_payload = kDefaultMaxFramePayload) : max_(max_payload) {}
  void feed(std::span<const uint8_t> bytes);
  // The next whole frame, nullopt when more bytes are needed.
  Result<std::optional<Frame>> next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint32_t max_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
};

}  // namespace sierra::cluster
