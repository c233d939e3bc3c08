// Damage in the live segment: a torn tail (the last, unsynced write batch) is truncated, damage
// followed by a later write batch (acknowledged data) refuses the open and leaves the file
// untouched (docs/FORMAT.md "Recovery"). Segments are written through SegmentWriter in explicit
// write batches (one flush each), the first transaction of each batch flagged as the bucket does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/crc32c.hpp"
#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/file.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_test_util.hpp"
#include "engine/segment/segment_writer.hpp"
#include "support/eventually.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
namespace sf = segment_format;
using segtest::make_event;
using segtest::make_tx;
using segtest::OwnedEvent;
using segtest::TempDir;

constexpr uint64_t kSegSize = 1 << 20;

uint64_t test_seed() {
  if (const char* s = std::getenv("SIERRA_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 77;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  auto f = File::open(p, File::Mode::ReadOnly);
  EXPECT_TRUE(f);
  std::vector<uint8_t> out(*f->size());
  EXPECT_TRUE(f->pread_exact(out.data(), out.size(), 0));
  return out;
}

void write_file(const fs::path& p, std::span<const uint8_t> bytes) {
  fs::create_directories(p.parent_path());
  auto f = File::open(p, File::Mode::CreateTruncate);
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_TRUE(f->pwrite_all(bytes.data(), bytes.size(), 0));
}

std::vector<uint8_t> encode(const TransactionHeader& tx, const std::vector<OwnedEvent>& events,
                            bool batch_start) {
  std::vector<uint8_t> out;
  auto v = segtest::views(events);
  auto st = sf::encode_transaction(out, tx, 42, v, nullptr, batch_start);
  EXPECT_TRUE(st.has_value()) << st.error().to_string();
  return out;
}

struct Segment {
  std::vector<uint8_t> file;
  std::vector<uint64_t> tx_starts;
  std::vector<uint64_t> tx_ends;
  std::vector<uint64_t> batch_starts;  // offset of the first transaction of each batch
  uint64_t last_batch_start() const { return batch_starts.back(); }
  // Index of the transaction holding byte `pos`.
  size_t tx_at(uint64_t pos) const {
    for (size_t i = 0; i < tx_starts.size(); ++i) {
      if (tx_starts[i] <= pos && pos < tx_ends[i]) return i;
    }
    return tx_starts.size();
  }
};

// `batches[k]` = event counts of the transactions of write batch k (one flush per batch).
// `flags`: set the batch-start flag (false: an old-format file).
Segment build(const fs::path& base, const std::vector<std::vector<size_t>>& batches,
              bool flags = true) {
  Segment s;
  auto w = SegmentWriter::create(base, 1, 0, kSegSize);
  EXPECT_TRUE(w) << w.error().to_string();
  uint64_t pos = 1;
  for (const auto& batch : batches) {
    s.batch_starts.push_back((*w)->end_offset());
    for (size_t n : batch) {
      std::vector<OwnedEvent> evs;
      for (size_t i = 0; i < n; ++i) evs.push_back(make_event(pos * 10 + i, std::string(150, 'p')));
      const bool first = (*w)->at_batch_start();
      s.tx_starts.push_back((*w)->append(encode(make_tx(pos++, n), evs, flags && first)));
      s.tx_ends.push_back((*w)->end_offset());
    }
    EXPECT_TRUE((*w)->flush());
    EXPECT_TRUE((*w)->at_batch_start());
  }
  EXPECT_TRUE((*w)->close());
  s.file = read_file(get_path(base, 1, 0, SegmentKind::Events));
  return s;
}

const std::vector<std::vector<size_t>> kBatches = {{1, 3}, {1}, {2, 1, 1}, {3}, {1, 2, 1}};

struct Opened {
  bool ok = false;
  Error error{Errc::Io, {}};
  RecoveryReport report;
  std::vector<uint8_t> after;  // the file after the open
};

Opened open_bytes(std::span<const uint8_t> bytes) {
  TempDir dir(TempDir::kMemory);
  const auto path = get_path(dir.path(), 1, 0, SegmentKind::Events);
  write_file(path, bytes);
  Opened o;
  auto w = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &o.report);
  o.ok = w.has_value();
  if (!w) o.error = w.error();
  if (w) {
    EXPECT_TRUE((*w)->close());
  }
  o.after = read_file(path);
  return o;
}

TEST(BatchStartFlag, OnTheFirstRecordOnlyAndCoveredByTheCrc) {
  auto e1 = make_event(1);
  auto e2 = make_event(2);
  const auto multi = encode(make_tx(5, 2), {e1, e2}, /*batch_start=*/true);
  auto first = sf::decode_record(multi, 64, false);
  ASSERT_TRUE(first) << first.error().to_string();
  ASSERT_TRUE(std::holds_alternative<EventRecord>(*first));
  EXPECT_TRUE(std::get<EventRecord>(*first).batch_start);
  EXPECT_EQ(multi[sf::kReservedOffset], 1);
  const uint32_t len1 = sf::peek_record_length(multi);
  auto second = sf::decode_record(std::span(multi).subspan(len1), 64 + len1, false);
  ASSERT_TRUE(second);
  EXPECT_FALSE(std::get<EventRecord>(*second).batch_start);
  const uint32_t len2 = sf::peek_record_length(std::span(multi).subspan(len1));
  EXPECT_EQ(multi[len1 + len2 + sf::kReservedOffset], 0);  // commit record: never flagged

  const auto plain = encode(make_tx(6, 1), {e1}, /*batch_start=*/false);
  auto p = sf::decode_record(plain, 64, false);
  ASSERT_TRUE(p);
  EXPECT_FALSE(std::get<EventRecord>(*p).batch_start);

  // The flag is covered by the main CRC: clearing it is a checksum mismatch.
  auto cleared = multi;
  cleared[sf::kReservedOffset] = 0;
  auto c = sf::decode_record(cleared, 64, false);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::Crc32cMismatch);

  // Other flag bits, and the flag on a commit record, are corrupt even with a valid CRC.
  auto refresh_crc = [](std::vector<uint8_t>& rec, size_t at) {
    const uint32_t len = sf::peek_record_length(std::span(rec).subspan(at));
    if (rec[at + sf::kKindOffset] == sf::kKindEvent) {  // the header CRC first
      uint32_t hcrc = crc32c::extend(0, rec.data() + at, 4);
      hcrc = crc32c::extend(hcrc, rec.data() + at + sf::kConfirmationEnd,
                            sf::kRecordHeaderCrcOffset - sf::kConfirmationEnd);
      std::memcpy(rec.data() + at + sf::kRecordHeaderCrcOffset, &hcrc, 4);
    }
    uint32_t crc = crc32c::extend(0, rec.data() + at, 4);
    crc = crc32c::extend(crc, rec.data() + at + sf::kConfirmationEnd, len - sf::kConfirmationEnd);
    std::memcpy(rec.data() + at + sf::kCrcOffset, &crc, 4);
  };
  auto other = plain;
  other[sf::kReservedOffset] = 2;
  refresh_crc(other, 0);
  auto o = sf::decode_record(other, 64, false);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code, Errc::CorruptRecord);
  auto commit = multi;
  commit[len1 + len2 + sf::kReservedOffset] = 1;
  refresh_crc(commit, len1 + len2);
  auto cm = sf::decode_record(std::span(commit).subspan(len1 + len2), 0, false);
  ASSERT_FALSE(cm);
  EXPECT_EQ(cm.error().code, Errc::CorruptRecord);
}

