// Transport over loopback: frames both ways in order, one connection per pair in a full mesh,
// reconnect after a peer restarts, bounded queues, a wrong cluster id or garbage refused, and
// fault injection refused without the test flag.
#include "cluster/transport.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/loopback.hpp"

namespace sierra::cluster {
namespace {

using namespace std::chrono_literals;

struct Received {
  uint64_t from = 0;
  uint32_t group = 0;
  FrameKind kind = FrameKind::Raft;
  std::string payload;
};

using test_support::free_ports;
using test_support::run_until;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct Node {
  uint64_t id = 0;
  uint16_t port = 0;
  std::unique_ptr<Transport> t;
  std::vector<Received> got;
  std::map<uint64_t, int> ups, downs;
};

class TransportTest : public ::testing::Test {
 protected:
  // Nodes 1..n on fixed loopback ports, each knowing the others.
  void make(size_t n, uint64_t cluster = 7, bool faults = false, size_t max_queued = 4 << 20) {
    nodes_.resize(n);
    const auto ports = free_ports(n);
    for (size_t i = 0; i < n; ++i) {
      nodes_[i].id = i + 1;
      nodes_[i].port = ports[i];
    }
    for (size_t i = 0; i < n; ++i) start(i, cluster, faults, max_queued);
  }
  void start(size_t i, uint64_t cluster = 7, bool faults = false, size_t max_queued = 4 << 20) {
    Transport::Options o;
    o.node_id = nodes_[i].id;
    o.cluster_id = cluster;
    o.listen_port = nodes_[i].port;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 200;
    o.max_queued_bytes = max_queued;
    o.allow_fault_injection = faults;
    for (const Node& p : nodes_) {
      if (p.id != nodes_[i].id) o.peers.push_back({p.id, "127.0.0.1", p.port});
    }
    Node* self = &nodes_[i];
    auto t = Transport::start(
        io_, o,
        [self](uint64_t from, Frame f) {
          self->got.push_back(
              {from, f.group, f.kind, std::string(f.payload.begin(), f.payload.end())});
        },
        [self](uint64_t peer, bool up) { (up ? self->ups : self->downs)[peer]++; });
    ASSERT_TRUE(t) << t.error().to_string();
    nodes_[i].t = std::move(*t);
    EXPECT_EQ(nodes_[i].t->port(), nodes_[i].port);
  }
  bool connected(size_t i, uint64_t peer) { return nodes_[i].t->stats(peer).connected; }
  bool mesh_up() {
    for (size_t i = 0; i < nodes_.size(); ++i)
      for (const Node& p : nodes_)
        if (p.id != nodes_[i].id && !connected(i, p.id)) return false;
    return true;
  }

  asio::io_context io_;
  std::vector<Node> nodes_;
};

TEST_F(TransportTest, FramesFlowBothWaysInOrder) {
  make(2);
  // Sent before the connection is up: queued, then delivered.
  for (int k = 0; k < 100; ++k) {
    ASSERT_TRUE(nodes_[0].t->send(2, 5, FrameKind::Raft, bytes_of("a" + std::to_string(k))));
    ASSERT_TRUE(nodes_[1].t->send(1, 6, FrameKind::Forward, bytes_of("b" + std::to_string(k))));
  }
  ASSERT_TRUE(
      run_until(io_, [&] { return nodes_[0].got.size() == 100 && nodes_[1].got.size() == 100; }));
  for (int k = 0; k < 100; ++k) {
    EXPECT_EQ(nodes_[1].got[k].from, 1u);
    EXPECT_EQ(nodes_[1].got[k].group, 5u);
    EXPECT_EQ(nodes_[1].got[k].kind, FrameKind::Raft);
    EXPECT_EQ(nodes_[1].got[k].payload, "a" + std::to_string(k));
    EXPECT_EQ(nodes_[0].got[k].from, 2u);
    EXPECT_EQ(nodes_[0].got[k].kind, FrameKind::Forward);
    EXPECT_EQ(nodes_[0].got[k].payload, "b" + std::to_string(k));
  }
  EXPECT_EQ(nodes_[0].t->stats(2).frames_sent, 100u);
  EXPECT_EQ(nodes_[1].t->stats(1).frames_received, 100u);
  EXPECT_EQ(nodes_[0].t->stats(2).queued_bytes, 0u);
  // A large frame (1 MiB) arrives whole.
  std::string big(1 << 20, 'z');
  ASSERT_TRUE(nodes_[0].t->send(2, 1, FrameKind::Raft, bytes_of(big)));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].got.size() == 101; }));
  EXPECT_EQ(nodes_[1].got.back().payload, big);
  EXPECT_FALSE(nodes_[0].t->send(9, 1, FrameKind::Raft, bytes_of("x")));  // unknown peer
}

