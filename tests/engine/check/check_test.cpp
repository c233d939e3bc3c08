// `sierradb check`: healthy and damaged data directories, with and without --repair.
#include "engine/check/command.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/segment/paths.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
using dbtest::make_event;

struct CheckRun {
  int rc = -1;
  std::string out;
};

CheckRun check(const fs::path& dir, bool repair = false) {
  std::vector<std::string> args{dir.string()};
  if (repair) args.emplace_back("--repair");
  std::ostringstream out;
  CheckRun r;
  r.rc = run_check(args, out);
  r.out = out.str();
  return r;
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = DatabaseBuilder()
                  .segment_size(64 * 1024)
                  .partition_count(4)
                  .total_buckets(1)
                  .log_sink(dbtest::quiet_log)
                  .open(dir_.path());
    ASSERT_TRUE(db) << db.error().to_string();
    const std::string payload(1000, 'x');
    for (int i = 0; i < 200; ++i) {
      const std::string stream = "stream-" + std::to_string(i % 5);
      if (i % 10 == 9) {  // some multi-event transactions
        auto r = dbtest::append_many(
            **db, {make_event(stream, ExpectedVersion::any(), std::nullopt, payload),
                   make_event(stream, ExpectedVersion::any(), std::nullopt, payload),
                   make_event(stream, ExpectedVersion::any(), std::nullopt, payload)});
        ASSERT_TRUE(r) << r.error().to_string();
      } else {
        auto r = dbtest::append_one(
            **db, make_event(stream, ExpectedVersion::any(), std::nullopt, payload));
        ASSERT_TRUE(r) << r.error().to_string();
      }
    }
    (*db)->close();
    db->reset();
    auto ids = list_segment_ids(dir_.path(), 0);
    ASSERT_TRUE(ids);
    ASSERT_GE(ids->size(), 3u);
    live_ = ids->back();
  }

  fs::path path(SegmentId s, SegmentKind kind) const { return get_path(dir_.path(), 0, s, kind); }

  dbtest::TempDir dir_{"sierra-check"};
  SegmentId live_ = 0;
};

TEST_F(CheckTest, HealthyDirectoryExitsZero) {
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find(std::to_string(live_ + 1) + " segments, 240 events, 0 problems"),
            std::string::npos)
      << r.out;
}

TEST_F(CheckTest, UsageErrorsExitTwo) {
  std::ostringstream out;
  EXPECT_EQ(run_check(std::vector<std::string>{}, out), 2);
  EXPECT_EQ(run_check(std::vector<std::string>{dir_.path().string(), "--bogus"}, out), 2);
  EXPECT_EQ(run_check(std::vector<std::string>{(dir_.path() / "nope").string()}, out), 2);
  EXPECT_EQ(run_check(std::vector<std::string>{"a", "b"}, out), 2);
  EXPECT_EQ(run_check(std::vector<std::string>{"--help"}, out), 0);
}

TEST_F(CheckTest, DeletedIndexFileIsRebuiltByRepair) {
  ASSERT_TRUE(fs::remove(path(0, SegmentKind::EventIndex)));
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 index.eidx: missing"), std::string::npos) << r.out;

  auto fixed = check(dir_.path(), /*repair=*/true);
  EXPECT_EQ(fixed.rc, 0) << fixed.out;
  EXPECT_NE(fixed.out.find("index files rebuilt"), std::string::npos) << fixed.out;
  EXPECT_TRUE(fs::exists(path(0, SegmentKind::EventIndex)));
  EXPECT_EQ(check(dir_.path()).rc, 0);
}

TEST_F(CheckTest, DamagedIndexFileIsReportedAndRebuilt) {
  const fs::path sidx = path(1, SegmentKind::StreamIndex);
  auto bytes = read_all(sidx);
  ASSERT_GT(bytes.size(), 10u);
  bytes[bytes.size() - 5] ^= 0x40;
  write_all(sidx, bytes);
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 1 stream.sidx"), std::string::npos) << r.out;
  EXPECT_EQ(check(dir_.path(), /*repair=*/true).rc, 0);
  EXPECT_EQ(check(dir_.path()).rc, 0);
}

