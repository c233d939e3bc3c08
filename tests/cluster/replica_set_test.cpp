// Three nodes in one process over real loopback TCP (Transport + ReplicaSet over BucketLogs in
// temp dirs): every bucket elects a leader, appends through the leaders commit on all three
// replicas identically, the leader of a bucket going away (its process, in effect) is replaced
// and appends continue, and the node coming back on its files catches up.
#include "cluster/replica_set.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/transport.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"
#include "support/test_events.hpp"

namespace sierra::cluster {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPartitions = 4;

using test_support::free_ports;
using test_support::run_until;

struct Node {
  uint64_t id = 0;
  uint16_t port = 0;
  std::unique_ptr<test_support::TempDir> dir;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<ReplicaSet> set;
};

class ReplicaSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nodes_.resize(3);
    const auto ports = free_ports(3);
    for (size_t i = 0; i < 3; ++i) {
      nodes_[i].id = i + 1;
      nodes_[i].port = ports[i];
      nodes_[i].dir = std::make_unique<test_support::TempDir>("replica-set");
    }
    for (size_t i = 0; i < 3; ++i) start(i);
  }
  void TearDown() override {
    for (auto& n : nodes_) stop(n);
  }
  void start(size_t i) {
    Node& n = nodes_[i];
    Transport::Options to;
    to.node_id = n.id;
    to.cluster_id = 42;
    to.listen_port = n.port;
    to.reconnect_min_ms = 20;
    to.reconnect_max_ms = 200;
    for (const Node& p : nodes_)
      if (p.id != n.id) to.peers.push_back({p.id, "127.0.0.1", p.port});
    Node* self = &n;
    auto t = Transport::start(io_, to, [self](uint64_t from, Frame f) {
      if (self->set) self->set->on_frame(from, f);
    });
    ASSERT_TRUE(t) << t.error().to_string();
    n.transport = std::move(*t);
    ReplicaSet::Options so;
    so.node_id = n.id;
    so.voters = {1, 2, 3};
    so.dir = n.dir->path();
    so.buckets = buckets_;
    so.partition_count = kPartitions;
    so.segment_size = 64 * 1024;
    so.election_timeout_ms = 300;
    so.heartbeat_timeout_ms = 30;
    auto s = ReplicaSet::open(
        io_, so, [self](uint64_t peer, FrameKind kind, uint32_t group, std::span<const uint8_t> b) {
          return self->transport && self->transport->send(peer, group, kind, b);
        });
    ASSERT_TRUE(s) << s.error().to_string();
    n.set = std::move(*s);
  }
  static void stop(Node& n) {
    n.set.reset();
    n.transport.reset();
  }
  // The node index leading `bucket` and ready, if any.
  std::optional<size_t> leader(BucketId bucket) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].set && nodes_[i].set->status(bucket).ready) return i;
    }
    return std::nullopt;
  }
  bool all_led() {
    for (BucketId b : buckets_)
      if (!leader(b)) return false;
    return true;
  }
  // Appends `count` one-event transactions to stream `stream` (partition of `key`) of `bucket`
  // through its leader, expected versions exact; returns how many succeeded.
  int append_many(BucketId bucket, const std::string& stream, uint64_t first_version, int count) {
    const Uuid key = partition_key_for_stream(stream + "-key-" + std::to_string(bucket));
    const PartitionId pid = partition_id_for_key(key, kPartitions);
    int ok = 0, answered = 0;
    for (int k = 0; k < count; ++k) {
      auto l = leader(bucket);
      if (!l) return ok;
      const ExpectedVersion ev = first_version + k == 0
                                     ? ExpectedVersion::empty()
                                     : ExpectedVersion::exact(first_version + k - 1);
      bool done = false;
      nodes_[*l].set->append(bucket, pid,
                             test::tx_of({test::make_event(key, stream, ev, std::nullopt)}),
                             [&](Result<AppendResult> r) {
                               done = true;
                               ++answered;
                               if (r) {
                                 ++ok;
                               } else {
                                 ADD_FAILURE() << r.error().to_string();
                               }
                             });
      if (!run_until(
              io_, [&] { return done; }, 5000ms))
        return ok;
    }
    return ok;
  }
  // Every open replica of `bucket` has applied `index`.
  bool applied_everywhere(BucketId bucket, uint64_t index) {
    for (auto& n : nodes_) {
      if (!n.set || n.set->status(bucket).applied_index < index) return false;
    }
    return true;
  }
  void expect_identical(BucketId bucket) {
    std::optional<std::vector<LogEntry>> first;
    for (auto& n : nodes_) {
      const BucketLog* log = n.set->log(bucket);
      ASSERT_NE(log, nullptr);
      auto got = log->read_entries(1, 1 << 20, size_t{1} << 40);
      ASSERT_TRUE(got);
      // Compare the applied prefix (a replica may hold more, not yet committed, entries).
      got->resize(std::min<size_t>(got->size(), n.set->status(bucket).applied_index));
      if (!first) {
        first = std::move(*got);
        continue;
      }
      const size_t common = std::min(first->size(), got->size());
      for (size_t i = 0; i < common; ++i) {
        EXPECT_EQ((*first)[i].term, (*got)[i].term) << "bucket " << bucket << " entry " << i + 1;
        EXPECT_EQ((*first)[i].payload, (*got)[i].payload)
            << "bucket " << bucket << " entry " << i + 1;
      }
    }
  }

  std::vector<BucketId> buckets_{0, 1};
  asio::io_context io_;
  std::vector<Node> nodes_;
};