TEST(LiveCorruption, CleanFileWithBatchFlagsOpensWhole) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches);
  auto o = open_bytes(s.file);
  ASSERT_TRUE(o.ok) << o.error.to_string();
  EXPECT_EQ(o.report.bytes_dropped, 0u);
  EXPECT_EQ(o.report.transactions, s.tx_starts.size());
  EXPECT_FALSE(o.report.later_batch_offset);
}

// A crash while the last batch was being written: the file ends anywhere inside it.
TEST(LiveCorruption, TornTailAtEveryOffsetOfTheLastBatchIsTruncated) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches);
  for (uint64_t cut = s.last_batch_start(); cut < s.file.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::span<const uint8_t> torn(s.file.data(), cut);
    auto o = open_bytes(torn);
    ASSERT_TRUE(o.ok) << o.error.to_string();
    uint64_t want = s.last_batch_start();
    for (size_t i = 0; i < s.tx_ends.size(); ++i) {
      if (s.tx_ends[i] <= cut) want = std::max(want, s.tx_ends[i]);
    }
    EXPECT_EQ(o.report.valid_end, want);
    EXPECT_EQ(o.after.size(), want);
    EXPECT_FALSE(o.report.later_batch_offset);
  }
}

// Power loss within the last batch: pages of it lost (zeros) or garbled while later pages of
// the same batch reached the disk, so valid records follow the hole; all of them in the last
// batch. Recovery truncates at the damaged transaction.
TEST(LiveCorruption, HolesInTheLastBatchAreATornTail) {
  TempDir dir;
  // A last batch of many transactions, so that holes have valid records after them.
  std::vector<std::vector<size_t>> batches = {{1, 2}, {1}};
  batches.push_back({});
  for (int i = 0; i < 30; ++i) batches.back().push_back(1 + i % 3);
  const Segment s = build(dir.path(), batches);
  std::mt19937_64 rng(test_seed());
  const uint64_t lb = s.last_batch_start();
  for (int round = 0; round < 400; ++round) {
    auto bytes = s.file;
    // A hole at a "page" boundary relative to the batch, or anywhere.
    const uint64_t span = bytes.size() - lb;
    const uint64_t a = lb + rng() % span;
    const uint64_t b = std::min<uint64_t>(bytes.size(), a + 1 + rng() % 700);
    const bool garbage = rng() % 2 == 0;
    for (uint64_t i = a; i < b; ++i) bytes[i] = garbage ? static_cast<uint8_t>(rng()) : 0;
    SCOPED_TRACE("hole [" + std::to_string(a) + ", " + std::to_string(b) + ")" +
                 (garbage ? " garbage" : " zeros") + " seed " + std::to_string(test_seed()));
    if (bytes == s.file) continue;  // a no-op "hole"
    auto o = open_bytes(bytes);
    ASSERT_TRUE(o.ok) << o.error.to_string();
    EXPECT_FALSE(o.report.later_batch_offset);
    const size_t damaged = s.tx_at(a);
    ASSERT_LT(damaged, s.tx_starts.size());
    // Truncated at the damaged transaction (or, rarely, the hole left a few of its bytes
    // unchanged, e.g. zeros written over zeros: never beyond the transaction holding `a`, never
    // before the last batch).
    EXPECT_LE(o.report.valid_end, s.tx_ends[damaged]);
    EXPECT_GE(o.report.valid_end, lb);
    EXPECT_EQ(o.after.size(), o.report.valid_end);
    EXPECT_TRUE(std::equal(o.after.begin(), o.after.end(), s.file.begin()));
  }
}

