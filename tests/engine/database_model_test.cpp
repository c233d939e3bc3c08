// Model-based randomized test of the Database API: random transactions (single and multi-event,
// random expected versions and partition sequences, invalid inputs) are applied both to the
// engine and to a simple in-memory model; every outcome and, periodically, every read is
// compared. The database is closed and reopened now and then, and a copy of the live directory
// (taken right after a rollover, while the background index write may still be pending) is
// opened and checked too.
//
// Seeds: SIERRA_TEST_SEED=<n> runs that one seed; otherwise a fixed list plus a time-based one.
// SIERRA_MODEL_OPS=<n> changes the number of operations per seed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <unordered_map>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "support/eventually.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr uint16_t kModelPartitions = 8;
constexpr uint16_t kModelBuckets = 2;
constexpr uint64_t kModelSegment = 64 * 1024;

struct MEvent {
  Uuid id;
  Uuid key;
  PartitionId pid = 0;
  uint64_t seq = 0;
  std::string stream;
  uint64_t version = 0;
  Uuid txid;
  size_t tx_size = 0;   // events in its transaction
  size_t tx_index = 0;  // position in its transaction
  std::string name;
  std::string metadata;
  std::string payload;
  uint64_t ts = 0;
};

using StreamRef = std::pair<PartitionId, std::string>;

struct MStream {
  Uuid key;
  std::vector<uint64_t> seqs;  // partition sequence of each version
};

struct Prediction {
  std::optional<Errc> error;
  uint64_t first_seq = 0;
  std::vector<uint64_t> versions;
};

class Model {
 public:
  std::map<PartitionId, std::vector<MEvent>> parts;
  std::map<StreamRef, MStream> streams;
  std::unordered_map<Uuid, std::pair<PartitionId, uint64_t>, UuidHash> by_id;
  std::map<BucketId, uint64_t> log_pos;  // last log position per bucket

  uint64_t next_seq(PartitionId pid) const {
    auto it = parts.find(pid);
    return it == parts.end() ? 0 : it->second.size();
  }
  // Current version of a stream, nullopt when empty; key of the stream if it exists.
  const MStream* stream(PartitionId pid, const std::string& s) const {
    auto it = streams.find({pid, s});
    return it == streams.end() ? nullptr : &it->second;
  }

  // The outcome of appending `events` (one key) to `arg_pid` with expected sequence `seq`.
  Prediction predict(PartitionId arg_pid, const std::vector<NewEvent>& events,
                     const EV& seq) const {
    Prediction p;
    const PartitionId pid = pid_of(events.front().partition_key, kModelPartitions);
    if (pid != arg_pid) {
      p.error = Errc::InvalidArgument;
      return p;
    }
    const uint64_t next = next_seq(pid);
    const CurrentVersion cur_seq =
        next == 0 ? CurrentVersion::empty() : CurrentVersion::current(next - 1);
    if (!cur_seq.satisfies(seq)) {
      p.error = Errc::WrongExpectedSequence;
      return p;
    }
    std::map<std::string, uint64_t> in_tx;
    for (const NewEvent& e : events) {
      CurrentVersion cur;
      if (auto it = in_tx.find(e.stream_id); it != in_tx.end()) {
        cur = CurrentVersion::current(it->second);
      } else if (const MStream* s = stream(pid, e.stream_id)) {
        if (s->key != e.partition_key) {
          p.error = Errc::PartitionKeyMismatch;
          return p;
        }
        cur = CurrentVersion::current(s->seqs.size() - 1);
      }
      if (!cur.satisfies(e.expected_version)) {
        p.error = Errc::WrongExpectedVersion;
        return p;
      }
      p.versions.push_back(cur.next());
      in_tx[e.stream_id] = cur.next();
    }
    p.first_seq = next;
    return p;
  }

  void apply(PartitionId pid, const std::vector<NewEvent>& events, const Prediction& p,
             const Uuid& txid) {
    auto& part = parts[pid];
    for (size_t i = 0; i < events.size(); ++i) {
      const NewEvent& e = events[i];
      MEvent m{e.event_id,    e.partition_key, pid, p.first_seq + i, e.stream_id, p.versions[i],
               txid,          events.size(),   i,   e.event_name,    e.metadata,  e.payload,
               e.timestamp_ns};
      part.push_back(m);
      by_id[e.event_id] = {pid, m.seq};
      MStream& s = streams[{pid, e.stream_id}];
      s.key = e.partition_key;
      s.seqs.push_back(m.seq);
    }
  }

