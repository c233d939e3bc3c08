// An in-process cluster for the tests: N nodes on one io_context, each a Transport on a loopback
// port, a ReplicaSet over BucketLogs and a Database read side fed by a DatabaseApplier, all in
// the node's own temp directory. Nodes can be stopped (as a killed process: nothing more is
// written or sent) and started again on their files; links can be cut with the transport's
// test-only faults.
#pragma once

#include <gtest/gtest.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/database_applier.hpp"
#include "cluster/replica_set.hpp"
#include "cluster/transport.hpp"
#include "engine/database.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"

namespace sierra::test {

class LoopbackCluster {
 public:
  struct Node {
    uint64_t id = 0;
    uint16_t port = 0;
    std::unique_ptr<test_support::TempDir> dir;
    std::shared_ptr<Database> db;
    std::unique_ptr<cluster::DatabaseApplier> applier;
    std::unique_ptr<cluster::Transport> transport;
    std::unique_ptr<cluster::ReplicaSet> set;
    std::atomic<int> applied{0};
    std::atomic<int> apply_errors{0};
    bool up() const { return set != nullptr; }
  };

  LoopbackCluster(size_t n, std::vector<BucketId> buckets, uint16_t partitions)
      : buckets_(std::move(buckets)), partitions_(partitions), nodes_(n) {
    const auto ports = test_support::free_ports(n);
    for (size_t i = 0; i < n; ++i) {
      nodes_[i].id = i + 1;
      nodes_[i].port = ports[i];
      nodes_[i].dir = std::make_unique<test_support::TempDir>("loopback-cluster");
    }
  }
  ~LoopbackCluster() {
    for (size_t i = 0; i < nodes_.size(); ++i) stop(i);
  }

  asio::io_context& io() { return io_; }
  Node& node(size_t i) { return nodes_[i]; }
  size_t size() const { return nodes_.size(); }

  // Starts node i on its files (a fresh directory the first time).
  ::testing::AssertionResult start(size_t i) {
    Node& n = nodes_[i];
    auto db = DatabaseBuilder()
                  .partition_count(partitions_)
                  .total_buckets(static_cast<uint16_t>(buckets_.size()))
                  .open(n.dir->path() / "db");
    if (!db) return ::testing::AssertionFailure() << "database: " << db.error().to_string();
    n.db = *db;
    n.applier = std::make_unique<cluster::DatabaseApplier>(n.db);
    cluster::Transport::Options to;
    to.node_id = n.id;
    to.cluster_id = 77;
    to.listen_port = n.port;
    to.reconnect_min_ms = 20;
    to.reconnect_max_ms = 200;
    to.allow_fault_injection = true;
    for (const Node& p : nodes_)
      if (p.id != n.id) to.peers.push_back({p.id, "127.0.0.1", p.port});
    Node* self = &n;
    auto t = cluster::Transport::start(io_, to, [self](uint64_t from, cluster::Frame f) {
      if (self->set) self->set->on_frame(from, f);
    });
    if (!t) return ::testing::AssertionFailure() << "transport: " << t.error().to_string();
    n.transport = std::move(*t);
    cluster::ReplicaSet::Options so;
    so.node_id = n.id;
    for (const Node& p : nodes_) so.voters.push_back(p.id);
    so.dir = n.dir->path() / "raft";
    so.buckets = buckets_;
    so.partition_count = partitions_;
    so.segment_size = 64 * 1024;
    so.election_timeout_ms = 300;
    so.heartbeat_timeout_ms = 30;
    so.on_committed = [self](BucketId, uint64_t, std::vector<EventRecord> records) {
      self->applier->apply(std::move(records), [self](Status s) {
        if (s) {
          self->applied++;
        } else {
          ADD_FAILURE() << "node " << self->id << " read side: " << s.error().to_string();
          self->apply_errors++;
        }
      });
    };
    auto s = cluster::ReplicaSet::open(
        io_, so,
        [self](uint64_t peer, cluster::FrameKind kind, uint32_t group, std::span<const uint8_t> b) {
          return self->transport && self->transport->send(peer, group, kind, b);
        });
    if (!s) return ::testing::AssertionFailure() << "replica set: " << s.error().to_string();
    n.set = std::move(*s);
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult start_all() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (auto r = start(i); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  // As a killed process: replicas and connections go at once; the Database is closed.
  void stop(size_t i) {
    Node& n = nodes_[i];
    n.set.reset();
    n.transport.reset();
    if (n.db) n.db->close();
    n.applier.reset();
    n.db.reset();
  }
  // Cuts (or heals) every link of node i, both ways.
  void isolate(size_t i, bool cut) {
    const cluster::Transport::Fault f{cut ? 1.0 : 0.0, 0};
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (j == i) continue;
      if (nodes_[i].transport) {
        EXPECT_TRUE(
            nodes_[i].transport->set_fault(nodes_[j].id, cluster::Transport::Direction::Both, f));
      }
      if (nodes_[j].transport) {
        EXPECT_TRUE(
            nodes_[j].transport->set_fault(nodes_[i].id, cluster::Transport::Direction::Both, f));
      }
    }
  }
  // The index of the up node leading `bucket` and ready.
  std::optional<size_t> leader(BucketId bucket) const {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].set && nodes_[i].set->status(bucket).ready) return i;
    }
    return std::nullopt;
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    return test_support::run_until(io_, done, limit);
  }

 private:
  asio::io_context io_;
  std::vector<BucketId> buckets_;
  uint16_t partitions_;
  std::vector<Node> nodes_;
};

}  // namespace sierra::test
