// BucketLog: the ReplicatedLog contract over real segment files — entries read back
// byte-identical across reopen, durable suffix truncation (also across segments), torn and stale
// tails cut on open, vote and applied-index slot files, fail-stop after a failed sync, and the
// proposer/applier over the files.
#include "engine/bucket_log.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "engine/fault_env.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "support/temp_dir.hpp"
#include "support/test_events.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
using test::tx_of;

constexpr uint16_t kPartitions = 4;
constexpr BucketId kBucket = 3;
const Uuid kKey = partition_key_for_stream("bucket-log-key");
const PartitionId kPid = partition_id_for_key(kKey, kPartitions);

// Transaction entry at `index` (sequence and version as given), `events` events of stream "s".
std::vector<uint8_t> tx_payload(uint64_t index, uint64_t term, uint64_t sequence, uint64_t version,
                                size_t events = 1, size_t payload_bytes = 8) {
  std::vector<EventToWrite> evs;
  std::vector<Uuid> ids;
  const std::string body(payload_bytes, 'x');
  for (size_t i = 0; i < events; ++i) ids.push_back(new_event_id(partition_hash(kKey)));
  for (size_t i = 0; i < events; ++i) {
    evs.push_back(
        EventToWrite{ids[i], kKey, kPid, sequence + i, version + i, 1000 + i, "s", "E", "", body});
  }
  auto p = encode_transaction_entry(TransactionHeader{index, term, new_transaction_id(events == 1)},
                                    2000, evs);
  EXPECT_TRUE(p) << p.error().to_string();
  return *p;
}

struct Entries {
  std::vector<LogEntry> owned;
  std::vector<LogEntryRef> refs() const {
    std::vector<LogEntryRef> r;
    for (const auto& e : owned) r.push_back(LogEntryRef{e.term, e.type, e.payload});
    return r;
  }
};

// Entries first..last of term `term`: transactions continuing stream "s" from `first - 1`
// (one event each), every third one a barrier or configuration instead when `controls`.
Entries make_entries(uint64_t first, uint64_t last, uint64_t term, bool controls = false,
                     uint64_t first_seq = 0) {
  Entries out;
  uint64_t seq = first_seq;
  for (uint64_t i = first; i <= last; ++i) {
    if (controls && i % 3 == 0) {
      if (i % 2 == 0)
        out.owned.push_back(LogEntry{term, LogEntryType::Barrier, {}});
      else
        out.owned.push_back(LogEntry{term, LogEntryType::Configuration, {1, 2, 3, uint8_t(i)}});
      continue;
    }
    out.owned.push_back(LogEntry{term, LogEntryType::Transaction, tx_payload(i, term, seq, seq)});
    ++seq;
  }
  return out;
}

class BucketLogTest : public ::testing::Test {
 protected:
  // Most tests check exact file sizes: no preallocation unless asked.
  BucketLog::Options options(uint64_t segment_size = 1 << 20, uint64_t preallocate = 0) {
    BucketLog::Options o;
    o.dir = dir_.path();
    o.bucket_id = kBucket;
    o.partition_count = kPartitions;
    o.segment_size = segment_size;
    o.preallocate_bytes = preallocate;
    o.env = env_;
    o.log = [this](LogLevel level, std::string_view msg) {
      if (level >= LogLevel::Warn) warnings_.emplace_back(msg);
    };
    return o;
  }
  std::unique_ptr<BucketLog> open(uint64_t segment_size = 1 << 20, uint64_t preallocate = 0) {
    auto log = BucketLog::open(options(segment_size, preallocate));
    EXPECT_TRUE(log) << log.error().to_string();
    return log ? std::move(*log) : nullptr;
  }
  fs::path segment_path(SegmentId id) const {
    return get_path(dir_.path(), kBucket, id, SegmentKind::Events);
  }
  static void expect_same(const std::vector<LogEntry>& got, const std::vector<LogEntry>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].term, want[i].term) << i;
      EXPECT_EQ(got[i].type, want[i].type) << i;
      EXPECT_EQ(got[i].payload, want[i].payload) << i;
    }
  }

  test_support::TempDir dir_{"bucket-log"};
  std::shared_ptr<HookEnv> env_ = HookEnv::make({});
  std::vector<std::string> warnings_;
};

