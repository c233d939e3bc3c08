// Forwarder over two real transports on loopback: replies matched to their requests (many in
// flight), exactly one answer per request whatever happens: the reply, Busy when nothing was
// sent, OutcomeUnknown on a timeout, a lost connection or a stop; malformed frames dropped.
#include "cluster/forwarder.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/transport.hpp"
#include "support/loopback.hpp"

namespace sierra::cluster {
namespace {

using namespace std::chrono_literals;
using test_support::free_ports;
using test_support::run_until;

// The reply's bytes as text, or the error.
std::string text(const Result<std::vector<uint8_t>>& r) {
  if (!r) return "error: " + r.error().to_string();
  return std::string(r->begin(), r->end());
}

struct Node {
  uint64_t id = 0;
  uint16_t port = 0;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Forwarder> fwd;
  // Held replies (when the test wants to answer later), by arrival.
  std::vector<Forwarder::Reply> held;
  bool hold = false;
  bool silent = false;  // never replies
};

class ForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto ports = free_ports(2);
    for (size_t i = 0; i < 2; ++i) {
      nodes_[i].id = i + 1;
      nodes_[i].port = ports[i];
    }
    for (size_t i = 0; i < 2; ++i) start(i);
    ASSERT_TRUE(run_until(io_, [&] {
      return nodes_[0].transport->stats(2).connected && nodes_[1].transport->stats(1).connected;
    }));
  }
  void start(size_t i, unsigned timeout_ms = 2000, size_t max_in_flight = 10000) {
    Node& n = nodes_[i];
    Transport::Options o;
    o.node_id = n.id;
    o.cluster_id = 9;
    o.listen_port = n.port;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 100;
    const Node& p = nodes_[1 - i];
    o.peers.push_back({p.id, "127.0.0.1", p.port});
    Node* self = &n;
    auto t = Transport::start(
        io_, o,
        [self](uint64_t from, Frame f) {
          if (self->fwd) self->fwd->on_frame(from, f);
        },
        [self](uint64_t peer, bool up) {
          if (!up && self->fwd) self->fwd->on_peer_down(peer);
        });
    ASSERT_TRUE(t) << t.error().to_string();
    n.transport = std::move(*t);
    n.fwd = Forwarder::make(
        io_, Forwarder::Options{timeout_ms, max_in_flight},
        [self](uint64_t to, FrameKind kind, std::span<const uint8_t> payload) {
          return self->transport && self->transport->send(to, kGroupNone, kind, payload);
        },
        [self](uint64_t from, uint32_t bucket, std::vector<std::string> args,
               Forwarder::Reply reply) {
          if (self->silent) return;
          std::string joined =
              "from " + std::to_string(from) + " bucket " + std::to_string(bucket) + ":";
          for (const auto& a : args) joined += " " + a;
          if (self->hold) {
            self->held.push_back([reply, joined](std::vector<uint8_t>) {
              reply(std::vector<uint8_t>(joined.begin(), joined.end()));
            });
            return;
          }
          reply(std::vector<uint8_t>(joined.begin(), joined.end()));
        });
  }

  asio::io_context io_;
  Node nodes_[2];
};

TEST_F(ForwarderTest, RepliesMatchTheirRequests) {
  constexpr int kCount = 500;
  std::map<int, std::string> got;
  for (int k = 0; k < kCount; ++k) {
    nodes_[0].fwd->forward(2, static_cast<uint32_t>(k % 7),
                           {"EAPPEND", "stream-" + std::to_string(k), std::string(k % 50, 'x')},
                           [&got, k](Result<std::vector<uint8_t>> r) {
                             ASSERT_TRUE(r) << r.error().to_string();
                             got[k] = text(r);
                           });
  }
  EXPECT_EQ(nodes_[0].fwd->in_flight(), static_cast<size_t>(kCount));
  ASSERT_TRUE(run_until(io_, [&] { return got.size() == kCount; }));
  for (int k = 0; k < kCount; ++k) {
    EXPECT_EQ(got[k], "from 1 bucket " + std::to_string(k % 7) + ": EAPPEND stream-" +
                          std::to_string(k) + (k % 50 ? " " + std::string(k % 50, 'x') : " "));
  }
  EXPECT_EQ(nodes_[0].fwd->in_flight(), 0u);
  EXPECT_EQ(nodes_[1].fwd->stats().served, static_cast<uint64_t>(kCount));
  // Binary arguments and an empty command line survive.
  std::optional<std::string> bin;
  nodes_[1].fwd->forward(1, 0, {std::string("\0\r\n\xff", 4)},
                         [&](Result<std::vector<uint8_t>> r) { bin = text(r); });
  ASSERT_TRUE(run_until(io_, [&] { return bin.has_value(); }));
  EXPECT_EQ(*bin, "from 2 bucket 0: " + std::string("\0\r\n\xff", 4));
}

