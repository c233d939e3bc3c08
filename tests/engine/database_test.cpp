// Database API tests: the seed unit tests of STORAGE.md §8.1, the HEAD tests of §8.2 (version
// validation inside a batch, iterators across many segments, builder/meta.json), and the
// product decisions of DECISIONS.md (read-your-writes, errors instead of aborts, header-only
// reads, confirmations addressed by segment and offset, concurrent appends).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/fault_env.hpp"
#include "engine/file.hpp"
#include "engine/segment/paths.hpp"
#include "support/eventually.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

class DatabaseTest : public ::testing::Test {
 protected:
  std::shared_ptr<Database> open(DatabaseBuilder b = DatabaseBuilder()) {
    auto db = b.open(dir_.path());
    if (!db) {
      ADD_FAILURE() << "open: " << db.error().to_string();
      return nullptr;
    }
    return *db;
  }
  TempDir dir_;
};

// A random key, the partition it maps to (32 partitions), and events for it.
struct Keyed {
  Uuid key = uuid_v4();
  PartitionId pid = pid_of(key);
  NewEvent ev(std::string stream, EV e = EV::any(), std::string payload = "test payload") const {
    return make_event(std::move(stream), e, key, std::move(payload));
  }
};

// ------------------------------------------------------------------------ STORAGE §8.1

TEST_F(DatabaseTest, OpenEchoesDirectory) {
  auto db = Database::open(dir_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  EXPECT_EQ((*db)->dir(), dir_.path());
  EXPECT_EQ((*db)->partition_count(), 32);
  EXPECT_EQ((*db)->total_buckets(), 4);
  EXPECT_TRUE(fs::exists(dir_.path() / "buckets"));
}

TEST_F(DatabaseTest, BuilderWithAllOptionsOpens) {
  auto db = DatabaseBuilder()
                .segment_size(1'000'000)
                .total_buckets(32)
                .bucket_ids_from_range(0, 32)
                .writer_threads(4)
                .flush_interval_duration(std::chrono::milliseconds(50))
                .flush_interval_events(500)
                .open(dir_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  EXPECT_EQ((*db)->total_buckets(), 32);
  for (PartitionId p = 0; p < 32; ++p) EXPECT_TRUE((*db)->owns_partition(p));
  // A lone append still completes (the 50 ms wait for company is an upper bound).
  Keyed k;
  auto r = append_one(**db, k.ev("s", EV::empty()));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->stream_versions, std::vector<uint64_t>{0});
}

TEST_F(DatabaseTest, SingleAppendEmptyGetsVersionZero) {
  auto db = open();
  Keyed k;
  auto r = append_one(*db, k.ev("stream-1", EV::empty()));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->stream_versions, std::vector<uint64_t>{0});
  EXPECT_EQ(r->partition_id, k.pid);
  EXPECT_EQ(r->first_partition_sequence, 0u);
  EXPECT_EQ(r->last_partition_sequence, 0u);
  EXPECT_EQ(r->offsets.size(), 1u);
  EXPECT_TRUE(transaction_id_is_single(r->transaction_id));
}

TEST_F(DatabaseTest, ThreeAppendsToOneStreamGetVersionsZeroOneTwo) {
  auto db = open();
  Keyed k;
  const EV expected[] = {EV::empty(), EV::exact(0), EV::exact(1)};
  for (uint64_t i = 0; i < 3; ++i) {
    auto r = append_one(*db, k.ev("stream-1", expected[i]));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->stream_versions, std::vector<uint64_t>{i});
    EXPECT_EQ(r->first_partition_sequence, i);
    EXPECT_EQ(r->log_position, i + 1) << "one bucket, consecutive log positions from 1";
  }
}

TEST_F(DatabaseTest, OneTransactionTwoStreams) {
  auto db = open();
  Keyed k;
  auto r = append_many(*db, {k.ev("stream-1", EV::empty()), k.ev("stream-2", EV::empty())});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->stream_versions, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(r->first_partition_sequence, 0u);
  EXPECT_EQ(r->last_partition_sequence, 1u);
  EXPECT_EQ(r->offsets.size(), 2u);
  EXPECT_LT(r->offsets[0], r->offsets[1]);
  EXPECT_FALSE(transaction_id_is_single(r->transaction_id));
}

TEST_F(DatabaseTest, ReadEventReturnsTheAppendedEvent) {
  auto db = open();
  Keyed k;
  NewEvent e = k.ev("stream-1", EV::empty());
  auto r = append_one(*db, e);
  ASSERT_TRUE(r) << r.error().to_string();
  auto got = db->read_event(k.pid, e.event_id);
  ASSERT_TRUE(got) << got.error().to_string();
  ASSERT_TRUE(got->has_value());
  const EventRecord& ev = **got;
  EXPECT_EQ(ev.event_id, e.event_id);
  EXPECT_EQ(ev.partition_key, k.key);
  EXPECT_EQ(ev.partition_id, k.pid);
  EXPECT_EQ(ev.stream_id, "stream-1");
  EXPECT_EQ(ev.event_name, "test_event");
  EXPECT_EQ(ev.timestamp_ns, 12345678u);
  EXPECT_EQ(ev.metadata, std::string("\x01\x02\x03", 3));
  EXPECT_EQ(ev.payload, "test payload");
  EXPECT_EQ(ev.partition_sequence, 0u);
  EXPECT_EQ(ev.stream_version, 0u);
  EXPECT_EQ(ev.confirmation_count, 0);
  EXPECT_EQ(ev.tx.transaction_id, r->transaction_id);
  EXPECT_EQ(ev.tx.log_position, r->log_position);
  EXPECT_EQ(ev.offset, r->offsets[0]);

  auto unknown = db->read_event(k.pid, new_event_id(partition_hash(k.key)));
  ASSERT_TRUE(unknown) << unknown.error().to_string();
  EXPECT_FALSE(unknown->has_value());
  // The right id under another partition is not found there.
  auto other = db->read_event(static_cast<PartitionId>((k.pid + 4) % 32), e.event_id);
  ASSERT_TRUE(other) << other.error().to_string();
  EXPECT_FALSE(other->has_value());
}

TEST_F(DatabaseTest, ReadPartitionFromSequence) {
  auto db = open();
  Keyed k;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(append_one(*db, k.ev("stream-" + std::to_string(i), EV::empty())));
  }
  auto all = scan_partition(*db, k.pid, 0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(sequences(all), (std::vector<uint64_t>{0, 1, 2}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(all[i].stream_id, "stream-" + std::to_string(i));
  auto from1 = scan_partition(*db, k.pid, 1);
  ASSERT_EQ(from1.size(), 2u);
  EXPECT_EQ(from1[0].partition_sequence, 1u);
  EXPECT_EQ(from1[1].partition_sequence, 2u);
}

TEST_F(DatabaseTest, LatestSequenceVersionAndStreamRead) {
  auto db = open();
  Keyed k;
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(append_one(*db, k.ev("stream-1", EV::from_next_version(i))));
  }
  auto seq = db->get_partition_sequence(k.pid);
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, std::optional<uint64_t>(2));
  auto ver = db->get_stream_version(k.pid, "stream-1");
  ASSERT_TRUE(ver);
  ASSERT_TRUE(ver->has_value());
  EXPECT_EQ((*ver)->partition_key, k.key);
  EXPECT_EQ((*ver)->version, 2u);
  EXPECT_EQ(versions(scan_stream(*db, k.pid, "stream-1")), (std::vector<uint64_t>{0, 1, 2}));
}

TEST_F(DatabaseTest, ExpectedVersionChecks) {
  auto db = open();
  Keyed k;
  ASSERT_TRUE(append_one(*db, k.ev("s", EV::empty())));
  auto again = append_one(*db, k.ev("s", EV::empty()));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::WrongExpectedVersion);
  auto wrong = append_one(*db, k.ev("s", EV::exact(1)));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::WrongExpectedVersion);
  auto exists = append_one(*db, k.ev("s", EV::exists()));
  ASSERT_TRUE(exists) << exists.error().to_string();
  EXPECT_EQ(exists->stream_versions, std::vector<uint64_t>{1});
  auto any_existing = append_one(*db, k.ev("s", EV::any()));
  ASSERT_TRUE(any_existing);
  EXPECT_EQ(any_existing->stream_versions, std::vector<uint64_t>{2});
  auto any_new = append_one(*db, k.ev("t", EV::any()));
  ASSERT_TRUE(any_new);
  EXPECT_EQ(any_new->stream_versions, std::vector<uint64_t>{0});
  auto exists_missing = append_one(*db, k.ev("u", EV::exists()));
  ASSERT_FALSE(exists_missing);
  EXPECT_EQ(exists_missing.error().code, Errc::WrongExpectedVersion);
  auto exact_missing = append_one(*db, k.ev("u", EV::exact(0)));
  ASSERT_FALSE(exact_missing);
  EXPECT_EQ(exact_missing.error().code, Errc::WrongExpectedVersion);
  // Failed appends consumed no sequence.
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), (std::vector<uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(*db->get_partition_sequence(k.pid), std::optional<uint64_t>(3));
}

TEST_F(DatabaseTest, NonexistentStreamAndUnusedPartitionYieldNothing) {
  auto db = open();
  Keyed k;
  ASSERT_TRUE(append_one(*db, k.ev("s", EV::empty())));
  EXPECT_TRUE(scan_stream(*db, k.pid, "nope").empty());
  EXPECT_TRUE(scan_stream(*db, k.pid, "nope", 5, true).empty());
  auto v = db->get_stream_version(k.pid, "nope");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->has_value());
  // Partition 999 is not a partition of this database (32): reads answer nothing.
  EXPECT_TRUE(scan_partition(*db, 999, 0).empty());
  auto s = db->get_partition_sequence(999);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->has_value());
  auto e = db->read_event(999, uuid_v4());
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->has_value());
  // An unused valid partition too.
  const PartitionId unused = static_cast<PartitionId>((k.pid + 1) % 32);
  EXPECT_TRUE(scan_partition(*db, unused, 0).empty());
  EXPECT_FALSE(db->get_partition_sequence(unused)->has_value());
}