TEST_F(BucketLogTest, EntriesReadBackByteIdenticalAcrossReopen) {
  auto e = make_entries(1, 12, 1, /*controls=*/true);
  {
    auto log = open();
    ASSERT_TRUE(log);
    EXPECT_EQ(log->last_index(), 0u);
    EXPECT_EQ(log->vote_state(), VoteState{});
    ASSERT_TRUE(log->append(1, e.refs()));
    EXPECT_EQ(log->last_index(), 12u);
    EXPECT_EQ(log->durable_index(), 0u);
    // Written entries are readable before they are durable.
    auto before = log->read_entries(1, 100, 1 << 20);
    ASSERT_TRUE(before);
    expect_same(*before, e.owned);
    ASSERT_TRUE(log->sync());
    EXPECT_EQ(log->durable_index(), 12u);
    EXPECT_EQ(*log->term_at(12), 1u);
    EXPECT_EQ(*log->term_at(0), 0u);
    EXPECT_EQ(log->term_at(13).error().code, Errc::InvalidArgument);
  }
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 12u);
  EXPECT_EQ(log->durable_index(), 12u);
  auto all = log->read_entries(1, 100, 1 << 20);
  ASSERT_TRUE(all);
  expect_same(*all, e.owned);
  // max_count and max_bytes: at least one entry, stopping after the one reaching max_bytes.
  EXPECT_EQ(log->read_entries(2, 3, 1 << 20)->size(), 3u);
  EXPECT_EQ(log->read_entries(2, 100, 1)->size(), 1u);
  EXPECT_EQ(log->read_entries(13, 1, 1).error().code, Errc::InvalidArgument);
  EXPECT_EQ(log->read_entries(0, 1, 1).error().code, Errc::InvalidArgument);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(BucketLogTest, AppendVerifiesEntriesAndWritesNothingOnError) {
  auto log = open();
  ASSERT_TRUE(log);
  // A transaction whose log position is not its index.
  LogEntry wrong{1, LogEntryType::Transaction, tx_payload(5, 1, 0, 0)};
  std::vector<LogEntryRef> r{LogEntryRef{wrong.term, wrong.type, wrong.payload}};
  EXPECT_EQ(log->append(1, r).error().code, Errc::CorruptRecord);
  // Its term is not the entry's.
  LogEntry wrong_term{2, LogEntryType::Transaction, tx_payload(1, 1, 0, 0)};
  r = {LogEntryRef{wrong_term.term, wrong_term.type, wrong_term.payload}};
  EXPECT_EQ(log->append(1, r).error().code, Errc::CorruptRecord);
  // Damaged bytes.
  LogEntry damaged{1, LogEntryType::Transaction, tx_payload(1, 1, 0, 0)};
  damaged.payload[damaged.payload.size() - 1] ^= 0x40;
  r = {LogEntryRef{damaged.term, damaged.type, damaged.payload}};
  EXPECT_EQ(log->append(1, r).error().code, Errc::CorruptRecord);
  // A gap.
  auto e = make_entries(2, 2, 1);
  EXPECT_EQ(log->append(2, e.refs()).error().code, Errc::InvalidArgument);
  EXPECT_EQ(log->last_index(), 0u);
  ASSERT_TRUE(log->sync());
  EXPECT_EQ(fs::file_size(segment_path(0)), segment_format::kHeaderSize);
}