TEST_F(CheckTest, IndexFilesOfAnotherSegmentAreInconsistent) {
  // Intact files (their checksums pass) that describe another segment.
  for (auto kind :
       {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
    fs::copy_file(path(1, kind), path(0, kind), fs::copy_options::overwrite_existing);
  }
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 index.eidx: event "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("more mismatches"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 partition.pidx: partition "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 stream.sidx: stream "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("segment 1 index"), std::string::npos) << r.out;

  auto fixed = check(dir_.path(), /*repair=*/true);
  EXPECT_EQ(fixed.rc, 0) << fixed.out;
  EXPECT_EQ(check(dir_.path()).rc, 0);
}

TEST_F(CheckTest, FlippedByteInClosedSegmentIsReportedAndNotRepaired) {
  const fs::path data = path(0, SegmentKind::Events);
  auto bytes = read_all(data);
  bytes[64 + 300] ^= 0x01;  // inside the payload of the first record (offset 64)
  write_all(data, bytes);

  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 offset 64: record checksum mismatch"), std::string::npos)
      << r.out;
  // The rest of the segment is still checked: exactly the one lost event shows as a gap.
  EXPECT_NE(r.out.find("sequence 1, expected 0 (gap)"), std::string::npos) << r.out;

  auto repaired = check(dir_.path(), /*repair=*/true);
  EXPECT_EQ(repaired.rc, 1) << repaired.out;
  EXPECT_NE(repaired.out.find("cannot be repaired"), std::string::npos) << repaired.out;
  EXPECT_EQ(read_all(data), bytes);  // the closed segment's data is untouched
}

TEST_F(CheckTest, TornTailOfLiveSegmentIsRecoverable) {
  const fs::path live = path(live_, SegmentKind::Events);
  const auto closed = read_all(path(0, SegmentKind::Events));
  const auto size_before = fs::file_size(live);
  {
    std::ofstream out(live, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(closed.data()) + 64, 100);  // a torn record
  }
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("recoverable tail of 100 bytes"), std::string::npos) << r.out;

  auto fixed = check(dir_.path(), /*repair=*/true);
  EXPECT_EQ(fixed.rc, 0) << fixed.out;
  EXPECT_NE(fixed.out.find("truncated 100 bytes"), std::string::npos) << fixed.out;
  EXPECT_EQ(fs::file_size(live), size_before);
}

// Preallocated zeros after the last transaction of the live segment (a crash leaves them; the
// writer puts them there) are no problem: noted, nothing to repair.
TEST_F(CheckTest, ZeroTailOfLiveSegmentIsNotAProblem) {
  const fs::path live = path(live_, SegmentKind::Events);
  const auto size_before = fs::file_size(live);
  fs::resize_file(live, size_before + 8192);
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("8192 bytes of preallocated (zero) space"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("problem:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("healthy"), std::string::npos) << r.out;
  EXPECT_EQ(fs::file_size(live), size_before + 8192);  // check alone changes nothing
}

// A flipped byte in the live segment with acknowledged transactions after it: the database
// refuses to open, check reports it, --repair saves the tail, truncates, and the database opens.
TEST_F(CheckTest, DamagedLiveSegmentIsReportedAndRepairSavesTheTail) {
  const fs::path live = path(live_, SegmentKind::Events);
  auto bytes = read_all(live);
  ASSERT_GT(bytes.size(), 64u + 3 * 1200u) << "the live segment needs several transactions";
  bytes[64 + 300] ^= 0x01;  // inside the payload of the live segment's first record
  write_all(live, bytes);
  auto open_db = [&] {
    return DatabaseBuilder()
        .segment_size(64 * 1024)
        .partition_count(4)
        .total_buckets(1)
        .log_sink(dbtest::quiet_log)
        .open(dir_.path());
  };
  {
    auto db = open_db();
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, Errc::DamagedLiveSegment) << db.error().to_string();
  }
  EXPECT_EQ(read_all(live), bytes);

  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket " + std::string("0 segment ") + std::to_string(live_) +
                       " offset 64: damaged record at offset 64 in the live segment with "
                       "acknowledged transactions after it"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(read_all(live), bytes);  // check alone changes nothing

  auto fixed = check(dir_.path(), /*repair=*/true);
  EXPECT_EQ(fixed.rc, 0) << fixed.out;
  const fs::path saved = live.string() + ".damaged-64";
  EXPECT_NE(fixed.out.find("saved in " + saved.string()), std::string::npos) << fixed.out;
  EXPECT_EQ(fs::file_size(live), 64u);
  ASSERT_TRUE(fs::exists(saved));
  EXPECT_EQ(read_all(saved), std::vector<uint8_t>(bytes.begin() + 64, bytes.end()));

  auto db = open_db();
  ASSERT_TRUE(db) << db.error().to_string();
  // The closed segments' events are intact.
  auto it = (*db)->read_partition(dbtest::pid_of(partition_key_for_stream("stream-0"), 4), 0);
  ASSERT_TRUE(it);
  EXPECT_FALSE(dbtest::collect(std::move(*it)).empty());
  (*db)->close();
  EXPECT_EQ(check(dir_.path()).rc, 0);
}

TEST_F(CheckTest, TornTailOfClosedSegmentIsDamage) {
  const fs::path data = path(0, SegmentKind::Events);
  auto bytes = read_all(data);
  const auto size = bytes.size();
  bytes.resize(size + 100);
  std::copy_n(bytes.begin() + 64, 100, bytes.begin() + static_cast<std::ptrdiff_t>(size));
  write_all(data, bytes);
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bucket 0 segment 0 offset " + std::to_string(size) + ": torn record"),
            std::string::npos)
      << r.out;
}

TEST_F(CheckTest, MissingSegmentShowsGaps) {
  fs::remove_all(segment_dir(dir_.path(), 0, 1));
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("segment 1 is missing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(gap)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("log position"), std::string::npos) << r.out;
}

TEST_F(CheckTest, MissingMetaIsAProblem) {
  fs::remove(dir_.path() / "meta.json");
  auto r = check(dir_.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("meta.json: missing"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sierra