TEST_F(DatabaseTest, OneAppendToEachOfFourPartitions) {
  auto db = open();
  std::map<PartitionId, Uuid> keys;
  while (keys.size() < 4) {
    Uuid k = uuid_v4();
    if (pid_of(k) < 4) keys.emplace(pid_of(k), k);
  }
  for (const auto& [pid, key] : keys) {
    auto r = db->append_events(pid, make_tx({make_event("s", EV::empty(), key)}));
    ASSERT_TRUE(r) << r.error().to_string();
  }
  for (PartitionId p = 0; p < 4; ++p) {
    auto s = db->get_partition_sequence(p);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, std::optional<uint64_t>(0)) << "partition " << p;
  }
}

TEST(DatabaseVersionHelpers, Identities) {
  EXPECT_EQ(EV::from_next_version(0), EV::empty());
  EXPECT_EQ(EV::from_next_version(5), EV::exact(4));
  EXPECT_EQ(EV::empty().into_next_version(), std::optional<uint64_t>(0));
  EXPECT_EQ(EV::exact(4).into_next_version(), std::optional<uint64_t>(5));
  EXPECT_EQ(EV::any().into_next_version(), std::nullopt);
  EXPECT_EQ(EV::exists().into_next_version(), std::nullopt);
  EXPECT_EQ(EV::exact(UINT64_MAX).into_next_version(), std::nullopt);
  for (uint64_t v : {0ull, 1ull, 77ull}) {
    EXPECT_EQ(EV::from_next_version(v).into_next_version(), std::optional<uint64_t>(v));
  }
  EXPECT_EQ(CurrentVersion::empty().next(), 0u);
  EXPECT_EQ(CurrentVersion::current(3).next(), 4u);
  EXPECT_EQ(CurrentVersion::empty().as_expected(), EV::empty());
  EXPECT_EQ(CurrentVersion::current(3).as_expected(), EV::exact(3));
  CurrentVersion c = CurrentVersion::empty();
  c += 0;
  EXPECT_EQ(c, CurrentVersion::empty());
  c += 1;
  EXPECT_EQ(c, CurrentVersion::current(0));
  c += 2;
  EXPECT_EQ(c, CurrentVersion::current(2));
  EXPECT_EQ(EV::any().to_string(), "any");
  EXPECT_EQ(EV::exists().to_string(), "exists");
  EXPECT_EQ(EV::empty().to_string(), "empty");
  EXPECT_EQ(EV::exact(12).to_string(), "12");
}

// ------------------------------------------------------------------------ STORAGE §8.2

// Version validation inside one batch (128 KiB segments).
class DatabaseBatchValidation : public DatabaseTest {
 protected:
  void SetUp() override { db_ = open(DatabaseBuilder().segment_size(128 * 1024)); }
  // Appends one transaction of `stream` events with the given expectations; returns the
  // assigned versions (or the error).
  Result<std::vector<uint64_t>> batch(const std::string& stream, std::vector<EV> exp) {
    std::vector<NewEvent> evs;
    for (const EV& e : exp) evs.push_back(k_.ev(stream, e));
    auto r = append_many(*db_, std::move(evs));
    if (!r) return std::unexpected(r.error());
    return r->stream_versions;
  }
  // Tries `exp` in a fresh copy of the state: since a successful batch changes the state, each
  // call below runs against a new stream whose prefix is written first.
  std::shared_ptr<Database> db_;
  Keyed k_;
};

TEST_F(DatabaseBatchValidation, OnEmptyStream) {
  const std::vector<std::vector<EV>> ok = {{EV::any(), EV::any(), EV::any()},
                                           {EV::empty(), EV::exists(), EV::exists()},
                                           {EV::empty(), EV::exact(0), EV::exact(1)}};
  int i = 0;
  for (const auto& exp : ok) {
    auto r = batch("a" + std::to_string(i++), exp);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, (std::vector<uint64_t>{0, 1, 2}));
  }
  // Failing batches on an empty stream, and nothing of them is written.
  const std::vector<std::vector<EV>> bad = {{EV::exists(), EV::any()},
                                            {EV::exact(0), EV::any()},
                                            {EV::empty(), EV::empty()},
                                            {EV::any(), EV::exact(1)},
                                            {EV::empty(), EV::exact(0), EV::exact(0)}};
  for (const auto& exp : bad) {
    auto r = batch("b", exp);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::WrongExpectedVersion);
  }
  EXPECT_TRUE(scan_stream(*db_, k_.pid, "b").empty());
  EXPECT_FALSE(db_->get_stream_version(k_.pid, "b")->has_value());
  EXPECT_EQ(scan_partition(*db_, k_.pid).size(), 9u);
}

TEST_F(DatabaseBatchValidation, AfterOneEvent) {
  const std::vector<std::vector<EV>> ok = {{EV::any(), EV::any(), EV::any()},
                                           {EV::exists(), EV::exists(), EV::exists()},
                                           {EV::exact(0), EV::exact(1), EV::exact(2)}};
  int i = 0;
  for (const auto& exp : ok) {
    const std::string s = "a" + std::to_string(i++);
    ASSERT_TRUE(batch(s, {EV::empty()}));
    auto r = batch(s, exp);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, (std::vector<uint64_t>{1, 2, 3}));
    EXPECT_EQ(versions(scan_stream(*db_, k_.pid, s)), (std::vector<uint64_t>{0, 1, 2, 3}));
  }
  ASSERT_TRUE(batch("b", {EV::empty()}));
  for (const auto& exp : std::vector<std::vector<EV>>{{EV::empty(), EV::any()},
                                                      {EV::exact(1), EV::exact(2)},
                                                      {EV::exact(0), EV::exact(0)},
                                                      {EV::any(), EV::empty()}}) {
    auto r = batch("b", exp);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::WrongExpectedVersion);
  }
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "b")), std::vector<uint64_t>{0});
}

TEST_F(DatabaseBatchValidation, InterleavedStreams) {
  // A:Exact... on an empty A fails; build A at 0 first.
  ASSERT_TRUE(batch("A", {EV::empty()}));
  auto r = append_many(*db_,
                       {k_.ev("A", EV::exact(0)), k_.ev("A", EV::exact(1)), k_.ev("B", EV::empty()),
                        k_.ev("A", EV::exact(2)), k_.ev("A", EV::exact(3))});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->stream_versions, (std::vector<uint64_t>{1, 2, 0, 3, 4}));
  // A at 4, B at 0.
  EXPECT_EQ((*db_->get_stream_version(k_.pid, "A"))->version, 4u);
  EXPECT_EQ((*db_->get_stream_version(k_.pid, "B"))->version, 0u);
  auto a = batch("A", {EV::exact(4), EV::exact(5), EV::exact(6)});
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(*a, (std::vector<uint64_t>{5, 6, 7}));
  auto a2 = batch("A", {EV::any(), EV::any(), EV::any()});
  ASSERT_TRUE(a2);
  EXPECT_EQ(*a2, (std::vector<uint64_t>{8, 9, 10}));
  auto a3 = batch("A", {EV::exists(), EV::exists(), EV::exists()});
  ASSERT_TRUE(a3);
  EXPECT_EQ(*a3, (std::vector<uint64_t>{11, 12, 13}));
  auto b = batch("B", {EV::exact(0), EV::exact(1), EV::exact(2)});
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(*b, (std::vector<uint64_t>{1, 2, 3}));
  // Streams are independent inside one transaction.
  auto mixed = append_many(
      *db_, {k_.ev("A", EV::exact(13)), k_.ev("B", EV::exact(3)), k_.ev("C", EV::empty()),
             k_.ev("B", EV::exact(4)), k_.ev("C", EV::exact(0))});
  ASSERT_TRUE(mixed) << mixed.error().to_string();
  EXPECT_EQ(mixed->stream_versions, (std::vector<uint64_t>{14, 4, 0, 5, 1}));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "A")), iota_vec(0, 15));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "B")), iota_vec(0, 6));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "C")), iota_vec(0, 2));
  // One failing event fails the whole transaction (nothing written).
  auto bad = append_many(*db_, {k_.ev("A", EV::exact(14)), k_.ev("B", EV::exact(4))});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::WrongExpectedVersion);
  EXPECT_EQ((*db_->get_stream_version(k_.pid, "A"))->version, 14u);
  // Also when it would have created a stream: the new stream stays empty, and the next
  // transaction creates it at version 0 (the writer caches "no event yet" without making it so).
  for (int i = 0; i < 2; ++i) {
    auto failed = append_many(
        *db_, {k_.ev("D", EV::empty()), k_.ev("D", EV::exact(0)), k_.ev("A", EV::exact(3))});
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, Errc::WrongExpectedVersion);
    EXPECT_FALSE(db_->get_stream_version(k_.pid, "D")->has_value());
  }
  auto d = batch("D", {EV::empty(), EV::exact(0)});
  ASSERT_TRUE(d) << d.error().to_string();
  EXPECT_EQ(*d, (std::vector<uint64_t>{0, 1}));
  auto d2 = batch("D", {EV::exact(1)});
  ASSERT_TRUE(d2) << d2.error().to_string();
  EXPECT_EQ(*d2, std::vector<uint64_t>{2});
}

