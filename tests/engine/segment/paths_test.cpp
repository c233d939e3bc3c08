#include "engine/segment/paths.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;

class PathsTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_{"sierra-paths-test"};
  fs::path dir_ = tmp_.path();
};

constexpr SegmentKind kAllKinds[] = {SegmentKind::Events, SegmentKind::EventIndex,
                                     SegmentKind::PartitionIndex, SegmentKind::StreamIndex};

TEST(PathsNamesTest, FileAndShortNames) {
  EXPECT_EQ(file_name(SegmentKind::Events), "data.evts");
  EXPECT_EQ(file_name(SegmentKind::EventIndex), "index.eidx");
  EXPECT_EQ(file_name(SegmentKind::PartitionIndex), "partition.pidx");
  EXPECT_EQ(file_name(SegmentKind::StreamIndex), "stream.sidx");
  EXPECT_EQ(short_name(SegmentKind::Events), "evts");
  EXPECT_EQ(short_name(SegmentKind::EventIndex), "eidx");
  EXPECT_EQ(short_name(SegmentKind::PartitionIndex), "pidx");
  EXPECT_EQ(short_name(SegmentKind::StreamIndex), "sidx");
}

TEST(PathsNamesTest, ParseSegmentKind) {
  for (SegmentKind k : kAllKinds) {
    auto parsed = parse_segment_kind(short_name(k));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, k);
  }
  for (std::string_view bad : {"", "EVTS", "data.evts", "evt", "idx", "evts "}) {
    auto parsed = parse_segment_kind(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code, Errc::InvalidSegmentKind);
    EXPECT_EQ(parsed.error().message, "invalid segment kind");
  }
}

TEST(PathsNamesTest, Layout) {
  const fs::path base = "/data";
  EXPECT_EQ(bucket_dir(base, 3), fs::path("/data/buckets/00003"));
  EXPECT_EQ(segment_dir(base, 3, 12), fs::path("/data/buckets/00003/segments/0000000012"));
  EXPECT_EQ(get_path(base, 3, 12, SegmentKind::Events),
            fs::path("/data/buckets/00003/segments/0000000012/data.evts"));
  EXPECT_EQ(get_path(base, 65535, 4294967295u, SegmentKind::StreamIndex),
            fs::path("/data/buckets/65535/segments/4294967295/stream.sidx"));
  EXPECT_EQ(get_path("rel", 0, 0, SegmentKind::PartitionIndex),
            fs::path("rel/buckets/00000/segments/0000000000/partition.pidx"));
}

TEST(PathsNamesTest, ParsePathRoundTrip) {
  for (SegmentKind k : kAllKinds) {
    for (BucketId b : {BucketId{0}, BucketId{3}, BucketId{65535}}) {
      for (SegmentId s : {SegmentId{0}, SegmentId{12}, SegmentId{4294967295u}}) {
        auto parsed = parse_path(get_path("/some/base", b, s, k));
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(*parsed, (ParsedSegmentPath{b, s, k}));
      }
    }
  }
}

TEST(PathsNamesTest, ParsePathLenient) {
  // Plain decimal integers: padding is optional, and the `segments` level name is not checked.
  auto p = parse_path("3/whatever/12/index.eidx");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (ParsedSegmentPath{3, 12, SegmentKind::EventIndex}));
  p = parse_path("/x/buckets/00003/segments/0000000012/data.evts");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (ParsedSegmentPath{3, 12, SegmentKind::Events}));
}

TEST(PathsNamesTest, ParsePathRejects) {
  const char* bad[] = {
      "/b/buckets/00003/segments/0000000012/data.evt",   // unknown file name
      "/b/buckets/00003/segments/0000000012/evts",       // short name is not a file name
      "/b/buckets/00003/segments/00000000x2/data.evts",  // segment not a number
      "/b/buckets/00003/segments/4294967296/data.evts",  // segment exceeds u32
      "/b/buckets/65536/segments/0000000012/data.evts",  // bucket exceeds u16
      "/b/buckets/-1/segments/0000000012/data.evts",     // negative
      "/b/buckets/abc/segments/0000000012/data.evts",    // bucket not a number
      "/b/buckets/00003/segments//data.evts",            // empty segment component
      "0000000012/data.evts",                            // too few levels
      "segments/0000000012/data.evts",                   // too few levels
      "data.evts",
      "",
  };
  for (const char* b : bad) EXPECT_FALSE(parse_path(b).has_value()) << b;
}

TEST_F(PathsTest, EnsureSegmentDirCreatesAndIsIdempotent) {
  auto d = ensure_segment_dir(dir_, 7, 42);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(*d, segment_dir(dir_, 7, 42));
  EXPECT_TRUE(fs::is_directory(*d));
  auto again = ensure_segment_dir(dir_, 7, 42);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *d);
}

TEST_F(PathsTest, EnsureSegmentDirFailsWhenBaseIsAFile) {
  const fs::path file = dir_ / "file";
  std::ofstream(file) << "x";
  auto d = ensure_segment_dir(file, 0, 0);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, Errc::Io);
}

TEST_F(PathsTest, ListSegmentIdsMissingBucketIsEmpty) {
  auto ids = list_segment_ids(dir_, 5);
  ASSERT_TRUE(ids.has_value()) << ids.error().to_string();
  EXPECT_TRUE(ids->empty());
}

TEST_F(PathsTest, ListSegmentIdsAscendingAndFiltered) {
  for (SegmentId s : {SegmentId{10}, SegmentId{2}, SegmentId{0}, SegmentId{4294967295u}}) {
    ASSERT_TRUE(ensure_segment_dir(dir_, 1, s).has_value());
  }
  const fs::path segs = bucket_dir(dir_, 1) / "segments";
  fs::create_directories(segs / "7");           // unpadded still parses
  fs::create_directories(segs / "junk");        // ignored
  fs::create_directories(segs / "4294967296");  // exceeds u32: ignored
  std::ofstream(segs / "0000000099") << "a file, not a directory";
  ASSERT_TRUE(ensure_segment_dir(dir_, 2, 3).has_value());  // other bucket

  auto ids = list_segment_ids(dir_, 1);
  ASSERT_TRUE(ids.has_value()) << ids.error().to_string();
  EXPECT_EQ(*ids, (std::vector<SegmentId>{0, 2, 7, 10, 4294967295u}));
  auto other = list_segment_ids(dir_, 2);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*other, (std::vector<SegmentId>{3}));
}

}  // namespace
}  // namespace sierra
