// Control records (kind 3, docs/FORMAT.md "Control record"): the bytes at their documented
// offsets, worked out by hand; decode round trip; every rule of the decoder.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/crc32c.hpp"
#include "engine/segment/format.hpp"

namespace sierra {
namespace {

namespace fmt = segment_format;

uint32_t u32_at(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 |
         uint32_t(b[at + 3]) << 24;
}
uint64_t u64_at(const std::vector<uint8_t>& b, size_t at) {
  return uint64_t(u32_at(b, at)) | uint64_t(u32_at(b, at + 4)) << 32;
}
// CRC over [0,4) ++ [13, len), as for every record kind.
uint32_t main_crc(const std::vector<uint8_t>& b) {
  uint32_t c = crc32c::extend(0, b.data(), 4);
  return crc32c::extend(c, b.data() + 13, b.size() - 13);
}
// Re-seals a hand-edited record.
void reseal(std::vector<uint8_t>& b) {
  const uint32_t c = main_crc(b);
  std::memcpy(b.data() + 4, &c, 4);
}

TEST(ControlRecord, BytesAtTheDocumentedOffsets) {
  std::vector<uint8_t> b;
  const std::vector<uint8_t> payload{0xAA, 0xBB, 0xCC};
  ASSERT_TRUE(fmt::encode_control_record(b, 42, 7, fmt::kControlConfiguration, payload));
  ASSERT_EQ(b.size(), 67u);
  EXPECT_EQ(u32_at(b, 0), 67u);          // length
  EXPECT_EQ(u32_at(b, 4), main_crc(b));  // crc
  EXPECT_EQ(b[8], 0);                    // confirmation count
  const uint8_t zero_txid_and_count[17] = {};
  EXPECT_EQ(u32_at(b, 9), crc32c::value(zero_txid_and_count, 17));
  EXPECT_EQ(b[13], 3);  // kind
  EXPECT_EQ(b[14] | b[15] << 8, 0);
  EXPECT_EQ(u64_at(b, 16), 42u);                             // log position = index
  EXPECT_EQ(u64_at(b, 24), 7u);                              // term
  for (size_t i = 32; i < 56; ++i) EXPECT_EQ(b[i], 0) << i;  // txid and timestamp
  EXPECT_EQ(b[56], 3);                                       // configuration
  EXPECT_EQ(b[57] | b[58] | b[59], 0);
  EXPECT_EQ(u32_at(b, 60), 3u);
  EXPECT_EQ(std::vector<uint8_t>(b.begin() + 64, b.end()), payload);

  auto r = fmt::decode_control_record(b, 1000);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->offset, 1000u);
  EXPECT_EQ(r->length, 67u);
  EXPECT_EQ(r->log_position, 42u);
  EXPECT_EQ(r->term, 7u);
  EXPECT_EQ(r->type, fmt::kControlConfiguration);
  EXPECT_EQ(std::vector<uint8_t>(r->payload.begin(), r->payload.end()), payload);
}

TEST(ControlRecord, EmptyBarrier) {
  std::vector<uint8_t> b{9, 9};  // appended after what is there
  ASSERT_TRUE(fmt::encode_control_record(b, 1, 1, fmt::kControlBarrier, {}));
  ASSERT_EQ(b.size(), 2u + 64u);
  auto r = fmt::decode_control_record(std::span<const uint8_t>(b).subspan(2), 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, fmt::kControlBarrier);
  EXPECT_TRUE(r->payload.empty());
}

TEST(ControlRecord, EncoderRefusesOtherTypes) {
  std::vector<uint8_t> b;
  EXPECT_EQ(fmt::encode_control_record(b, 1, 1, 1, {}).error().code, Errc::InvalidArgument);
  EXPECT_EQ(fmt::encode_control_record(b, 1, 1, 4, {}).error().code, Errc::InvalidArgument);
  EXPECT_TRUE(b.empty());
}

TEST(ControlRecord, DecoderRefusesEveryBrokenRule) {
  std::vector<uint8_t> good;
  ASSERT_TRUE(fmt::encode_control_record(good, 5, 2, fmt::kControlBarrier, {}));
  auto refused = [](std::vector<uint8_t> b, bool seal) {
    if (seal) reseal(b);
    return !fmt::decode_control_record(b, 0).has_value();
  };
  auto flip = [&](size_t at, uint8_t v, bool seal) {
    auto b = good;
    b[at] = v;
    return refused(b, seal);
  };
  EXPECT_FALSE(refused(good, false));
  EXPECT_TRUE(flip(20, 0x55, false));  // any byte changed: checksum
  EXPECT_TRUE(flip(56, 4, true));      // unknown type
  EXPECT_TRUE(flip(56, 1, true));
  EXPECT_TRUE(flip(57, 1, true));  // reserved
  EXPECT_TRUE(flip(14, 1, true));  // flags (batch start is for event records)
  EXPECT_TRUE(flip(60, 1, true));  // payload length does not match
  EXPECT_TRUE(flip(13, 1, true));  // not kind 3
  {
    auto b = good;  // a transaction id (the confirmation CRC made to match)
    b[32] = 1;
    uint8_t txid_count[17] = {};
    txid_count[0] = 1;
    const uint32_t c = crc32c::value(txid_count, 17);
    std::memcpy(b.data() + 9, &c, 4);
    EXPECT_TRUE(refused(b, true));
  }
  // Truncated.
  EXPECT_TRUE(refused(std::vector<uint8_t>(good.begin(), good.end() - 1), false));
}

}  // namespace
}  // namespace sierra