// Iterators with small segments forcing many rollovers: 1 bucket, 1 writer.
class DatabaseIterators : public DatabaseTest {
 protected:
  void SetUp() override {
    db_ = open(DatabaseBuilder().segment_size(128 * 1024).total_buckets(1).writer_threads(1));
  }
  // Appends `n` single events to `stream` (~150 per segment), submitted asynchronously in groups
  // of 100 (one bucket: they are executed in submission order, with group commit).
  std::vector<AppendResult> fill(const std::string& stream, int n) {
    std::vector<AppendResult> out;
    for (int base = 0; base < n; base += 100) {
      std::vector<std::promise<Result<AppendResult>>> promises(std::min(100, n - base));
      for (size_t j = 0; j < promises.size(); ++j) {
        const int i = base + static_cast<int>(j);
        db_->append_events_async(
            k_.pid, make_tx({k_.ev(stream, EV::any(), std::string(700, 'a' + i % 26))}),
            [&promises, j](Result<AppendResult> r) { promises[j].set_value(std::move(r)); });
      }
      for (auto& p : promises) {
        auto r = test_support::get_within(p.get_future(), "an append");
        if (!r) {
          ADD_FAILURE() << r.error().to_string();
          return out;
        }
        out.push_back(*r);
      }
    }
    return out;
  }
  size_t segment_count() const {
    auto ids = list_segment_ids(dir_.path(), 0);
    return ids ? ids->size() : 0;
  }
  std::shared_ptr<Database> db_;
  Keyed k_;
};

TEST_F(DatabaseIterators, SingleSegment) {
  fill("s", 10);
  EXPECT_EQ(segment_count(), 1u);
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid)), iota_vec(0, 10));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s")), iota_vec(0, 10));
  auto rev = versions(scan_stream(*db_, k_.pid, "s", 9, true));
  EXPECT_EQ(rev, (std::vector<uint64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
}

TEST_F(DatabaseIterators, ManyEventsAcrossSegments) {
  auto results = fill("s", 1500);
  ASSERT_EQ(results.size(), 1500u);
  EXPECT_GE(segment_count(), 7u);
  std::set<SegmentId> segs;
  for (const auto& r : results) segs.insert(r.segment_id);
  EXPECT_EQ(segs.size(), segment_count());
  auto all = scan_partition(*db_, k_.pid);
  ASSERT_EQ(sequences(all), iota_vec(0, 1500));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].payload, std::string(700, static_cast<char>('a' + i % 26)));
  }
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s")), iota_vec(0, 1500));
  auto rev = versions(scan_stream(*db_, k_.pid, "s", UINT64_MAX, true));
  std::vector<uint64_t> expect_rev = iota_vec(0, 1500);
  std::reverse(expect_rev.begin(), expect_rev.end());
  EXPECT_EQ(rev, expect_rev);
  // Same after reopen (closed segments then come from their index files).
  db_->close();
  db_.reset();
  db_ = open(DatabaseBuilder().segment_size(128 * 1024).total_buckets(1).writer_threads(1));
  ASSERT_TRUE(db_);
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid)), iota_vec(0, 1500));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s")), iota_vec(0, 1500));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s", UINT64_MAX, true)), expect_rev);
  // Every event by id, at the offset its append reported.
  auto all2 = scan_partition(*db_, k_.pid);
  ASSERT_EQ(all2.size(), results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    auto ev = db_->read_event(k_.pid, all2[i].event_id);
    ASSERT_TRUE(ev) << ev.error().to_string();
    ASSERT_TRUE(ev->has_value());
    EXPECT_EQ((*ev)->offset, results[i].offsets[0]);
    EXPECT_EQ((*ev)->partition_sequence, i);
    EXPECT_EQ((*ev)->tx.transaction_id, results[i].transaction_id);
  }
}

TEST_F(DatabaseIterators, StartFromMiddleAndBeyondEnd) {
  fill("s", 20);
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid, 10)), iota_vec(10, 20));
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s", 10)), iota_vec(10, 20));
  auto rev = versions(scan_stream(*db_, k_.pid, "s", 10, true));
  EXPECT_EQ(rev, (std::vector<uint64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_TRUE(scan_partition(*db_, k_.pid, 20).empty());
  EXPECT_TRUE(scan_partition(*db_, k_.pid, 1000).empty());
  EXPECT_TRUE(scan_stream(*db_, k_.pid, "s", 20).empty());
  EXPECT_TRUE(scan_stream(*db_, k_.pid, "s", UINT64_MAX).empty());
  // Reverse from beyond the end starts at the latest version.
  EXPECT_EQ(scan_stream(*db_, k_.pid, "s", 1000, true).size(), 20u);
}

TEST_F(DatabaseIterators, FromEveryStartAcrossSegments) {
  fill("s", 400);
  ASSERT_GE(segment_count(), 2u);
  for (uint64_t from = 0; from <= 401; from += 7) {
    const uint64_t lo = std::min<uint64_t>(from, 400);
    EXPECT_EQ(sequences(scan_partition(*db_, k_.pid, from)), iota_vec(lo, 400)) << from;
    EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s", from)), iota_vec(lo, 400)) << from;
    auto rev = versions(scan_stream(*db_, k_.pid, "s", from, true));
    ASSERT_EQ(rev.size(), std::min<uint64_t>(from, 399) + 1) << from;
    EXPECT_EQ(rev.front(), std::min<uint64_t>(from, 399));
    EXPECT_EQ(rev.back(), 0u);
  }
}

TEST_F(DatabaseIterators, NoGapsAcrossSegmentsLargeEvents) {
  for (uint64_t i = 0; i < 100; ++i) {
    auto r = append_one(*db_, k_.ev("s", EV::from_next_version(i), std::string(30'000, 'x')));
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
    EXPECT_EQ(r->first_partition_sequence, i);
  }
  EXPECT_GE(segment_count(), 25u);
  auto all = scan_partition(*db_, k_.pid);
  EXPECT_EQ(sequences(all), iota_vec(0, 100));
  for (const auto& e : all) EXPECT_EQ(e.payload.size(), 30'000u);
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s", 0)), iota_vec(0, 100));
}

TEST_F(DatabaseIterators, MixedSingleAndMultiEventTransactions) {
  // 50 singles and 10 three-event transactions, interleaved.
  std::vector<Uuid> txids;  // per sequence
  for (int i = 0; i < 60; ++i) {
    Result<AppendResult> r;
    if (i % 6 == 5) {
      r = append_many(*db_, {k_.ev("s", EV::any(), std::string(2000, 'm')),
                             k_.ev("s", EV::any(), std::string(2000, 'm')),
                             k_.ev("s", EV::any(), std::string(2000, 'm'))});
    } else {
      r = append_one(*db_, k_.ev("s", EV::any(), std::string(2000, 's')));
    }
    ASSERT_TRUE(r) << r.error().to_string();
    for (uint64_t q = r->first_partition_sequence; q <= r->last_partition_sequence; ++q) {
      txids.push_back(r->transaction_id);
    }
  }
  ASSERT_EQ(txids.size(), 80u);
  EXPECT_GE(segment_count(), 2u);
  auto all = scan_partition(*db_, k_.pid);
  ASSERT_EQ(sequences(all), iota_vec(0, 80));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].tx.transaction_id, txids[i]);
  EXPECT_EQ(versions(scan_stream(*db_, k_.pid, "s")), iota_vec(0, 80));
  // Every start point, including ones inside a transaction.
  for (uint64_t from = 0; from < 80; ++from) {
    EXPECT_EQ(sequences(scan_partition(*db_, k_.pid, from)), iota_vec(from, 80));
  }
}

TEST_F(DatabaseIterators, MultiStreamTransactionsAndOtherStreams) {
  // Transactions with events of streams a, b and c; some have no event of "a".
  uint64_t next_a = 0;
  for (int i = 0; i < 120; ++i) {
    std::vector<NewEvent> evs;
    const std::string pad(1500, 'p');
    if (i % 3 != 2) evs.push_back(k_.ev("a", EV::from_next_version(next_a++), pad));
    evs.push_back(k_.ev("b", EV::any(), pad));
    if (i % 2 == 0) evs.push_back(k_.ev("c", EV::any(), pad));
    if (i % 3 == 0) evs.push_back(k_.ev("a", EV::exact(next_a++ - 1), pad));
    auto r = append_many(*db_, std::move(evs));
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
  }
  EXPECT_GE(segment_count(), 3u);
  auto a = scan_stream(*db_, k_.pid, "a");
  EXPECT_EQ(versions(a), iota_vec(0, next_a));
  for (const auto& e : a) EXPECT_EQ(e.stream_id, "a");
  auto b = scan_stream(*db_, k_.pid, "b");
  EXPECT_EQ(versions(b), iota_vec(0, 120));
  for (const auto& e : b) EXPECT_EQ(e.stream_id, "b");
  auto c = scan_stream(*db_, k_.pid, "c");
  EXPECT_EQ(versions(c), iota_vec(0, 60));
  for (const auto& e : c) EXPECT_EQ(e.stream_id, "c");
  auto rev = scan_stream(*db_, k_.pid, "a", UINT64_MAX, true);
  ASSERT_EQ(rev.size(), next_a);
  for (size_t i = 0; i < rev.size(); ++i) {
    EXPECT_EQ(rev[i].stream_version, next_a - 1 - i);
    EXPECT_EQ(rev[i].stream_id, "a");
  }
  const size_t total = next_a + 120 + 60;
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid)), iota_vec(0, total));
  // A stream of the same name in another partition (same bucket): never mixed in.
  Keyed other;
  while (other.pid == k_.pid) other = Keyed();
  ASSERT_TRUE(append_one(*db_, other.ev("a", EV::empty(), "other")));
  ASSERT_TRUE(append_one(*db_, other.ev("a", EV::exact(0), "other")));
  auto a2 = scan_stream(*db_, k_.pid, "a");
  EXPECT_EQ(versions(a2), iota_vec(0, next_a));
  for (const auto& e : a2) EXPECT_EQ(e.partition_key, k_.key);
  auto oa = scan_stream(*db_, other.pid, "a");
  ASSERT_EQ(versions(oa), iota_vec(0, 2));
  for (const auto& e : oa) EXPECT_EQ(e.payload, "other");
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid)), iota_vec(0, total));
}

