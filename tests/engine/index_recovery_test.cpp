// Index recovery: a database with many closed segments answers every lookup identically after
// its closed index files (index.eidx, partition.pidx, stream.sidx) were deleted, truncated or
// damaged (DECISIONS.md D3: missing or damaged index files are rebuilt from the segment), and
// lookups and iterators work from every starting point across many closed segments.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/segment/paths.hpp"
#include "support/eventually.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr uint64_t kSegment = 64 * 1024;
constexpr uint16_t kBuckets = 4;

DatabaseBuilder builder() {
  return DatabaseBuilder().segment_size(kSegment).total_buckets(kBuckets).log_sink(quiet_log);
}

std::string describe(const EventRecord& e) {
  std::string s = e.event_id.to_string() + "|" + e.partition_key.to_string() + "|" +
                  std::to_string(e.partition_id) + "|" + std::to_string(e.partition_sequence) +
                  "|" + e.stream_id + "|" + std::to_string(e.stream_version) + "|" + e.event_name +
                  "|" + e.tx.transaction_id.to_string() + "|" + std::to_string(e.tx.log_position) +
                  "|" + std::to_string(e.offset) + "|" + std::to_string(e.length) + "|" +
                  std::to_string(e.timestamp_ns) + "|" + std::to_string(e.confirmation_count) + "|";
  return s + e.metadata + "|" + e.payload;
}

std::string error_text(const Error& e) {
  return "ERR:" + std::string(errc_name(e.code));
}

// Every answer the database gives about its content.
struct Answers {
  std::map<Uuid, std::string> events;
  std::map<PartitionId, std::vector<std::string>> partitions;
  std::map<PartitionId, std::string> latest_seq;
  std::map<std::pair<PartitionId, std::string>, std::vector<std::string>> fwd, rev;
  std::map<std::pair<PartitionId, std::string>, std::string> latest_version;
};

struct Written {
  std::vector<std::pair<PartitionId, Uuid>> ids;
  std::set<std::pair<PartitionId, std::string>> streams;
};

std::vector<std::string> scan_text(Result<PartitionIterator> it) {
  std::vector<std::string> out;
  if (!it) return {error_text(it.error())};
  while (true) {
    auto r = it->next();
    if (!r) {
      out.push_back(error_text(r.error()));
      break;
    }
    if (!*r) break;
    out.push_back(describe(**r));
  }
  return out;
}

std::vector<std::string> scan_text(Result<StreamIterator> it) {
  std::vector<std::string> out;
  if (!it) return {error_text(it.error())};
  while (true) {
    auto r = it->next();
    if (!r) {
      out.push_back(error_text(r.error()));
      break;
    }
    if (!*r) break;
    out.push_back(describe(**r));
  }
  return out;
}

Answers answers(const Database& db, const Written& w) {
  Answers a;
  for (const auto& [pid, id] : w.ids) {
    auto ev = db.read_event(pid, id);
    a.events[id] = !ev ? error_text(ev.error()) : !*ev ? "NONE" : describe(**ev);
  }
  for (PartitionId pid = 0; pid < kPartitions; ++pid) {
    a.partitions[pid] = scan_text(db.read_partition(pid, 0));
    auto s = db.get_partition_sequence(pid);
    a.latest_seq[pid] = !s ? error_text(s.error()) : !*s ? "NONE" : std::to_string(**s);
  }
  for (const auto& ref : w.streams) {
    a.fwd[ref] = scan_text(db.read_stream(ref.first, ref.second, 0));
    a.rev[ref] = scan_text(db.read_stream(ref.first, ref.second, UINT64_MAX, true));
    auto v = db.get_stream_version(ref.first, ref.second);
    a.latest_version[ref] =
        !v    ? error_text(v.error())
        : !*v ? "NONE"
              : (*v)->partition_key.to_string() + "@" + std::to_string((*v)->version);
  }
  return a;
}

bool is_error(const std::string& s) {
  return s.starts_with("ERR:");
}

