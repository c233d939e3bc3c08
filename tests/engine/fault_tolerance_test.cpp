// One fault must not take the whole database down (issue 17): failed index-file writes are
// retried once the disk takes them again, the database opens on a full disk, a failed segment
// creation leaves nothing behind, and a damaged closed segment is quarantined (the database
// opens; reads that need the damaged records fail, naming the segment; nothing wrong is
// returned), with `check` reporting the same damage and `--repair` doing what is safe.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "engine/check/check.hpp"
#include "engine/check/repair.hpp"
#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/fault_env.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr uint16_t kParts = 4;
constexpr uint64_t kSegment = 16 * 1024;

DatabaseBuilder plain_builder() {
  return DatabaseBuilder()
      .segment_size(kSegment)
      .partition_count(kParts)
      .total_buckets(1)
      .writer_threads(1)
      .log_sink(quiet_log);
}

bool is_index_file(const fs::path& p) {
  const std::string n = p.filename().string();
  return n.starts_with("index.eidx") || n.starts_with("partition.pidx") ||
         n.starts_with("stream.sidx");
}

bool index_files_present(const fs::path& dir, SegmentId s) {
  for (SegmentKind k :
       {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
    if (!fs::exists(get_path(dir, 0, s, k))) return false;
  }
  return true;
}

// Waits (bounded: 20 s) until `pred` holds.
template <class Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

struct Written {
  PartitionId pid;
  std::string stream;
  Uuid id;
  uint64_t seq;
  uint64_t version;
  std::string payload;
};

class FaultTolerance : public ::testing::Test {
 protected:
  // Every database of a test works through env_ (faults injected with env_->set).
  DatabaseBuilder builder() { return plain_builder().env(env_); }

  // Appends single events round-robin over three streams (of different partitions) until the
  // live segment is `segments` or more.
  void fill(Database& db, SegmentId segments) {
    for (int i = 0; i < 10'000; ++i) {
      const std::string stream = "s" + std::to_string(i % 3);
      NewEvent e = make_event(stream, EV::any(), std::nullopt,
                              std::string(300 + i % 7, static_cast<char>('a' + i % 26)));
      auto r = append_one(db, e);
      ASSERT_TRUE(r) << r.error().to_string();
      written_.push_back({r->partition_id, stream, e.event_id, r->first_partition_sequence,
                          r->stream_versions.front(), e.payload});
      if (r->segment_id >= segments) return;
    }
    FAIL() << "never reached segment " << segments;
  }

  // Every written event reads back exactly, by id, partition scan and stream scan.
  void expect_all_readable(const Database& db) {
    std::map<PartitionId, std::vector<uint64_t>> seqs;
    std::map<std::string, std::vector<uint64_t>> vers;
    for (const Written& w : written_) {
      auto got = db.read_event(w.pid, w.id);
      ASSERT_TRUE(got) << got.error().to_string();
      ASSERT_TRUE(got->has_value());
      EXPECT_EQ((*got)->partition_sequence, w.seq);
      EXPECT_EQ((*got)->stream_version, w.version);
      EXPECT_EQ((*got)->payload, w.payload);
      seqs[w.pid].push_back(w.seq);
      vers[w.stream].push_back(w.version);
    }
    for (const auto& [pid, want] : seqs) EXPECT_EQ(sequences(scan_partition(db, pid)), want);
    for (const Written& w : written_) {
      if (vers.count(w.stream) == 0) continue;
      EXPECT_EQ(versions(scan_stream(db, w.pid, w.stream)), vers[w.stream]);
      vers.erase(w.stream);
    }
  }

  std::shared_ptr<HookEnv> env_ = HookEnv::make({});
  TempDir tmp_{"sierra-faults"};
  std::vector<Written> written_;
};

// ------------------------------------------------------------------ index writes retried

TEST_F(FaultTolerance, FailedIndexWritesAreRetriedOnceTheDiskTakesThem) {
  std::atomic<bool> full{true};
  std::atomic<int> refused{0};
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    if (op == HookEnv::Op::Write && is_index_file(p) && full.load()) {
      refused.fetch_add(1);
      return ENOSPC;
    }
    return 0;
  });
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  fill(**db, 2);  // two rollovers: segments 0 and 1 closed
  ASSERT_TRUE(eventually([&] { return (*db)->health().index_writes_waiting.size() == 2; }))
      << "the failed index writes are not listed as waiting";
  EXPECT_GT(refused.load(), 0);
  EXPECT_FALSE(index_files_present(tmp_.path(), 0));
  // Served from memory meanwhile, and retried (the refusals go on growing).
  expect_all_readable(**db);
  const int before = refused.load();
  ASSERT_TRUE(eventually([&] { return refused.load() > before + 1; })) << "no retry";
  EXPECT_EQ((*db)->health().index_writes_waiting.front().segment, 0u);

  full = false;  // space is back
  ASSERT_TRUE(eventually([&] { return (*db)->health().index_writes_waiting.empty(); }))
      << "index files still waiting after the disk took writes again";
  EXPECT_TRUE(index_files_present(tmp_.path(), 0));
  EXPECT_TRUE(index_files_present(tmp_.path(), 1));
  expect_all_readable(**db);
  (*db)->close();
  db->reset();
  const CheckReport report = check_directory(tmp_.path());
  std::ostringstream out;
  print(report, out);
  EXPECT_TRUE(report.healthy()) << out.str();
}

