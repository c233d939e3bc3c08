// sierradb-bench's EMAPPEND group keys (tools/sierradb-bench/group_key.hpp): valid v4 UUID text,
// stable per group, and spread by the engine's partition function over every partition.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

#include "engine/ids.hpp"
#include "group_key.hpp"

namespace sierra {
namespace {

TEST(BenchGroupKey, IsAStableVersion4Uuid) {
  for (uint64_t g = 0; g < 100; ++g) {
    const std::string text = bench::group_partition_key(g);
    ASSERT_EQ(text.size(), 36u) << text;
    EXPECT_EQ(text[14], '4') << text;
    EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;
    const auto key = Uuid::parse(text);
    ASSERT_TRUE(key.has_value()) << text;
    EXPECT_EQ(key->to_string(), text);
    EXPECT_EQ(bench::group_partition_key(g), text);
  }
  EXPECT_NE(bench::group_partition_key(0), bench::group_partition_key(1));
}

// The old template (%08x-0000-4000-8000-%012llx) put every group in partition 0; 1000 groups
// (the bench's default stream count) must now reach each partition for common counts.
TEST(BenchGroupKey, GroupsCoverEveryPartition) {
  for (uint16_t partitions : {uint16_t{1}, uint16_t{32}, uint16_t{64}}) {
    std::set<PartitionId> seen;
    for (uint64_t g = 0; g < 1000; ++g) {
      const auto key = Uuid::parse(bench::group_partition_key(g));
      ASSERT_TRUE(key.has_value());
      seen.insert(partition_id_for_key(*key, partitions));
    }
    EXPECT_EQ(seen.size(), partitions) << partitions << " partitions";
  }
}

}  // namespace
}  // namespace sierra