class ReplicaSetManyBuckets : public ReplicaSetTest {
 protected:
  ReplicaSetManyBuckets() { buckets_ = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; }
};

TEST_F(ReplicaSetTest, ThreeNodesOverTcpActAsOneAndSurviveTheLossOfALeader) {
  ASSERT_TRUE(run_until(
      io_, [&] { return all_led(); }, 10000ms))
      << "no leader for every bucket";
  for (BucketId b : buckets_) EXPECT_EQ(append_many(b, "orders", 0, 30), 30);
  for (BucketId b : buckets_) {
    const uint64_t idx = nodes_[*leader(b)].set->status(b).applied_index;
    ASSERT_TRUE(run_until(
        io_, [&] { return applied_everywhere(b, idx); }, 5000ms));
    expect_identical(b);
  }

  // The leader of bucket 0 goes away (transport and replicas closed, as a killed process).
  const size_t old = *leader(0);
  stop(nodes_[old]);
  ASSERT_TRUE(run_until(
      io_, [&] { return leader(0).has_value(); }, 10000ms))
      << "no new leader for bucket 0";
  EXPECT_NE(*leader(0), old);
  EXPECT_EQ(append_many(0, "orders", 30, 20), 20);
  EXPECT_EQ(append_many(1, "orders", 30, 5), 5);

  // It comes back on its files and catches up.
  start(old);
  for (BucketId b : buckets_) {
    ASSERT_TRUE(leader(b) || run_until(
                                 io_, [&] { return leader(b).has_value(); }, 10000ms));
    const uint64_t idx = nodes_[*leader(b)].set->status(b).applied_index;
    ASSERT_TRUE(run_until(
        io_, [&] { return applied_everywhere(b, idx); }, 10000ms))
        << "bucket " << b << " did not catch up to " << idx;
    expect_identical(b);
  }
  // The stream's versions are gapless on every replica.
  for (auto& n : nodes_) {
    const Uuid key = partition_key_for_stream("orders-key-0");
    EXPECT_EQ(n.set->log(0)->stream_version(partition_id_for_key(key, kPartitions), "orders"),
              CurrentVersion::current(49));
  }
}

TEST_F(ReplicaSetTest, FollowersAnswerNotLeader) {
  ASSERT_TRUE(run_until(
      io_, [&] { return all_led(); }, 10000ms));
  const size_t l = *leader(1);
  const size_t follower = (l + 1) % 3;
  std::optional<Result<AppendResult>> got;
  const Uuid key = partition_key_for_stream("k");
  nodes_[follower].set->append(
      1, partition_id_for_key(key, kPartitions),
      test::tx_of({test::make_event(key, "s", ExpectedVersion::any(), std::nullopt)}),
      [&](Result<AppendResult> r) { got = std::move(r); });
  ASSERT_TRUE(run_until(
      io_, [&] { return got.has_value(); }, 1000ms));
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, Errc::NotLeader);
}

TEST_F(ReplicaSetManyBuckets, HeartbeatsOfEveryGroupShareOneFramePerPeer) {
  ASSERT_TRUE(run_until(
      io_, [&] { return all_led(); }, 10000ms));
  // Idle: only heartbeats and their answers flow. Count over a second.
  std::vector<uint64_t> msgs0, frames0;
  for (auto& n : nodes_) {
    msgs0.push_back(n.set->messages_sent());
    frames0.push_back(n.set->frames_sent());
  }
  run_until(
      io_, [] { return false; }, 1000ms);
  uint64_t msgs = 0, frames = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    msgs += nodes_[i].set->messages_sent() - msgs0[i];
    frames += nodes_[i].set->frames_sent() - frames0[i];
  }
  std::printf("12 groups, 1 s idle: %llu raft messages in %llu frames\n",
              static_cast<unsigned long long>(msgs), static_cast<unsigned long long>(frames));
  // 12 groups whose leaders heartbeat every 30 ms: ~48 messages a tick; each node sends at most
  // one heartbeat frame and one answer frame per peer a tick (~12 frames), whatever the groups.
  EXPECT_GT(msgs, 100u);        // ~1 500 on an idle machine; fewer when slowed (sanitizers)
  EXPECT_LT(frames * 3, msgs);  // one frame per message without coalescing
  // Still one database: appends commit.
  EXPECT_EQ(append_many(7, "s", 0, 5), 5);
}

}  // namespace
}  // namespace sierra::cluster
