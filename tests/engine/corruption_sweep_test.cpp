// Corruption sweep: a data directory with several closed segments (with their EIDX/PIDX/SIDX
// index files) and a live segment is populated with known events; then, for many byte
// positions of every segment and index file (a seeded, stratified sample over each whole file,
// plus every byte of the headers of the first segment and of its index files), a copy of the
// directory gets that one byte flipped, is opened, and everything is read: every event by id
// (and its transaction), every partition scan, every stream scan forward and reverse, the
// latest sequence and version. Never a crash, never wrong data:
//   * index files are derived data: whatever the byte, the database opens and every read is
//     correct (the file is rebuilt at open, or healed by the lookup that finds it damaged);
//   * a closed segment's records: only the reads that touch the damaged record may fail (with
//     an error); every other read is correct, and nothing goes silently missing;
//   * a closed segment's header: the segment is quarantined, the database opens, and every read
//     is correct (its records still verify one by one); the live segment's header: the open may
//     fail (CorruptHeader, with what to run); if it does not, reads are correct;
//   * the live segment's records (FORMAT.md "Recovery"): every append here is acknowledged on
//     its own, so each transaction is a write batch of its own, its first record flagged as a
//     batch start. Damage followed by a later write batch is damage of acknowledged data: the
//     open fails with DamagedLiveSegment and no file changes (byte-identical tree). Damage in
//     the last batch cannot be told from a torn tail: recovery cuts the file at the start of
//     the damaged transaction, with a warning, and every earlier event reads back intact.
// The sweep proves itself: every flipped byte is read back from the file, and the damage of
// every sample is tallied as detected (open error or refusal, read error, warning) or not; a
// segment's damage must always be detected.
// Header-only reads are verified by the record's header CRC (FORMAT.md "Header-only reads"): a
// header-only read_event returns the exact fields or an error, never wrong fields (asserted).
//
// A second sweep (DamagedClosedSegmentsAreQuarantined) damages closed segments harder — a byte
// of a record or of the header, a zeroed 4 KiB page, a truncated file, each also with the
// segment's index files deleted — and asserts the database opens every time, every read is the
// exact original or an error (no silent gap), an append never reuses a sequence, and `sierradb
// check` reports every case.
//
// Seeds: SIERRA_TEST_SEED=<n> for the positions and masks (default fixed + printed);
// SIERRA_SWEEP_SAMPLES=<n> positions per file (default 150).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "engine/check/check.hpp"
#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/power_loss_util.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_test_util.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr uint16_t kSwPartitions = 4;
constexpr uint64_t kSwSegment = 64 * 1024;
constexpr SegmentId kClosedSegments = 3;

DatabaseBuilder sw_builder(LogSink log = quiet_log) {
  return DatabaseBuilder()
      .segment_size(kSwSegment)
      .partition_count(kSwPartitions)
      .total_buckets(1)
      .writer_threads(1)
      .log_sink(std::move(log));
}

