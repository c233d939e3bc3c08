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
  encode_frame(wire, kGroupNone, FrameKind::Heartbeats, {});
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

}  // namespace
}  // namespace sierra::cluster