TEST_F(DatabaseIterators, IteratorSeesSnapshotWhileAppendsContinue) {
  fill("s", 10);
  auto pit = db_->read_partition(k_.pid, 0);
  auto sit = db_->read_stream(k_.pid, "s", 0);
  ASSERT_TRUE(pit && sit);
  std::thread writer([&] { fill("s", 5); });
  writer.join();
  auto p = sequences(collect(std::move(*pit)));
  auto s = versions(collect(std::move(*sit)));
  ASSERT_GE(p.size(), 10u);
  ASSERT_LE(p.size(), 15u);
  EXPECT_EQ(p, iota_vec(0, p.size()));
  ASSERT_GE(s.size(), 10u);
  ASSERT_LE(s.size(), 15u);
  EXPECT_EQ(s, iota_vec(0, s.size()));
  EXPECT_EQ(sequences(scan_partition(*db_, k_.pid)), iota_vec(0, 15));
}

TEST_F(DatabaseIterators, ConcurrentAppendsWhileIterating) {
  fill("s", 10);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 200 && !stop; ++i) {
      if (!append_one(*db_, k_.ev("s", EV::any(), std::string(900, 'c')))) break;
    }
  });
  for (int round = 0; round < 30; ++round) {
    auto p = sequences(scan_partition(*db_, k_.pid, 0));
    ASSERT_GE(p.size(), 10u);
    EXPECT_EQ(p, iota_vec(0, p.size()));
    auto s = versions(scan_stream(*db_, k_.pid, "s", 0));
    ASSERT_GE(s.size(), p.size());
    EXPECT_EQ(s, iota_vec(0, s.size()));
    auto r = versions(scan_stream(*db_, k_.pid, "s", UINT64_MAX, true));
    ASSERT_GE(r.size(), s.size());
    for (size_t i = 0; i < r.size(); ++i) ASSERT_EQ(r[i], r.size() - 1 - i);
  }
  stop = true;
  writer.join();
}

// ------------------------------------------------------------------------ builder / meta.json

TEST_F(DatabaseTest, MetaJsonWrittenWithConfiguredValues) {
  {
    auto db = DatabaseBuilder().segment_size(1 << 20).partition_count(16).total_buckets(2).open(
        dir_.path());
    ASSERT_TRUE(db) << db.error().to_string();
  }
  std::ifstream in(dir_.path() / "meta.json");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str());
  EXPECT_EQ(j.at("version").get<int>(), 1);
  EXPECT_EQ(j.at("segment_size").get<uint64_t>(), 1u << 20);
  EXPECT_EQ(j.at("partition_count").get<int>(), 16);
  EXPECT_EQ(j.at("total_buckets").get<int>(), 2);
  // Reopening with the same settings works.
  auto again = DatabaseBuilder().segment_size(1 << 20).partition_count(16).total_buckets(2).open(
      dir_.path());
  ASSERT_TRUE(again) << again.error().to_string();
}

TEST_F(DatabaseTest, ReopenWithOtherSettingsFails) {
  {
    auto db = DatabaseBuilder().segment_size(1 << 20).open(dir_.path());
    ASSERT_TRUE(db) << db.error().to_string();
    Keyed k;
    ASSERT_TRUE(append_one(**db, k.ev("s")));
  }
  auto buckets = DatabaseBuilder().segment_size(1 << 20).total_buckets(8).open(dir_.path());
  ASSERT_FALSE(buckets);
  EXPECT_EQ(buckets.error().code, Errc::ConfigMismatch);
  auto seg = DatabaseBuilder().segment_size(2 << 20).open(dir_.path());
  ASSERT_FALSE(seg);
  EXPECT_EQ(seg.error().code, Errc::ConfigMismatch);
  auto parts = DatabaseBuilder().segment_size(1 << 20).partition_count(64).open(dir_.path());
  ASSERT_FALSE(parts);
  EXPECT_EQ(parts.error().code, Errc::ConfigMismatch);
  // And the directory is still usable with the right settings.
  auto ok = DatabaseBuilder().segment_size(1 << 20).open(dir_.path());
  ASSERT_TRUE(ok) << ok.error().to_string();
}

TEST_F(DatabaseTest, InvalidConfigurationsAreErrors) {
  auto expect_invalid = [&](DatabaseBuilder b, const char* what) {
    TempDir d;
    auto db = b.open(d.path());
    ASSERT_FALSE(db) << what;
    EXPECT_EQ(db.error().code, Errc::InvalidConfig) << what << ": " << db.error().to_string();
    EXPECT_FALSE(fs::exists(d.path() / "meta.json")) << what;
  };
  expect_invalid(DatabaseBuilder().total_buckets(4).bucket_ids({0, 4}), "bucket id >= total");
  expect_invalid(DatabaseBuilder().total_buckets(4).bucket_ids_from_range(2, 6),
                 "range past total");
  expect_invalid(DatabaseBuilder().total_buckets(4).bucket_ids({1, 1}), "duplicate bucket");
  expect_invalid(DatabaseBuilder().total_buckets(4).bucket_ids({0, 1}).writer_threads(3),
                 "writer_threads > owned buckets");
  expect_invalid(DatabaseBuilder().total_buckets(4).writer_threads(5), "writer_threads > 4");
  expect_invalid(DatabaseBuilder().bucket_ids_from_range(0, 0), "empty range");
  expect_invalid(DatabaseBuilder().bucket_ids_from_range(3, 1), "reversed range");
  expect_invalid(DatabaseBuilder().total_buckets(0), "zero buckets");
  expect_invalid(DatabaseBuilder().partition_count(0), "zero partitions");
  expect_invalid(DatabaseBuilder().partition_count(2).total_buckets(4), "buckets > partitions");
  expect_invalid(DatabaseBuilder().segment_size(100), "tiny segment");
  expect_invalid(DatabaseBuilder().flush_interval_events(0), "zero flush events");
}

TEST_F(DatabaseTest, PartialBucketOwnership) {
  auto db = DatabaseBuilder().total_buckets(4).bucket_ids({1, 3}).open(dir_.path());
  ASSERT_TRUE(db) << db.error().to_string();
  // Find keys in an owned and an unowned bucket.
  Uuid owned, unowned;
  bool have_owned = false, have_unowned = false;
  while (!have_owned || !have_unowned) {
    Uuid k = uuid_v4();
    if (pid_of(k) % 4 == 1) owned = k, have_owned = true;
    if (pid_of(k) % 4 == 2) unowned = k, have_unowned = true;
  }
  EXPECT_TRUE((*db)->owns_partition(pid_of(owned)));
  EXPECT_FALSE((*db)->owns_partition(pid_of(unowned)));
  ASSERT_TRUE(append_one(**db, make_event("s", EV::any(), owned)));
  auto r = append_one(**db, make_event("s", EV::any(), unowned));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::BucketNotOwned);
  EXPECT_FALSE((*db)->get_partition_sequence(pid_of(unowned))->has_value());
  EXPECT_TRUE(scan_partition(**db, pid_of(unowned)).empty());
}

// ------------------------------------------------------------------------ DECISIONS.md

TEST_F(DatabaseTest, ReadYourWritesAcrossThreads) {
  auto db = open();
  Keyed k;
  // Lock step: after each acknowledged append the writer hands over to a reader thread, whose
  // very next reads must see exactly that state.
  std::atomic<int> published{-1};
  std::atomic<int> consumed{-1};
  std::vector<NewEvent> events;
  for (int i = 0; i < 150; ++i) events.push_back(k.ev("s", EV::from_next_version(i)));
  std::atomic<int> failures{0};
  std::thread reader([&] {
    for (int i = 0; i < 150; ++i) {
      while (published.load(std::memory_order_acquire) < i) std::this_thread::yield();
      auto ev = db->read_event(k.pid, events[i].event_id);
      if (!ev || !ev->has_value() || (*ev)->partition_sequence != static_cast<uint64_t>(i)) {
        ++failures;
      }
      auto seq = db->get_partition_sequence(k.pid);
      if (!seq || *seq != std::optional<uint64_t>(i)) ++failures;
      auto ver = db->get_stream_version(k.pid, "s");
      if (!ver || !ver->has_value() || (*ver)->version != static_cast<uint64_t>(i)) ++failures;
      auto part = db->read_partition(k.pid, i);
      if (!part) {
        ++failures;
      } else {
        auto first = part->next();
        if (!first || !first->has_value() || (*first)->event_id != events[i].event_id) ++failures;
        auto end = part->next();
        if (!end || end->has_value()) ++failures;
      }
      auto st = db->read_stream(k.pid, "s", i);
      if (!st) {
        ++failures;
      } else {
        auto first = st->next();
        if (!first || !first->has_value() || (*first)->stream_version != static_cast<uint64_t>(i)) {
          ++failures;
        }
      }
      consumed.store(i, std::memory_order_release);
    }
  });
  for (int i = 0; i < 150; ++i) {
    auto r = append_one(*db, events[i]);
    ASSERT_TRUE(r) << r.error().to_string();
    published.store(i, std::memory_order_release);
    while (consumed.load(std::memory_order_acquire) < i) std::this_thread::yield();
  }
  reader.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(DatabaseTest, ReadYourWritesAsyncCallback) {
  auto db = open();
  Keyed k;
  NewEvent e = k.ev("s", EV::empty());
  std::promise<bool> seen;
  db->append_events_async(k.pid, make_tx({e}), [&](Result<AppendResult> r) {
    // Runs on the writer thread once durable: visible already.
    bool ok = r.has_value();
    auto ev = db->read_event(k.pid, e.event_id);
    ok = ok && ev && ev->has_value();
    seen.set_value(ok);
  });
  EXPECT_TRUE(seen.get_future().get());
}

TEST_F(DatabaseTest, ExpectedPartitionSequence) {
  auto db = open();
  Keyed k;
  auto exists_empty = append_one(*db, k.ev("s"), EV::exists());
  ASSERT_FALSE(exists_empty);
  EXPECT_EQ(exists_empty.error().code, Errc::WrongExpectedSequence);
  auto exact_empty = append_one(*db, k.ev("s"), EV::exact(0));
  ASSERT_FALSE(exact_empty);
  EXPECT_EQ(exact_empty.error().code, Errc::WrongExpectedSequence);
  ASSERT_TRUE(append_one(*db, k.ev("s"), EV::empty()));  // seq 0
  auto empty_again = append_one(*db, k.ev("s"), EV::empty());
  ASSERT_FALSE(empty_again);
  EXPECT_EQ(empty_again.error().code, Errc::WrongExpectedSequence);
  ASSERT_TRUE(append_one(*db, k.ev("s"), EV::exists()));  // seq 1
  auto stale = append_one(*db, k.ev("s"), EV::exact(0));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::WrongExpectedSequence);
  auto r = append_many(*db, {k.ev("s"), k.ev("t")}, EV::exact(1));  // seq 2, 3
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->first_partition_sequence, 2u);
  EXPECT_EQ(r->last_partition_sequence, 3u);
  ASSERT_TRUE(append_one(*db, k.ev("s"), EV::exact(3)));  // seq 4
  ASSERT_TRUE(append_one(*db, k.ev("s"), EV::any()));     // seq 5
  auto ahead = append_one(*db, k.ev("s"), EV::exact(6));
  ASSERT_FALSE(ahead);
  EXPECT_EQ(ahead.error().code, Errc::WrongExpectedSequence);
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 6));
  EXPECT_EQ(versions(scan_stream(*db, k.pid, "s")), iota_vec(0, 5));
  // The expectation survives a reopen (sequences recovered from disk).
  db->close();
  db.reset();
  db = open();
  ASSERT_TRUE(append_one(*db, k.ev("s"), EV::exact(5)));
  auto after = append_one(*db, k.ev("s"), EV::exact(5));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Errc::WrongExpectedSequence);
}

