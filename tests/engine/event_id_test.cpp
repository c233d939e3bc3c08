// Unique event ids and idempotent appends (issue 14): a retry of a committed transaction gets
// its original result and writes nothing, from the live segment, a closed one and after a
// restart; any other reuse of an id is DuplicateEventId and writes nothing; answers that rest on
// a staged batch are sent only once it is durable; old event index files without a Bloom filter
// still open.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/crc32c.hpp"
#include "engine/database_test_util.hpp"
#include "engine/fault_env.hpp"
#include "engine/file.hpp"
#include "engine/index/index_files.hpp"
#include "engine/segment/paths.hpp"
#include "engine/transaction_digest.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

std::shared_ptr<Database> open_db(const fs::path& dir, DatabaseBuilder b = DatabaseBuilder()) {
  auto db = b.log_sink(quiet_log).open(dir);
  if (!db) {
    ADD_FAILURE() << "open: " << db.error().to_string();
    return nullptr;
  }
  return *db;
}

void expect_same_result(const AppendResult& original, const AppendResult& again) {
  EXPECT_TRUE(again.retry);
  EXPECT_FALSE(original.retry);
  EXPECT_EQ(again.transaction_id, original.transaction_id);
  EXPECT_EQ(again.partition_id, original.partition_id);
  EXPECT_EQ(again.segment_id, original.segment_id);
  EXPECT_EQ(again.offsets, original.offsets);
  EXPECT_EQ(again.first_partition_sequence, original.first_partition_sequence);
  EXPECT_EQ(again.last_partition_sequence, original.last_partition_sequence);
  EXPECT_EQ(again.stream_versions, original.stream_versions);
  EXPECT_EQ(again.log_position, original.log_position);
  EXPECT_EQ(again.timestamps_ns, original.timestamps_ns);
}

// The events of a multi-stream transaction (what EMAPPEND sends) under one key.
std::vector<NewEvent> multi(const Uuid& key, const std::string& tag) {
  std::vector<NewEvent> evs;
  evs.push_back(make_event("a-" + tag, EV::empty(), key, "p1"));
  evs.push_back(make_event("b-" + tag, EV::empty(), key, "p2"));
  evs.push_back(make_event("a-" + tag, EV::exact(0), key, "p3"));
  return evs;
}

// The same events as a client would send them again: new server timestamps, same content.
std::vector<NewEvent> resent(std::vector<NewEvent> evs) {
  for (NewEvent& e : evs) e.timestamp_ns += 1'000'000;
  return evs;
}

size_t count_id(const Database& db, PartitionId pid, const Uuid& id) {
  size_t n = 0;
  for (const EventRecord& e : scan_partition(db, pid)) n += e.event_id == id ? 1 : 0;
  return n;
}

std::optional<uint64_t> partition_seq(const Database& db, PartitionId pid) {
  auto s = db.get_partition_sequence(pid);
  EXPECT_TRUE(s) << s.error().to_string();
  return s ? *s : std::nullopt;
}

TEST(EventIds, RepeatedIdInsideOneTransactionIsRefused) {
  const Uuid key = uuid_v4();
  auto evs = multi(key, "x");
  evs[2].event_id = evs[0].event_id;
  auto tx = Transaction::make(evs);
  ASSERT_FALSE(tx);
  EXPECT_EQ(tx.error().code, Errc::DuplicateEventId);
  EXPECT_NE(tx.error().message.find(evs[0].event_id.to_string()), std::string::npos);
  // Many events: the sorted path.
  std::vector<NewEvent> many;
  for (int i = 0; i < 40; ++i) many.push_back(make_event("s", EV::any(), key));
  many[39].event_id = many[7].event_id;
  auto big = Transaction::make(many);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::DuplicateEventId);
}

TEST(EventIds, DigestCoversContentNotTimestamps) {
  const Uuid key = uuid_v4();
  auto evs = multi(key, "d");
  const TransactionDigest d = transaction_digest(std::span<const NewEvent>(evs));
  EXPECT_EQ(transaction_digest(std::span<const NewEvent>(resent(evs))), d);
  auto other = evs;
  other[1].payload = "p2 ";
  EXPECT_NE(transaction_digest(std::span<const NewEvent>(other)), d);
  other = evs;
  other[1].metadata += "x";
  EXPECT_NE(transaction_digest(std::span<const NewEvent>(other)), d);
  other = evs;
  other[0].event_name = "other";
  EXPECT_NE(transaction_digest(std::span<const NewEvent>(other)), d);
  other = evs;
  std::swap(other[0], other[1]);
  EXPECT_NE(transaction_digest(std::span<const NewEvent>(other)), d);
}