TEST_F(TransportTest, FullMeshHasOneConnectionPerPair) {
  make(3);
  ASSERT_TRUE(run_until(io_, [&] { return mesh_up(); }));
  run_until(
      io_, [] { return false; }, 100ms);  // no second connection turns up later
  for (size_t i = 0; i < 3; ++i) {
    for (const Node& p : nodes_) {
      if (p.id == nodes_[i].id) continue;
      EXPECT_EQ(nodes_[i].t->stats(p.id).connects, 1u) << nodes_[i].id << "->" << p.id;
      EXPECT_EQ(nodes_[i].ups[p.id], 1);
    }
  }
  for (size_t i = 0; i < 3; ++i)
    for (const Node& p : nodes_)
      if (p.id != nodes_[i].id) nodes_[i].t->send(p.id, 0, FrameKind::Raft, bytes_of("hi"));
  ASSERT_TRUE(run_until(io_, [&] {
    return nodes_[0].got.size() == 2 && nodes_[1].got.size() == 2 && nodes_[2].got.size() == 2;
  }));
}

TEST_F(TransportTest, DialerReconnectsAfterThePeerRestarts) {
  make(2);
  ASSERT_TRUE(run_until(io_, [&] { return mesh_up(); }));
  nodes_[1].t.reset();  // node 2 goes away (closes its sockets)
  ASSERT_TRUE(run_until(io_, [&] { return !connected(0, 2); }));
  EXPECT_EQ(nodes_[0].downs[2], 1);
  // While it is away, frames queue (bounded) on node 1.
  ASSERT_TRUE(nodes_[0].t->send(2, 3, FrameKind::Raft, bytes_of("while away")));
  run_until(
      io_, [] { return false; }, 150ms);  // a few failed dials
  start(1);
  ASSERT_TRUE(run_until(io_, [&] { return connected(0, 2) && nodes_[1].got.size() == 1; }));
  EXPECT_EQ(nodes_[1].got[0].payload, "while away");
  EXPECT_EQ(nodes_[0].t->stats(2).connects, 2u);
  // The accepting side restarting is the same from the other direction: node 1 restarts.
  nodes_[0].t.reset();
  nodes_[0].got.clear();
  start(0);
  ASSERT_TRUE(run_until(io_, [&] { return connected(0, 2) && connected(1, 1); }));
  ASSERT_TRUE(nodes_[1].t->send(1, 3, FrameKind::Raft, bytes_of("after")));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[0].got.size() == 1; }));
}

TEST_F(TransportTest, QueueIsBoundedWhileThePeerIsAway) {
  nodes_.resize(2);
  nodes_[0].id = 1;
  nodes_[1].id = 2;
  const auto ports = free_ports(2);
  nodes_[0].port = ports[0];
  nodes_[1].port = ports[1];  // nobody listens there
  start(0, 7, false, /*max_queued=*/64 * 1024);
  const std::string kb(1000, 'q');
  int accepted = 0;
  for (int k = 0; k < 200; ++k) accepted += nodes_[0].t->send(2, 0, FrameKind::Raft, bytes_of(kb));
  const auto s = nodes_[0].t->stats(2);
  EXPECT_LE(s.queued_bytes, 64u * 1024);
  EXPECT_GT(accepted, 50);
  EXPECT_LT(accepted, 70);
  EXPECT_EQ(s.dropped_queue_full, static_cast<uint64_t>(200 - accepted));
  // It keeps dialing without delivering anything, and does not grow.
  run_until(
      io_, [] { return false; }, 200ms);
  EXPECT_FALSE(connected(0, 2));
  EXPECT_LE(nodes_[0].t->stats(2).queued_bytes, 64u * 1024);
}

TEST_F(TransportTest, WrongClusterIdIsRefused) {
  nodes_.resize(2);
  const auto ports = free_ports(2);
  for (size_t i = 0; i < 2; ++i) {
    nodes_[i].id = i + 1;
    nodes_[i].port = ports[i];
  }
  start(0, /*cluster=*/7);
  start(1, /*cluster=*/8);
  nodes_[0].t->send(2, 0, FrameKind::Raft, bytes_of("x"));
  run_until(
      io_, [] { return false; }, 300ms);
  EXPECT_FALSE(connected(0, 2));
  EXPECT_FALSE(connected(1, 1));
  EXPECT_TRUE(nodes_[1].got.empty());
  EXPECT_EQ(nodes_[0].t->stats(2).connects, 0u);
}