TEST_F(DatabaseTest, StreamReusedWithAnotherKeyInSamePartition) {
  auto db = open();
  Keyed k;
  Uuid other;
  do {
    other = uuid_v4();
  } while (pid_of(other) != k.pid || other == k.key);
  ASSERT_TRUE(append_one(*db, k.ev("shared", EV::empty())));
  auto r = append_one(*db, make_event("shared", EV::any(), other));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::PartitionKeyMismatch);
  // Inside a multi-event transaction of the other key too; nothing written.
  auto r2 = append_many(
      *db, {make_event("fresh", EV::any(), other), make_event("shared", EV::any(), other)});
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::PartitionKeyMismatch);
  EXPECT_FALSE(db->get_stream_version(k.pid, "fresh")->has_value());
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), std::vector<uint64_t>{0});
  // Still mismatched after reopen (the key comes from disk then).
  db->close();
  db.reset();
  db = open();
  auto r3 = append_one(*db, make_event("shared", EV::any(), other));
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, Errc::PartitionKeyMismatch);
  ASSERT_TRUE(append_one(*db, k.ev("shared", EV::exact(0))));
}

TEST_F(DatabaseTest, TransactionValidationErrors) {
  Keyed k;
  auto mk = [](std::vector<NewEvent> v) { return Transaction::make(std::move(v)); };
  EXPECT_EQ(mk({}).error().code, Errc::EmptyTransaction);
  NewEvent bad_id = k.ev("s");
  bad_id.event_id = new_event_id(static_cast<PartitionHash>(partition_hash(k.key) ^ 1));
  EXPECT_EQ(mk({bad_id}).error().code, Errc::InvalidEventId);
  Keyed k2;
  EXPECT_EQ(mk({k.ev("s"), k2.ev("s")}).error().code, Errc::PartitionKeyMismatch);
  EXPECT_EQ(mk({k.ev(std::string(65, 'x'))}).error().code, Errc::InvalidLength);
  EXPECT_EQ(mk({k.ev("")}).error().code, Errc::InvalidLength);
  EXPECT_EQ(mk({k.ev(std::string("a\0b", 3))}).error().code, Errc::ContainsNullByte);
  NewEvent long_name = k.ev("s");
  long_name.event_name = std::string(256, 'n');
  EXPECT_EQ(mk({long_name}).error().code, Errc::InvalidArgument);
  long_name.event_name = std::string(255, 'n');
  EXPECT_TRUE(mk({long_name}));
  NewEvent ts = k.ev("s");
  ts.timestamp_ns = uint64_t{1} << 63;
  EXPECT_EQ(mk({ts}).error().code, Errc::InvalidArgument);
  EXPECT_TRUE(mk({k.ev(std::string(64, 'x'))}));
}

TEST_F(DatabaseTest, PartitionIdNotMatchingKeyIsAnError) {
  auto db = open();
  Keyed k;
  const PartitionId wrong = static_cast<PartitionId>((k.pid + 4) % 32);  // same bucket
  auto r = db->append_events(wrong, make_tx({k.ev("s")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  const PartitionId wrong2 = static_cast<PartitionId>((k.pid + 1) % 32);  // other bucket
  auto r2 = db->append_events(wrong2, make_tx({k.ev("s")}));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::InvalidArgument);
  // Beyond the partition count.
  auto r3 = db->append_events(static_cast<PartitionId>(k.pid + 32), make_tx({k.ev("s")}));
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, Errc::InvalidArgument);
  EXPECT_FALSE(db->get_partition_sequence(k.pid)->has_value());
  EXPECT_FALSE(db->get_partition_sequence(wrong)->has_value());
  EXPECT_FALSE(db->get_stream_version(wrong, "s")->has_value());
}

TEST_F(DatabaseTest, EventsExceedSegmentSize) {
  auto db = open(DatabaseBuilder().segment_size(64 * 1024));
  Keyed k;
  auto big = append_one(*db, k.ev("s", EV::any(), std::string(70 * 1024, 'b')));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::EventsExceedSegmentSize);
  // A transaction whose events fit one by one but not together.
  auto many = append_many(*db, {k.ev("s", EV::any(), std::string(40 * 1024, 'b')),
                                k.ev("s", EV::any(), std::string(40 * 1024, 'b'))});
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code, Errc::EventsExceedSegmentSize);
  // Nothing written, the database keeps working, a nearly segment-sized event fits.
  auto ok = append_one(*db, k.ev("s", EV::empty(), std::string(60 * 1024, 'o')));
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->first_partition_sequence, 0u);
  auto ok2 = append_one(*db, k.ev("s", EV::exact(0), std::string(60 * 1024, 'p')));
  ASSERT_TRUE(ok2) << ok2.error().to_string();
  EXPECT_EQ(ok2->segment_id, ok->segment_id + 1);
  auto all = scan_partition(*db, k.pid);
  ASSERT_EQ(sequences(all), iota_vec(0, 2));
  EXPECT_EQ(all[1].payload, std::string(60 * 1024, 'p'));
}

TEST_F(DatabaseTest, HeaderOnlyReads) {
  auto db = open();
  Keyed k;
  NewEvent e1 = k.ev("s", EV::empty(), "payload-1");
  e1.timestamp_ns = 42;
  NewEvent e2 = k.ev("s", EV::exact(0), "payload-2");
  NewEvent e3 = k.ev("t", EV::empty(), "payload-3");
  auto r = append_many(*db, {e1, e2, e3});
  ASSERT_TRUE(r) << r.error().to_string();
  auto full = db->read_event(k.pid, e2.event_id);
  auto head = db->read_event(k.pid, e2.event_id, true);
  ASSERT_TRUE(full && full->has_value());
  ASSERT_TRUE(head) << head.error().to_string();
  ASSERT_TRUE(head->has_value());
  const EventRecord& f = **full;
  const EventRecord& h = **head;
  EXPECT_EQ(h.offset, f.offset);
  EXPECT_EQ(h.offset, r->offsets[1]);
  EXPECT_EQ(h.length, f.length);
  EXPECT_EQ(h.tx.transaction_id, r->transaction_id);
  EXPECT_EQ(h.tx.log_position, f.tx.log_position);
  EXPECT_EQ(h.tx.term, f.tx.term);
  EXPECT_EQ(h.timestamp_ns, f.timestamp_ns);
  EXPECT_EQ(h.confirmation_count, f.confirmation_count);
  EXPECT_EQ(h.event_id, e2.event_id);
  EXPECT_EQ(h.partition_key, k.key);
  EXPECT_EQ(h.partition_id, k.pid);
  EXPECT_EQ(h.partition_sequence, 1u);
  EXPECT_EQ(h.stream_version, 1u);
  EXPECT_TRUE(h.stream_id.empty());
  EXPECT_TRUE(h.event_name.empty());
  EXPECT_TRUE(h.metadata.empty());
  EXPECT_TRUE(h.payload.empty());

  auto part = scan_partition(*db, k.pid, 0, true);
  ASSERT_EQ(part.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(part[i].partition_sequence, i);
    EXPECT_EQ(part[i].offset, r->offsets[i]);
    EXPECT_TRUE(part[i].payload.empty());
  }
  EXPECT_EQ(part[0].timestamp_ns, 42u);
  auto st = scan_stream(*db, k.pid, "s", 0, false, true);
  EXPECT_EQ(versions(st), (std::vector<uint64_t>{0, 1}));
  auto tx = db->read_transaction(k.pid, e1.event_id, true);
  ASSERT_TRUE(tx) << tx.error().to_string();
  ASSERT_TRUE(tx->has_value());
  ASSERT_EQ((*tx)->events.size(), 3u);
  ASSERT_TRUE((*tx)->commit.has_value());
  EXPECT_EQ((*tx)->commit->event_count, 3u);
  EXPECT_EQ((*tx)->events[2].event_id, e3.event_id);
  EXPECT_TRUE((*tx)->events[2].payload.empty());
}