  const MEvent& event(PartitionId pid, uint64_t seq) const { return parts.at(pid).at(seq); }
};

uint64_t time_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::vector<uint64_t> seeds_to_run() {
  if (const char* s = std::getenv("SIERRA_TEST_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {1, 20240607, time_seed()};
}

size_t ops_per_seed() {
  if (const char* s = std::getenv("SIERRA_MODEL_OPS")) return std::strtoull(s, nullptr, 10);
  return 2500;
}

// Recursive copy of a live directory that tolerates files vanishing or being renamed meanwhile
// (the background index writer uses temp file + rename).
void copy_tree(const fs::path& from, const fs::path& to) {
  // One directory level at a time: recursive_directory_iterator stats each entry to decide
  // whether to descend and stops the whole walk when a temp file vanished in between (which
  // silently left later buckets out of the copy). Entries that vanish are simply skipped.
  std::error_code ec;
  fs::create_directories(to, ec);
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    const fs::file_status st = it->symlink_status(ec2);
    if (ec2) continue;  // vanished meanwhile
    const fs::path target = to / it->path().filename();
    if (fs::is_directory(st)) {
      copy_tree(it->path(), target);
    } else {
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, ec2);
    }
  }
}

class ModelRun {
 public:
  ModelRun(uint64_t seed, const fs::path& dir) : rng_(seed), dir_(dir) {
    while (keys_.size() < 6) {
      Uuid k;
      for (auto& b : k.bytes) b = static_cast<uint8_t>(rng_());
      keys_.push_back(k);
    }
  }

  DatabaseBuilder builder() const {
    return DatabaseBuilder()
        .segment_size(kModelSegment)
        .partition_count(kModelPartitions)
        .total_buckets(kModelBuckets)
        .log_sink(quiet_log);
  }

  void run(size_t ops) {
    auto db = builder().open(dir_);
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = *db;
    size_t done = 0;
    size_t batches = 0;
    while (done < ops) {
      const size_t n = 1 + rng_() % 6;
      ASSERT_NO_FATAL_FAILURE(batch(n));
      done += n;
      ++batches;
      if (batches % 40 == 0) {
        ASSERT_NO_FATAL_FAILURE(verify_all(*db_, false));
      }
      if (batches % 150 == 0) {
        SCOPED_TRACE("after reopen, op " + std::to_string(done));
        db_->close();
        db_.reset();
        auto again = builder().open(dir_);
        ASSERT_TRUE(again) << again.error().to_string();
        db_ = *again;
        ASSERT_NO_FATAL_FAILURE(verify_all(*db_, true));
      }
      if (rolled_over_ && copies_ < 4 && rng_() % 3 == 0) {
        rolled_over_ = false;
        ++copies_;
        SCOPED_TRACE("copy of the live directory, op " + std::to_string(done));
        ASSERT_NO_FATAL_FAILURE(check_copy());
      }
    }
    ASSERT_NO_FATAL_FAILURE(verify_all(*db_, true));
    db_->close();
    db_.reset();
    auto last = builder().open(dir_);
    ASSERT_TRUE(last) << last.error().to_string();
    ASSERT_NO_FATAL_FAILURE(verify_all(**last, true));
  }

 private:
  struct Op {
    PartitionId arg_pid = 0;
    std::vector<NewEvent> events;
    EV seq;
    Prediction pred;
    std::optional<Errc> make_error;  // Transaction::make must fail with this
    Uuid txid;
    std::promise<Result<AppendResult>> promise;
    std::future<Result<AppendResult>> future;
  };