TEST_F(BucketLogTest, SuffixTruncationIsDurableAndRefusedBelowTheAppliedIndex) {
  auto first = make_entries(1, 6, 1);
  auto second = make_entries(4, 5, 2, false, 3);
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, first.refs()));
    ASSERT_TRUE(log->sync());
    ASSERT_TRUE(log->apply(2, {}));
    EXPECT_EQ(log->next_sequence(kPid), 2u);
    // Removing applied entries is refused, and changes nothing.
    auto at2 = make_entries(2, 2, 2, false, 1);
    EXPECT_EQ(log->append(2, at2.refs()).error().code, Errc::InvalidArgument);
    EXPECT_EQ(log->last_index(), 6u);
    // A term below its predecessor's is refused.
    auto low = make_entries(7, 7, 0, false, 6);
    EXPECT_EQ(log->append(7, low.refs()).error().code, Errc::InvalidArgument);
    // Entries 4..6 replaced by 4..5 of term 2.
    ASSERT_TRUE(log->append(4, second.refs()));
    EXPECT_EQ(log->last_index(), 5u);
    EXPECT_EQ(log->durable_index(), 3u);
    EXPECT_EQ(*log->term_at(4), 2u);
    ASSERT_TRUE(log->sync());
    EXPECT_EQ(log->durable_index(), 5u);
  }
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 5u);
  auto got = log->read_entries(1, 10, 1 << 20);
  ASSERT_TRUE(got);
  std::vector<LogEntry> want(first.owned.begin(), first.owned.begin() + 3);
  want.insert(want.end(), second.owned.begin(), second.owned.end());
  expect_same(*got, want);
  ASSERT_TRUE(log->apply(5, {}));
  EXPECT_EQ(log->next_sequence(kPid), 5u);
  EXPECT_EQ(log->stream_version(kPid, "s"), CurrentVersion::current(4));
}

TEST_F(BucketLogTest, SegmentsRollAndTruncationCrossesThem) {
  // Each entry is ~140 bytes: segments of 600 bytes hold 3 or 4.
  constexpr uint64_t kSegment = 600;
  auto first = make_entries(1, 20, 1, true);
  auto second = make_entries(5, 9, 2, false, 3);
  {
    auto log = open(kSegment);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, first.refs()));
    ASSERT_TRUE(log->sync());
    EXPECT_TRUE(fs::exists(segment_path(4)));
    ASSERT_TRUE(log->append(5, second.refs()));
    ASSERT_TRUE(log->sync());
    auto got = log->read_entries(1, 100, 1 << 20);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 9u);
  }
  for (SegmentId s = 0; fs::exists(segment_path(s)); ++s) {
    EXPECT_LE(fs::file_size(segment_path(s)), kSegment) << s;
  }
  auto log = open(kSegment);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 9u);
  auto got = log->read_entries(1, 100, 1 << 20);
  ASSERT_TRUE(got);
  std::vector<LogEntry> want(first.owned.begin(), first.owned.begin() + 4);
  want.insert(want.end(), second.owned.begin(), second.owned.end());
  expect_same(*got, want);
  // Rolling again reuses the emptied files.
  auto third = make_entries(10, 30, 2, false, 8);
  ASSERT_TRUE(log->append(10, third.refs()));
  ASSERT_TRUE(log->sync());
  log.reset();
  log = open(kSegment);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 30u);
  ASSERT_TRUE(log->apply(30, {}));
  EXPECT_EQ(log->next_sequence(kPid), 8u + 21u);
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
}

TEST_F(BucketLogTest, TornTailIsCutOnOpenWithAWarning) {
  auto e = make_entries(1, 5, 1);
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
  }
  // The last entry torn in half, as an unsynced write cut by a power loss leaves it.
  const uint64_t full = fs::file_size(segment_path(0));
  const uint64_t last_len = e.owned.back().payload.size();
  fs::resize_file(segment_path(0), full - last_len / 2);
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 4u);
  EXPECT_EQ(log->durable_index(), 4u);
  EXPECT_EQ(log->recovered_cut_bytes(), last_len - last_len / 2);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("ends at entry 4"), std::string::npos) << warnings_[0];
  EXPECT_EQ(fs::file_size(segment_path(0)), full - last_len);
  // Writing continues at 5.
  auto again = make_entries(5, 5, 2, false, 4);
  ASSERT_TRUE(log->append(5, again.refs()));
  ASSERT_TRUE(log->sync());
}

