// DatabaseApplier: a committed transaction reproduced exactly in another Database (ids,
// transaction id, sequences, versions, timestamps, bodies), replays harmless, a gap refused;
// and three nodes over loopback TCP whose Databases, fed by their replica sets, hold the same
// events, so that any node can serve the reads.
#include "cluster/database_applier.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/loopback_cluster.hpp"
#include "support/temp_dir.hpp"
#include "support/test_events.hpp"

namespace sierra::cluster {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPartitions = 4;

std::shared_ptr<Database> open_db(const std::filesystem::path& dir, uint16_t buckets = 1) {
  auto db = DatabaseBuilder().partition_count(kPartitions).total_buckets(buckets).open(dir);
  EXPECT_TRUE(db) << db.error().to_string();
  return db ? *db : nullptr;
}

Status apply_sync(DatabaseApplier& a, std::vector<EventRecord> records) {
  std::promise<Status> p;
  auto f = p.get_future();
  a.apply(std::move(records), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

void expect_same_event(const EventRecord& a, const EventRecord& b) {
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.tx.transaction_id, b.tx.transaction_id);
  EXPECT_EQ(a.partition_id, b.partition_id);
  EXPECT_EQ(a.partition_key, b.partition_key);
  EXPECT_EQ(a.partition_sequence, b.partition_sequence);
  EXPECT_EQ(a.stream_version, b.stream_version);
  EXPECT_EQ(a.timestamp_ns, b.timestamp_ns);
  EXPECT_EQ(a.stream_id, b.stream_id);
  EXPECT_EQ(a.event_name, b.event_name);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.payload, b.payload);
}

TEST(DatabaseApplier, ReproducesCommittedTransactionsExactly) {
  test_support::TempDir dir("db-applier");
  auto source = open_db(dir.path() / "source");
  auto target = open_db(dir.path() / "target");
  ASSERT_TRUE(source && target);
  DatabaseApplier applier(target);
  const Uuid key = partition_key_for_stream("applier-key");
  const PartitionId pid = partition_id_for_key(key, kPartitions);
  std::vector<std::vector<EventRecord>> committed;
  for (int k = 0; k < 20; ++k) {
    std::vector<NewEvent> evs;
    for (int j = 0; j <= k % 3; ++j) {
      NewEvent e = test::make_event(key, "s" + std::to_string(j), ExpectedVersion::any(),
                                    std::nullopt, "payload " + std::to_string(k));
      e.metadata = std::string("\0meta", 5);
      e.timestamp_ns = 1'000'000 + k;
      evs.push_back(std::move(e));
    }
    auto r = source->append_events(pid, test::tx_of(std::move(evs)));
    ASSERT_TRUE(r) << r.error().to_string();
    auto event_id = source->read_partition(pid, r->first_partition_sequence, 1);
    ASSERT_TRUE(event_id);
    auto first = event_id->next();
    ASSERT_TRUE(first && *first);
    auto tx = source->read_transaction(pid, (*first)->event_id);
    ASSERT_TRUE(tx && *tx);
    committed.push_back((*tx)->events);
  }
  for (const auto& records : committed) ASSERT_TRUE(apply_sync(applier, records));
  // Every event in the target, field for field.
  for (const auto& records : committed) {
    for (const EventRecord& want : records) {
      auto got = target->read_event(pid, want.event_id);
      ASSERT_TRUE(got && *got);
      expect_same_event(**got, want);
    }
  }
  const auto seq = target->get_partition_sequence(pid);
  ASSERT_TRUE(seq && *seq);
  // A replay from an earlier point changes nothing.
  for (size_t i = 10; i < committed.size(); ++i) ASSERT_TRUE(apply_sync(applier, committed[i]));
  EXPECT_EQ(*target->get_partition_sequence(pid), *seq);
  // A gap is refused: the target does not hold what this entry rests on.
  auto third = open_db(dir.path() / "third");
  DatabaseApplier gap(third);
  ASSERT_TRUE(apply_sync(gap, committed[0]));
  auto s = apply_sync(gap, committed[2]);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::WrongExpectedSequence);
}

TEST(DatabaseApplier, EveryNodesDatabaseHoldsTheSameEvents) {
  test::LoopbackCluster c(3, {0, 1}, kPartitions);
  ASSERT_TRUE(c.start_all());
  ASSERT_TRUE(c.run_until([&] { return c.leader(0) && c.leader(1); }, 10000ms));
  // 40 transactions over streams of both buckets.
  std::vector<std::pair<PartitionId, Uuid>> written;
  int answered = 0;
  for (int k = 0; k < 40; ++k) {
    const Uuid key = partition_key_for_stream("key-" + std::to_string(k % 8));
    const PartitionId pid = partition_id_for_key(key, kPartitions);
    const BucketId bucket = bucket_for_partition(pid, 2);
    auto l = c.leader(bucket);
    ASSERT_TRUE(l);
    NewEvent e = test::make_event(key, "stream-" + std::to_string(k % 8), ExpectedVersion::any(),
                                  std::nullopt, "body " + std::to_string(k));
    written.emplace_back(pid, e.event_id);
    c.node(*l).set->append(bucket, pid, test::tx_of({std::move(e)}), [&](Result<AppendResult> r) {
      EXPECT_TRUE(r) << r.error().to_string();
      ++answered;
    });
    ASSERT_TRUE(c.run_until([&] { return answered == k + 1; }, 5000ms));
  }
  // Every node's Database gets all 40 (followers apply once they learn the commit index).
  ASSERT_TRUE(c.run_until(
      [&] {
        for (size_t i = 0; i < c.size(); ++i)
          if (c.node(i).applied.load() < 40) return false;
        return true;
      },
      10000ms));
  for (const auto& [pid, id] : written) {
    auto a = c.node(0).db->read_event(pid, id);
    ASSERT_TRUE(a && *a);
    for (size_t i = 1; i < c.size(); ++i) {
      auto b = c.node(i).db->read_event(pid, id);
      ASSERT_TRUE(b && *b) << "node " << i + 1;
      expect_same_event(**a, **b);
    }
  }
  for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(c.node(i).apply_errors.load(), 0);
}

}  // namespace
}  // namespace sierra::cluster