uint64_t sweep_seed() {
  if (const char* s = std::getenv("SIERRA_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return 20240607;
}

size_t samples_per_file() {
  if (const char* s = std::getenv("SIERRA_SWEEP_SAMPLES")) return std::strtoull(s, nullptr, 10);
  return 150;
}

struct MEvent {
  NewEvent ev;
  PartitionId pid = 0;
  uint64_t seq = 0;
  uint64_t version = 0;
  Uuid txid;
  SegmentId segment = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  size_t tx = 0;  // index into Model::txs
};

struct MTx {
  SegmentId segment = 0;
  uint64_t start = 0;  // offset of its first record
  uint64_t end = 0;    // offset just past its last record (commit record included)
  std::vector<size_t> events;
  bool batch_start = false;  // its first record carries the batch-start flag
};

struct Model {
  std::vector<MEvent> events;
  std::vector<MTx> txs;
  std::map<PartitionId, std::vector<size_t>> partitions;                       // by sequence
  std::map<std::pair<PartitionId, std::string>, std::vector<size_t>> streams;  // by version
  SegmentId live = 0;
};

// What one flipped byte may do to the reads.
struct Expect {
  enum class Kind {
    Strict,    // every read correct, no error at all (index files)
    Confined,  // errors only for reads touching `damaged_event` / `damaged_tx`
    Lenient,   // errors anywhere (headers); whatever is returned is correct
  } kind = Kind::Strict;
  std::optional<size_t> damaged_event;
  std::optional<size_t> damaged_tx;
  std::vector<bool> absent;          // events recovery must have dropped (live segment truncation)
  std::optional<uint64_t> live_cut;  // expected size of the live segment after open
  bool refuse = false;               // the open must fail with DamagedLiveSegment, changing no file
};

struct Tally {
  size_t samples = 0;
  size_t open_errors = 0;
  size_t samples_with_read_errors = 0;
  size_t fully_correct = 0;
  size_t truncations = 0;
  size_t refusals = 0;        // opens refused: damaged acknowledged data, files unchanged
  size_t events_dropped = 0;  // by truncations of the last batch, summed over samples
  // The sweep proves itself: the flipped byte reached the file in every sample (asserted), and
  // the engine noticed the damage (an open error or refusal, a read error, or a warning: a
  // rebuilt or healed index, a truncation) in `detected` samples; in `undetected` ones every
  // read was correct and nothing was said (damage in bytes no check covers, or none reads).
  size_t damage_written = 0;
  size_t detected = 0;
  size_t undetected = 0;
  // Header-only read_event: samples where it returned wrong fields / nothing (asserted zero).
  size_t header_only_wrong = 0;
  size_t header_only_missing = 0;
};

// Every regular file under `root` (relative path -> contents).
std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().lexically_relative(root).string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

std::string bytes_of(size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class CorruptionSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    rng_.seed(sweep_seed());
    pristine_ = tmp_.path() / "pristine";
    work_ = tmp_.path() / "work";
    populate();
  }

  void populate() {
    auto db = sw_builder().open(pristine_);
    ASSERT_TRUE(db) << db.error().to_string();
    std::vector<Uuid> keys;
    for (int i = 0; i < 3; ++i) {
      Uuid k;
      for (auto& b : k.bytes) b = static_cast<uint8_t>(rng_());
      keys.push_back(k);
    }
    std::map<std::pair<PartitionId, std::string>, uint64_t> next_version;
    size_t live_txs = 0;  // transactions in the current live segment
    while (model_.live < kClosedSegments || live_txs < 12) {
      const Uuid key = keys[rng_() % keys.size()];
      const PartitionId pid = pid_of(key, kSwPartitions);
      const size_t n = rng_() % 10 < 6 ? 1 : 2 + rng_() % 3;
      std::vector<NewEvent> evs;
      for (size_t i = 0; i < n; ++i) {
        NewEvent e;
        e.partition_key = key;
        e.event_id = new_event_id(partition_hash(key));
        e.stream_id = "k" + std::to_string(key.bytes[0] % 10) + "-s" + std::to_string(rng_() % 3);
        e.expected_version = EV::from_next_version(next_version[{pid, e.stream_id}]++);
        e.event_name = "ev" + std::to_string(rng_() % 50);
        e.timestamp_ns = rng_() >> 2;
        e.metadata = bytes_of(rng_() % 20, rng_);
        e.payload = bytes_of(30 + rng_() % 3000, rng_);
        evs.push_back(std::move(e));
      }
      auto r = (*db)->append_events(pid, make_tx(evs));
      ASSERT_TRUE(r) << r.error().to_string();
      MTx tx;
      tx.segment = r->segment_id;
      tx.start = r->offsets.front();
      for (size_t i = 0; i < n; ++i) {
        MEvent m;
        m.ev = evs[i];
        m.pid = pid;
        m.seq = r->first_partition_sequence + i;
        m.version = r->stream_versions[i];
        m.txid = r->transaction_id;
        m.segment = r->segment_id;
        m.offset = r->offsets[i];
        m.length = segment_format::kEventFixedSize + m.ev.stream_id.size() +
                   m.ev.event_name.size() + m.ev.metadata.size() + m.ev.payload.size();
        m.tx = model_.txs.size();
        tx.events.push_back(model_.events.size());
        model_.partitions[pid].push_back(model_.events.size());
        model_.streams[{pid, m.ev.stream_id}].push_back(model_.events.size());
        model_.events.push_back(std::move(m));
      }
      model_.txs.push_back(std::move(tx));
      live_txs = r->segment_id == model_.live ? live_txs + 1 : 1;
      model_.live = r->segment_id;
    }
    (*db)->close();
    // Transaction ends: the next transaction's start, or the end of the segment file.
    for (size_t i = 0; i < model_.txs.size(); ++i) {
      MTx& tx = model_.txs[i];
      if (i + 1 < model_.txs.size() && model_.txs[i + 1].segment == tx.segment) {
        tx.end = model_.txs[i + 1].start;
      } else {
        tx.end = fs::file_size(get_path(pristine_, 0, tx.segment, SegmentKind::Events));
      }
    }
    // Batch starts, as written (each acknowledged append is its own write batch).
    for (MTx& tx : model_.txs) {
      std::ifstream in(get_path(pristine_, 0, tx.segment, SegmentKind::Events), std::ios::binary);
      in.seekg(static_cast<std::streamoff>(tx.start + segment_format::kReservedOffset));
      tx.batch_start = (in.get() & segment_format::kBatchStartFlag) != 0;
      EXPECT_TRUE(tx.batch_start) << "an acknowledged append did not start a write batch";
    }
    for (SegmentId s = 0; s < model_.live; ++s) {
      for (SegmentKind k :
           {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
        ASSERT_TRUE(fs::exists(get_path(pristine_, 0, s, k))) << "index file missing";
      }
    }
    // The pristine copy reads back exactly.
    Expect none;
    none.absent.assign(model_.events.size(), false);
    bool errors = false;
    auto again = sw_builder().open(pristine_);
    ASSERT_TRUE(again) << again.error().to_string();
    check_reads(**again, none, errors);
    EXPECT_FALSE(errors);
  }

  // ------------------------------------------------------------------------------ reads

  void check_event(const EventRecord& got, const MEvent& m) {
    EXPECT_EQ(got.event_id, m.ev.event_id);
    EXPECT_EQ(got.partition_key, m.ev.partition_key);
    EXPECT_EQ(got.partition_id, m.pid);
    EXPECT_EQ(got.partition_sequence, m.seq);
    EXPECT_EQ(got.stream_version, m.version);
    EXPECT_EQ(got.tx.transaction_id, m.txid);
    EXPECT_EQ(got.timestamp_ns, m.ev.timestamp_ns);
    EXPECT_EQ(got.stream_id, m.ev.stream_id);
    EXPECT_EQ(got.event_name, m.ev.event_name);
    EXPECT_EQ(got.metadata, m.ev.metadata);
    EXPECT_EQ(got.payload, m.ev.payload);
  }

  bool error_allowed(const Expect& x, std::optional<size_t> event, std::optional<size_t> tx) {
    switch (x.kind) {
      case Expect::Kind::Strict:
        return false;
      case Expect::Kind::Lenient:
        return true;
      case Expect::Kind::Confined:
        return (event && x.damaged_event == event) || (tx && x.damaged_tx == tx);
    }
    return false;
  }

  // Checks an iterator against the expected events (in order): a correct prefix, then either
  // the end exactly at the expected length, or an error allowed at the next expected event.
  template <class It>
  void check_iteration(It it, const std::vector<size_t>& want, const Expect& x, bool& errors,
                       const std::string& what) {
    size_t i = 0;
    while (true) {
      auto r = it.next();
      if (!r) {
        errors = true;
        const std::optional<size_t> at =
            i < want.size() ? std::optional<size_t>(want[i]) : std::nullopt;
        EXPECT_TRUE(error_allowed(x, at, std::nullopt))
            << what << ": unexpected error after " << i << " events: " << r.error().to_string();
        return;
      }
      if (!*r) break;
      ASSERT_LT(i, want.size()) << what << ": more events than written";
      check_event(**r, model_.events[want[i]]);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << what << ": wrong event at position " << i;
        return;
      }
      ++i;
    }
    EXPECT_EQ(i, want.size()) << what << ": ended early without an error (events silently lost)";
  }

  void check_reads(const Database& db, const Expect& x, bool& errors) {
    auto present = [&](size_t i) { return !x.absent[i]; };
    // Latest sequences and versions (summaries: never an error).
    for (PartitionId pid = 0; pid < kSwPartitions; ++pid) {
      std::vector<size_t> want;
      if (auto it = model_.partitions.find(pid); it != model_.partitions.end()) {
        for (size_t i : it->second) {
          if (present(i)) want.push_back(i);
        }
      }
      auto s = db.get_partition_sequence(pid);
      if (!s) {
        errors = true;
        EXPECT_TRUE(error_allowed(x, std::nullopt, std::nullopt)) << s.error().to_string();
      } else if (want.empty()) {
        EXPECT_FALSE(s->has_value()) << "partition " << pid;
      } else {
        EXPECT_EQ(*s, std::optional<uint64_t>(model_.events[want.back()].seq))
            << "partition " << pid;
      }
      auto it = db.read_partition(pid, 0);
      ASSERT_TRUE(it) << it.error().to_string();
      check_iteration(std::move(*it), want, x, errors, "partition " + std::to_string(pid));
    }
    for (const auto& [ref, all] : model_.streams) {
      std::vector<size_t> want;
      for (size_t i : all) {
        if (present(i)) want.push_back(i);
      }
      auto v = db.get_stream_version(ref.first, ref.second);
      if (!v) {
        errors = true;
        // A stream summary may be read from a damaged index: healed, so never an error there.
        EXPECT_TRUE(error_allowed(x, std::nullopt, std::nullopt))
            << "stream version of " << ref.second << ": " << v.error().to_string();
      } else if (want.empty()) {
        EXPECT_FALSE(v->has_value()) << ref.second;
      } else {
        ASSERT_TRUE(v->has_value()) << ref.second << " silently missing";
        EXPECT_EQ((*v)->version, model_.events[want.back()].version) << ref.second;
        EXPECT_EQ((*v)->partition_key, model_.events[want.back()].ev.partition_key);
      }
      auto fwd = db.read_stream(ref.first, ref.second, 0);
      ASSERT_TRUE(fwd);
      check_iteration(std::move(*fwd), want, x, errors, "stream " + ref.second);
      std::vector<size_t> rev_want(want.rbegin(), want.rend());
      auto rev = db.read_stream(ref.first, ref.second, UINT64_MAX, true);
      ASSERT_TRUE(rev);
      check_iteration(std::move(*rev), rev_want, x, errors, "reverse stream " + ref.second);
    }
    // Every event by id, and the transaction from it.
    for (size_t i = 0; i < model_.events.size(); ++i) {
      const MEvent& m = model_.events[i];
      auto got = db.read_event(m.pid, m.ev.event_id);
      if (!got) {
        errors = true;
        EXPECT_TRUE(error_allowed(x, i, std::nullopt))
            << "read_event " << i << ": " << got.error().to_string();
      } else if (!got->has_value()) {
        EXPECT_FALSE(present(i)) << "event " << i << " silently missing";
      } else {
        EXPECT_TRUE(present(i)) << "event " << i << " should have been dropped by recovery";
        check_event(**got, m);
      }
      // The transaction, from its first event.
      const MTx& t = model_.txs[m.tx];
      if (i != t.events.front()) continue;
      auto tx = db.read_transaction(m.pid, m.ev.event_id);
      if (!tx) {
        errors = true;
        EXPECT_TRUE(error_allowed(x, i, m.tx))
            << "read_transaction " << i << ": " << tx.error().to_string();
      } else if (!tx->has_value()) {
        EXPECT_FALSE(present(i)) << "transaction of event " << i << " silently missing";
      } else {
        const size_t from =
            static_cast<size_t>(std::find(t.events.begin(), t.events.end(), i) - t.events.begin());
        ASSERT_EQ((*tx)->events.size(), t.events.size() - from) << "transaction of event " << i;
        for (size_t j = 0; j < (*tx)->events.size(); ++j) {
          check_event((*tx)->events[j], model_.events[t.events[from + j]]);
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  }

  void count_header_only(const Database& db, const Expect& x, Tally& t) {
    bool wrong = false;
    bool missing = false;
    for (size_t i = 0; i < model_.events.size(); ++i) {
      const MEvent& m = model_.events[i];
      auto got = db.read_event(m.pid, m.ev.event_id, /*header_only=*/true);
      if (!got) continue;
      if (!got->has_value()) {
        missing |= !x.absent[i];
        continue;
      }
      const EventRecord& r = **got;
      wrong |= r.partition_key != m.ev.partition_key || r.partition_sequence != m.seq ||
               r.stream_version != m.version || r.tx.transaction_id != m.txid ||
               r.timestamp_ns != m.ev.timestamp_ns;
    }
    t.header_only_wrong += wrong ? 1 : 0;
    t.header_only_missing += missing ? 1 : 0;
    EXPECT_FALSE(wrong) << "a header-only read returned wrong fields";
    EXPECT_FALSE(missing) << "a header-only read silently missed an event";
  }

  // ------------------------------------------------------------------------------ sweep

  // One sample: copy, flip, open, read. Returns false after a test failure.
  bool sample(const fs::path& rel, uint64_t pos, const Expect& x, Tally& t) {
    std::error_code ec;
    fs::remove_all(work_, ec);
    powerloss::copy_tree(pristine_, work_);
    const fs::path file = work_ / rel;
    const uint8_t mask = static_cast<uint8_t>(1 + rng_() % 255);
    char original = 0;
    {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(static_cast<std::streamoff>(pos));
      f.get(original);
      f.seekp(static_cast<std::streamoff>(pos));
      f.put(static_cast<char>(static_cast<uint8_t>(original) ^ mask));
      EXPECT_TRUE(f.good()) << "flipping the byte failed";
    }
    SCOPED_TRACE(rel.string() + " byte " + std::to_string(pos) + " ^ " + std::to_string(mask) +
                 " (rerun with SIERRA_TEST_SEED=" + std::to_string(sweep_seed()) + ")");
    ++t.samples;
    {
      // The damage is on disk: the byte differs from the pristine copy's.
      std::ifstream damaged(file, std::ios::binary);
      std::ifstream intact(pristine_ / rel, std::ios::binary);
      damaged.seekg(static_cast<std::streamoff>(pos));
      intact.seekg(static_cast<std::streamoff>(pos));
      char now = 0;
      char was = 0;
      damaged.get(now);
      intact.get(was);
      EXPECT_TRUE(damaged.good() && intact.good()) << "cannot read the flipped byte back";
      EXPECT_EQ(was, original);
      EXPECT_EQ(static_cast<uint8_t>(now), static_cast<uint8_t>(was ^ mask))
          << "the flipped byte did not reach the file";
      if (::testing::Test::HasFailure()) return false;
      ++t.damage_written;
    }
    const auto before = x.refuse ? read_tree(work_) : std::map<std::string, std::string>{};
    std::vector<std::string> warnings;
    std::mutex log_mu;
    auto db = sw_builder([&](LogLevel level, std::string_view msg) {
                if (level >= LogLevel::Warn) {
                  std::lock_guard lock(log_mu);
                  warnings.emplace_back(msg);
                }
              }).open(work_);
    if (x.refuse) {
      EXPECT_FALSE(db) << "opened although acknowledged data of the live segment is damaged";
      if (db) return false;
      ++t.refusals;
      ++t.detected;
      EXPECT_EQ(db.error().code, Errc::DamagedLiveSegment) << db.error().to_string();
      EXPECT_NE(db.error().message.find("sierradb check"), std::string::npos);
      EXPECT_TRUE(read_tree(work_) == before) << "the refused open modified files";
      return !::testing::Test::HasFailure();
    }
    if (!db) {
      ++t.open_errors;
      ++t.detected;
      EXPECT_EQ(x.kind, Expect::Kind::Lenient)
          << "open failed where it must not: " << db.error().to_string();
      return !::testing::Test::HasFailure();
    }
    bool errors = false;
    check_reads(**db, x, errors);
    count_header_only(**db, x, t);
    (*db)->close();
    if (errors) {
      ++t.samples_with_read_errors;
    } else {
      ++t.fully_correct;
    }
    bool warned = false;
    {
      std::lock_guard lock(log_mu);
      warned = !warnings.empty();
    }
    if (errors || warned) {
      ++t.detected;
    } else {
      ++t.undetected;
    }
    if (x.live_cut) {
      ++t.truncations;
      for (bool a : x.absent) t.events_dropped += a ? 1 : 0;
      EXPECT_EQ(fs::file_size(get_path(work_, 0, model_.live, SegmentKind::Events)), *x.live_cut)
          << "the live segment was not cut at the damaged transaction";
      bool logged = false;
      for (const auto& w : warnings) logged |= w.find("dropped") != std::string::npos;
      EXPECT_TRUE(logged) << "the truncation was not logged";
    }
    return !::testing::Test::HasFailure();
  }

  // What flipping byte `pos` of `rel` may do.
  Expect expect_for(SegmentId seg, SegmentKind kind, uint64_t pos) {
    Expect x;
    x.absent.assign(model_.events.size(), false);
    if (kind != SegmentKind::Events) return x;  // Strict: index files are rebuilt or healed
    if (pos < segment_format::kHeaderSize) {
      // A closed segment's header is quarantined, its records served: Strict. The live one's
      // refuses the open (or not, for a byte the header does not use): Lenient.
      if (seg == model_.live) x.kind = Expect::Kind::Lenient;
      return x;
    }
    size_t tx = 0;
    for (size_t i = 0; i < model_.txs.size(); ++i) {
      const MTx& t = model_.txs[i];
      if (t.segment == seg && t.start <= pos && pos < t.end) tx = i;
    }
    if (seg == model_.live) {
      // A later write batch proves the damaged transaction was acknowledged: refused.
      for (size_t i = tx + 1; i < model_.txs.size(); ++i) {
        if (model_.txs[i].segment == seg && model_.txs[i].batch_start) x.refuse = true;
      }
      if (x.refuse) return x;
      // Damage in the last batch (a torn tail for all recovery can tell): truncated at the
      // start of the damaged transaction, which goes with everything after it.
      const MTx& t = model_.txs[tx];
      for (size_t i = tx; i < model_.txs.size(); ++i) {
        for (size_t e : model_.txs[i].events) x.absent[e] = true;
      }
      x.live_cut = t.start;
      return x;  // Strict otherwise
    }
    x.kind = Expect::Kind::Confined;
    x.damaged_tx = tx;
    for (size_t e : model_.txs[tx].events) {
      const MEvent& m = model_.events[e];
      if (m.offset <= pos && pos < m.offset + m.length) x.damaged_event = e;
    }
    return x;
  }

  segtest::TempDir tmp_{segtest::TempDir::kMemory};
  fs::path pristine_;
  fs::path work_;
  std::mt19937_64 rng_;
  Model model_;
};

TEST_F(CorruptionSweep, EveryFileEveryRegion) {
  ASSERT_FALSE(HasFailure());
  const auto start = std::chrono::steady_clock::now();
  std::printf("  seed %llu: %zu events, %zu transactions, %u closed segments + live\n",
              static_cast<unsigned long long>(sweep_seed()), model_.events.size(),
              model_.txs.size(), static_cast<unsigned>(model_.live));
  const size_t per_file = samples_per_file();
  std::map<std::string, Tally> tallies;  // by file kind
  for (SegmentId seg = 0; seg <= model_.live; ++seg) {
    for (SegmentKind kind : {SegmentKind::Events, SegmentKind::EventIndex,
                             SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
      if (seg == model_.live && kind != SegmentKind::Events) continue;
      const fs::path rel = get_path(pristine_, 0, seg, kind).lexically_relative(pristine_);
      const uint64_t size = fs::file_size(pristine_ / rel);
      std::set<uint64_t> positions;
      // Every header byte of the first segment and of its index files, and of the live segment.
      if (seg == 0 || seg == model_.live) {
        for (uint64_t p = 0; p < std::min<uint64_t>(64, size); ++p) positions.insert(p);
      }
      // A stratified sample over the whole file (header, records, bodies, trailer).
      const uint64_t n = std::min<uint64_t>(per_file, size);
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t lo = size * i / n;
        const uint64_t hi = size * (i + 1) / n;
        positions.insert(lo + rng_() % std::max<uint64_t>(1, hi - lo));
      }
      positions.insert(size - 1);  // the last byte (trailer / last record)
      std::string tally_key = std::string(file_name(kind));
      if (kind == SegmentKind::Events) {
        tally_key += seg == model_.live ? " (live)" : " (closed)";
      }
      Tally& t = tallies[tally_key];
      for (uint64_t pos : positions) {
        if (!sample(rel, pos, expect_for(seg, kind, pos), t)) {
          ADD_FAILURE() << "stopping the sweep at the first failing sample";
          return;
        }
      }
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  for (const auto& [k, t] : tallies) {
    std::printf(
        "  %-22s %4zu samples: %4zu fully correct, %4zu with read errors, %4zu open errors, %4zu "
        "refused opens (damaged acknowledged data, files unchanged), %4zu last-batch "
        "truncations (%zu events dropped in total)\n"
        "  %-22s damage written %zu, detected %zu, undetected %zu\n"
        "  %-22s header-only read_event: %zu samples with wrong fields, %zu with an event "
        "missing\n",
        k.c_str(), t.samples, t.fully_correct, t.samples_with_read_errors, t.open_errors,
        t.refusals, t.truncations, t.events_dropped, "", t.damage_written, t.detected, t.undetected,
        "", t.header_only_wrong, t.header_only_missing);
    EXPECT_GT(t.samples, 0u) << k;
    EXPECT_EQ(t.damage_written, t.samples) << k << ": a sample's damage was not written";
    EXPECT_EQ(t.detected + t.undetected, t.samples) << k;
    EXPECT_GT(t.detected, 0u) << k << ": no damage was ever noticed: the sweep tests nothing";
    // Every byte of a segment file is under a check (header CRC, record CRCs, recovery's scan)
    // and the reads touch every record: damage there never goes unnoticed. (Index files may
    // carry bytes no lookup reads; their damage is then harmless and only counted.)
    if (k.starts_with(file_name(SegmentKind::Events))) {
      EXPECT_EQ(t.undetected, 0u) << k << ": damage of a segment went unnoticed";
    }
  }
  std::printf("  %lld ms\n", static_cast<long long>(ms));
}

// Harder damage to closed segments (see the top of the file): the database opens every time,
// every read is the exact original or an error, appends never reuse a sequence, and `sierradb
// check` reports each case.
TEST_F(CorruptionSweep, DamagedClosedSegmentsAreQuarantined) {
  ASSERT_FALSE(HasFailure());
  enum class Damage { RecordByte, HeaderByte, ZeroPage, Truncate };
  const char* names[] = {"record byte", "header byte", "zeroed 4 KiB page", "truncated file"};
  const size_t per_case = std::max<size_t>(3, samples_per_file() / 20);
  size_t samples = 0, with_errors = 0, quarantined = 0, refused_appends = 0;
  Tally header_only;
  for (SegmentId seg = 0; seg < model_.live; ++seg) {
    const fs::path rel =
        get_path(pristine_, 0, seg, SegmentKind::Events).lexically_relative(pristine_);
    const uint64_t size = fs::file_size(pristine_ / rel);
    for (Damage d : {Damage::RecordByte, Damage::HeaderByte, Damage::ZeroPage, Damage::Truncate}) {
      for (bool drop_index : {false, true}) {
        for (size_t n = 0; n < per_case; ++n) {
          std::error_code ec;
          fs::remove_all(work_, ec);
          powerloss::copy_tree(pristine_, work_);
          const fs::path file = work_ / rel;
          std::string what = names[static_cast<int>(d)];
          if (d == Damage::RecordByte || d == Damage::HeaderByte) {
            const uint64_t pos =
                d == Damage::HeaderByte
                    ? rng_() % segment_format::kHeaderSize
                    : segment_format::kHeaderSize + rng_() % (size - segment_format::kHeaderSize);
            const uint8_t mask = static_cast<uint8_t>(1 + rng_() % 255);
            std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
            f.seekg(static_cast<std::streamoff>(pos));
            char c = 0;
            f.get(c);
            f.seekp(static_cast<std::streamoff>(pos));
            f.put(static_cast<char>(static_cast<uint8_t>(c) ^ mask));
            what += " " + std::to_string(pos) + " ^ " + std::to_string(mask);
          } else if (d == Damage::ZeroPage) {
            const uint64_t page = (rng_() % (size / 4096 + 1)) * 4096;
            const std::string zeros(std::min<uint64_t>(4096, size - page), '\0');
            std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(static_cast<std::streamoff>(page));
            f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
            what += " at " + std::to_string(page);
          } else {
            const uint64_t to =
                segment_format::kHeaderSize + 1 + rng_() % (size - segment_format::kHeaderSize - 1);
            fs::resize_file(file, to);
            what += " to " + std::to_string(to);
          }
          if (drop_index) {
            for (SegmentKind k :
                 {SegmentKind::EventIndex, SegmentKind::PartitionIndex, SegmentKind::StreamIndex}) {
              fs::remove(get_path(work_, 0, seg, k));
            }
            what += ", index files deleted";
          }
          SCOPED_TRACE("segment " + std::to_string(seg) + ": " + what +
                       " (rerun with SIERRA_TEST_SEED=" + std::to_string(sweep_seed()) + ")");
          ++samples;
          auto db = sw_builder().open(work_);
          ASSERT_TRUE(db) << "one damaged closed segment stopped the database: "
                          << db.error().to_string();
          quarantined += (*db)->health().quarantined.empty() ? 0 : 1;
          Expect x;
          x.kind = Expect::Kind::Lenient;  // errors anywhere; nothing wrong, nothing silently lost
          x.absent.assign(model_.events.size(), false);
          bool errors = false;
          check_reads(**db, x, errors);
          count_header_only(**db, x, header_only);
          with_errors += errors ? 1 : 0;
          // An append is refused, or takes the partition's true next sequence.
          for (const auto& [pid, evs] : model_.partitions) {
            NewEvent e = model_.events[evs.front()].ev;
            e.event_id = new_event_id(partition_hash(e.partition_key));
            e.stream_id = "quarantine-probe";
            e.expected_version = EV::any();
            auto r = (*db)->append_events(pid, make_tx({e}));
            if (!r) {
              ++refused_appends;
              EXPECT_EQ(r.error().code, Errc::QuarantinedSegment) << r.error().to_string();
            } else {
              EXPECT_EQ(r->first_partition_sequence, model_.events[evs.back()].seq + 1)
                  << "an append reused a sequence of lost events";
            }
          }
          (*db)->close();
          db->reset();
          const CheckReport report = check_directory(work_);
          EXPECT_FALSE(report.healthy()) << "check did not report the damage";
          if (::testing::Test::HasFailure()) return;
        }
      }
    }
  }
  std::printf(
      "  quarantine sweep: %zu samples (%zu per case), %zu quarantined at open, %zu with read "
      "errors, %zu appends refused; header-only: %zu wrong, %zu missing\n",
      samples, per_case, quarantined, with_errors, refused_appends, header_only.header_only_wrong,
      header_only.header_only_missing);
}

}  // namespace
}  // namespace sierra
