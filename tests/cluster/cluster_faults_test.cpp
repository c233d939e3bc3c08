// Faults against three in-process nodes over loopback TCP (tests/cluster/loopback_cluster.hpp):
// the leader cut off from the others, a follower killed and restarted, while one client appends
// with exact expected versions and retries with the same event ids after an unknown outcome.
// Afterwards every acknowledged append is in every node's Database exactly once, at its
// acknowledged sequence and version, and the partition is gapless.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/loopback_cluster.hpp"
#include "support/test_events.hpp"

namespace sierra {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPartitions = 4;

struct Acked {
  Uuid id;
  std::string stream;
  uint64_t sequence = 0;
  uint64_t version = 0;
};

TEST(ClusterFaults, CutOffLeaderAndKilledFollowerLoseNothingAcknowledged) {
  test::LoopbackCluster c(3, {0}, kPartitions);
  ASSERT_TRUE(c.start_all());
  ASSERT_TRUE(c.run_until([&] { return c.leader(0).has_value(); }, 10000ms));

  const Uuid key = partition_key_for_stream("faults");
  const PartitionId pid = partition_id_for_key(key, kPartitions);
  ASSERT_EQ(bucket_for_partition(pid, 1), 0);
  std::map<std::string, uint64_t> next_version;  // from acknowledged appends
  std::vector<Acked> acked;
  std::map<std::string, int> outcomes;
  constexpr int kOps = 120;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  constexpr size_t kNone = SIZE_MAX;
  size_t cut = kNone, killed = kNone;  // the node cut off / killed now

  for (int op = 0; op < kOps && std::chrono::steady_clock::now() < deadline; ++op) {
    if (op == 40) {  // the leader loses its links both ways
      ASSERT_TRUE(c.leader(0));
      cut = *c.leader(0);
      c.isolate(cut, true);
    }
    if (op == 70) {
      c.isolate(cut, false);
      cut = kNone;
    }
    if (op == 85) {  // a follower is killed
      const size_t l = *c.leader(0);
      killed = (l + 1) % 3;
      c.stop(killed);
    }
    if (op == 105) {
      ASSERT_TRUE(c.start(killed));
      killed = kNone;
    }
    const std::string stream = "s" + std::to_string(op % 4);
    NewEvent e =
        test::make_event(key, stream, ExpectedVersion::from_next_version(next_version[stream]),
                         new_event_id(partition_hash(key)), "op " + std::to_string(op));
    const Uuid id = e.event_id;
    const Transaction tx = test::tx_of({e});
    // Attempts until one is acknowledged (any attempt's success: they all carry the same ids).
    std::optional<AppendResult> result;
    for (int attempt = 0; attempt < 40 && !result; ++attempt) {
      std::optional<size_t> l = c.leader(0);
      if (!l || (*l == cut && attempt % 2 == 1)) {
        // No leader known, or only the cut-off one: wait a little and look again.
        c.run_until([] { return false; }, 50ms);
        if (!l) continue;
      }
      auto answer = std::make_shared<std::optional<Result<AppendResult>>>();
      c.node(*l).set->append(0, pid, tx, [answer](Result<AppendResult> r) { *answer = r; });
      c.run_until([&] { return answer->has_value(); }, 3000ms);
      if (!answer->has_value()) {
        outcomes["no answer in 3 s"]++;
        continue;
      }
      if (**answer) {
        result = ***answer;
        break;
      }
      const Errc code = (*answer)->error().code;
      outcomes[std::string(errc_name(code))]++;
      ASSERT_TRUE(code == Errc::OutcomeUnknown || code == Errc::NotLeader || code == Errc::Busy)
          << "op " << op << ": " << (*answer)->error().to_string();
      c.run_until([] { return false; }, 20ms);
    }
    ASSERT_TRUE(result) << "op " << op << " never acknowledged";
    EXPECT_EQ(result->stream_versions.at(0), next_version[stream]) << "op " << op;
    next_version[stream] = result->stream_versions.at(0) + 1;
    acked.push_back({id, stream, result->first_partition_sequence, result->stream_versions[0]});
  }
  ASSERT_EQ(acked.size(), static_cast<size_t>(kOps));
  std::string seen;
  for (const auto& [what, n] : outcomes) seen += what + " x" + std::to_string(n) + " ";
  std::printf("%d appends acknowledged; refused or unknown attempts: %s\n", kOps, seen.c_str());
  EXPECT_GT(outcomes["OutcomeUnknown"] + outcomes["NotLeader"] + outcomes["no answer in 3 s"], 0)
      << "the faults never touched a client";

  // Every node's read side: every acknowledged event once, where it was acknowledged.
  ASSERT_TRUE(c.run_until(
      [&] {
        for (size_t i = 0; i < c.size(); ++i) {
          auto seq = c.node(i).db->get_partition_sequence(pid);
          if (!seq || !*seq || **seq + 1 < static_cast<uint64_t>(kOps)) return false;
        }
        return true;
      },
      15000ms));
  for (size_t i = 0; i < c.size(); ++i) {
    auto& db = *c.node(i).db;
    EXPECT_EQ(*db.get_partition_sequence(pid), std::optional<uint64_t>(kOps - 1))
        << "node " << i + 1 << ": events beyond the acknowledged ones (a duplicate?)";
    for (const Acked& a : acked) {
      auto got = db.read_event(pid, a.id);
      ASSERT_TRUE(got && *got) << "node " << i + 1 << " lost an acknowledged event";
      EXPECT_EQ((*got)->partition_sequence, a.sequence);
      EXPECT_EQ((*got)->stream_version, a.version);
      EXPECT_EQ((*got)->stream_id, a.stream);
    }
    EXPECT_EQ(c.node(i).apply_errors.load(), 0);
  }
}

}  // namespace
}  // namespace sierra