TEST_F(BucketLogTest, PreallocatedZerosAreACleanEnd) {
  auto e = make_entries(1, 6, 1, true);
  uint64_t data_end = segment_format::kHeaderSize;
  for (const auto& x : e.owned) {
    data_end += x.type == LogEntryType::Transaction
                    ? x.payload.size()
                    : segment_format::kControlFixedSize + x.payload.size();
  }
  {
    auto log = open(1 << 20, /*preallocate=*/4096);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
    // The file holds zeros 4 KiB past the data.
    EXPECT_EQ(fs::file_size(segment_path(0)), data_end + 4096);
  }
  {
    auto log = open(1 << 20, 4096);
    ASSERT_TRUE(log);
    EXPECT_EQ(log->last_index(), 6u);
    EXPECT_EQ(log->recovered_cut_bytes(), 0u);
    EXPECT_TRUE(warnings_.empty()) << warnings_.front();
    // Writing continues over the zeros, at the end of the data.
    auto more = make_entries(7, 8, 1, false, 4);
    ASSERT_TRUE(log->append(7, more.refs()));
    ASSERT_TRUE(log->sync());
    auto all = log->read_entries(1, 100, 1 << 20);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 8u);
    expect_same({all->begin() + 6, all->end()}, more.owned);
    ASSERT_TRUE(log->apply(8, {}));
    EXPECT_EQ(log->next_sequence(kPid), 6u);
  }
  // A torn last entry before the zeros is still cut, with a warning.
  {
    std::fstream f(segment_path(0), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(data_end + 30));
    f.put('\x01');
  }
  auto log = open(1 << 20, 4096);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 6u);
  EXPECT_EQ(warnings_.size(), 1u);
}

TEST_F(BucketLogTest, ClosedSegmentsEndAtTheirLastEntry) {
  // With preallocation, a segment that rolls keeps no zeros.
  constexpr uint64_t kSegment = 2000;
  auto e = make_entries(1, 40, 1);
  {
    auto log = open(kSegment, 4096);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
  }
  SegmentId last = 0;
  while (fs::exists(segment_path(last + 1))) ++last;
  ASSERT_GE(last, 2u);
  for (SegmentId s = 0; s < last; ++s) {
    std::ifstream in(segment_path(s), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GE(bytes.size(), 8u);
    // The file ends with the last byte of an entry: its final 8 bytes are not all zero.
    EXPECT_FALSE(std::all_of(bytes.end() - 8, bytes.end(), [](char c) { return c == 0; })) << s;
    EXPECT_LE(bytes.size(), kSegment);
  }
  EXPECT_EQ(fs::file_size(segment_path(last)), kSegment);  // the live one: zeros to its end
  auto log = open(kSegment, 4096);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 40u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(BucketLogTest, StaleTailOfALowerTermIsCut) {
  // What an undone truncation leaves: entries 1..3 of term 2, then old entries 4..5 of term 1
  // (their bytes came back because the cut of them never reached the disk).
  auto e = make_entries(1, 3, 2);
  auto stale = make_entries(4, 5, 1, false, 3);
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
  }
  {
    std::ofstream out(segment_path(0), std::ios::binary | std::ios::app);
    for (const auto& s : stale.owned)
      out.write(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
  }
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 3u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("below its predecessor"), std::string::npos) << warnings_[0];
}

TEST_F(BucketLogTest, MissingAppliedEntriesAreRefusedNotCut) {
  auto e = make_entries(1, 5, 1);
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
    ASSERT_TRUE(log->apply(5, {}));
    ASSERT_TRUE(log->sync());  // persists the applied index
  }
  // Damage inside entry 2: entries 2..5 would be cut, but they were applied.
  {
    std::fstream f(segment_path(0), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(
        static_cast<std::streamoff>(segment_format::kHeaderSize + e.owned[0].payload.size() + 130));
    f.put('!');
  }
  auto log = BucketLog::open(options());
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, Errc::CorruptRecord);
  EXPECT_NE(log.error().message.find("were applied"), std::string::npos) << log.error().message;
}

TEST_F(BucketLogTest, AppliedIndexIsReplayedOnOpen) {
  auto e = make_entries(1, 8, 1, true);
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(1, e.refs()));
    ASSERT_TRUE(log->sync());
    EXPECT_EQ(log->apply(9, {}).error().code, Errc::InvalidArgument);  // past durable
    ASSERT_TRUE(log->apply(5, {}));
    ASSERT_TRUE(log->sync());
  }
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->applied_index(), 5u);
  // Entries 1, 2, 4, 5 are transactions (3 is a control entry).
  EXPECT_EQ(log->next_sequence(kPid), 4u);
  EXPECT_EQ(log->applied_transactions(), 4u);
  std::vector<uint64_t> sunk;
  ASSERT_TRUE(log->apply(8, [&](const AppliedTransaction& t) { sunk.push_back(t.index); }));
  EXPECT_EQ(sunk, (std::vector<uint64_t>{7, 8}));
}

