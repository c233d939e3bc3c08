// Power-loss tests: client threads append (single and multi-event transactions, several
// partitions and buckets, 64 KiB segments so that rollovers and index file writes are in the
// mix) under a PowerLossRecorder (power_loss_util.hpp), which at a random moment copies the data
// directory and applies a simulated power loss to the copy (unsynced bytes dropped, torn or
// garbled; directory entries not yet fsynced dropped). The copy is opened with a fresh Database
// and checked against the acknowledged appends: every acknowledged event is there with its
// acknowledged sequence and version, byte for byte; sequences and versions are gapless; an
// unacknowledged transaction is either wholly present or wholly absent. Sometimes the recovery
// itself is crashed once more before the check. The next cycle continues on the recovered copy.
//
// Seeds: SIERRA_TEST_SEED=<n> runs that one seed; otherwise a fixed list plus a time-based one.
// SIERRA_POWERLOSS_CYCLES=<n> changes the number of crash cycles per seed.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <unordered_map>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/power_loss_util.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_test_util.hpp"
#include "support/eventually.hpp"

namespace sierra {
namespace {

using namespace dbtest;
using powerloss::PowerLossRecorder;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr uint16_t kPlPartitions = 8;
constexpr uint16_t kPlBuckets = 4;
constexpr uint64_t kPlSegment = 64 * 1024;
constexpr int kClients = 4;
constexpr int kKeys = 3;  // clients 0 and 3 share a partition
constexpr int kStreamsPerClient = 3;
constexpr size_t kInFlight = 3;           // asynchronous appends per client
constexpr size_t kMaxTxPerClient = 2500;  // per cycle, in case the crash point is never reached

// `env`: the database's filesystem (a PowerLossRecorder's env(); null: the real one).
DatabaseBuilder pl_builder(std::shared_ptr<Env> env = nullptr) {
  return DatabaseBuilder()
      .segment_size(kPlSegment)
      .partition_count(kPlPartitions)
      .total_buckets(kPlBuckets)
      .log_sink(quiet_log)
      .env(std::move(env));
}

uint64_t time_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::vector<uint64_t> seeds_to_run() {
  if (const char* s = std::getenv("SIERRA_TEST_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {1, 2, 3, 20240607, time_seed()};
}

int cycles_per_seed() {
  if (const char* s = std::getenv("SIERRA_POWERLOSS_CYCLES")) return std::atoi(s);
  return 5;
}

std::string client_stream(int client, int s) {
  return "c" + std::to_string(client) + "-s" + std::to_string(s);
}

// An event whose place is known (acknowledged, or found by an earlier recovery).
struct Known {
  NewEvent ev;
  PartitionId pid = 0;
  uint64_t seq = 0;
  uint64_t version = 0;
  Uuid txid;
};

struct SubmittedTx {
  PartitionId pid = 0;
  std::vector<NewEvent> events;
  Uuid txid;
  bool done = false;
  bool acked = false;
  // From the AppendResult.
  uint64_t first_seq = 0;
  std::vector<uint64_t> versions;
  SegmentId segment = 0;
};

void expect_same_event(const EventRecord& got, const NewEvent& want, PartitionId pid) {
  EXPECT_EQ(got.event_id, want.event_id);
  EXPECT_EQ(got.partition_key, want.partition_key);
  EXPECT_EQ(got.partition_id, pid);
  EXPECT_EQ(got.stream_id, want.stream_id);
  EXPECT_EQ(got.event_name, want.event_name);
  EXPECT_EQ(got.timestamp_ns, want.timestamp_ns);
  EXPECT_EQ(got.metadata, want.metadata) << "metadata differs";
  EXPECT_EQ(got.payload, want.payload) << "payload differs";
}

struct Stats {
  size_t cycles = 0;
  size_t acked_tx = 0;
  size_t unacked_present_tx = 0;
  size_t unacked_absent_tx = 0;
  size_t double_crashes = 0;
  size_t crash_now = 0;
  size_t dropped_entries = 0;
  size_t torn_files = 0;
  uint64_t unsynced_bytes = 0;  // written but not synced at the crashes
  uint64_t lost_bytes = 0;      // of those, taken by the power losses
  size_t crashed_cycles = 0;    // cycles whose recorder did crash
  size_t max_segment = 0;
  std::map<std::string, size_t> triggers;  // kind of operation the crash hit
  std::string triggers_text() const {
    std::string out;
    for (const auto& [k, n] : triggers)
      out += (out.empty() ? "" : ", ") + k + " " + std::to_string(n);
    return out;
  }
};

class PowerLossRun {
 public:
  PowerLossRun(uint64_t seed, fs::path base) : rng_(seed), base_(std::move(base)) {
    // Keys in three different buckets (so two writer threads are busy).
    std::set<BucketId> buckets;
    while (keys_.size() < kKeys) {
      Uuid k;
      for (auto& b : k.bytes) b = static_cast<uint8_t>(rng_());
      const PartitionId pid = pid_of(k, kPlPartitions);
      if (buckets.insert(bucket_for_partition(pid, kPlBuckets)).second) {
        keys_.push_back(k);
        pids_.push_back(pid);
      }
    }
  }

  void run(int cycles) {
    fs::path live = base_ / "live0";
    fs::create_directories(live);
    for (int c = 0; c < cycles; ++c) {
      SCOPED_TRACE("cycle " + std::to_string(c));
      fs::path next = base_ / ("snap" + std::to_string(c));
      ASSERT_NO_FATAL_FAILURE(cycle(live, next));
      std::error_code ec;
      fs::remove_all(live, ec);
      live = next;
      ++stats_.cycles;
      if (::testing::Test::HasFailure()) return;
    }
  }

  Stats stats_;

 private:
  uint64_t pick(uint64_t n) { return rng_() % n; }

  std::string random_bytes(size_t n, std::mt19937_64& rng) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    return s;
  }

  void cycle(const fs::path& live, const fs::path& snap) {
    txs_.clear();
    PowerLossRecorder rec(live, snap, rng_());
    // Crash points: a segment fdatasync (a group commit written, not yet durable nor
    // acknowledged), or any hooked operation (creations, renames, index files, directories).
    if (pick(100) < 65) {
      rec.arm(PowerLossRecorder::Trigger::SegmentSync, 1 + pick(300));
    } else {
      rec.arm(PowerLossRecorder::Trigger::AnyOp, 1 + pick(1200));
    }
    rec.install();
    {
      auto db = pl_builder(rec.env()).open(live);
      if (!db) {
        // Only a crash during open may make it fail.
        ASSERT_TRUE(rec.crashed()) << "open failed: " << db.error().to_string();
      } else {
        std::vector<std::thread> clients;
        std::vector<uint64_t> client_seeds;
        for (int t = 0; t < kClients; ++t) client_seeds.push_back(rng_());
        for (int t = 0; t < kClients; ++t) {
          clients.emplace_back([&, t] { client(**db, rec, t, client_seeds[t]); });
        }
        for (auto& th : clients) th.join();
        if (rec.crash_now()) ++stats_.crash_now;
        (*db)->close();
      }
    }
    rec.uninstall();
    if (rec.crashed()) ++stats_.crashed_cycles;
    const auto report = rec.report();
    ++stats_.triggers[report.trigger_kind];
    stats_.dropped_entries += report.dropped.size();
    stats_.torn_files += report.file_fates.size();
    stats_.unsynced_bytes += report.unsynced_bytes;
    stats_.lost_bytes += report.lost_bytes;
    SCOPED_TRACE(report.summary());

    fs::path to_check = snap;
    if (pick(100) < 30) {
      // Crash the recovery too: open the crashed copy under a second recorder that crashes
      // within its first operations (truncating the torn tail, rebuilding index files ...).
      ++stats_.double_crashes;
      const fs::path snap2 = snap.string() + "-again";
      {
        PowerLossRecorder rec2(snap, snap2, rng_());
        rec2.arm(PowerLossRecorder::Trigger::AnyOp, 1 + pick(12));
        rec2.install();
        auto db = pl_builder(rec2.env()).open(snap);
        if (db) {
          rec2.crash_now();
          (*db)->close();
        } else {
          EXPECT_TRUE(rec2.crashed()) << "open failed: " << db.error().to_string();
        }
        rec2.uninstall();
        ++stats_.triggers["recovery: " + rec2.report().trigger_kind];
        stats_.unsynced_bytes += rec2.report().unsynced_bytes;
        stats_.lost_bytes += rec2.report().lost_bytes;
        SCOPED_TRACE("second crash: " + rec2.report().summary());
      }
      std::error_code ec;
      fs::remove_all(snap, ec);
      fs::rename(snap2, snap);
    }
    ASSERT_NO_FATAL_FAILURE(verify(to_check));
  }

  // One client: appends to its own streams (exact expected versions or any), up to kInFlight at
  // a time, until an append fails (the crash) or kMaxTxPerClient.
  void client(Database& db, PowerLossRecorder& rec, int t, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const Uuid key = keys_[t % kKeys];
    const PartitionId pid = pids_[t % kKeys];
    std::map<std::string, uint64_t> next;
    {
      std::lock_guard lock(mu_);
      for (int s = 0; s < kStreamsPerClient; ++s) {
        next[client_stream(t, s)] = stream_len_[{pid, client_stream(t, s)}];
      }
    }
    std::deque<std::future<bool>> inflight;
    bool failed = false;
    for (size_t i = 0; i < kMaxTxPerClient && !failed; ++i) {
      const size_t n = rng() % 10 < 6 ? 1 : 2 + rng() % 3;
      auto tx = std::make_shared<SubmittedTx>();
      tx->pid = pid;
      for (size_t j = 0; j < n; ++j) {
        NewEvent e;
        e.partition_key = key;
        e.event_id = new_event_id(partition_hash(key));
        e.stream_id = client_stream(t, static_cast<int>(rng() % kStreamsPerClient));
        e.expected_version = rng() % 10 < 7 ? EV::from_next_version(next[e.stream_id]) : EV::any();
        ++next[e.stream_id];
        e.event_name = "ev" + std::to_string(rng() % 100);
        e.timestamp_ns = rng() >> 2;
        e.metadata = random_bytes(rng() % 30, rng);
        e.payload = random_bytes(rng() % 10 == 0 ? 3000 + rng() % 6000 : 20 + rng() % 1500, rng);
        tx->events.push_back(std::move(e));
      }
      auto made = Transaction::make(tx->events);
      if (!made) {
        ADD_FAILURE() << made.error().to_string();
        return;
      }
      tx->txid = made->id();
      {
        std::lock_guard lock(mu_);
        txs_.push_back(tx);
      }
      auto promise = std::make_shared<std::promise<bool>>();
      inflight.push_back(promise->get_future());
      db.append_events_async(pid, std::move(*made), [&rec, tx, promise](Result<AppendResult> r) {
        if (r) {
          tx->first_seq = r->first_partition_sequence;
          tx->versions = r->stream_versions;
          tx->segment = r->segment_id;
          tx->acked = true;
        } else if (!rec.crashed()) {
          ADD_FAILURE() << "append failed before the crash: " << r.error().to_string();
        }
        tx->done = true;
        promise->set_value(r.has_value());
      });
      while (inflight.size() >= kInFlight || (failed && !inflight.empty())) {
        if (!test_support::get_within(inflight.front(), "an append")) failed = true;
        inflight.pop_front();
      }
      if (rec.crashed()) failed = true;
    }
    for (auto& f : inflight) test_support::get_within(f, "an append");
  }

  void check_known(const EventRecord& got, const Known& k) {
    expect_same_event(got, k.ev, k.pid);
    EXPECT_EQ(got.partition_sequence, k.seq);
    EXPECT_EQ(got.stream_version, k.version);
    EXPECT_EQ(got.tx.transaction_id, k.txid);
  }

  void verify(const fs::path& dir) {
    auto opened = pl_builder().open(dir);
    ASSERT_TRUE(opened) << "open after power loss: " << opened.error().to_string();
    Database& db = **opened;
    std::unordered_map<Uuid, const SubmittedTx*, UuidHash> by_txid;
    for (const auto& tx : txs_) {
      EXPECT_TRUE(tx->done);
      by_txid[tx->txid] = tx.get();
    }
    std::unordered_map<Uuid, Known, UuidHash> present;
    std::set<Uuid> present_tx;
    for (PartitionId pid : pids_) {
      SCOPED_TRACE("partition " + std::to_string(pid));
      const auto all = scan_partition(db, pid);
      ASSERT_EQ(sequences(all), iota_vec(0, all.size())) << "sequences not gapless";
      auto latest = db.get_partition_sequence(pid);
      ASSERT_TRUE(latest);
      EXPECT_EQ(*latest, all.empty() ? std::nullopt : std::optional<uint64_t>(all.size() - 1));
      for (size_t i = 0; i < all.size();) {
        const EventRecord& r = all[i];
        if (auto k = known_.find(r.event_id); k != known_.end()) {
          check_known(r, k->second);
          present[r.event_id] = k->second;
          ++i;
          continue;
        }
        auto t = by_txid.find(r.tx.transaction_id);
        ASSERT_NE(t, by_txid.end()) << "unknown event at sequence " << i;
        const SubmittedTx& tx = *t->second;
        ASSERT_EQ(tx.pid, pid);
        ASSERT_LE(i + tx.events.size(), all.size())
            << "partial transaction at the end (sequence " << i << ")";
        EXPECT_TRUE(present_tx.insert(tx.txid).second) << "transaction present twice";
        for (size_t j = 0; j < tx.events.size(); ++j) {
          const EventRecord& e = all[i + j];
          ASSERT_EQ(e.event_id, tx.events[j].event_id)
              << "transaction not whole/contiguous at sequence " << i + j;
          ASSERT_EQ(e.tx.transaction_id, tx.txid);
          expect_same_event(e, tx.events[j], pid);
          if (tx.acked) {
            EXPECT_EQ(e.partition_sequence, tx.first_seq + j);
            EXPECT_EQ(e.stream_version, tx.versions[j]);
          }
          present[e.event_id] =
              Known{tx.events[j], pid, e.partition_sequence, e.stream_version, tx.txid};
        }
        if (!tx.acked) ++stats_.unacked_present_tx;
        i += tx.events.size();
      }
    }
    // Nothing known or acknowledged is lost.
    size_t lost_known = 0;
    for (const auto& [id, k] : known_) lost_known += present.contains(id) ? 0 : 1;
    EXPECT_EQ(lost_known, 0u) << "events lost that an earlier recovery had found";
    size_t lost = 0;
    std::string first_lost;
    for (const auto& tx : txs_) {
      if (tx->acked) {
        ++stats_.acked_tx;
        for (const auto& e : tx->events) {
          if (!present.contains(e.event_id) && lost++ == 0) {
            first_lost = e.stream_id + " (partition " + std::to_string(tx->pid) + ", sequence " +
                         std::to_string(tx->first_seq) + ", segment " +
                         std::to_string(tx->segment) + ")";
          }
        }
      } else if (!present_tx.contains(tx->txid)) {
        ++stats_.unacked_absent_tx;
      }
    }
    EXPECT_EQ(lost, 0u) << "acknowledged events lost, the first: " << first_lost;
    if (::testing::Test::HasFailure()) return;
    // Every event by id.
    for (const auto& [id, k] : present) {
      auto got = db.read_event(k.pid, id);
      ASSERT_TRUE(got) << got.error().to_string();
      ASSERT_TRUE(got->has_value());
      check_known(**got, k);
    }
    // Streams: gapless versions, forward and reverse scans, latest version.
    std::map<std::pair<PartitionId, std::string>, std::vector<const Known*>> streams;
    for (int t = 0; t < kClients; ++t) {
      for (int s = 0; s < kStreamsPerClient; ++s) streams[{pids_[t % kKeys], client_stream(t, s)}];
    }
    for (const auto& [id, k] : present) streams[{k.pid, k.ev.stream_id}].push_back(&k);
    std::map<std::pair<PartitionId, std::string>, uint64_t> lens;
    for (auto& [ref, evs] : streams) {
      SCOPED_TRACE("stream " + ref.second);
      std::sort(evs.begin(), evs.end(),
                [](const Known* a, const Known* b) { return a->seq < b->seq; });
      for (size_t v = 0; v < evs.size(); ++v) ASSERT_EQ(evs[v]->version, v) << "versions gap";
      const auto fwd = scan_stream(db, ref.first, ref.second, 0);
      ASSERT_EQ(fwd.size(), evs.size());
      for (size_t v = 0; v < fwd.size(); ++v) check_known(fwd[v], *evs[v]);
      const auto rev = scan_stream(db, ref.first, ref.second, UINT64_MAX, true);
      ASSERT_EQ(rev.size(), evs.size());
      for (size_t v = 0; v < rev.size(); ++v) check_known(rev[v], *evs[evs.size() - 1 - v]);
      auto ver = db.get_stream_version(ref.first, ref.second);
      ASSERT_TRUE(ver) << ver.error().to_string();
      if (evs.empty()) {
        EXPECT_FALSE(ver->has_value());
      } else {
        ASSERT_TRUE(ver->has_value());
        EXPECT_EQ((*ver)->version, evs.size() - 1);
      }
      lens[ref] = evs.size();
    }
    for (PartitionId pid : pids_) {
      auto segs = list_segment_ids(dir, bucket_for_partition(pid, kPlBuckets));
      if (segs && !segs->empty()) {
        stats_.max_segment = std::max<size_t>(stats_.max_segment, segs->back());
      }
    }
    db.close();
    known_ = std::move(present);
    stream_len_ = std::move(lens);
  }

  std::mt19937_64 rng_;
  fs::path base_;
  std::vector<Uuid> keys_;
  std::vector<PartitionId> pids_;
  std::unordered_map<Uuid, Known, UuidHash> known_;
  std::map<std::pair<PartitionId, std::string>, uint64_t> stream_len_;
  std::mutex mu_;
  std::vector<std::shared_ptr<SubmittedTx>> txs_;  // of the current cycle
};

TEST(PowerLoss, RandomCrashesKeepEveryAcknowledgedAppend) {
  const int cycles = cycles_per_seed();
  size_t total_cycles = 0;
  uint64_t total_unsynced = 0;
  uint64_t total_lost = 0;
  size_t total_crashes = 0;
  for (uint64_t seed : seeds_to_run()) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with SIERRA_TEST_SEED=" + std::to_string(seed) + ")");
    segtest::TempDir dir(segtest::TempDir::kMemory);
    PowerLossRun run(seed, dir.path());
    const auto start = std::chrono::steady_clock::now();
    run.run(cycles);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    const Stats& s = run.stats_;
    std::printf(
        "  seed %llu: %zu cycles, %zu acked tx, unacked tx present %zu / absent %zu, %zu torn "
        "files, %llu of %llu unsynced bytes lost, %zu dropped entries, %zu double crashes, %zu "
        "crash_now, segments up to %zu, %lld ms\n    crash points: %s\n",
        static_cast<unsigned long long>(seed), s.cycles, s.acked_tx, s.unacked_present_tx,
        s.unacked_absent_tx, s.torn_files, static_cast<unsigned long long>(s.lost_bytes),
        static_cast<unsigned long long>(s.unsynced_bytes), s.dropped_entries, s.double_crashes,
        s.crash_now, s.max_segment, static_cast<long long>(ms), s.triggers_text().c_str());
    total_cycles += s.cycles;
    total_unsynced += s.unsynced_bytes;
    total_lost += s.lost_bytes;
    total_crashes += s.crashed_cycles;
    if (HasFailure()) {
      std::fprintf(stderr, "PowerLoss failed with seed %llu\n",
                   static_cast<unsigned long long>(seed));
      return;
    }
  }
  // The harness proves itself: every cycle crashed (once, or twice with a crashed recovery),
  // and over a run of some length the crashes found unsynced bytes and the losses took some.
  // (A single short replayed run may legitimately lose none: then only the crashes are checked.)
  EXPECT_EQ(total_crashes, total_cycles) << "a cycle ended without a crash";
  if (total_cycles >= 10) {
    EXPECT_GT(total_unsynced, 0u) << "no crash ever found unsynced bytes";
    EXPECT_GT(total_lost, 0u) << "no power loss dropped or damaged an unsynced byte";
  }
}

// After an append is acknowledged, losing every unsynced byte and every directory entry that
// was not fsynced must not lose it: the bucket directories created with the first segment must
// be durable too (they were not: only the segment directory and its parent were fsynced).
TEST(PowerLoss, WorstCaseLossRightAfterTheFirstAppends) {
  segtest::TempDir dir(segtest::TempDir::kMemory);
  const fs::path live = dir.path() / "live";
  const fs::path snap = dir.path() / "snap";
  fs::create_directories(live);
  std::vector<NewEvent> acked;
  {
    PowerLossRecorder rec(live, snap, 7);
    rec.force_worst_case();
    rec.install();
    auto db = pl_builder(rec.env()).open(live);
    ASSERT_TRUE(db) << db.error().to_string();
    for (int i = 0; i < 6; ++i) {
      NewEvent e =
          make_event("s" + std::to_string(i), EV::empty(), std::nullopt, std::string(100 + i, 'p'));
      auto r = (*db)->append_events(pid_of(e.partition_key, kPlPartitions), make_tx({e}));
      ASSERT_TRUE(r) << r.error().to_string();
      acked.push_back(e);
    }
    ASSERT_TRUE(rec.crash_now());
    (*db)->close();
    rec.uninstall();
    std::printf("  %s\n", rec.report().summary().c_str());
  }
  auto db = pl_builder().open(snap);
  ASSERT_TRUE(db) << db.error().to_string();
  for (const NewEvent& e : acked) {
    auto got = (*db)->read_event(pid_of(e.partition_key, kPlPartitions), e.event_id);
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_TRUE(got->has_value()) << "acknowledged event of stream " << e.stream_id << " lost";
  }
}

// The same after a rollover: the new segment's file and directory are durable before anything
// in it is acknowledged, and the closed segment's index files are either complete or absent.
TEST(PowerLoss, WorstCaseLossAfterRollovers) {
  segtest::TempDir dir(segtest::TempDir::kMemory);
  const fs::path live = dir.path() / "live";
  const fs::path snap = dir.path() / "snap";
  fs::create_directories(live);
  std::vector<NewEvent> acked;
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key, kPlPartitions);
  {
    PowerLossRecorder rec(live, snap, 8);
    rec.force_worst_case();
    rec.install();
    auto db = pl_builder(rec.env()).open(live);
    ASSERT_TRUE(db) << db.error().to_string();
    SegmentId seg = 0;
    for (int i = 0; seg < 3; ++i) {
      NewEvent e = make_event("s", EV::from_next_version(i), key, std::string(7000, 'q'));
      auto r = (*db)->append_events(pid, make_tx({e}));
      ASSERT_TRUE(r) << r.error().to_string();
      seg = r->segment_id;
      acked.push_back(e);
    }
    ASSERT_TRUE(rec.crash_now());
    (*db)->close();
    rec.uninstall();
    std::printf("  %s\n", rec.report().summary().c_str());
  }
  auto db = pl_builder().open(snap);
  ASSERT_TRUE(db) << db.error().to_string();
  const auto all = scan_partition(**db, pid);
  ASSERT_EQ(all.size(), acked.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].event_id, acked[i].event_id);
    EXPECT_EQ(all[i].stream_version, i);
  }
}