// Compares two answer sets. With `tolerate_errors`, a lookup may fail with CorruptIndex instead
// of answering (a damaged index record is detected by its checksum), but never answer wrong.
void compare(const Answers& want, const Answers& got, bool tolerate_errors, size_t* errors) {
  auto same = [&](const std::string& w, const std::string& g, const std::string& what) {
    if (w == g) return;
    if (tolerate_errors && g == "ERR:CorruptIndex") {
      ++*errors;
      return;
    }
    ADD_FAILURE() << what << ": want " << w.substr(0, 120) << " got " << g.substr(0, 120);
  };
  auto same_list = [&](const std::vector<std::string>& w, const std::vector<std::string>& g,
                       const std::string& what) {
    // An iterator may end with an error, after a correct prefix.
    for (size_t i = 0; i < g.size(); ++i) {
      if (tolerate_errors && i + 1 == g.size() && is_error(g[i])) {
        same(i < w.size() ? w[i] : "END", g[i], what + " #" + std::to_string(i));
        return;
      }
      if (i >= w.size() || w[i] != g[i]) {
        ADD_FAILURE() << what << " #" << i << ": want "
                      << (i < w.size() ? w[i].substr(0, 120) : "END") << " got "
                      << g[i].substr(0, 120);
        return;
      }
    }
    if (g.size() != w.size()) ADD_FAILURE() << what << ": " << g.size() << " vs " << w.size();
  };
  ASSERT_EQ(want.events.size(), got.events.size());
  for (const auto& [id, w] : want.events) same(w, got.events.at(id), "event " + id.to_string());
  for (const auto& [pid, w] : want.partitions) {
    same_list(w, got.partitions.at(pid), "partition " + std::to_string(pid));
    same(want.latest_seq.at(pid), got.latest_seq.at(pid), "latest seq " + std::to_string(pid));
  }
  for (const auto& [ref, w] : want.fwd) {
    same_list(w, got.fwd.at(ref), "stream " + ref.second);
    same_list(want.rev.at(ref), got.rev.at(ref), "reverse stream " + ref.second);
    same(want.latest_version.at(ref), got.latest_version.at(ref), "version " + ref.second);
  }
}

// Fills a database with single and multi-event transactions of 6 keys x 3 streams, appended
// asynchronously in groups (group commit) so the fill is fast despite fdatasync.
Written populate(const fs::path& dir, size_t events, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto opened = builder().open(dir);
  if (!opened) {
    ADD_FAILURE() << opened.error().to_string();
    return {};
  }
  auto db = *opened;
  std::vector<Uuid> keys;
  while (keys.size() < 6) keys.push_back(uuid_v4());
  Written w;
  size_t written = 0;
  while (written < events) {
    std::vector<std::future<Result<AppendResult>>> futures;
    for (int i = 0; i < 12 && written < events; ++i) {
      const Uuid key = keys[rng() % keys.size()];
      const size_t n = rng() % 3 == 0 ? 2 + rng() % 3 : 1;
      std::vector<NewEvent> evs;
      for (size_t j = 0; j < n; ++j) {
        const std::string stream =
            "s" + std::to_string(rng() % 3) + "-" + key.to_string().substr(0, 8);
        evs.push_back(make_event(stream, EV::any(), key, std::string(50 + rng() % 400, 'p'),
                                 "name-" + std::to_string(rng() % 100)));
        w.ids.emplace_back(pid_of(key), evs.back().event_id);
        w.streams.emplace(pid_of(key), stream);
      }
      written += n;
      auto promise = std::make_shared<std::promise<Result<AppendResult>>>();
      futures.push_back(promise->get_future());
      db->append_events_async(pid_of(key), make_tx(std::move(evs)),
                              [promise](Result<AppendResult> r) { promise->set_value(r); });
    }
    for (auto& f : futures) {
      auto r = test_support::get_within(f, "an append");
      if (!r) ADD_FAILURE() << r.error().to_string();
    }
  }
  db->close();
  return w;
}