TEST_F(FaultTolerance, OpenSucceedsOnAFullDiskAndWritesIndexFilesLater) {
  {
    auto db = builder().open(tmp_.path());
    ASSERT_TRUE(db);
    fill(**db, 2);
  }
  for (SegmentId s : {0u, 1u}) {
    for (SegmentKind k :
         {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
      fs::remove(get_path(tmp_.path(), 0, s, k));
    }
  }
  std::atomic<bool> full{true};
  env_->set([&](HookEnv::Op op, const fs::path&, uint64_t, size_t) {
    return op == HookEnv::Op::Write && full.load() ? ENOSPC : 0;
  });
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << "open must succeed on a full disk: " << db.error().to_string();
  EXPECT_EQ((*db)->health().index_writes_waiting.size(), 2u);
  expect_all_readable(**db);
  auto r = append_one(**db, make_event("s0"));
  ASSERT_FALSE(r) << "an append on a full disk was acknowledged";
  EXPECT_EQ(r.error().code, Errc::NoSpace) << r.error().to_string();

  full = false;
  fill(**db, 3);  // appends resume, and poke the retry
  ASSERT_TRUE(eventually([&] { return (*db)->health().index_writes_waiting.empty(); }));
  EXPECT_TRUE(index_files_present(tmp_.path(), 0));
  EXPECT_TRUE(index_files_present(tmp_.path(), 1));
  expect_all_readable(**db);
  (*db)->close();
  db->reset();
  EXPECT_TRUE(check_directory(tmp_.path()).healthy());
}

// ------------------------------------------------------------------ failed segment creation

TEST_F(FaultTolerance, AFailedRolloverHeaderWriteLeavesNoSegmentBehind) {
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db);
  fill(**db, 1);
  // The next rollover creates segment 2: its header write fails.
  // The hook outlives this scope's locals (the database's background index writes, declared
  // first, consult it until the database is destroyed): it owns what it reads.
  auto full = std::make_shared<std::atomic<bool>>(true);
  const fs::path next = get_path(tmp_.path(), 0, 2, SegmentKind::Events);
  env_->set([full, next](HookEnv::Op op, const fs::path& p, uint64_t off, size_t) {
    return op == HookEnv::Op::Write && p == next && off == 0 && full->load() ? ENOSPC : 0;
  });
  bool failed = false;
  for (int i = 0; i < 1000 && !failed; ++i) {
    NewEvent e =
        make_event("s" + std::to_string(i % 3), EV::any(), std::nullopt, std::string(300, 'x'));
    auto r = append_one(**db, e);
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::NoSpace) << r.error().to_string();
      failed = true;
    } else {
      written_.push_back({r->partition_id, e.stream_id, e.event_id, r->first_partition_sequence,
                          r->stream_versions.front(), e.payload});
    }
  }
  ASSERT_TRUE(failed) << "the rollover never happened";
  EXPECT_FALSE(fs::exists(segment_dir(tmp_.path(), 0, 2))) << "a failed creation left a segment";
  // check agrees with the server while the database is stopped.
  (*db)->close();
  db->reset();
  {
    const CheckReport report = check_directory(tmp_.path());
    std::ostringstream out;
    print(report, out);
    EXPECT_TRUE(report.healthy()) << out.str();
  }
  *full = false;
  db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  expect_all_readable(**db);
  fill(**db, 3);
}

TEST_F(FaultTolerance, CheckAgreesWithTheServerAboutAnEmptyLeftoverSegment) {
  {
    auto db = builder().open(tmp_.path());
    ASSERT_TRUE(db);
    fill(**db, 1);
  }
  // What a crash during a rollover's header write leaves: an empty data.evts in segment 2.
  fs::create_directories(segment_dir(tmp_.path(), 0, 2));
  std::ofstream(get_path(tmp_.path(), 0, 2, SegmentKind::Events)).close();
  const CheckReport report = check_directory(tmp_.path());
  std::ostringstream out;
  print(report, out);
  EXPECT_TRUE(report.healthy()) << out.str();
  EXPECT_NE(out.str().find("interrupted segment creation"), std::string::npos) << out.str();
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  EXPECT_FALSE(fs::exists(segment_dir(tmp_.path(), 0, 2)));
  expect_all_readable(**db);
}

// ------------------------------------------------------------------ quarantine

void flip(const fs::path& file, uint64_t pos, uint8_t mask = 0x5A) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(pos));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(pos));
  f.put(static_cast<char>(static_cast<uint8_t>(c) ^ mask));
}