TEST_F(DatabaseTest, ReadTransaction) {
  auto db = open();
  Keyed k;
  std::vector<NewEvent> evs = {k.ev("a", EV::empty(), "p0"), k.ev("b", EV::empty(), "p1"),
                               k.ev("a", EV::exact(0), "p2")};
  auto r = append_many(*db, evs);
  ASSERT_TRUE(r);
  auto whole = db->read_transaction(k.pid, evs[0].event_id);
  ASSERT_TRUE(whole && whole->has_value());
  ASSERT_EQ((*whole)->events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*whole)->events[i].event_id, evs[i].event_id);
    EXPECT_EQ((*whole)->events[i].payload, evs[i].payload);
  }
  ASSERT_TRUE((*whole)->commit);
  EXPECT_EQ((*whole)->commit->tx.transaction_id, r->transaction_id);
  auto tail = db->read_transaction(k.pid, evs[1].event_id);
  ASSERT_TRUE(tail && tail->has_value());
  ASSERT_EQ((*tail)->events.size(), 2u);
  EXPECT_EQ((*tail)->events[0].event_id, evs[1].event_id);
  auto single = append_one(*db, k.ev("c", EV::empty()));
  ASSERT_TRUE(single);
  auto one = db->read_transaction(k.pid, scan_partition(*db, k.pid, 3).at(0).event_id);
  ASSERT_TRUE(one && one->has_value());
  EXPECT_EQ((*one)->events.size(), 1u);
  EXPECT_FALSE((*one)->commit.has_value());
  auto none = db->read_transaction(k.pid, uuid_v4());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST_F(DatabaseTest, SetConfirmationsLiveAndClosedSegments) {
  auto db = open(DatabaseBuilder().segment_size(64 * 1024));
  Keyed k;
  auto single = append_one(*db, k.ev("s", EV::empty()));
  auto multi = append_many(*db, {k.ev("s", EV::exact(0)), k.ev("t", EV::empty())});
  ASSERT_TRUE(single && multi);
  auto count_of = [&](uint64_t seq) {
    auto evs = scan_partition(*db, k.pid, seq);
    return evs.empty() ? -1 : static_cast<int>(evs[0].confirmation_count);
  };
  // Live segment.
  auto s1 =
      db->set_confirmations(k.pid, single->segment_id, single->offsets, single->transaction_id, 3);
  ASSERT_TRUE(s1) << s1.error().to_string();
  EXPECT_EQ(count_of(0), 3);
  auto s2 =
      db->set_confirmations(k.pid, multi->segment_id, multi->offsets, multi->transaction_id, 2);
  ASSERT_TRUE(s2) << s2.error().to_string();
  EXPECT_EQ(count_of(1), 2);
  EXPECT_EQ(count_of(2), 2);
  auto tx = db->read_transaction(k.pid, scan_partition(*db, k.pid, 1).at(0).event_id);
  ASSERT_TRUE(tx && tx->has_value() && (*tx)->commit);
  EXPECT_EQ((*tx)->commit->confirmation_count, 2) << "the commit record is updated too";
  // Wrong transaction id: error, nothing changed.
  auto wrong = db->set_confirmations(k.pid, single->segment_id, single->offsets,
                                     new_transaction_id(true), 5);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::WrongTransactionId);
  EXPECT_EQ(count_of(0), 3);
  // Another transaction's offset with this transaction's id.
  auto cross =
      db->set_confirmations(k.pid, single->segment_id, multi->offsets, single->transaction_id, 5);
  ASSERT_FALSE(cross);
  EXPECT_EQ(cross.error().code, Errc::WrongTransactionId);
  EXPECT_EQ(count_of(1), 2);
  // Unknown segment.
  auto noseg = db->set_confirmations(k.pid, 77, single->offsets, single->transaction_id, 1);
  ASSERT_FALSE(noseg);
  EXPECT_EQ(noseg.error().code, Errc::SegmentNotFound);
  // Above the replication maximum.
  auto too_many = db->set_confirmations(k.pid, single->segment_id, single->offsets,
                                        single->transaction_id, kMaxReplicationFactor + 1);
  EXPECT_FALSE(too_many);

  // Roll over: the first transactions now live in a closed segment.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(append_one(*db, k.ev("u", EV::any(), std::string(3000, 'r'))));
  }
  auto last = append_one(*db, k.ev("u", EV::any()));
  ASSERT_TRUE(last);
  ASSERT_GT(last->segment_id, single->segment_id);
  auto c1 =
      db->set_confirmations(k.pid, single->segment_id, single->offsets, single->transaction_id, 7);
  ASSERT_TRUE(c1) << c1.error().to_string();
  EXPECT_EQ(count_of(0), 7);
  auto c2 =
      db->set_confirmations(k.pid, multi->segment_id, multi->offsets, multi->transaction_id, 9);
  ASSERT_TRUE(c2) << c2.error().to_string();
  EXPECT_EQ(count_of(1), 9);
  EXPECT_EQ(count_of(2), 9);
  auto wrong_closed =
      db->set_confirmations(k.pid, single->segment_id, multi->offsets, single->transaction_id, 1);
  ASSERT_FALSE(wrong_closed);
  EXPECT_EQ(wrong_closed.error().code, Errc::WrongTransactionId);
  EXPECT_EQ(count_of(1), 9);
  // The live one after the rollover.
  auto c3 = db->set_confirmations(k.pid, last->segment_id, last->offsets, last->transaction_id, 4);
  ASSERT_TRUE(c3) << c3.error().to_string();
  EXPECT_EQ(count_of(last->first_partition_sequence), 4);

  // Durable and readable after reopen (records still pass their checksums).
  db->close();
  db.reset();
  db = open(DatabaseBuilder().segment_size(64 * 1024));
  EXPECT_EQ(count_of(0), 7);
  EXPECT_EQ(count_of(1), 9);
  EXPECT_EQ(count_of(2), 9);
  EXPECT_EQ(count_of(last->first_partition_sequence), 4);
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, last->last_partition_sequence + 1));
}

TEST_F(DatabaseTest, ConcurrentAppendsFromEightThreads) {
  auto db = open();
  // Four shared partition keys (distinct partitions); each thread writes its own stream under
  // every key, so all threads contend on the same four partitions.
  std::vector<Keyed> keys;
  std::set<PartitionId> used;
  while (keys.size() < 4) {
    Keyed k;
    if (used.insert(k.pid).second) keys.push_back(k);
  }
  constexpr int kThreads = 8;
  constexpr int kPerThread = 60;
  std::vector<std::vector<AppendResult>> results(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint64_t> next(keys.size(), 0);
      for (int i = 0; i < kPerThread; ++i) {
        const size_t ki = static_cast<size_t>(i + t) % keys.size();
        const std::string stream = "t" + std::to_string(t);
        Result<AppendResult> r;
        if (i % 4 == 3) {
          r = append_many(*db, {keys[ki].ev(stream, EV::from_next_version(next[ki])),
                                keys[ki].ev(stream, EV::exact(next[ki]))});
        } else {
          r = append_one(*db, keys[ki].ev(stream, EV::from_next_version(next[ki])));
        }
        if (!r) {
          ++errors;
          continue;
        }
        next[ki] += r->stream_versions.size();
        results[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(errors.load(), 0);
  std::map<PartitionId, std::set<uint64_t>> assigned;
  std::map<PartitionId, size_t> count;
  for (const auto& rs : results) {
    for (const auto& r : rs) {
      for (uint64_t q = r.first_partition_sequence; q <= r.last_partition_sequence; ++q) {
        EXPECT_TRUE(assigned[r.partition_id].insert(q).second) << "duplicate sequence " << q;
        ++count[r.partition_id];
      }
    }
  }
  std::set<PartitionId> pids;
  for (const auto& k : keys) pids.insert(k.pid);
  for (PartitionId pid : pids) {
    auto all = scan_partition(*db, pid);
    EXPECT_EQ(sequences(all), iota_vec(0, count[pid])) << "partition " << pid;
    EXPECT_EQ(*db->get_partition_sequence(pid), std::optional<uint64_t>(count[pid] - 1));
    // Sequences of a transaction are contiguous and share the id.
    for (size_t i = 1; i < all.size(); ++i) {
      if (!transaction_id_is_single(all[i].tx.transaction_id) &&
          all[i].tx.transaction_id != all[i - 1].tx.transaction_id) {
        ASSERT_LT(i + 1, all.size());
        EXPECT_EQ(all[i + 1].tx.transaction_id, all[i].tx.transaction_id);
      }
    }
  }
  // Thread t writes 15 transactions to each key; those with i % 4 == 3 (all under key
  // (3 + t) % 4) have two events.
  for (size_t ki = 0; ki < keys.size(); ++ki) {
    for (int t = 0; t < kThreads; ++t) {
      const std::string stream = "t" + std::to_string(t);
      const size_t expect = ki == static_cast<size_t>(3 + t) % 4 ? 30 : 15;
      EXPECT_EQ(versions(scan_stream(*db, keys[ki].pid, stream)), iota_vec(0, expect));
      auto v = db->get_stream_version(keys[ki].pid, stream);
      ASSERT_TRUE(v && v->has_value());
      EXPECT_EQ((*v)->version, expect - 1);
    }
  }
}

TEST_F(DatabaseTest, CloseWhileAppending) {
  auto db = open();
  std::vector<Keyed> keys(4);
  std::atomic<bool> go{true};
  std::mutex mu;
  std::vector<std::pair<PartitionId, Uuid>> acked;
  std::atomic<int> bad_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int after_close = 0;
      while (after_close < 3) {
        if (!go) ++after_close;
        NewEvent e = keys[t].ev("s" + std::to_string(t));
        auto r = append_one(*db, e);
        if (r) {
          std::lock_guard lock(mu);
          acked.emplace_back(keys[t].pid, e.event_id);
        } else if (r.error().code != Errc::ShuttingDown) {
          ++bad_errors;
        }
      }
    });
  }
  // Close while the appenders are busy, once some of their appends were acknowledged.
  EXPECT_TRUE(test_support::eventually([&] {
    std::lock_guard lock(mu);
    return acked.size() >= 20;
  })) << "no appends acknowledged before close";
  db->close();
  go = false;
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad_errors.load(), 0);
  // Appends after close fail with ShuttingDown; reads keep working.
  auto late = append_one(*db, keys[0].ev("late"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::ShuttingDown);
  ASSERT_FALSE(acked.empty());
  EXPECT_TRUE(db->read_event(acked.front().first, acked.front().second)->has_value());
  db->close();  // idempotent
  db.reset();
  db = open();
  for (const auto& [pid, id] : acked) {
    auto ev = db->read_event(pid, id);
    ASSERT_TRUE(ev && ev->has_value()) << "acknowledged before close, lost after reopen";
  }
  for (const auto& k : keys) {
    EXPECT_EQ(sequences(scan_partition(*db, k.pid)),
              iota_vec(0, scan_partition(*db, k.pid).size()));
  }
}