TEST(EventIds, RetryFromLiveSegmentReturnsOriginalResult) {
  TempDir dir;
  auto db = open_db(dir.path());
  ASSERT_TRUE(db);
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  // EAPPEND: one event expecting an empty stream; the retry must not fail on that.
  const NewEvent one = make_event("single", EV::empty(), key);
  auto first = append_one(*db, one);
  ASSERT_TRUE(first) << first.error().to_string();
  ASSERT_TRUE(append_one(*db, make_event("single", EV::any(), key)));  // moves the stream on
  auto again = append_one(*db, resent({one}).front());
  ASSERT_TRUE(again) << again.error().to_string();
  expect_same_result(*first, *again);
  EXPECT_EQ(again->timestamps_ns.front(), one.timestamp_ns);
  // EMAPPEND: three events over two streams.
  const auto evs = multi(key, "m");
  auto m1 = append_many(*db, evs);
  ASSERT_TRUE(m1) << m1.error().to_string();
  auto m2 = append_many(*db, resent(evs));
  ASSERT_TRUE(m2) << m2.error().to_string();
  expect_same_result(*m1, *m2);
  EXPECT_EQ(partition_seq(*db, pid), std::optional<uint64_t>(m1->last_partition_sequence));
  EXPECT_EQ(count_id(*db, pid, one.event_id), 1u);
  for (const NewEvent& e : evs) EXPECT_EQ(count_id(*db, pid, e.event_id), 1u);
}

TEST(EventIds, ConflictingReuseIsAnErrorAndWritesNothing) {
  TempDir dir;
  auto db = open_db(dir.path());
  ASSERT_TRUE(db);
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  const auto evs = multi(key, "c");
  ASSERT_TRUE(append_many(*db, evs));
  const NewEvent one = make_event("lone", EV::any(), key, "lone payload");
  ASSERT_TRUE(append_one(*db, one));
  const auto before = partition_seq(*db, pid);

  auto expect_duplicate = [&](std::vector<NewEvent> attempt, const Uuid& named, const char* what) {
    auto r = append_many(*db, std::move(attempt));
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::DuplicateEventId) << what;
    EXPECT_EQ(r.error().message, "event id " + named.to_string() + " already exists") << what;
    EXPECT_EQ(partition_seq(*db, pid), before) << what;
  };
  NewEvent other_stream = one;
  other_stream.stream_id = "elsewhere";
  expect_duplicate({other_stream}, one.event_id, "other stream");
  NewEvent other_payload = one;
  other_payload.payload = "changed";
  expect_duplicate({other_payload}, one.event_id, "other payload");
  NewEvent other_meta = one;
  other_meta.metadata = "m";
  expect_duplicate({other_meta}, one.event_id, "other metadata");
  expect_duplicate({evs[0], evs[1]}, evs[0].event_id, "first part of another transaction");
  expect_duplicate({evs[1]}, evs[1].event_id, "middle event of another transaction");
  expect_duplicate({evs[2]}, evs[2].event_id, "last event of another transaction");
  std::vector<NewEvent> superset = evs;
  superset.push_back(make_event("a-c", EV::any(), key));
  expect_duplicate(superset, evs[0].event_id, "another transaction plus a new event");
  std::vector<NewEvent> fresh_first{make_event("z", EV::any(), key), one};
  expect_duplicate(fresh_first, one.event_id, "a new event then a used id");
  std::vector<NewEvent> reordered{evs[1], evs[0], evs[2]};
  expect_duplicate(reordered, evs[1].event_id, "same events, other order");

  for (const NewEvent& e : evs) EXPECT_EQ(count_id(*db, pid, e.event_id), 1u);
  EXPECT_EQ(count_id(*db, pid, one.event_id), 1u);
  EXPECT_EQ(scan_stream(*db, pid, "elsewhere").size(), 0u);
}

