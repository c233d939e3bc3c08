// Open (in-memory) indexes: STORAGE.md §8.1 index tests, open half.
#include <gtest/gtest.h>

#include "engine/index/live_index.hpp"

namespace sierra {
namespace {

Uuid uuid_of(uint8_t first, uint8_t last = 0) {
  Uuid u;
  u.bytes[0] = first;
  u.bytes[15] = last;
  return u;
}

TEST(LiveEventIndexTest, InsertAndGet) {
  LiveEventIndex idx;
  const Uuid a = uuid_v4();
  const Uuid b = uuid_v4();
  idx.insert(a, 42);
  idx.insert(b, 1042);
  EXPECT_EQ(idx.get(a), 42u);
  EXPECT_EQ(idx.get(b), 1042u);
  EXPECT_EQ(idx.get(uuid_v4()), std::nullopt);
  EXPECT_EQ(idx.size(), 2u);
}

TEST(LiveEventIndexTest, InsertOverwrites) {
  LiveEventIndex idx;
  const Uuid a = uuid_of(1);
  idx.insert(a, 1);
  idx.insert(a, 2);
  EXPECT_EQ(idx.get(a), 2u);
  EXPECT_EQ(idx.size(), 1u);
}

TEST(LiveEventIndexTest, IdsDifferingInOneByte) {
  LiveEventIndex idx;
  idx.insert(uuid_of(7, 1), 100);
  idx.insert(uuid_of(7, 2), 200);
  EXPECT_EQ(idx.get(uuid_of(7, 1)), 100u);
  EXPECT_EQ(idx.get(uuid_of(7, 2)), 200u);
  EXPECT_EQ(idx.get(uuid_of(7, 3)), std::nullopt);
}

TEST(LiveEventIndexTest, EmptyAnswersNone) {
  LiveEventIndex idx;
  EXPECT_EQ(idx.get(Uuid::nil()), std::nullopt);
  EXPECT_EQ(idx.size(), 0u);
}

TEST(LivePartitionIndexTest, ThreeSequences) {
  LivePartitionIndex idx;
  idx.insert(5, 0, 100);
  idx.insert(5, 1, 200);
  idx.insert(5, 2, 300);
  const PartitionEntry* e = idx.get(5);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->sequence_min, 0u);
  EXPECT_EQ(e->sequence_max, 2u);
  EXPECT_EQ(e->offsets.size(), 3u);
  EXPECT_EQ(e->offsets, (std::vector<SeqOffset>{{0, 100}, {1, 200}, {2, 300}}));
  EXPECT_EQ(idx.get(6), nullptr);
}

TEST(LivePartitionIndexTest, TwoPartitions) {
  LivePartitionIndex idx;
  idx.insert(1, 10, 100);
  idx.insert(2, 20, 200);
  idx.insert(1, 11, 300);
  ASSERT_NE(idx.get(1), nullptr);
  ASSERT_NE(idx.get(2), nullptr);
  EXPECT_EQ(idx.get(1)->sequence_min, 10u);
  EXPECT_EQ(idx.get(1)->sequence_max, 11u);
  EXPECT_EQ(idx.get(2)->offsets, (std::vector<SeqOffset>{{20, 200}}));
  EXPECT_EQ(idx.get(999), nullptr);
  EXPECT_EQ(idx.size(), 2u);
}

TEST(LiveStreamIndexTest, InsertAndGet) {
  LiveStreamIndex idx;
  const Uuid pk_a = uuid_v4();
  const Uuid pk_b = uuid_v4();
  ASSERT_TRUE(idx.insert(3, "stream-a", pk_a, 0, 100));
  ASSERT_TRUE(idx.insert(3, "stream-a", pk_a, 1, 200));
  ASSERT_TRUE(idx.insert(3, "stream-b", pk_b, 0, 300));
  const StreamEntry* a = idx.get(3, "stream-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->partition_key, pk_a);
  EXPECT_EQ(a->version_min, 0u);
  EXPECT_EQ(a->version_max, 1u);
  EXPECT_EQ(a->offsets, (std::vector<SeqOffset>{{0, 100}, {1, 200}}));
  const StreamEntry* b = idx.get(3, "stream-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->partition_key, pk_b);
  EXPECT_EQ(b->version_max, 0u);
  EXPECT_EQ(idx.get(3, "unknown"), nullptr);
  EXPECT_EQ(idx.size(), 2u);
}

TEST(LiveStreamIndexTest, PartitionKeyMismatch) {
  LiveStreamIndex idx;
  const Uuid pk = uuid_v4();
  ASSERT_TRUE(idx.insert(0, "my-stream", pk, 0, 10));
  auto r = idx.insert(0, "my-stream", uuid_v4(), 1, 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::PartitionKeyMismatch);
  // The failed insert changed nothing.
  const StreamEntry* e = idx.get(0, "my-stream");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->version_max, 0u);
  EXPECT_EQ(e->offsets.size(), 1u);
}

TEST(LiveStreamIndexTest, SameStreamIdInTwoPartitionsIsTwoStreams) {
  LiveStreamIndex idx;
  const Uuid pk1 = uuid_v4();
  const Uuid pk2 = uuid_v4();
  ASSERT_TRUE(idx.insert(1, "stream-k", pk1, 0, 100));
  ASSERT_TRUE(idx.insert(2, "stream-k", pk2, 0, 200));  // no mismatch: another stream
  ASSERT_TRUE(idx.insert(2, "stream-k", pk2, 1, 300));
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_EQ(idx.get(1, "stream-k")->partition_key, pk1);
  EXPECT_EQ(idx.get(1, "stream-k")->offsets.size(), 1u);
  EXPECT_EQ(idx.get(2, "stream-k")->partition_key, pk2);
  EXPECT_EQ(idx.get(2, "stream-k")->version_max, 1u);
  EXPECT_EQ(idx.get(3, "stream-k"), nullptr);
}

TEST(LiveStreamIndexTest, StreamKeyHashDependsOnPartition) {
  StreamKeyHash h;
  EXPECT_NE(h(StreamKey{1, "stream-l"}), h(StreamKey{2, "stream-l"}));
  EXPECT_EQ(h(StreamKey{1, "stream-l"}), h(StreamKey{1, "stream-l"}));
}

}  // namespace
}  // namespace sierra