TEST_F(BucketLogTest, VoteStateSurvivesReopenAndATornSlot) {
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->save_vote_state(VoteState{3, 2}));
    ASSERT_TRUE(log->save_vote_state(VoteState{4, 1}));
  }
  {
    auto log = open();
    ASSERT_TRUE(log);
    EXPECT_EQ(log->vote_state(), (VoteState{4, 1}));
  }
  // The newest slot (generation 2, in vote.0) torn: the previous state is read.
  const fs::path raft = bucket_dir(dir_.path(), kBucket) / "raft";
  {
    std::fstream f(raft / "vote.0", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(20);
    f.put('\x7f');
  }
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->vote_state(), (VoteState{3, 2}));
  // The next save goes over the damaged slot, and wins.
  ASSERT_TRUE(log->save_vote_state(VoteState{5, 3}));
  log.reset();
  log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->vote_state(), (VoteState{5, 3}));
}

TEST_F(BucketLogTest, BothVoteSlotsDamagedIsRefused) {
  {
    auto log = open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->save_vote_state(VoteState{1, 1}));
    ASSERT_TRUE(log->save_vote_state(VoteState{2, 1}));
  }
  const fs::path raft = bucket_dir(dir_.path(), kBucket) / "raft";
  for (const char* name : {"vote.0", "vote.1"}) {
    std::fstream f(raft / name, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(18);
    f.put('\x55');
  }
  auto log = BucketLog::open(options());
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, Errc::CorruptRecord);
}

TEST_F(BucketLogTest, FailedSyncStopsTheLog) {
  auto log = open();
  ASSERT_TRUE(log);
  auto e = make_entries(1, 3, 1);
  ASSERT_TRUE(log->append(1, e.refs()));
  int failures = 1;
  env_->set([&](HookEnv::Op op, const fs::path& path, uint64_t, size_t) {
    if (op == HookEnv::Op::Sync && path.filename() == "data.evts" && failures > 0) {
      --failures;
      return ENOSPC;
    }
    return 0;
  });
  auto s = log->sync();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::NoSpace);
  EXPECT_EQ(log->durable_index(), 0u);
  // Fail-stop: the next sync does not pretend the bytes are now safe.
  auto again = log->sync();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::NoSpace);
  EXPECT_EQ(log->durable_index(), 0u);
  auto more = make_entries(4, 4, 1, false, 3);
  EXPECT_FALSE(log->append(4, more.refs()));
  EXPECT_FALSE(log->save_vote_state(VoteState{1, 1}));
  EXPECT_EQ(env_->injected(HookEnv::Op::Sync), 1u);
  // A new incarnation recovers what is there and makes it durable.
  env_->clear();
  log.reset();
  log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 3u);
  EXPECT_EQ(log->durable_index(), 3u);
}

TEST_F(BucketLogTest, ProposerAndApplierOverTheFiles) {
  auto log = open();
  ASSERT_TRUE(log);
  std::optional<Result<AppendResult>> got_a, got_b;
  auto pa = log->propose(
      kPid, tx_of({test::make_event(kKey, "s", ExpectedVersion::empty(), std::nullopt)}), 1, 1,
      [&](Result<AppendResult> r) { got_a = std::move(r); });
  ASSERT_TRUE(pa);
  // A WRONGVER against the pending entry waits for it (CLUSTER §3.6 rule 9).
  EXPECT_FALSE(log->propose(
      kPid, tx_of({test::make_event(kKey, "s", ExpectedVersion::empty(), std::nullopt)}), 2, 1,
      [&](Result<AppendResult> r) { got_b = std::move(r); }));
  EXPECT_FALSE(got_b);
  std::vector<LogEntryRef> refs{LogEntryRef{1, LogEntryType::Transaction, pa->payload}};
  ASSERT_TRUE(log->append(1, refs));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(1, {}));
  ASSERT_TRUE(got_a && *got_a);
  EXPECT_EQ((*got_a)->log_position, 1u);
  ASSERT_TRUE(got_b);
  EXPECT_EQ(got_b->error().code, Errc::WrongExpectedVersion);
  EXPECT_EQ(log->stream_version(kPid, "s"), CurrentVersion::current(0));
}

}  // namespace
}  // namespace sierra