// Small segments: the original transaction ends up in a closed segment (served from memory,
// then from its index files), then the database restarts.
TEST(EventIds, RetryFromClosedSegmentAndAfterRestart) {
  TempDir dir;
  const auto builder = [] {
    return DatabaseBuilder().segment_size(64 * 1024).total_buckets(1).writer_threads(1);
  };
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  const auto evs = multi(key, "old");
  const NewEvent one = make_event("old-single", EV::empty(), key);
  AppendResult m1;
  AppendResult s1;
  {
    auto db = open_db(dir.path(), builder());
    ASSERT_TRUE(db);
    auto r = append_many(*db, evs);
    ASSERT_TRUE(r) << r.error().to_string();
    m1 = *r;
    auto s = append_one(*db, one);
    ASSERT_TRUE(s) << s.error().to_string();
    s1 = *s;
    for (int i = 0; i < 300; ++i) {  // ~300 KiB: several rollovers
      ASSERT_TRUE(append_one(*db, make_event("filler", EV::any(), key, std::string(1000, 'f'))));
    }
    auto last = append_one(*db, make_event("filler", EV::any(), key));
    ASSERT_TRUE(last);
    ASSERT_GT(last->segment_id, m1.segment_id + 2);
    auto again = append_many(*db, resent(evs));
    ASSERT_TRUE(again) << again.error().to_string();
    expect_same_result(m1, *again);
    auto s2 = append_one(*db, resent({one}).front());
    ASSERT_TRUE(s2) << s2.error().to_string();
    expect_same_result(s1, *s2);
    NewEvent clash = one;
    clash.payload = "not the same";
    auto c = append_one(*db, clash);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, Errc::DuplicateEventId);
  }
  auto db = open_db(dir.path(), builder());
  ASSERT_TRUE(db);
  const auto before = partition_seq(*db, pid);
  auto again = append_many(*db, resent(evs));
  ASSERT_TRUE(again) << again.error().to_string();
  expect_same_result(m1, *again);
  auto s2 = append_one(*db, resent({one}).front());
  ASSERT_TRUE(s2) << s2.error().to_string();
  expect_same_result(s1, *s2);
  auto c = append_many(*db, {evs[1], evs[2]});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::DuplicateEventId);
  EXPECT_EQ(partition_seq(*db, pid), before);
  for (const NewEvent& e : evs) EXPECT_EQ(count_id(*db, pid, e.event_id), 1u);
}

// Collects async append outcomes.
struct Outcomes {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<AppendResult>>> results;
  explicit Outcomes(size_t n) : results(n) {}
  Database::AppendCallback slot(size_t i) {
    return [this, i](Result<AppendResult> r) {
      std::lock_guard lock(mu);
      results[i] = std::move(r);
      cv.notify_all();
    };
  }
  bool wait_all() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] {
      for (const auto& r : results) {
        if (!r) return false;
      }
      return true;
    });
  }
};

// Two copies of a transaction in one group-commit batch: the second is a retry of the first.
TEST(EventIds, SecondCopyInOneBatchIsARetry) {
  TempDir dir;
  auto db = open_db(dir.path(),
                    DatabaseBuilder().total_buckets(1).writer_threads(1).flush_interval_duration(
                        std::chrono::milliseconds(50)));
  ASSERT_TRUE(db);
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  const auto evs = multi(key, "batch");
  auto clash = evs;
  clash[1].payload = "different";
  Outcomes out(3);
  db->append_events_async(pid, make_tx(evs), out.slot(0));
  db->append_events_async(pid, make_tx(resent(evs)), out.slot(1));
  db->append_events_async(pid, make_tx(clash), out.slot(2));
  ASSERT_TRUE(out.wait_all());
  ASSERT_TRUE(*out.results[0]) << out.results[0]->error().to_string();
  ASSERT_TRUE(*out.results[1]) << out.results[1]->error().to_string();
  expect_same_result(**out.results[0], **out.results[1]);
  ASSERT_FALSE(*out.results[2]);
  EXPECT_EQ(out.results[2]->error().code, Errc::DuplicateEventId);
  EXPECT_EQ(scan_partition(*db, pid).size(), evs.size());
}