TEST_F(TransportTest, GarbageOnThePeerPortIsClosedAndTheNodeCarriesOn) {
  make(2);
  ASSERT_TRUE(run_until(io_, [&] { return mesh_up(); }));
  // A stranger connects to node 2 and sends garbage, then another stays silent.
  asio::ip::tcp::socket garbage(io_), silent(io_);
  const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), nodes_[1].port);
  garbage.connect(ep);
  silent.connect(ep);
  asio::write(garbage, asio::buffer(std::string(64, '\x42')));
  std::vector<uint8_t> buf(16);
  std::error_code ec;
  bool closed = false;
  garbage.async_read_some(asio::buffer(buf), [&](std::error_code e, size_t) {
    ec = e;
    closed = true;
  });
  ASSERT_TRUE(run_until(io_, [&] { return closed; }));
  EXPECT_TRUE(ec);  // closed by node 2
  nodes_[0].t->send(2, 1, FrameKind::Raft, bytes_of("still here"));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].got.size() == 1; }));
  EXPECT_TRUE(connected(1, 1));
}

TEST_F(TransportTest, FaultInjectionNeedsTheTestFlag) {
  make(2);
  auto s = nodes_[0].t->set_fault(2, Transport::Direction::Both, {1.0, 0});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("test flag"), std::string::npos);
}

TEST_F(TransportTest, FaultsDropAndDelayFramesOneWay) {
  make(2, 7, /*faults=*/true);
  ASSERT_TRUE(run_until(io_, [&] { return mesh_up(); }));
  ASSERT_TRUE(nodes_[0].t->set_fault(2, Transport::Direction::Outgoing, {1.0, 0}));
  EXPECT_FALSE(nodes_[0].t->send(2, 0, FrameKind::Raft, bytes_of("dropped")));
  ASSERT_TRUE(nodes_[1].t->send(1, 0, FrameKind::Raft, bytes_of("other way")));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[0].got.size() == 1; }));
  run_until(
      io_, [] { return false; }, 50ms);
  EXPECT_TRUE(nodes_[1].got.empty());
  EXPECT_EQ(nodes_[0].t->stats(2).dropped_by_fault, 1u);
  // Incoming drop on node 2 for frames from node 1.
  ASSERT_TRUE(nodes_[0].t->set_fault(2, Transport::Direction::Outgoing, {}));
  ASSERT_TRUE(nodes_[1].t->set_fault(1, Transport::Direction::Incoming, {1.0, 0}));
  ASSERT_TRUE(nodes_[0].t->send(2, 0, FrameKind::Raft, bytes_of("lost on arrival")));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].t->stats(1).dropped_by_fault == 1; }));
  EXPECT_TRUE(nodes_[1].got.empty());
  // Delay: held ~100 ms.
  ASSERT_TRUE(nodes_[1].t->set_fault(1, Transport::Direction::Incoming, {}));
  ASSERT_TRUE(nodes_[0].t->set_fault(2, Transport::Direction::Outgoing, {0.0, 100}));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(nodes_[0].t->send(2, 0, FrameKind::Raft, bytes_of("late")));
  ASSERT_TRUE(run_until(io_, [&] { return nodes_[1].got.size() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 95ms);
  EXPECT_EQ(nodes_[1].got[0].payload, "late");
}

TEST(Transport, BadOptionsAreRefused) {
  asio::io_context io;
  auto none = [](uint64_t, Frame) {};
  Transport::Options o;
  EXPECT_FALSE(Transport::start(io, o, none));  // node id 0
  o.node_id = 1;
  o.peers = {{1, "127.0.0.1", 1000}};
  EXPECT_FALSE(Transport::start(io, o, none));  // itself as a peer
  o.peers = {{2, "127.0.0.1", 1000}, {2, "127.0.0.1", 1001}};
  EXPECT_FALSE(Transport::start(io, o, none));  // twice
  o.peers = {};
  o.listen_host = "not an address";
  EXPECT_FALSE(Transport::start(io, o, none));
  // A port in use.
  o.listen_host = "127.0.0.1";
  asio::ip::tcp::acceptor busy(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  o.listen_port = busy.local_endpoint().port();
  auto r = Transport::start(io, o, none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::Io);
}

}  // namespace
}  // namespace sierra::cluster