TEST_F(ForwarderTest, NoReplyInTimeIsOutcomeUnknownAndALateReplyIsDropped) {
  nodes_[0].fwd.reset();
  nodes_[0].transport.reset();
  start(0, /*timeout_ms=*/150);
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[0].transport->stats(2).connected; }));
  nodes_[1].hold = true;
  std::optional<Result<std::vector<uint8_t>>> got;
  nodes_[0].fwd->forward(2, 1, {"PING"}, [&](Result<std::vector<uint8_t>> r) { got = r; });
  ASSERT_TRUE(run_until(
      io_, [&] { return got.has_value(); }, 2000ms));
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, Errc::OutcomeUnknown);
  EXPECT_EQ(nodes_[0].fwd->stats().timed_out, 1u);
  // The leader answers after all: dropped, counted, and `done` is not called twice.
  ASSERT_EQ(nodes_[1].held.size(), 1u);
  nodes_[1].held[0]({});
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[0].fwd->stats().late_replies == 1; }));
}

TEST_F(ForwarderTest, LostConnectionAnswersOutcomeUnknownAtOnce) {
  nodes_[1].silent = true;
  int answered = 0;
  Errc code = Errc::Io;
  for (int k = 0; k < 3; ++k) {
    nodes_[0].fwd->forward(2, 0, {"EAPPEND"}, [&](Result<std::vector<uint8_t>> r) {
      ++answered;
      code = r ? Errc::Io : r.error().code;
    });
  }
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].fwd->stats().served == 3; }));
  const auto t0 = std::chrono::steady_clock::now();
  nodes_[1].fwd.reset();
  nodes_[1].transport.reset();  // the leader's process goes away
  ASSERT_TRUE(run_until(
      io_, [&] { return answered == 3; }, 1500ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);  // not the 2 s timeout
  EXPECT_EQ(code, Errc::OutcomeUnknown);
  EXPECT_EQ(nodes_[0].fwd->stats().peer_down, 3u);
}

TEST_F(ForwarderTest, BusyWhenNothingCanBeSent) {
  nodes_[0].fwd.reset();
  nodes_[0].transport.reset();
  start(0, 2000, /*max_in_flight=*/2);
  nodes_[1].silent = true;
  std::vector<Errc> codes;
  for (int k = 0; k < 3; ++k) {
    nodes_[0].fwd->forward(2, 0, {"X"}, [&](Result<std::vector<uint8_t>> r) {
      codes.push_back(r ? Errc::Io : r.error().code);
    });
  }
  ASSERT_EQ(codes.size(), 1u);  // the third at once
  EXPECT_EQ(codes[0], Errc::Busy);
  // An unknown node: nothing sent.
  nodes_[1].fwd->forward(7, 0, {"X"}, [&](Result<std::vector<uint8_t>> r) {
    codes.push_back(r ? Errc::Io : r.error().code);
  });
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(codes[1], Errc::Busy);
  // Stopping answers what is in flight.
  nodes_[0].fwd->stop();
  ASSERT_EQ(codes.size(), 4u);
  EXPECT_EQ(codes[2], Errc::OutcomeUnknown);
  EXPECT_EQ(codes[3], Errc::OutcomeUnknown);
}

TEST_F(ForwarderTest, MalformedFramesAreDropped) {
  const std::vector<uint8_t> junk{1, 2, 3};
  std::vector<uint8_t> lying(16, 0);
  lying[12] = 0xff;  // argc 255 with no arguments behind it
  ASSERT_TRUE(nodes_[0].transport->send(2, kGroupNone, FrameKind::Forward, junk));
  ASSERT_TRUE(nodes_[0].transport->send(2, kGroupNone, FrameKind::Forward, lying));
  ASSERT_TRUE(nodes_[0].transport->send(2, kGroupNone, FrameKind::ForwardReply, junk));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].fwd->stats().malformed == 3; }));
  EXPECT_EQ(nodes_[1].fwd->stats().served, 0u);
  // The node carries on.
  std::optional<std::string> got;
  nodes_[0].fwd->forward(2, 3, {"PING"}, [&](Result<std::vector<uint8_t>> r) { got = text(r); });
  ASSERT_TRUE(run_until(io_, [&] { return got.has_value(); }));
  EXPECT_EQ(*got, "from 1 bucket 3: PING");
}

}  // namespace
}  // namespace sierra::cluster