// Found by the power-loss test (every operation fails after the crash): a failed fdatasync
// followed by a failed reopen of the segment left the bucket without a writer, and the next
// append dereferenced it (SIGSEGV). Now every append fails with the I/O error until the disk
// works again, and then the bucket recovers.
TEST(PowerLossFaults, PersistentSyncFailureFailsAppendsWithoutCrashing) {
  segtest::TempDir dir(segtest::TempDir::kMemory);
  auto env = std::make_shared<HookEnv>();
  auto db = pl_builder(env).open(dir.path());
  ASSERT_TRUE(db) << db.error().to_string();
  const Uuid key = uuid_v4();
  const PartitionId pid = pid_of(key, kPlPartitions);
  ASSERT_TRUE((*db)->append_events(pid, make_tx({make_event("s", EV::empty(), key)})));
  env->set([](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op != HookEnv::Op::Write && p.filename() == "data.evts" ? EIO : 0;
  });
  for (int i = 0; i < 3; ++i) {
    auto r = (*db)->append_events(pid, make_tx({make_event("s", EV::any(), key)}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::Io) << r.error().to_string();
  }
  env->clear();
  // Each failed append hit the fault at least once (its sync, then the reopen's truncate).
  EXPECT_GE(env->injected(), 3u);
  EXPECT_GE(env->injected(HookEnv::Op::Sync), 1u);
  auto r = (*db)->append_events(pid, make_tx({make_event("s", EV::exact(0), key)}));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->first_partition_sequence, 1u);
  (*db)->close();
  auto again = pl_builder().open(dir.path());
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(versions(scan_stream(**again, pid, "s")), iota_vec(0, 2));
}