// Closed segments (all but the highest of each bucket).
std::vector<std::pair<BucketId, SegmentId>> closed_segments(const fs::path& dir) {
  std::vector<std::pair<BucketId, SegmentId>> out;
  for (BucketId b = 0; b < kBuckets; ++b) {
    auto ids = list_segment_ids(dir, b);
    if (!ids || ids->empty()) continue;
    for (size_t i = 0; i + 1 < ids->size(); ++i) out.emplace_back(b, (*ids)[i]);
  }
  return out;
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

class IndexRecovery : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pristine_ = new TempDir("sierra-idx-pristine");
    written_ = new Written(populate(pristine_->path(), 2500, 7));
    auto db = builder().open(pristine_->path());
    ASSERT_TRUE(db) << db.error().to_string();
    want_ = new Answers(answers(**db, *written_));
    (*db)->close();
  }
  static void TearDownTestSuite() {
    delete want_;
    delete written_;
    delete pristine_;
  }

  // Copies the pristine directory, damages `kind` in every closed segment with `damage`,
  // reopens and compares every answer; then checks the index files were recreated and that a
  // second reopen (from the recreated files) answers the same.
  void run(SegmentKind kind, const std::function<void(const fs::path&, std::mt19937_64&)>& damage,
           bool tolerate_errors, bool expect_recreated) {
    TempDir work("sierra-idx-work");
    const fs::path dir = work.path() / "db";
    copy_dir(pristine_->path(), dir);
    auto closed = closed_segments(dir);
    ASSERT_GE(closed.size(), 12u) << "expected many closed segments";
    std::mt19937_64 rng(99);
    std::map<fs::path, uintmax_t> sizes;
    for (const auto& [b, s] : closed) {
      const fs::path p = get_path(dir, b, s, kind);
      ASSERT_TRUE(fs::exists(p)) << p << " missing before damage (background write lost?)";
      sizes[p] = fs::file_size(p);
      damage(p, rng);
    }
    size_t errors = 0;
    {
      auto db = builder().open(dir);
      ASSERT_TRUE(db) << db.error().to_string();
      ASSERT_NO_FATAL_FAILURE(compare(*want_, answers(**db, *written_), tolerate_errors, &errors));
      (*db)->close();
    }
    if (errors > 0) {
      std::printf("  (%zu lookups reported CorruptIndex instead of answering)\n", errors);
    }
    for (const auto& [p, size] : sizes) {
      ASSERT_TRUE(fs::exists(p)) << p << " not recreated";
      if (expect_recreated) {
        EXPECT_GT(fs::file_size(p), 16u) << p;
      }
    }
    auto db = builder().open(dir);
    ASSERT_TRUE(db) << db.error().to_string();
    size_t errors2 = 0;
    ASSERT_NO_FATAL_FAILURE(compare(*want_, answers(**db, *written_), tolerate_errors, &errors2));
  }

  static TempDir* pristine_;
  static Written* written_;
  static Answers* want_;
};
TempDir* IndexRecovery::pristine_ = nullptr;
Written* IndexRecovery::written_ = nullptr;
Answers* IndexRecovery::want_ = nullptr;

void delete_file(const fs::path& p, std::mt19937_64&) {
  fs::remove(p);
}
void truncate_half(const fs::path& p, std::mt19937_64&) {
  fs::resize_file(p, fs::file_size(p) / 2);
}
void truncate_empty(const fs::path& p, std::mt19937_64&) {
  fs::resize_file(p, 0);
}
void flip_at(const fs::path& p, uint64_t pos) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(pos));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(pos));
  f.write(&c, 1);
}
void flip_header(const fs::path& p, std::mt19937_64&) {
  flip_at(p, 2);
}
void flip_count(const fs::path& p, std::mt19937_64&) {
  flip_at(p, 9);
}
void flip_middle(const fs::path& p, std::mt19937_64&) {
  flip_at(p, fs::file_size(p) / 2);
}
void flip_last(const fs::path& p, std::mt19937_64&) {
  flip_at(p, fs::file_size(p) - 1);
}
void flip_random(const fs::path& p, std::mt19937_64& rng) {
  flip_at(p, rng() % fs::file_size(p));
}