// A rejection computed against a staged write is sent only once that write is visible: the
// rejected client's next read never sees a version below the one the rejection named.
TEST(EventIds, RejectionIsSentOnlyOnceItsCauseIsVisible) {
  TempDir dir;
  auto db = open_db(dir.path(),
                    DatabaseBuilder().total_buckets(1).writer_threads(1).flush_interval_duration(
                        std::chrono::milliseconds(20)));
  ASSERT_TRUE(db);
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  constexpr size_t kRounds = 20;
  std::mutex mu;
  std::vector<std::string> problems;
  size_t rejected = 0;
  Outcomes out(2 * kRounds);
  for (size_t i = 0; i < kRounds; ++i) {
    // Both expect version i - 1: the first wins, the second conflicts with it while staged.
    const EV expected = i == 0 ? EV::empty() : EV::exact(i - 1);
    db->append_events_async(pid, make_tx({make_event("hot", expected, key)}), out.slot(2 * i));
    auto record = out.slot(2 * i + 1);
    db->append_events_async(
        pid, make_tx({make_event("hot", expected, key)}), [&, i, record](Result<AppendResult> r) {
          if (!r && r.error().code == Errc::WrongExpectedVersion) {
            auto v = db->get_stream_version(pid, "hot");
            std::lock_guard lock(mu);
            ++rejected;
            const std::string named = "current stream version is " + std::to_string(i);
            if (r.error().message.find(named) == std::string::npos) {
              problems.push_back("round " + std::to_string(i) + ": " + r.error().message);
            } else if (!v || !*v || (*v)->version < i) {
              problems.push_back("round " + std::to_string(i) + ": rejection sent before version " +
                                 std::to_string(i) + " was visible");
            }
          }
          record(std::move(r));
        });
  }
  ASSERT_TRUE(out.wait_all());
  std::lock_guard lock(mu);
  EXPECT_EQ(rejected, kRounds);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

// The batch that a deferred answer rested on fails: the deferred transactions are checked again
// against the durable state. Here a WRONGVER that named the failed write turns into a success,
// and a retry of the failed transaction is written as a fresh one.
TEST(EventIds, DeferredAnswersAreRecheckedWhenTheirBatchFails) {
  TempDir dir;
  auto env = std::make_shared<HookEnv>();  // this database's disk, with a sync fault below
  auto db =
      open_db(dir.path(),
              DatabaseBuilder().total_buckets(1).writer_threads(1).env(env).flush_interval_duration(
                  std::chrono::milliseconds(50)));
  ASSERT_TRUE(db);
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  ASSERT_TRUE(append_one(*db, make_event("s", EV::empty(), key)));
  std::atomic<int> fail{1};
  env->set([&](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Sync && p.filename() == "data.evts" && fail.fetch_sub(1) > 0 ? EIO
                                                                                           : 0;
  });
  const NewEvent a = make_event("s", EV::exact(0), key, "a");
  const NewEvent b = make_event("s", EV::exact(0), key, "b");
  NewEvent a_again = a;  // same id and content: a retry of `a` while it is staged
  a_again.expected_version = EV::any();
  Outcomes out(3);
  db->append_events_async(pid, make_tx({a}), out.slot(0));
  db->append_events_async(pid, make_tx({b}), out.slot(1));
  db->append_events_async(pid, make_tx({a_again}), out.slot(2));
  ASSERT_TRUE(out.wait_all());
  env->clear();
  ASSERT_FALSE(*out.results[0]) << "the batch's write was meant to fail";
  EXPECT_EQ(out.results[0]->error().code, Errc::Io);
  // b conflicted with a while a was staged; a never became durable, so b is accepted.
  ASSERT_TRUE(*out.results[1]) << out.results[1]->error().to_string();
  EXPECT_EQ((*out.results[1])->stream_versions, std::vector<uint64_t>{1});
  // a_again was a retry of a staged transaction that failed: written now, as a new one.
  ASSERT_TRUE(*out.results[2]) << out.results[2]->error().to_string();
  EXPECT_FALSE((*out.results[2])->retry);
  EXPECT_EQ((*out.results[2])->stream_versions, std::vector<uint64_t>{2});
  const auto stream = scan_stream(*db, pid, "s");
  ASSERT_EQ(versions(stream), iota_vec(0, 3));
  EXPECT_EQ(stream[1].payload, "b");
  EXPECT_EQ(stream[2].event_id, a.event_id);
}

// Rewrites a format-2 event index file as format 1 (no Bloom filter), as older versions wrote it.
void downgrade_event_index(const fs::path& path) {
  auto f = File::open(path, File::Mode::ReadWrite);
  ASSERT_TRUE(f);
  auto size = f->size();
  ASSERT_TRUE(size);
  std::vector<uint8_t> b(*size);
  ASSERT_TRUE(f->pread_exact(b.data(), b.size(), 0));
  auto u64 = [&](size_t at) {
    uint64_t v;
    std::memcpy(&v, b.data() + at, 8);
    return v;
  };
  auto put32 = [](std::vector<uint8_t>& v, size_t at, uint32_t x) { std::memcpy(&v[at], &x, 4); };
  auto put64 = [](std::vector<uint8_t>& v, size_t at, uint64_t x) { std::memcpy(&v[at], &x, 8); };
  ASSERT_EQ(b[4], 2);
  const uint64_t n = u64(8), mphf = u64(16), bloom = u64(24);
  ASSERT_GT(bloom, 0u);
  std::vector<uint8_t> out(b.begin(), b.begin() + 64 + mphf);
  out.insert(out.end(), b.begin() + 64 + mphf + bloom, b.begin() + 64 + mphf + bloom + n * 28);
  out.resize(out.size() + 8);
  put32(out, 4, 1);
  put64(out, 24, 0);
  put64(out, 32, 64 + mphf);
  put64(out, 40, 64 + mphf + n * 28);
  put64(out, 48, out.size());
  uint32_t crc = crc32c::value(out.data(), 60);
  crc = crc32c::extend(crc, out.data() + 64, mphf);
  put32(out, 60, crc);
  put32(out, out.size() - 8, crc32c::value(out.data(), out.size() - 8));
  std::memcpy(out.data() + out.size() - 4, "EIDX", 4);
  ASSERT_TRUE(write_file_atomically(path, out));
}

TEST(EventIds, OldEventIndexWithoutBloomStillOpensAndChecks) {
  TempDir dir;
  const auto builder = [] {
    return DatabaseBuilder().segment_size(64 * 1024).total_buckets(1).writer_threads(1);
  };
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key);
  const NewEvent one = make_event("old-format", EV::empty(), key);
  AppendResult s1;
  {
    auto db = open_db(dir.path(), builder());
    ASSERT_TRUE(db);
    auto s = append_one(*db, one);
    ASSERT_TRUE(s);
    s1 = *s;
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(append_one(*db, make_event("filler", EV::any(), key, std::string(1000, 'f'))));
    }
  }
  const fs::path eidx = get_path(dir.path(), 0, s1.segment_id, SegmentKind::EventIndex);
  ASSERT_TRUE(fs::exists(eidx));
  {
    auto file = EventIndexFile::open(eidx);
    ASSERT_TRUE(file) << file.error().to_string();
    EXPECT_TRUE((*file)->has_bloom());
  }
  downgrade_event_index(eidx);
  {
    auto file = EventIndexFile::open(eidx);
    ASSERT_TRUE(file) << file.error().to_string();
    EXPECT_FALSE((*file)->has_bloom());
    EXPECT_TRUE((*file)->verify());
    auto got = (*file)->get(one.event_id);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, std::optional<uint64_t>(s1.offsets.front()));
    auto absent = (*file)->get(uuid_v4());
    ASSERT_TRUE(absent);
    EXPECT_FALSE(*absent);
  }
  auto db = open_db(dir.path(), builder());
  ASSERT_TRUE(db);
  auto again = append_one(*db, resent({one}).front());
  ASSERT_TRUE(again) << again.error().to_string();
  expect_same_result(s1, *again);
  EXPECT_EQ(count_id(*db, pid, one.event_id), 1u);
  // The old file is rewritten in format 2 in the background.
  bool upgraded = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!upgraded && std::chrono::steady_clock::now() < deadline) {
    auto file = EventIndexFile::open(eidx);
    upgraded = file && (*file)->has_bloom();
    if (!upgraded) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(upgraded) << "the format-1 event index was not rewritten";
  auto third = append_one(*db, resent({one}).front());
  ASSERT_TRUE(third) << third.error().to_string();
  expect_same_result(s1, *third);
}

TEST(EventIds, BloomRejectsAbsentIdsWithoutFalseNegatives) {
  TempDir dir;
  LiveEventIndex idx;
  std::vector<Uuid> ids;
  for (uint64_t i = 0; i < 5000; ++i) {
    ids.push_back(uuid_v4());
    idx.insert(ids.back(), i * 100 + 64);
  }
  const fs::path path = dir.path() / "index.eidx";
  ASSERT_TRUE(EventIndexFile::write(path, idx));
  auto file = EventIndexFile::open(path);
  ASSERT_TRUE(file) << file.error().to_string();
  ASSERT_TRUE((*file)->has_bloom());
  for (uint64_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE((*file)->may_contain(ids[i]));
    auto got = (*file)->get(ids[i]);
    ASSERT_TRUE(got);
    ASSERT_EQ(*got, std::optional<uint64_t>(i * 100 + 64));
  }
  size_t positives = 0;
  for (int i = 0; i < 10000; ++i) positives += (*file)->may_contain(uuid_v4()) ? 1 : 0;
  EXPECT_LT(positives, 300u);  // 1 % target: ~100 expected
}

}  // namespace
}  // namespace sierra