// Found by the power-loss test: a crash during a rollover, in the fdatasync of the new segment's
// header, can leave a header-sized file whose bytes never reached the disk (zeros) or are torn.
// Open failed with CorruptHeader: the database would not start. Such a file never held a record
// (the header is durable before any record is written) and is now dropped like a shorter one.
// A damaged header of a segment that holds records is still an error.
TEST(PowerLossRecovery, TornHeaderSizedNewSegmentIsDropped) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    segtest::TempDir dir(segtest::TempDir::kMemory);
    const Uuid key = uuid_v4();
    const PartitionId pid = pid_of(key, kPlPartitions);
    const BucketId bucket = bucket_for_partition(pid, kPlBuckets);
    std::vector<Uuid> ids;
    SegmentId live = 0;
    {
      auto db = pl_builder().open(dir.path());
      ASSERT_TRUE(db) << db.error().to_string();
      for (int i = 0; i < 20; ++i) {
        NewEvent e = make_event("s", EV::any(), key, std::string(5000, 'x'));
        ids.push_back(e.event_id);
        auto r = (*db)->append_events(pid, make_tx({e}));
        ASSERT_TRUE(r) << r.error().to_string();
        live = r->segment_id;
      }
    }
    ASSERT_GE(live, 1u);
    std::string header(64, '\0');  // variant 0: zeros (data blocks never written)
    {
      std::ifstream in(get_path(dir.path(), bucket, live, SegmentKind::Events), std::ios::binary);
      in.read(header.data(), 64);
    }
    std::mt19937_64 rng(variant);
    if (variant == 1) {
      for (auto& c : header) c = static_cast<char>(rng());  // garbage
    } else if (variant == 2) {
      for (size_t i = 50; i < 64; ++i) header[i] = static_cast<char>(rng());  // torn
    }
    if (variant == 0) header.assign(64, '\0');
    ASSERT_TRUE(ensure_segment_dir(dir.path(), bucket, live + 1));
    {
      std::ofstream f(get_path(dir.path(), bucket, live + 1, SegmentKind::Events),
                      std::ios::binary);
      f << header;
    }
    {
      auto db = pl_builder().open(dir.path());
      ASSERT_TRUE(db) << "open after a torn segment creation: " << db.error().to_string();
      EXPECT_EQ(sequences(scan_partition(**db, pid)), iota_vec(0, 20));
      for (const Uuid& id : ids) EXPECT_TRUE((*db)->read_event(pid, id)->has_value());
      auto r = (*db)->append_events(pid, make_tx({make_event("s", EV::exact(19), key)}));
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_EQ(r->first_partition_sequence, 20u);
    }
    // A damaged header in front of records is corruption, not an interrupted creation.
    {
      const auto path = get_path(dir.path(), bucket, live, SegmentKind::Events);
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(20);
      f.put('\x7f');
    }
    auto db = pl_builder().open(dir.path());
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().code, Errc::CorruptHeader) << db.error().to_string();
  }
}