TEST_F(IndexRecovery, PristineAnswersAreComplete) {
  // The recorded answers themselves: every event found, gapless sequences and versions.
  for (const auto& [id, text] : want_->events) {
    EXPECT_FALSE(text == "NONE" || is_error(text)) << id.to_string() << " " << text;
  }
  size_t total = 0;
  for (const auto& [pid, list] : want_->partitions) total += list.size();
  EXPECT_EQ(total, written_->ids.size());
  for (const auto& [ref, list] : want_->fwd) {
    EXPECT_FALSE(list.empty());
    EXPECT_EQ(list.size(), want_->rev.at(ref).size());
  }
  EXPECT_GE(closed_segments(pristine_->path()).size(), 12u);
}

struct Kind {
  SegmentKind kind;
  const char* name;
};
constexpr Kind kKinds[] = {{SegmentKind::EventIndex, "eidx"},
                           {SegmentKind::PartitionIndex, "pidx"},
                           {SegmentKind::StreamIndex, "sidx"}};

TEST_F(IndexRecovery, DeletedIndexFilesAreRebuilt) {
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    ASSERT_NO_FATAL_FAILURE(run(k.kind, delete_file, false, true));
  }
}

TEST_F(IndexRecovery, AllIndexFilesDeletedAreRebuilt) {
  TempDir work("sierra-idx-work");
  const fs::path dir = work.path() / "db";
  copy_dir(pristine_->path(), dir);
  for (const auto& [b, s] : closed_segments(dir)) {
    for (const Kind& k : kKinds) fs::remove(get_path(dir, b, s, k.kind));
  }
  auto db = builder().open(dir);
  ASSERT_TRUE(db) << db.error().to_string();
  size_t errors = 0;
  compare(*want_, answers(**db, *written_), false, &errors);
  for (const auto& [b, s] : closed_segments(dir)) {
    for (const Kind& k : kKinds) EXPECT_TRUE(fs::exists(get_path(dir, b, s, k.kind)));
  }
}

TEST_F(IndexRecovery, TruncatedIndexFilesAreRebuilt) {
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    {
      SCOPED_TRACE("half");
      ASSERT_NO_FATAL_FAILURE(run(k.kind, truncate_half, false, true));
    }
    {
      SCOPED_TRACE("empty");
      ASSERT_NO_FATAL_FAILURE(run(k.kind, truncate_empty, false, true));
    }
  }
}

TEST_F(IndexRecovery, HeaderDamageIsRebuilt) {
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    ASSERT_NO_FATAL_FAILURE(run(k.kind, flip_header, false, true));
    ASSERT_NO_FATAL_FAILURE(run(k.kind, flip_count, false, true));
  }
}

// A damaged index body is detected by the lookup that reads it (record/list CRCs) and the
// segment's indexes are rebuilt from its data on the spot: every answer stays identical.
TEST_F(IndexRecovery, FlippedBytesAreHealed) {
  for (const Kind& k : kKinds) {
    SCOPED_TRACE(k.name);
    ASSERT_NO_FATAL_FAILURE(run(k.kind, flip_middle, false, false));
    ASSERT_NO_FATAL_FAILURE(run(k.kind, flip_last, false, false));
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(run(k.kind, flip_random, false, false));
  }
}

TEST_F(IndexRecovery, LeftoverTempFilesAreIgnored) {
  TempDir work("sierra-idx-work");
  const fs::path dir = work.path() / "db";
  copy_dir(pristine_->path(), dir);
  // A crash during a background write leaves "<index>.tmp" next to (or instead of) the index.
  auto closed = closed_segments(dir);
  for (size_t i = 0; i < closed.size(); ++i) {
    const auto [b, s] = closed[i];
    const fs::path p = get_path(dir, b, s, SegmentKind::StreamIndex);
    fs::path tmp = p;
    tmp += ".tmp";
    fs::copy_file(p, tmp);
    fs::resize_file(tmp, fs::file_size(tmp) / 3);
    if (i % 2 == 0) fs::remove(p);
  }
  auto db = builder().open(dir);
  ASSERT_TRUE(db) << db.error().to_string();
  size_t errors = 0;
  compare(*want_, answers(**db, *written_), false, &errors);
}