// Every single-byte flip of a record before the last batch: acknowledged data is damaged, the
// open fails and the file is byte-identical. Flips in the last batch truncate as before.
TEST(LiveCorruption, FlipInAnEarlierBatchRefusesTheOpen) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches);
  std::mt19937_64 rng(test_seed());
  size_t refused = 0;
  size_t truncated = 0;
  for (uint64_t pos = sf::kHeaderSize; pos < s.file.size(); ++pos) {
    auto bytes = s.file;
    bytes[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
    SCOPED_TRACE("flip at " + std::to_string(pos));
    auto o = open_bytes(bytes);
    const size_t tx = s.tx_at(pos);
    ASSERT_LT(tx, s.tx_starts.size());
    if (pos < s.last_batch_start()) {
      ASSERT_FALSE(o.ok) << "opened, dropping " << o.report.bytes_dropped << " bytes";
      EXPECT_EQ(o.error.code, Errc::DamagedLiveSegment) << o.error.to_string();
      EXPECT_EQ(o.error.offset, s.tx_starts[tx]);
      EXPECT_EQ(o.after, bytes) << "the file was modified";
      const std::string msg = o.error.to_string();
      EXPECT_NE(msg.find("data.evts"), std::string::npos) << msg;
      EXPECT_NE(msg.find("offset " + std::to_string(s.tx_starts[tx])), std::string::npos) << msg;
      EXPECT_NE(msg.find("sierradb check"), std::string::npos) << msg;
      EXPECT_NE(msg.find("--repair"), std::string::npos) << msg;
      ++refused;
    } else {
      ASSERT_TRUE(o.ok) << o.error.to_string();
      EXPECT_EQ(o.report.valid_end, s.tx_starts[tx]);
      EXPECT_EQ(o.after.size(), s.tx_starts[tx]);
      ++truncated;
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(truncated, 0u);
}

// The later batch must be *after* the damage and have a larger log position: a verified
// flagged record with an old log position (stale bytes) does not count.
TEST(LiveCorruption, LaterBatchNeedsALargerLogPosition) {
  TempDir dir;
  const Segment s = build(dir.path(), {{1}, {1}});
  auto bytes = s.file;
  // Copy of the first transaction (log position 1, flagged) after the second one, whose first
  // byte of payload is then damaged.
  bytes.insert(bytes.end(), s.file.begin() + static_cast<std::ptrdiff_t>(s.tx_starts[0]),
               s.file.begin() + static_cast<std::ptrdiff_t>(s.tx_ends[0]));
  bytes[s.tx_starts[1] + sf::kEventFixedSize + 20] ^= 0x10;
  auto o = open_bytes(bytes);
  ASSERT_TRUE(o.ok) << o.error.to_string();
  EXPECT_EQ(o.report.valid_end, s.tx_starts[1]);
  EXPECT_FALSE(o.report.later_batch_offset);
}

// Files written before the flag existed (flag 0 everywhere) recover exactly as before: cut at
// the first anomaly, wherever it is.
TEST(LiveCorruption, OldFormatFilesTruncateAsBefore) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches, /*flags=*/false);
  for (uint64_t pos :
       {s.tx_starts[0] + 3, s.tx_starts[1] + 200, s.tx_starts[3] + 20, s.tx_starts.back() + 100}) {
    SCOPED_TRACE("flip at " + std::to_string(pos));
    auto bytes = s.file;
    bytes[pos] ^= 0x04;
    auto o = open_bytes(bytes);
    ASSERT_TRUE(o.ok) << o.error.to_string();
    const size_t tx = s.tx_at(pos);
    EXPECT_EQ(o.report.valid_end, s.tx_starts[tx]);
    EXPECT_EQ(o.after.size(), s.tx_starts[tx]);
  }
}