// The hook extension: Create and Rename reach only hooks that asked for them.
TEST(PowerLossHook, CreateAndRenameOnlyWhenAsked) {
  segtest::TempDir dir;
  using Op = HookEnv::Op;
  std::vector<std::pair<Op, fs::path>> seen;
  std::mutex mu;
  auto hook = [&](Op op, const fs::path& p, uint64_t, size_t) {
    std::lock_guard lock(mu);
    seen.emplace_back(op, p);
    return 0;
  };
  const std::vector<uint8_t> data = {1, 2, 3};
  ASSERT_TRUE(write_file_atomically(dir.path() / "a", data, HookEnv::make(hook)));
  EXPECT_FALSE(seen.empty());
  for (const auto& [op, p] : seen) {
    EXPECT_NE(op, Op::Create);
    EXPECT_NE(op, Op::Rename);
  }
  seen.clear();
  ASSERT_TRUE(
      write_file_atomically(dir.path() / "b", data, HookEnv::make(hook, /*namespace_ops=*/true)));
  std::vector<Op> ops;
  for (const auto& [op, p] : seen) ops.push_back(op);
  EXPECT_EQ(ops, (std::vector<Op>{Op::Create, Op::Write, Op::Sync, Op::Rename, Op::Sync}));
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].second, dir.path() / "b.tmp");
  EXPECT_EQ(seen[3].second, dir.path() / "b");
  EXPECT_EQ(seen[4].second, dir.path());
  // A failing Create or Rename fails the operation and leaves nothing behind.
  for (Op failing : {Op::Create, Op::Rename}) {
    auto env = HookEnv::make(
        [&](Op op, const fs::path&, uint64_t, size_t) { return op == failing ? EIO : 0; }, true);
    auto st = write_file_atomically(dir.path() / "c", data, env);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().sys_errno, EIO);
    EXPECT_EQ(env->injected(failing), 1u);
    EXPECT_FALSE(fs::exists(dir.path() / "c"));
    EXPECT_FALSE(fs::exists(dir.path() / "c.tmp"));
  }
  // A file opened on the real Env reaches no hook.
  seen.clear();
  ASSERT_TRUE(File::open(dir.path() / "d", File::Mode::CreateNew));
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(File::open(dir.path() / "e", File::Mode::CreateNew, HookEnv::make(hook, true)));
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace
}  // namespace sierra
