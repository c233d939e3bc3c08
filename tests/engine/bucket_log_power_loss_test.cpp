// BucketLog under power loss (power_loss_util.hpp): a workload of appends, suffix truncations,
// syncs, applies and vote saves is cut at a random file operation; the surviving files must open
// and hold every entry the last successful sync made durable (up to the truncation in flight),
// followed only by entries of the write in flight, and the last saved vote (or the one in flight).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/bucket_log.hpp"
#include "engine/power_loss_util.hpp"
#include "support/temp_dir.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
using powerloss::PowerLossRecorder;

constexpr uint16_t kPartitions = 4;
constexpr BucketId kBucket = 1;
const Uuid kKey = partition_key_for_stream("bucket-log-power-loss");
const PartitionId kPid = partition_id_for_key(kKey, kPartitions);

// The entry at `index` (term `term`) after `log` (entries 1..index-1): a transaction that
// continues stream "s" gaplessly, or now and then a control entry.
LogEntry next_entry(const std::vector<LogEntry>& log, uint64_t index, uint64_t term,
                    std::mt19937_64& rng) {
  if (rng() % 7 == 0) {
    return LogEntry{term, rng() % 2 ? LogEntryType::Barrier : LogEntryType::Configuration,
                    std::vector<uint8_t>(rng() % 40, static_cast<uint8_t>(index))};
  }
  const size_t events = 1 + rng() % 3;
  std::vector<EventToWrite> evs;
  const std::string body(rng() % 600, 'p');
  std::vector<Uuid> ids;
  for (size_t k = 0; k < events; ++k) ids.push_back(new_event_id(partition_hash(kKey)));
  // Sequences and versions count events, not transactions.
  uint64_t first = 0;
  for (uint64_t i = 0; i + 1 < index; ++i) {
    if (log[i].type != LogEntryType::Transaction) continue;
    auto tx = decode_transaction_entry(log[i].payload);
    first += tx->events.size();
  }
  for (size_t k = 0; k < events; ++k) {
    evs.push_back(
        EventToWrite{ids[k], kKey, kPid, first + k, first + k, 1000 + index, "s", "E", "", body});
  }
  auto p = encode_transaction_entry(TransactionHeader{index, term, new_transaction_id(events == 1)},
                                    2000, evs);
  EXPECT_TRUE(p) << p.error().to_string();
  return LogEntry{term, LogEntryType::Transaction, *p};
}

bool same(const LogEntry& a, const LogEntry& b) {
  return a.term == b.term && a.type == b.type && a.payload == b.payload;
}

BucketLog::Options options(const fs::path& dir, std::shared_ptr<Env> env) {
  BucketLog::Options o;
  o.dir = dir;
  o.bucket_id = kBucket;
  o.partition_count = kPartitions;
  o.segment_size = 8 * 1024;  // rolls often
  o.env = std::move(env);
  return o;
}

struct Stats {
  uint64_t cycles = 0, crashed = 0, lost_bytes = 0, cut_bytes = 0, truncations = 0;
};

