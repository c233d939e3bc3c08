#include "cluster/frame.hpp"

#include <gtest/gtest.h>

#include <random>

namespace sierra::cluster {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(Frame, RoundTripsWhenFedOneByteAtATime) {
  std::vector<uint8_t> wire;
  encode_frame(wire, 3, FrameKind::Raft, bytes("hello"));
  encode_frame(wire, kGroupNone, FrameKind::RaftBatch, {});
  encode_frame(wire, 7, FrameKind::Forward, bytes(std::string(70000, 'x')));
  FrameReader r;
  std::vector<Frame> got;
  for (uint8_t b : wire) {
    r.feed(std::span<const uint8_t>(&b, 1));
    for (;;) {
      auto f = r.next();
      ASSERT_TRUE(f) << f.error().to_string();
      if (!*f) break;
      got.push_back(std::move(**f));
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].group, 3u);
  EXPECT_EQ(got[0].kind, FrameKind::Raft);
  EXPECT_EQ(got[0].payload, bytes("hello"));
  EXPECT_EQ(got[1].group, kGroupNone);
  EXPECT_TRUE(got[1].payload.empty());
  EXPECT_EQ(got[2].payload.size(), 70000u);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(Frame, EveryFlippedBitIsRefused) {
  std::vector<uint8_t> wire;
  encode_frame(wire, 1, FrameKind::Raft, bytes("payload bytes"));
  for (size_t bit = 0; bit < wire.size() * 8; ++bit) {
    std::vector<uint8_t> bad = wire;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    FrameReader r;
    r.feed(bad);
    auto f = r.next();
    // A damaged length may make the frame look incomplete (waiting for more bytes) or too long;
    // it must never yield a frame.
    if (f) {
      EXPECT_FALSE(f->has_value()) << "bit " << bit;
    }
  }
}

TEST(Frame, OversizedLengthIsAnErrorBeforeItsBytesArrive) {
  std::vector<uint8_t> wire;
  encode_frame(wire, 1, FrameKind::Raft, bytes(std::string(100, 'y')));
  FrameReader r(64);
  r.feed(std::span<const uint8_t>(wire.data(), kFrameHeaderSize));
  auto f = r.next();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Errc::InvalidLength);
}

TEST(RaftBatch, RoundTripsAndRefusesBadPayloads) {
  const std::vector<uint8_t> a{1, 2, 3}, b{}, c(300, 7);
  const std::vector<BatchItem> items{{5, a}, {6, b}, {0xffff, c}};
  std::vector<uint8_t> payload;
  encode_raft_batch(payload, items);
  EXPECT_EQ(payload.size(), 3 * 8 + 3 + 0 + 300u);
  auto got = decode_raft_batch(payload);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].group, 5u);
  EXPECT_EQ(std::vector<uint8_t>((*got)[0].message.begin(), (*got)[0].message.end()), a);
  EXPECT_TRUE((*got)[1].message.empty());
  EXPECT_EQ((*got)[2].group, 0xffffu);
  EXPECT_EQ((*got)[2].message.size(), 300u);
  EXPECT_TRUE(decode_raft_batch({})->empty());
  auto cut = payload;
  cut.pop_back();
  EXPECT_FALSE(decode_raft_batch(cut));
  EXPECT_FALSE(decode_raft_batch(std::span<const uint8_t>(payload).first(5)));
}

}  // namespace
}  // namespace sierra::cluster