// A zero-filled tail after damage (preallocated or lost pages) is scanned quickly.
TEST(LiveCorruption, LongZeroTailIsFast) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches);
  auto bytes = s.file;
  bytes.resize(kSegSize - 1, 0);
  const auto start = std::chrono::steady_clock::now();
  auto o = open_bytes(bytes);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ASSERT_TRUE(o.ok) << o.error.to_string();
  EXPECT_EQ(o.report.valid_end, s.file.size());
  EXPECT_LT(ms, 2000);
}

// The forced truncation used by `sierradb check --repair`.
TEST(LiveCorruption, TruncateModeCutsAtTheDamage) {
  TempDir dir;
  const Segment s = build(dir.path(), kBatches);
  auto bytes = s.file;
  bytes[s.tx_starts[2] + 100] ^= 0x80;
  const auto path = get_path(dir.path(), 1, 0, SegmentKind::Events);
  write_file(path, bytes);
  auto seen = inspect_live_segment(path, 1, 0, kSegSize);
  ASSERT_TRUE(seen) << seen.error().to_string();
  EXPECT_EQ(seen->valid_end, s.tx_starts[2]);
  ASSERT_TRUE(seen->later_batch_offset);
  EXPECT_EQ(*seen->later_batch_offset, s.batch_starts[2]);
  EXPECT_EQ(read_file(path), bytes);  // inspecting changes nothing
  RecoveryReport rep;
  auto w = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep, OnAcknowledgedDamage::Truncate);
  ASSERT_TRUE(w) << w.error().to_string();
  EXPECT_EQ(rep.valid_end, s.tx_starts[2]);
  EXPECT_EQ(fs::file_size(path), s.tx_starts[2]);
}