void cycle(uint64_t seed, Stats& stats) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  test_support::TempDir root("bucket-log-pl", test_support::TempDir::kMemory);
  const fs::path live = root.path() / "live";
  const fs::path snap = root.path() / "snap";
  fs::create_directories(live);
  PowerLossRecorder rec(live, snap, rng());
  rec.arm(PowerLossRecorder::Trigger::AnyOp, 1 + rng() % 400);
  rec.install();

  std::vector<LogEntry> synced;   // the log as of the last successful sync
  std::vector<LogEntry> written;  // the log as the last append left (or tried to leave) it
  std::vector<std::vector<LogEntry>> since_sync;  // what each append since that sync tried
  uint64_t cut_from = 1;  // lowest index a truncation since that sync removed (+inf: 0)
  bool cut_pending = false;
  VoteState vote_ok, vote_try;
  uint64_t term = 1;
  {
    auto opened = BucketLog::open(options(live, rec.env()));
    if (!opened) {
      ASSERT_TRUE(rec.crashed()) << opened.error().to_string();
    } else {
      auto& log = **opened;
      for (int step = 0; step < 200 && !rec.crashed(); ++step) {
        const uint64_t last = written.size();
        const uint64_t roll = rng() % 100;
        if (roll < 10) {
          vote_try = VoteState{vote_ok.term + 1, 1 + rng() % 3};
          if (!log.save_vote_state(vote_try)) break;
          vote_ok = vote_try;
          term = std::max(term, vote_ok.term);
          continue;
        }
        if (roll < 25) {
          if (!log.apply(log.durable_index(), {})) break;
          continue;
        }
        uint64_t first = last + 1;
        if (roll < 40 && last > log.applied_index()) {
          first = log.applied_index() + 1 + rng() % (last - log.applied_index());
          ++term;  // a new leader's entries
          ++stats.truncations;
          if (!cut_pending || first < cut_from) cut_from = first;
          cut_pending = true;
        }
        std::vector<LogEntry> next(written.begin(), written.begin() + (first - 1));
        const size_t n = 1 + rng() % 5;
        for (size_t k = 0; k < n; ++k) next.push_back(next_entry(next, first + k, term, rng));
        std::vector<LogEntryRef> refs;
        for (size_t k = first - 1; k < next.size(); ++k) {
          refs.push_back(LogEntryRef{next[k].term, next[k].type, next[k].payload});
        }
        written = next;
        since_sync.push_back(next);
        if (!log.append(first, refs)) break;
        if (rng() % 2 == 0) {
          if (!log.sync()) break;
          synced = written;
          since_sync.clear();
          cut_pending = false;
        }
      }
      ASSERT_TRUE(rec.crashed() || log.durable_index() == synced.size());
    }
  }
  rec.crash_now();
  rec.uninstall();
  ++stats.cycles;
  stats.crashed += rec.report().trigger_kind != "crash_now";
  stats.lost_bytes += rec.report().lost_bytes;
  SCOPED_TRACE(rec.report().summary());

  auto reopened = BucketLog::open(options(snap, Env::real()));
  ASSERT_TRUE(reopened) << reopened.error().to_string();
  auto& log = **reopened;
  stats.cut_bytes += log.recovered_cut_bytes();
  EXPECT_TRUE(log.vote_state() == vote_ok || log.vote_state() == vote_try)
      << log.vote_state().term << "/" << log.vote_state().voted_for;
  const uint64_t keep =
      cut_pending ? std::min<uint64_t>(cut_from - 1, synced.size()) : synced.size();
  ASSERT_GE(log.last_index(), keep);
  EXPECT_EQ(log.durable_index(), log.last_index());
  std::vector<LogEntry> got;
  if (log.last_index() > 0) {
    auto r = log.read_entries(1, 1 << 20, size_t{1} << 40);
    ASSERT_TRUE(r) << r.error().to_string();
    got = std::move(*r);
  }
  ASSERT_EQ(got.size(), log.last_index());
  for (uint64_t i = 0; i < keep; ++i) ASSERT_TRUE(same(got[i], synced[i])) << "entry " << i + 1;
  // Past what had to survive: each entry is the synced one or one written since that sync (the
  // crash may leave any of those writes, whole or in part), and terms never go down.
  for (uint64_t i = keep; i < got.size(); ++i) {
    bool known = i < synced.size() && same(got[i], synced[i]);
    for (const auto& v : since_sync) known = known || (i < v.size() && same(got[i], v[i]));
    ASSERT_TRUE(known) << "entry " << i + 1 << " (term " << got[i].term << ", "
                       << got[i].payload.size()
                       << " bytes) is neither the synced one nor one written since; synced "
                       << synced.size() << " entries, recovered " << got.size() << ", keep "
                       << keep;
    if (i > 0) {
      ASSERT_GE(got[i].term, got[i - 1].term) << "entry " << i + 1;
    }
  }
  // The recovered log applies whole: gapless sequences, continuous versions.
  ASSERT_TRUE(log.apply(log.last_index(), {}));
  uint64_t events = 0;
  for (const auto& e : got) {
    if (e.type == LogEntryType::Transaction)
      events += decode_transaction_entry(e.payload)->events.size();
  }
  EXPECT_EQ(log.next_sequence(kPid), events);
  // A second open of the recovered files finds the same log.
  reopened->reset();
  auto again = BucketLog::open(options(snap, Env::real()));
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ((*again)->last_index(), got.size());
  EXPECT_EQ((*again)->recovered_cut_bytes(), 0u);
}

TEST(BucketLogPowerLoss, AcknowledgedEntriesAndVotesSurvive) {
  constexpr uint64_t kCycles = 300;
  Stats stats;
  for (uint64_t seed = 1; seed <= kCycles && !::testing::Test::HasFatalFailure(); ++seed) {
    cycle(seed, stats);
  }
  std::printf(
      "%llu cycles, %llu crashed mid-operation, %llu truncations, %llu bytes lost, %llu "
      "cut on open\n",
      (unsigned long long)stats.cycles, (unsigned long long)stats.crashed,
      (unsigned long long)stats.truncations, (unsigned long long)stats.lost_bytes,
      (unsigned long long)stats.cut_bytes);
  // The campaign tested losses, not only clean stops.
  EXPECT_GT(stats.crashed, kCycles / 2);
  EXPECT_GT(stats.lost_bytes, 0u);
  EXPECT_GT(stats.truncations, 0u);
}

}  // namespace
}  // namespace sierra
