#include "engine/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace sierra::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Vector {
  std::vector<uint8_t> data;
  uint32_t crc;
};

std::vector<Vector> known_vectors() {
  std::vector<Vector> v;
  const std::string_view digits = "123456789";
  v.push_back({std::vector<uint8_t>(digits.begin(), digits.end()), 0xE3069283u});
  v.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<uint8_t> asc(32), desc(32);
  for (int i = 0; i < 32; ++i) {
    asc[i] = static_cast<uint8_t>(i);
    desc[i] = static_cast<uint8_t>(31 - i);
  }
  v.push_back({asc, 0x46DD794Eu});   // RFC 3720 B.4
  v.push_back({desc, 0x113FDB5Cu});  // RFC 3720 B.4
  v.push_back({{}, 0u});
  return v;
}

void check_vectors(ExtendFn fn) {
  for (const auto& vec : known_vectors()) {
    EXPECT_EQ(fn(0, vec.data.data(), vec.data.size()), vec.crc) << "length " << vec.data.size();
  }
}

void check_extend_in_pieces(ExtendFn fn) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(1000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  const uint32_t whole = fn(0, buf.data(), buf.size());
  for (size_t split = 0; split <= buf.size(); split += 37) {
    uint32_t c = fn(0, buf.data(), split);
    c = fn(c, buf.data() + split, buf.size() - split);
    EXPECT_EQ(c, whole) << "split at " << split;
  }
  // Byte at a time.
  uint32_t c = 0;
  for (uint8_t b : buf) c = fn(c, &b, 1);
  EXPECT_EQ(c, whole);
}

TEST(Crc32cTest, StandardCheckValue) {
  EXPECT_EQ(value("123456789", 9), 0xE3069283u);
  EXPECT_EQ(extend(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, DispatchedVectors) {
  check_vectors(&extend);
}

TEST(Crc32cTest, PortableVectors) {
  check_vectors(&extend_portable);
}

// extend_hardware uses the SSE4.2 instruction where the CPU has it and the table otherwise, so
// these tests run (and must pass) on every machine; on SSE4.2 machines they check the hardware
// path.
TEST(Crc32cTest, HardwareVectors) {
  check_vectors(&extend_hardware);
}

TEST(Crc32cTest, SpanOverload) {
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(value(std::span<const uint8_t>(zeros)), 0x8A9136AAu);
}

TEST(Crc32cTest, ExtendInPiecesEqualsOneShot) {
  EXPECT_EQ(extend(extend(0, "1234", 4), "56789", 5), 0xE3069283u);
  check_extend_in_pieces(&extend);
  check_extend_in_pieces(&extend_portable);
  if (hardware_available()) check_extend_in_pieces(&extend_hardware);
}

TEST(Crc32cTest, PortableAndHardwareAgreeOnAllLengthsAndAlignments) {
  std::mt19937 rng(12345);
  std::vector<uint8_t> buf(300 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; len <= 300; ++len) {
      const uint8_t* p = buf.data() + start;
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(extend_portable(0, p, len), extend_hardware(0, p, len))
          << "start " << start << " len " << len;
      ASSERT_EQ(extend_portable(seed, p, len), extend_hardware(seed, p, len))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32cTest, UnalignedStartsGiveSameValue) {
  std::mt19937 rng(99);
  std::vector<uint8_t> src(257);
  for (auto& b : src) b = static_cast<uint8_t>(rng());
  const uint32_t expected = extend_portable(0, src.data(), src.size());
  std::vector<uint8_t> buf(src.size() + 16);
  for (size_t start = 0; start < 16; ++start) {
    std::memcpy(buf.data() + start, src.data(), src.size());
    EXPECT_EQ(extend(0, buf.data() + start, src.size()), expected) << "start " << start;
    EXPECT_EQ(extend_portable(0, buf.data() + start, src.size()), expected) << "start " << start;
    if (hardware_available()) {
      EXPECT_EQ(extend_hardware(0, buf.data() + start, src.size()), expected) << "start " << start;
    }
  }
}

TEST(Crc32cTest, DifferentDataDifferentCrc) {
  EXPECT_NE(value("hello", 5), value("hellp", 5));
  EXPECT_NE(value("a", 1), value("aa", 2));
}

}  // namespace
}  // namespace sierra::crc32c