// Through the database: appends acknowledged one by one (each its own write batch), a flip in
// the live segment before the last one refuses the open and changes no file.
TEST(LiveCorruption, DatabaseRefusesToOpenAndChangesNothing) {
  dbtest::TempDir dir("sierra-livecorrupt");
  std::vector<AppendResult> acked;
  {
    auto db = DatabaseBuilder()
                  .partition_count(4)
                  .total_buckets(1)
                  .log_sink(dbtest::quiet_log)
                  .open(dir.path());
    ASSERT_TRUE(db) << db.error().to_string();
    for (int i = 0; i < 6; ++i) {
      auto r = dbtest::append_one(**db, dbtest::make_event("s", ExpectedVersion::any()));
      ASSERT_TRUE(r) << r.error().to_string();
      acked.push_back(*r);
    }
    (*db)->close();
  }
  const auto path = get_path(dir.path(), 0, 0, SegmentKind::Events);
  auto bytes = read_file(path);
  bytes[acked[2].offsets[0] + 120] ^= 0x01;
  write_file(path, bytes);
  std::string warnings;
  auto db = DatabaseBuilder()
                .partition_count(4)
                .total_buckets(1)
                .log_sink([&](LogLevel, std::string_view m) { warnings += std::string(m) + "\n"; })
                .open(dir.path());
  ASSERT_FALSE(db) << "opened: " << warnings;
  EXPECT_EQ(db.error().code, Errc::DamagedLiveSegment) << db.error().to_string();
  EXPECT_EQ(read_file(path), bytes);
}

// The bucket flags the first transaction of each write batch: with many appends in flight
// (batched by the writer thread) and rollovers (which flush what is staged mid-batch), every
// segment's first record is flagged, flags sit only on the first record of a transaction, and
// every other transaction of a segment follows in its batch or starts a new one.
TEST(LiveCorruption, BucketFlagsBatchStartsAcrossRollovers) {
  dbtest::TempDir dir("sierra-batchflag");
  std::vector<Result<AppendResult>> results(400, make_error(Errc::Io, "not done"));
  {
    auto db = DatabaseBuilder()
                  .segment_size(16 * 1024)
                  .partition_count(4)
                  .total_buckets(1)
                  .log_sink(dbtest::quiet_log)
                  .open(dir.path());
    ASSERT_TRUE(db) << db.error().to_string();
    std::atomic<size_t> done{0};
    for (size_t i = 0; i < results.size(); ++i) {
      auto e = dbtest::make_event("s" + std::to_string(i % 3), ExpectedVersion::any(), std::nullopt,
                                  std::string(100 + i % 200, 'q'));
      std::vector<NewEvent> evs{e};
      if (i % 5 == 0) evs.push_back(dbtest::make_event(e.stream_id, ExpectedVersion::any()));
      const PartitionId pid = dbtest::pid_of(e.partition_key, 4);
      (*db)->append_events_async(pid, dbtest::make_tx(std::move(evs)),
                                 [&results, &done, i](Result<AppendResult> r) {
                                   results[i] = std::move(r);
                                   done.fetch_add(1);
                                 });
    }
    // Bounded; close() then completes whatever is still queued, so no callback outlives `done`.
    EXPECT_TRUE(test_support::eventually([&] { return done.load() == results.size(); },
                                         std::chrono::seconds(60)))
        << done.load() << " of " << results.size() << " appends answered";
    (*db)->close();
  }
  std::map<SegmentId, std::set<uint64_t>> tx_starts;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().to_string();
    tx_starts[r->segment_id].insert(r->offsets.front());
  }
  ASSERT_GE(tx_starts.size(), 3u) << "no rollover happened";
  size_t flagged = 0;
  for (const auto& [seg, starts] : tx_starts) {
    SCOPED_TRACE("segment " + std::to_string(seg));
    const auto bytes = read_file(get_path(dir.path(), 0, seg, SegmentKind::Events));
    ASSERT_EQ(*starts.begin(), sf::kHeaderSize);
    EXPECT_EQ(bytes[sf::kHeaderSize + sf::kReservedOffset], sf::kBatchStartFlag);
    for (uint64_t at = sf::kHeaderSize; at < bytes.size();) {
      auto rec = sf::decode_record(std::span(bytes).subspan(at), at, false);
      ASSERT_TRUE(rec) << rec.error().to_string();
      if (const auto* e = std::get_if<EventRecord>(&*rec); e && e->batch_start) {
        EXPECT_TRUE(starts.contains(at)) << "flag on a record that does not start a transaction";
        ++flagged;
      }
      at = record_end(*rec);
    }
  }
  EXPECT_GE(flagged, tx_starts.size());
  EXPECT_LE(flagged, results.size());
  std::printf("  %zu transactions in %zu segments, %zu write batches\n", results.size(),
              tx_starts.size(), flagged);
}

}  // namespace
}  // namespace sierra