  size_t pick(size_t n) { return rng_() % n; }
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  std::string random_bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng_());
    return s;
  }

  // Version expectation for the next event of (pid, stream), given the versions this
  // transaction already assigned (tentatively, in the model's view).
  EV random_expected(PartitionId pid, const std::string& stream,
                     std::map<std::string, std::optional<uint64_t>>& tx_state) {
    std::optional<uint64_t> cur;
    if (auto it = tx_state.find(stream); it != tx_state.end()) {
      cur = it->second;
    } else if (const MStream* s = model_.stream(pid, stream)) {
      cur = s->seqs.size() - 1;
    }
    EV e;
    const int r = static_cast<int>(pick(100));
    if (r < 30) {
      e = EV::any();
    } else if (r < 42) {
      e = EV::exists();
    } else if (r < 54) {
      e = EV::empty();
    } else if (r < 90) {
      e = cur ? EV::exact(*cur) : EV::empty();
    } else {
      e = EV::exact(cur ? *cur + 1 + pick(3) : pick(3));
    }
    // Tentatively assume success for the following events of this transaction.
    tx_state[stream] = cur ? *cur + 1 : 0;
    return e;
  }

  std::string random_stream(size_t key_index) {
    if (chance(15)) return "shared-" + std::to_string(pick(3));
    return "k" + std::to_string(key_index) + "-s" + std::to_string(pick(4));
  }

  void build_op(Op& op) {
    const size_t ki = pick(keys_.size());
    const Uuid key = keys_[ki];
    const PartitionId pid = pid_of(key, kModelPartitions);
    op.arg_pid = pid;
    const size_t n = chance(55) ? 1 : 2 + pick(4);
    std::map<std::string, std::optional<uint64_t>> tx_state;
    for (size_t i = 0; i < n; ++i) {
      NewEvent e;
      e.partition_key = key;
      e.event_id = event_id_from_parts(1'700'000'000'000 + op_counter_, rng_() & 0xfff,
                                       partition_hash(key), rng_() & ((uint64_t{1} << 46) - 1));
      e.stream_id = random_stream(ki);
      e.expected_version = random_expected(pid, e.stream_id, tx_state);
      e.event_name = "ev-" + std::to_string(pick(1000));
      e.timestamp_ns = rng_() >> 2;
      e.metadata = random_bytes(pick(40));
      e.payload = random_bytes(chance(3) ? 15'000 + pick(10'000) : pick(2500));
      op.events.push_back(std::move(e));
    }
    // Expected partition sequence.
    const uint64_t next = model_.next_seq(pid);
    const int r = static_cast<int>(pick(100));
    if (r < 70) {
      op.seq = EV::any();
    } else if (r < 76) {
      op.seq = EV::empty();
    } else if (r < 82) {
      op.seq = EV::exists();
    } else if (r < 94) {
      op.seq = next == 0 ? EV::empty() : EV::exact(next - 1);
    } else {
      op.seq = EV::exact(next + pick(3));
    }
    // Invalid inputs.
    const int bad = static_cast<int>(pick(100));
    NewEvent& victim = op.events[pick(op.events.size())];
    if (bad < 2) {
      victim.event_id = new_event_id(static_cast<PartitionHash>(partition_hash(key) + 1));
      op.make_error = Errc::InvalidEventId;
    } else if (bad < 4) {
      victim.event_name = std::string(256 + pick(10), 'n');
      op.make_error = Errc::InvalidArgument;
    } else if (bad < 6) {
      victim.stream_id = std::string(65 + pick(10), 's');
      op.make_error = Errc::InvalidLength;
    } else if (bad < 9) {
      op.arg_pid =
          static_cast<PartitionId>((pid + 1 + pick(kModelPartitions - 1)) % kModelPartitions);
    }
  }

  void batch(size_t n) {
    std::vector<std::shared_ptr<Op>> ops;
    for (size_t i = 0; i < n; ++i) {
      auto op = std::make_shared<Op>();
      build_op(*op);
      op->future = op->promise.get_future();
      ops.push_back(std::move(op));
    }
    // Submit every op (in order) before waiting: they may share a group commit.
    for (auto& op : ops) {
      auto tx = Transaction::make(op->events);
      if (op->make_error) {
        ++stats_["make:" + std::string(errc_name(*op->make_error))];
        ASSERT_FALSE(tx) << "Transaction::make accepted an invalid transaction";
        ASSERT_EQ(tx.error().code, *op->make_error) << tx.error().to_string();
        op->promise.set_value(std::unexpected(tx.error()));
        continue;
      }
      ASSERT_TRUE(tx) << tx.error().to_string();
      tx->expected_partition_sequence(op->seq);
      op->txid = tx->id();
      db_->append_events_async(op->arg_pid, std::move(*tx), [op](Result<AppendResult> r) {
        op->promise.set_value(std::move(r));
      });
    }
    // Compare in submission order: the model applies them one after the other.
    for (auto& op : ops) {
      auto r = test_support::get_within(op->future, "an append");
      if (op->make_error) continue;
      const Prediction p = model_.predict(op->arg_pid, op->events, op->seq);
      SCOPED_TRACE("op " + std::to_string(op_counter_++) + " seq=" + op->seq.to_string() +
                   " events=" + std::to_string(op->events.size()));
      ++stats_[p.error ? std::string(errc_name(*p.error)) : "ok"];
      if (p.error) {
        ASSERT_FALSE(r) << "expected " << errc_name(*p.error) << ", got success";
        ASSERT_EQ(r.error().code, *p.error) << r.error().to_string();
        continue;
      }
      ASSERT_TRUE(r) << "expected success, got " << r.error().to_string();
      const PartitionId pid = op->arg_pid;
      EXPECT_EQ(r->partition_id, pid);
      EXPECT_EQ(r->transaction_id, op->txid);
      EXPECT_EQ(transaction_id_is_single(r->transaction_id), op->events.size() == 1);
      EXPECT_EQ(r->first_partition_sequence, p.first_seq);
      EXPECT_EQ(r->last_partition_sequence, p.first_seq + op->events.size() - 1);
      EXPECT_EQ(r->stream_versions, p.versions);
      EXPECT_EQ(r->offsets.size(), op->events.size());
      const BucketId b = bucket_for_partition(pid, kModelBuckets);
      EXPECT_EQ(r->log_position, model_.log_pos[b] + 1) << "log positions are consecutive";
      model_.log_pos[b] = r->log_position;
      auto& last_seg = segment_[b];
      EXPECT_GE(r->segment_id, last_seg);
      if (r->segment_id > last_seg) rolled_over_ = true;
      last_seg = r->segment_id;
      model_.apply(pid, op->events, p, op->txid);
    }
  }

  void check_event(const EventRecord& got, const MEvent& m, bool header_only = false) {
    EXPECT_EQ(got.event_id, m.id);
    EXPECT_EQ(got.partition_key, m.key);
    EXPECT_EQ(got.partition_id, m.pid);
    EXPECT_EQ(got.partition_sequence, m.seq);
    EXPECT_EQ(got.stream_version, m.version);
    EXPECT_EQ(got.tx.transaction_id, m.txid);
    EXPECT_EQ(got.timestamp_ns, m.ts);
    if (!header_only) {
      EXPECT_EQ(got.stream_id, m.stream);
      EXPECT_EQ(got.event_name, m.name);
      EXPECT_EQ(got.metadata, m.metadata);
      EXPECT_EQ(got.payload, m.payload);
    } else {
      EXPECT_TRUE(got.payload.empty());
    }
  }

  // Every kind of read, compared with the model. `all_events` reads every event by id.
  void verify_all(const Database& db, bool all_events) {
    // Latest sequences, including partitions never written.
    for (PartitionId pid = 0; pid < kModelPartitions; ++pid) {
      auto s = db.get_partition_sequence(pid);
      ASSERT_TRUE(s) << s.error().to_string();
      const uint64_t next = model_.next_seq(pid);
      if (next == 0) {
        EXPECT_FALSE(s->has_value()) << "partition " << pid;
      } else {
        EXPECT_EQ(*s, std::optional<uint64_t>(next - 1)) << "partition " << pid;
      }
    }
    // Events by id.
    std::vector<Uuid> ids;
    for (const auto& [id, where] : model_.by_id) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    const size_t samples = all_events ? ids.size() : std::min<size_t>(ids.size(), 40);
    for (size_t i = 0; i < samples; ++i) {
      const Uuid& id = all_events ? ids[i] : ids[pick(ids.size())];
      const auto [pid, seq] = model_.by_id.at(id);
      const bool header_only = chance(20);
      auto ev = db.read_event(pid, id, header_only);
      ASSERT_TRUE(ev) << ev.error().to_string();
      ASSERT_TRUE(ev->has_value()) << "event " << id.to_string() << " missing";
      check_event(**ev, model_.event(pid, seq), header_only);
    }
    for (int i = 0; i < 5; ++i) {
      const Uuid key = keys_[pick(keys_.size())];
      auto ev = db.read_event(pid_of(key, kModelPartitions), new_event_id(partition_hash(key)));
      ASSERT_TRUE(ev) << ev.error().to_string();
      EXPECT_FALSE(ev->has_value());
    }
    // Transactions by a random event id: from that event to the end of its transaction.
    for (int i = 0; i < 10 && !ids.empty(); ++i) {
      const Uuid& id = ids[pick(ids.size())];
      const auto [pid, seq] = model_.by_id.at(id);
      const MEvent& m = model_.event(pid, seq);
      auto tx = db.read_transaction(pid, id);
      ASSERT_TRUE(tx) << tx.error().to_string();
      ASSERT_TRUE(tx->has_value());
      ASSERT_EQ((*tx)->events.size(), m.tx_size - m.tx_index);
      for (size_t j = 0; j < (*tx)->events.size(); ++j) {
        check_event((*tx)->events[j], model_.event(pid, seq + j));
      }
      EXPECT_EQ((*tx)->commit.has_value(), m.tx_size > 1);
    }
    // Partition scans from random starting points.
    for (PartitionId pid = 0; pid < kModelPartitions; ++pid) {
      const uint64_t next = model_.next_seq(pid);
      for (uint64_t from : {uint64_t{0}, next == 0 ? 0 : pick(next), next, next + 3}) {
        auto got = scan_partition(db, pid, from);
        ASSERT_EQ(got.size(), next > from ? next - from : 0)
            << "partition " << pid << " from " << from;
        for (size_t j = 0; j < got.size(); ++j) check_event(got[j], model_.event(pid, from + j));
      }
    }
    // Stream scans, forward and reverse, from random versions.
    for (const auto& [ref, s] : model_.streams) {
      const auto& [pid, name] = ref;
      const uint64_t n = s.seqs.size();
      auto v = db.get_stream_version(pid, name);
      ASSERT_TRUE(v) << v.error().to_string();
      ASSERT_TRUE(v->has_value()) << name;
      EXPECT_EQ((*v)->version, n - 1);
      EXPECT_EQ((*v)->partition_key, s.key);
      const uint64_t from = pick(n + 2);
      auto fwd = scan_stream(db, pid, name, from);
      ASSERT_EQ(fwd.size(), n > from ? n - from : 0) << name << " from " << from;
      for (size_t j = 0; j < fwd.size(); ++j) {
        check_event(fwd[j], model_.event(pid, s.seqs[from + j]));
      }
      const uint64_t rfrom = pick(n + 2);
      auto rev = scan_stream(db, pid, name, rfrom, true);
      const uint64_t top = std::min(rfrom, n - 1);
      ASSERT_EQ(rev.size(), top + 1) << name << " reverse from " << rfrom;
      for (size_t j = 0; j < rev.size(); ++j) {
        check_event(rev[j], model_.event(pid, s.seqs[top - j]));
      }
    }
    for (size_t ki = 0; ki < keys_.size(); ++ki) {
      const PartitionId pid = pid_of(keys_[ki], kModelPartitions);
      auto v = db.get_stream_version(pid, "never-written");
      ASSERT_TRUE(v);
      EXPECT_FALSE(v->has_value());
      EXPECT_TRUE(scan_stream(db, pid, "never-written").empty());
    }
  }

  void check_copy() {
    TempDir copy("sierra-model-copy");
    copy_tree(dir_, copy.path());
    auto db = builder().open(copy.path());
    ASSERT_TRUE(db) << db.error().to_string();
    ASSERT_NO_FATAL_FAILURE(verify_all(**db, true));
    (*db)->close();
  }

  std::mt19937_64 rng_;
  fs::path dir_;
  std::vector<Uuid> keys_;
  Model model_;
  std::shared_ptr<Database> db_;
  std::map<BucketId, SegmentId> segment_;
  bool rolled_over_ = false;
  int copies_ = 0;
  size_t op_counter_ = 0;

 public:
  std::map<std::string, size_t> stats_;
  std::string stats() const {
    std::string out;
    for (const auto& [k, v] : stats_) out += k + "=" + std::to_string(v) + " ";
    size_t segs = 0;
    for (const auto& [b, s] : segment_) segs += s;
    return out + "rollovers=" + std::to_string(segs) + " copies=" + std::to_string(copies_);
  }
};

TEST(DatabaseModel, RandomizedAgainstModel) {
  const size_t ops = ops_per_seed();
  for (uint64_t seed : seeds_to_run()) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with SIERRA_TEST_SEED=" + std::to_string(seed) + ")");
    TempDir dir("sierra-model");
    ModelRun run(seed, dir.path());
    run.run(ops);
    std::printf("  seed %llu: %s\n", static_cast<unsigned long long>(seed), run.stats().c_str());
    if (HasFatalFailure() || HasNonfatalFailure()) {
      std::fprintf(stderr, "DatabaseModel failed with seed %llu\n",
                   static_cast<unsigned long long>(seed));
      return;
    }
  }
}

}  // namespace
}  // namespace sierra