TEST_F(DatabaseTest, SetConfirmationsAfterCloseIsAnError) {
  auto db = open();
  Keyed k;
  auto r = append_one(*db, k.ev("s"));
  ASSERT_TRUE(r);
  db->close();
  auto s = db->set_confirmations(k.pid, r->segment_id, r->offsets, r->transaction_id, 2);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::ShuttingDown) << s.error().to_string();
  db.reset();
  db = open();
  EXPECT_EQ(scan_partition(*db, k.pid).at(0).confirmation_count, 0);
}

TEST_F(DatabaseTest, CommitListenerReportsVisibleLatestSequences) {
  std::mutex mu;
  std::map<PartitionId, uint64_t> reported;
  std::atomic<int> not_visible{0};
  std::shared_ptr<Database> db;
  std::atomic<Database*> raw{nullptr};
  auto listener = [&](std::span<const std::pair<PartitionId, uint64_t>> changes) {
    for (const auto& [pid, seq] : changes) {
      if (Database* d = raw.load()) {
        auto latest = d->get_partition_sequence(pid);
        if (!latest || !latest->has_value() || **latest < seq) ++not_visible;
      }
      std::lock_guard lock(mu);
      auto& v = reported[pid];
      v = std::max(v, seq);
    }
  };
  db = open(DatabaseBuilder().on_commit(listener));
  raw = db.get();
  std::vector<Keyed> keys(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        // Stream names per thread: two random keys may share a partition.
        const std::string a = "a" + std::to_string(t), b = "b" + std::to_string(t);
        auto r = i % 3 == 0 ? append_many(*db, {keys[t].ev(a), keys[t].ev(b)})
                            : append_one(*db, keys[t].ev(a));
        ASSERT_TRUE(r) << r.error().to_string();
      }
    });
  }
  for (auto& th : threads) th.join();
  db->close();
  EXPECT_EQ(not_visible.load(), 0);
  std::lock_guard lock(mu);
  for (const auto& k : keys) {
    ASSERT_TRUE(reported.contains(k.pid));
    EXPECT_EQ(reported[k.pid], *(*db->get_partition_sequence(k.pid)));
  }
}

// ------------------------------------------------------------------------ I/O faults (D3)

class DatabaseFaults : public DatabaseTest {
 protected:
  // Every database of these tests runs on env_ (its faults reach no other database).
  std::shared_ptr<Database> open(DatabaseBuilder b = DatabaseBuilder()) {
    b.env(env_);
    return DatabaseTest::open(std::move(b));
  }
  void TearDown() override { env_->clear(); }
  static bool is_segment(const fs::path& p) { return p.filename() == "data.evts"; }
  std::shared_ptr<HookEnv> env_ = std::make_shared<HookEnv>();
};

TEST_F(DatabaseFaults, SyncFailureFailsTheAppendAndLeavesNoTrace) {
  auto db = open();
  Keyed k;
  ASSERT_TRUE(append_one(*db, k.ev("s", EV::empty())));
  std::atomic<int> fail{1};
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Sync && is_segment(p) && fail.fetch_sub(1) > 0 ? EIO : 0;
  });
  NewEvent lost = k.ev("s", EV::exact(0), "never acknowledged");
  auto r = append_one(*db, lost);
  ASSERT_FALSE(r) << "an append whose fdatasync failed was acknowledged";
  EXPECT_EQ(r.error().code, Errc::Io) << r.error().to_string();
  env_->clear();
  EXPECT_EQ(env_->injected(HookEnv::Op::Sync), 1u) << "the sync fault was not injected";
  EXPECT_NE(r.error().to_string().find("data.evts"), std::string::npos)
      << "the append failed, but not on the injected fault: " << r.error().to_string();
  auto gone = db->read_event(k.pid, lost.event_id);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(*db->get_partition_sequence(k.pid), std::optional<uint64_t>(0));
  EXPECT_EQ((*db->get_stream_version(k.pid, "s"))->version, 0u);
  // The failed transaction consumed no sequence, version or log position.
  auto ok = append_one(*db, k.ev("s", EV::exact(0), "after"));
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->first_partition_sequence, 1u);
  EXPECT_EQ(ok->stream_versions, std::vector<uint64_t>{1});
  EXPECT_EQ(ok->log_position, 2u);
  auto check = [&](const Database& d) {
    auto all = scan_partition(d, k.pid);
    ASSERT_EQ(sequences(all), iota_vec(0, 2));
    EXPECT_EQ(all[1].payload, "after");
    EXPECT_FALSE(d.read_event(k.pid, lost.event_id)->has_value());
  };
  check(*db);
  db->close();
  db.reset();
  db = open();
  check(*db);
  auto next = append_one(*db, k.ev("s", EV::exact(1)));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->log_position, 3u);
}

TEST_F(DatabaseFaults, WriteFailureNoSpace) {
  auto db = open();
  Keyed k;
  ASSERT_TRUE(append_one(*db, k.ev("s", EV::empty())));
  std::atomic<int> fail{1};
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Write && is_segment(p) && fail.fetch_sub(1) > 0 ? ENOSPC : 0;
  });
  NewEvent lost = k.ev("s", EV::exact(0));
  auto r = append_many(*db, {lost, k.ev("s", EV::exact(1))});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::NoSpace) << r.error().to_string();
  EXPECT_EQ(r.error().sys_errno, ENOSPC);
  env_->clear();
  EXPECT_EQ(env_->injected(HookEnv::Op::Write), 1u) << "the ENOSPC was not injected";
  EXPECT_FALSE(db->read_event(k.pid, lost.event_id)->has_value());
  auto ok = append_many(*db, {k.ev("s", EV::exact(0)), k.ev("s", EV::exact(1))});
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->first_partition_sequence, 1u);
  EXPECT_EQ(ok->stream_versions, (std::vector<uint64_t>{1, 2}));
  db->close();
  db.reset();
  db = open();
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 3));
  EXPECT_EQ(versions(scan_stream(*db, k.pid, "s")), iota_vec(0, 3));
}

TEST_F(DatabaseFaults, FailedGroupCommitFailsEveryTransactionOfTheBatch) {
  // A 20 ms wait for company puts the queued appends into one batch (one write + one sync).
  auto db = open(DatabaseBuilder().flush_interval_duration(std::chrono::milliseconds(20)));
  Keyed k;
  ASSERT_TRUE(append_one(*db, k.ev("s", EV::empty())));
  std::atomic<int> fail{1};
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Sync && is_segment(p) && fail.fetch_sub(1) > 0 ? EIO : 0;
  });
  constexpr int kN = 10;
  std::vector<std::promise<Result<AppendResult>>> promises(kN);
  std::vector<NewEvent> evs;
  for (int i = 0; i < kN; ++i) {
    evs.push_back(k.ev("s", EV::any(), "batch-" + std::to_string(i)));
    db->append_events_async(k.pid, make_tx({evs.back()}), [&promises, i](Result<AppendResult> r) {
      promises[i].set_value(std::move(r));
    });
  }
  int failed = 0;
  std::vector<uint64_t> seqs;
  for (int i = 0; i < kN; ++i) {
    auto r = test_support::get_within(promises[i].get_future(), "an append");
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::Io);
      ++failed;
      EXPECT_FALSE(db->read_event(k.pid, evs[i].event_id)->has_value());
    } else {
      seqs.push_back(r->first_partition_sequence);
      EXPECT_TRUE(db->read_event(k.pid, evs[i].event_id)->has_value());
    }
  }
  env_->clear();
  EXPECT_EQ(env_->injected(HookEnv::Op::Sync), 1u) << "the sync fault was not injected";
  EXPECT_GE(failed, 1);
  // The successful ones (a later batch) were renumbered after the failure: gapless from 1.
  EXPECT_EQ(seqs, iota_vec(1, 1 + seqs.size()));
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 1 + seqs.size()));
  db->close();
  db.reset();
  db = open();
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 1 + seqs.size()));
  EXPECT_EQ(versions(scan_stream(*db, k.pid, "s")), iota_vec(0, 1 + seqs.size()));
}