TEST_F(FaultTolerance, ADamagedClosedSegmentHeaderIsQuarantinedAndItsRecordsServed) {
  {
    auto db = builder().open(tmp_.path());
    ASSERT_TRUE(db);
    fill(**db, 3);
  }
  const fs::path seg1 = get_path(tmp_.path(), 0, 1, SegmentKind::Events);
  flip(seg1, 10);
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << "one damaged closed segment header stopped the database: "
                  << db.error().to_string();
  const DatabaseHealth h = (*db)->health();
  ASSERT_EQ(h.quarantined.size(), 1u);
  EXPECT_EQ(h.quarantined[0].segment, 1u);
  expect_all_readable(**db);
  ASSERT_TRUE(append_one(**db, make_event("s1")));
  (*db)->close();
  db->reset();
  const CheckReport report = check_directory(tmp_.path());
  EXPECT_FALSE(report.healthy());
  ASSERT_EQ(report.header_repairs.size(), 1u);
  const RepairReport repaired = repair_directory(tmp_.path(), report);
  EXPECT_TRUE(repaired.complete());
  EXPECT_TRUE(check_directory(tmp_.path()).healthy());
  db = builder().open(tmp_.path());
  ASSERT_TRUE(db);
  EXPECT_TRUE((*db)->health().quarantined.empty());
}

TEST_F(FaultTolerance, DamagedRecordsWithoutIndexFilesAreQuarantinedNotFatal) {
  {
    auto db = builder().open(tmp_.path());
    ASSERT_TRUE(db);
    fill(**db, 3);
  }
  // A record in the middle of closed segment 1, and its index files gone.
  const fs::path seg1 = get_path(tmp_.path(), 0, 1, SegmentKind::Events);
  const uint64_t size = fs::file_size(seg1);
  flip(seg1, size / 2);
  for (SegmentKind k :
       {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
    fs::remove(get_path(tmp_.path(), 0, 1, k));
  }
  auto db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  const DatabaseHealth h = (*db)->health();
  ASSERT_EQ(h.quarantined.size(), 1u);
  EXPECT_EQ(h.quarantined[0].segment, 1u);
  // Every read: the exact event, or an error naming the segment.
  size_t errors = 0;
  for (const Written& w : written_) {
    auto got = (*db)->read_event(w.pid, w.id);
    if (!got) {
      ++errors;
      EXPECT_NE(got.error().message.find("segment 1"), std::string::npos)
          << got.error().to_string();
      continue;
    }
    ASSERT_TRUE(got->has_value()) << "event silently missing";
    EXPECT_EQ((*got)->partition_sequence, w.seq);
    EXPECT_EQ((*got)->payload, w.payload);
  }
  EXPECT_GE(errors, 1u);
  // A scan of an affected partition errors where the damage is, never skips it.
  for (PartitionId pid = 0; pid < kParts; ++pid) {
    auto it = (*db)->read_partition(pid, 0);
    ASSERT_TRUE(it);
    uint64_t next = 0;
    for (int i = 0; i < 100'000; ++i) {
      auto r = it->next();
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::QuarantinedSegment) << r.error().to_string();
        break;
      }
      if (!*r) break;
      EXPECT_EQ((*r)->partition_sequence, next) << "a scan skipped events";
      ++next;
    }
  }
  // Appends that could reuse a lost sequence or version are refused; others go on.
  for (int i = 0; i < 3; ++i) {
    auto r = append_one(**db, make_event("s" + std::to_string(i)));
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::QuarantinedSegment) << r.error().to_string();
      continue;
    }
    uint64_t max_seq = 0;
    for (const Written& w : written_) {
      if (w.pid == r->partition_id) max_seq = std::max(max_seq, w.seq);
    }
    EXPECT_EQ(r->first_partition_sequence, max_seq + 1);
  }
  (*db)->close();
  db->reset();
  const CheckReport report = check_directory(tmp_.path());
  EXPECT_FALSE(report.healthy());
  EXPECT_TRUE(report.damaged_data.contains({0, 1}));
  // --repair does not rebuild index files from damaged data (that would hide the damage).
  repair_directory(tmp_.path(), report);
  EXPECT_FALSE(index_files_present(tmp_.path(), 1));
  db = builder().open(tmp_.path());
  ASSERT_TRUE(db);
  EXPECT_EQ((*db)->health().quarantined.size(), 1u);
}

TEST_F(FaultTolerance, LiveSegmentHeaderDamageIsRefusedWithWhatToRun) {
  {
    auto db = builder().open(tmp_.path());
    ASSERT_TRUE(db);
    fill(**db, 1);
  }
  flip(get_path(tmp_.path(), 0, 1, SegmentKind::Events), 10);
  auto db = builder().open(tmp_.path());
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("sierradb check"), std::string::npos) << db.error().to_string();
  const CheckReport report = check_directory(tmp_.path());
  ASSERT_EQ(report.header_repairs.size(), 1u);
  EXPECT_TRUE(repair_directory(tmp_.path(), report).complete());
  db = builder().open(tmp_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  expect_all_readable(**db);
}

}  // namespace
}  // namespace sierra