// Lookups and iterators from every starting point, across many closed segments: while the
// database that wrote them is open (closed segments served from memory, then from files), and
// after a reopen (files only).
TEST(IndexRecoveryIterators, EveryStartingPointAcrossClosedSegments) {
  TempDir dir("sierra-idx-every");
  const Written w = populate(dir.path(), 2000, 11);
  ASSERT_GE(closed_segments(dir.path()).size(), 8u);
  auto check = [&](const Database& db) {
    for (PartitionId pid = 0; pid < kPartitions; ++pid) {
      auto full = scan_partition(db, pid, 0, true);
      ASSERT_EQ(sequences(full), iota_vec(0, full.size()));
      for (uint64_t from = 1; from <= full.size(); ++from) {
        auto part = scan_partition(db, pid, from, true);
        ASSERT_EQ(part.size(), full.size() - from) << "partition " << pid << " from " << from;
        for (size_t i = 0; i < part.size(); ++i) {
          ASSERT_EQ(part[i].event_id, full[from + i].event_id);
          ASSERT_EQ(part[i].offset, full[from + i].offset);
        }
      }
    }
    for (const auto& [pid, name] : w.streams) {
      auto full = scan_stream(db, pid, name, 0, false, true);
      ASSERT_EQ(versions(full), iota_vec(0, full.size()));
      for (uint64_t from = 0; from <= full.size(); ++from) {
        auto fwd = scan_stream(db, pid, name, from, false, true);
        ASSERT_EQ(fwd.size(), full.size() - from) << name << " from " << from;
        for (size_t i = 0; i < fwd.size(); ++i) ASSERT_EQ(fwd[i].event_id, full[from + i].event_id);
        auto rev = scan_stream(db, pid, name, from, true, true);
        const size_t top = std::min<size_t>(from, full.size() - 1);
        ASSERT_EQ(rev.size(), top + 1) << name << " reverse from " << from;
        for (size_t i = 0; i < rev.size(); ++i) ASSERT_EQ(rev[i].event_id, full[top - i].event_id);
      }
    }
    for (const auto& [pid, id] : w.ids) {
      auto ev = db.read_event(pid, id, true);
      ASSERT_TRUE(ev) << ev.error().to_string();
      ASSERT_TRUE(ev->has_value());
      EXPECT_EQ((*ev)->event_id, id);
      auto tx = db.read_transaction(pid, id, true);
      ASSERT_TRUE(tx) << tx.error().to_string();
      ASSERT_TRUE(tx->has_value());
      EXPECT_EQ((*tx)->events.front().event_id, id);
    }
  };
  {
    auto db = builder().open(dir.path());
    ASSERT_TRUE(db) << db.error().to_string();
    ASSERT_NO_FATAL_FAILURE(check(**db));
    // New appends right after reopen roll over again: the closed list then mixes index files
    // and in-memory indexes (background write pending).
    const auto [pid, id] = w.ids.front();
    auto first = (*db)->read_event(pid, id);
    ASSERT_TRUE(first && first->has_value());
    for (int i = 0; i < 150; ++i) {
      auto r = append_one(**db, make_event((*first)->stream_id, EV::any(), (*first)->partition_key,
                                           std::string(900, 'n')));
      ASSERT_TRUE(r) << r.error().to_string();
    }
    auto all = scan_partition(**db, pid, 0, true);
    EXPECT_EQ(sequences(all), iota_vec(0, all.size()));
    auto vs = versions(scan_stream(**db, pid, (*first)->stream_id, 0));
    EXPECT_EQ(vs, iota_vec(0, vs.size()));
  }
  auto db = builder().open(dir.path());
  ASSERT_TRUE(db) << db.error().to_string();
  ASSERT_NO_FATAL_FAILURE(check(**db));
}

}  // namespace
}  // namespace sierra