TEST_F(DatabaseFaults, RolloverFailureIsAnErrorAndTheNextAppendRollsOver) {
  auto db = open(DatabaseBuilder().segment_size(64 * 1024));
  Keyed k;
  std::vector<AppendResult> ok;
  for (int i = 0; i < 10; ++i) {
    auto r = append_one(*db, k.ev("s", EV::any(), std::string(6000, 'a')));
    ASSERT_TRUE(r);
    ok.push_back(*r);
  }
  ASSERT_EQ(ok.back().segment_id, 0u);
  // The next append needs segment 1; creating it fails once.
  const SegmentId first_live = ok.back().segment_id;
  std::atomic<int> fail{1};
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    const bool new_segment =
        is_segment(p) &&
        p != get_path(dir_.path(), bucket_for_partition(k.pid, 4), first_live, SegmentKind::Events);
    return op != HookEnv::Op::Truncate && new_segment && fail.fetch_sub(1) > 0 ? EIO : 0;
  });
  Result<AppendResult> r;
  int attempts = 0;
  do {
    r = append_one(*db, k.ev("s", EV::any(), std::string(6000, 'b')));
    ++attempts;
  } while (r && r->segment_id == first_live && attempts < 10);
  env_->clear();
  EXPECT_EQ(env_->injected(), 1u) << "the fault of the new segment was not injected";
  EXPECT_FALSE(r) << "rollover did not hit the fault";
  if (!r) {
    EXPECT_EQ(r.error().code, Errc::Io) << r.error().to_string();
  }
  // A restart right after the failed rollover (the new segment file may be empty).
  db->close();
  db.reset();
  db = open(DatabaseBuilder().segment_size(64 * 1024));
  ASSERT_TRUE(db);
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 10 + attempts - 1));
  auto after = append_one(*db, k.ev("s", EV::any(), std::string(6000, 'c')));
  ASSERT_TRUE(after) << after.error().to_string();
  EXPECT_GT(after->segment_id, first_live);
  const uint64_t n = after->last_partition_sequence + 1;
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, n));
  db->close();
  db.reset();
  db = open(DatabaseBuilder().segment_size(64 * 1024));
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, n));
  EXPECT_EQ(versions(scan_stream(*db, k.pid, "s")), iota_vec(0, n));
}

// Two databases in one process, each on its own Env: every segment sync of the first fails,
// the second (and a third on the real filesystem) append as if nothing happened, and neither
// Env ever sees a file of the other database.
TEST_F(DatabaseFaults, FaultsOfOneEnvDoNotReachAnotherDatabase) {
  TempDir other_dir;
  TempDir real_dir;
  std::atomic<uint64_t> foreign{0};  // operations an Env saw on another database's files
  auto under = [](const fs::path& p, const fs::path& root) {
    const std::string rel = fs::absolute(p)
                                .lexically_normal()
                                .lexically_relative(fs::absolute(root).lexically_normal())
                                .string();
    return !rel.empty() && !rel.starts_with("..");
  };
  std::atomic<uint64_t> other_ops{0};
  auto other_env = HookEnv::make([&](HookEnv::Op, const fs::path& p, uint64_t, size_t) {
    ++other_ops;
    if (!under(p, other_dir.path())) ++foreign;
    return 0;
  });
  // The failing database is opened before its faults start: the open syncs the new segment.
  auto failing = open();
  ASSERT_TRUE(failing);
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    if (!under(p, dir_.path())) ++foreign;
    return op == HookEnv::Op::Sync && is_segment(p) ? EIO : 0;
  });
  auto healthy = DatabaseBuilder().env(other_env).open(other_dir.path());
  ASSERT_TRUE(healthy) << healthy.error().to_string();
  auto plain = DatabaseBuilder().open(real_dir.path());
  ASSERT_TRUE(plain) << plain.error().to_string();

  Keyed k;
  constexpr int kN = 5;
  for (int i = 0; i < kN; ++i) {
    auto bad = append_one(*failing, k.ev("s", EV::any()));
    ASSERT_FALSE(bad) << "append " << i << " on the failing Env was acknowledged";
    EXPECT_EQ(bad.error().code, Errc::Io) << bad.error().to_string();
    auto good = append_one(**healthy, k.ev("s", i == 0 ? EV::empty() : EV::exact(i - 1)));
    ASSERT_TRUE(good) << "append " << i << ": " << good.error().to_string();
    auto also = append_one(**plain, k.ev("s", EV::any()));
    ASSERT_TRUE(also) << "append " << i << ": " << also.error().to_string();
  }
  env_->clear();
  EXPECT_GE(env_->injected(HookEnv::Op::Sync), static_cast<uint64_t>(kN));
  EXPECT_EQ(other_env->injected(), 0u);
  EXPECT_GT(other_ops.load(), 0u) << "the second database did not use its Env";
  EXPECT_EQ(foreign.load(), 0u) << "an Env saw a file of another database";
  EXPECT_EQ(sequences(scan_partition(**healthy, k.pid)), iota_vec(0, kN));
  EXPECT_EQ(sequences(scan_partition(**plain, k.pid)), iota_vec(0, kN));
  EXPECT_TRUE(scan_partition(*failing, k.pid).empty());
  (*healthy)->close();
  (*plain)->close();
  failing->close();
}

// The Env reaches every file the engine makes: each regular file in the data directory after
// appends, rollovers, background index writes and a reopen was created (or renamed into place)
// through the database's Env, and its writes and syncs went through it too.
TEST_F(DatabaseFaults, EveryFileOfTheDatabaseGoesThroughItsEnv) {
  std::mutex mu;
  std::set<std::string> made;  // paths created or renamed into place, relative to the dir
  std::set<std::string> written;
  std::set<std::string> synced;
  const fs::path root = fs::absolute(dir_.path()).lexically_normal();
  auto rel = [&](const fs::path& p) {
    return fs::absolute(p).lexically_normal().lexically_relative(root).string();
  };
  auto env = HookEnv::make(
      [&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
        std::lock_guard lock(mu);
        if (op == HookEnv::Op::Create || op == HookEnv::Op::Rename) made.insert(rel(p));
        if (op == HookEnv::Op::Write) written.insert(rel(p));
        if (op == HookEnv::Op::Sync) synced.insert(rel(p));
        return 0;
      },
      /*namespace_ops=*/true);
  {
    auto db = DatabaseTest::open(DatabaseBuilder().segment_size(64 * 1024).env(env));
    ASSERT_TRUE(db);
    Keyed k;
    for (int i = 0; i < 30; ++i) {
      ASSERT_TRUE(append_one(*db, k.ev("s", EV::any(), std::string(5000, 'e'))));
    }
    db->close();
  }
  {
    auto db = DatabaseTest::open(DatabaseBuilder().segment_size(64 * 1024).env(env));
    ASSERT_TRUE(db);
    db->close();
  }
  size_t files = 0;
  std::set<std::string> kinds;
  std::lock_guard lock(mu);
  for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
    if (!e.is_regular_file()) continue;
    ++files;
    const std::string r = rel(e.path());
    kinds.insert(e.path().filename().string());
    EXPECT_TRUE(made.contains(r)) << r << " was not created through the Env";
    EXPECT_TRUE(written.contains(r) || written.contains(r + ".tmp"))
        << r << " was not written through the Env";
    EXPECT_TRUE(synced.contains(r) || synced.contains(r + ".tmp"))
        << r << " was not synced through the Env";
  }
  EXPECT_GT(files, 4u);
  for (const char* want :
       {"meta.json", "data.evts", "index.eidx", "partition.pidx", "stream.sidx"}) {
    EXPECT_TRUE(kinds.contains(want)) << "no " << want << " was made";
  }
}

TEST_F(DatabaseFaults, BackgroundIndexWriteFailureIsLoggedAndRebuiltOnOpen) {
  std::mutex mu;
  std::vector<std::string> errors;
  auto sink = [&](LogLevel level, std::string_view msg) {
    if (level == LogLevel::Error) {
      std::lock_guard lock(mu);
      errors.emplace_back(msg);
    }
  };
  auto db = open(DatabaseBuilder().segment_size(64 * 1024).log_sink(sink));
  env_->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Write && p.string().find(".eidx") != std::string::npos ? EIO : 0;
  });
  Keyed k;
  std::vector<NewEvent> evs;
  for (int i = 0; i < 40; ++i) {
    evs.push_back(k.ev("s", EV::any(), std::string(5000, 'x')));
    ASSERT_TRUE(append_one(*db, evs.back()));
  }
  // Served from the in-memory indexes meanwhile.
  for (const auto& e : evs) EXPECT_TRUE(db->read_event(k.pid, e.event_id)->has_value());
  db->close();
  env_->clear();
  EXPECT_GE(env_->injected(HookEnv::Op::Write), 1u) << "no event index write was failed";
  {
    std::lock_guard lock(mu);
    EXPECT_FALSE(errors.empty()) << "the failed index write was not logged";
  }
  db.reset();
  db = open(DatabaseBuilder().segment_size(64 * 1024).log_sink(quiet_log));
  for (const auto& e : evs) {
    auto ev = db->read_event(k.pid, e.event_id);
    ASSERT_TRUE(ev) << ev.error().to_string();
    EXPECT_TRUE(ev->has_value());
  }
  EXPECT_EQ(sequences(scan_partition(*db, k.pid)), iota_vec(0, 40));
  auto ids = list_segment_ids(dir_.path(), bucket_for_partition(k.pid, 4));
  ASSERT_TRUE(ids);
  ASSERT_GE(ids->size(), 2u);
  for (size_t i = 0; i + 1 < ids->size(); ++i) {
    EXPECT_TRUE(fs::exists(
        get_path(dir_.path(), bucket_for_partition(k.pid, 4), (*ids)[i], SegmentKind::EventIndex)));
  }
}

}  // namespace
}  // namespace sierra
