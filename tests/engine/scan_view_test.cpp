// Zero-copy scans (PartitionIterator / StreamIterator ::next_view): the events they return are
// exactly the events the owned reads return (read_event, an independent decode of each record by
// its offset), across segment boundaries and read-window refills, forward and reverse, and a
// damaged record is still an error, never a value.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/segment/paths.hpp"

namespace sierra {
namespace {

using namespace dbtest;
using EV = ExpectedVersion;

class ScanViews : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    db_.reset();
    auto db = DatabaseBuilder()
                  .segment_size(128 * 1024)
                  .total_buckets(1)
                  .writer_threads(1)
                  .log_sink(quiet_log)
                  .open(dir_.path());
    ASSERT_TRUE(db) << db.error().to_string();
    db_ = *db;
  }
  // Payload of event i: sizes from a few bytes to larger than the 64 KiB read window.
  static std::string payload(size_t i) {
    const size_t n = i % 97 == 0 ? 70'000 + i : 1 + (i * 37) % 2000;
    std::string p(n, static_cast<char>('a' + i % 26));
    p[0] = static_cast<char>(i % 256);  // binary bytes too
    return p;
  }
  // Events 0..n-1 of `stream` (single-event transactions) and, every 5th, a two-event
  // transaction with stream `other`, all under one partition key.
  std::vector<AppendResult> fill(const std::string& stream, const std::string& other, size_t n) {
    std::vector<AppendResult> out;
    for (size_t i = 0; i < n; ++i) {
      NewEvent e = make_event(stream, EV::any(), key_, payload(i), "name-" + std::to_string(i));
      e.timestamp_ns = 1'700'000'000'000'000'000ull + i;
      std::vector<NewEvent> tx{e};
      if (i % 5 == 4) tx.push_back(make_event(other, EV::any(), key_, payload(i + 1)));
      auto r = db_->append_events(pid_, make_tx(std::move(tx)));
      EXPECT_TRUE(r) << r.error().to_string();
      if (!r) break;
      out.push_back(*r);
    }
    return out;
  }

  // Every event of `it` through next_view, each compared field by field with read_event of the
  // same event id; returns the count.
  template <class It>
  size_t check_views(It it, std::vector<uint64_t>* keys, bool by_sequence) {
    size_t n = 0;
    while (true) {
      auto v = it.next_view();
      EXPECT_TRUE(v) << v.error().to_string();
      if (!v || *v == nullptr) break;
      const EventView& e = **v;
      auto owned = db_->read_event(pid_, e.event_id);
      EXPECT_TRUE(owned && owned->has_value());
      if (!owned || !owned->has_value()) break;
      const EventRecord& r = **owned;
      EXPECT_EQ(e.offset, r.offset);
      EXPECT_EQ(e.length, r.length);
      EXPECT_EQ(e.tx.transaction_id, r.tx.transaction_id);
      EXPECT_EQ(e.tx.log_position, r.tx.log_position);
      EXPECT_EQ(e.timestamp_ns, r.timestamp_ns);
      EXPECT_EQ(e.partition_key, r.partition_key);
      EXPECT_EQ(e.partition_id, r.partition_id);
      EXPECT_EQ(e.partition_sequence, r.partition_sequence);
      EXPECT_EQ(e.stream_version, r.stream_version);
      EXPECT_EQ(e.stream_id, r.stream_id);
      EXPECT_EQ(e.event_name, r.event_name);
      EXPECT_EQ(e.metadata, r.metadata);
      EXPECT_EQ(e.payload, r.payload);
      keys->push_back(by_sequence ? e.partition_sequence : e.stream_version);
      ++n;
    }
    return n;
  }

  TempDir dir_{"sierra-views"};
  std::shared_ptr<Database> db_;
  Uuid key_ = uuid_v4();
  PartitionId pid_ = pid_of(key_);
};

TEST_F(ScanViews, SameEventsAsOwnedReadsAcrossSegments) {
  const auto results = fill("s", "o", 600);
  ASSERT_EQ(results.size(), 600u);
  auto segs = list_segment_ids(dir_.path(), 0);
  ASSERT_TRUE(segs);
  ASSERT_GE(segs->size(), 5u);

  for (int pass = 0; pass < 2; ++pass) {  // live + closed from memory, then after a reopen
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    std::vector<uint64_t> got;
    auto st = db_->read_stream(pid_, "s", 0);
    ASSERT_TRUE(st);
    EXPECT_EQ(check_views(std::move(*st), &got, false), 600u);
    EXPECT_EQ(got, iota_vec(0, 600));

    got.clear();
    auto other = db_->read_stream(pid_, "o", 7);
    ASSERT_TRUE(other);
    EXPECT_EQ(check_views(std::move(*other), &got, false), 120u - 7);
    EXPECT_EQ(got, iota_vec(7, 120));

    got.clear();
    auto rev = db_->read_stream(pid_, "s", 450, /*reverse=*/true);
    ASSERT_TRUE(rev);
    EXPECT_EQ(check_views(std::move(*rev), &got, false), 451u);
    std::vector<uint64_t> want = iota_vec(0, 451);
    std::reverse(want.begin(), want.end());
    EXPECT_EQ(got, want);

    got.clear();
    auto part = db_->read_partition(pid_, 33);
    ASSERT_TRUE(part);
    EXPECT_EQ(check_views(std::move(*part), &got, true), 720u - 33);
    EXPECT_EQ(got, iota_vec(33, 720));

    // next() (owned) and next_view() agree, and header-only views carry no body.
    auto a = db_->read_stream(pid_, "s", 0);
    auto b = db_->read_stream(pid_, "s", 0);
    ASSERT_TRUE(a && b);
    for (size_t i = 0; i < 600; ++i) {
      auto x = a->next();
      auto y = b->next_view(/*header_only=*/i % 3 == 0);
      ASSERT_TRUE(x && y && x->has_value() && *y != nullptr) << i;
      EXPECT_EQ((*x)->event_id, (*y)->event_id);
      EXPECT_EQ((*x)->length, (*y)->length);
      if (i % 3 == 0) {
        EXPECT_TRUE((*y)->payload.empty());
        EXPECT_TRUE((*y)->stream_id.empty());
      } else {
        EXPECT_EQ((*x)->payload, (*y)->payload);
        EXPECT_EQ((*x)->payload, payload(i));
      }
    }
    auto end_a = a->next();
    auto end_b = b->next_view();
    ASSERT_TRUE(end_a && end_b);
    EXPECT_FALSE(end_a->has_value());
    EXPECT_EQ(*end_b, nullptr);
    reopen();
  }
}

// Streams written round-robin (as concurrent writers leave them): a stream's neighbours are far
// apart, so the read window covers a page per record instead of 64 KiB, and reverse scans read
// backwards runs. Every event is still exactly the owned read of it, in every direction and with
// limits, across segments, with records of every size class (under a page, over a page, over the
// 64 KiB window).
TEST_F(ScanViews, InterleavedStreamsForwardReverseAndLimits) {
  constexpr size_t kStreams = 40;
  constexpr size_t kRounds = 30;
  auto sized = [](size_t s, size_t r) {
    const size_t i = s * kRounds + r;
    const size_t n = i % 53 == 0 ? 66'000 : i % 7 == 0 ? 5'000 + i : 50 + (i * 31) % 700;
    return std::string(n, static_cast<char>('a' + i % 26));
  };
  for (size_t r = 0; r < kRounds; ++r) {
    for (size_t s = 0; s < kStreams; ++s) {
      auto res = db_->append_events(
          pid_, make_tx({make_event("i" + std::to_string(s), EV::any(), key_, sized(s, r))}));
      ASSERT_TRUE(res) << res.error().to_string();
    }
  }
  auto segs = list_segment_ids(dir_.path(), 0);
  ASSERT_TRUE(segs);
  ASSERT_GE(segs->size(), 3u);

  for (int pass = 0; pass < 2; ++pass) {  // live + closed from memory, then after a reopen
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    for (size_t s = 0; s < kStreams; s += 3) {
      const std::string sid = "i" + std::to_string(s);
      SCOPED_TRACE(sid);
      std::vector<uint64_t> got;
      auto fwd = db_->read_stream(pid_, sid, 0);
      ASSERT_TRUE(fwd);
      EXPECT_EQ(check_views(std::move(*fwd), &got, false), kRounds);
      EXPECT_EQ(got, iota_vec(0, kRounds));

      got.clear();
      auto rev = db_->read_stream(pid_, sid, kRounds - 1, /*reverse=*/true);
      ASSERT_TRUE(rev);
      EXPECT_EQ(check_views(std::move(*rev), &got, false), kRounds);
      std::vector<uint64_t> want = iota_vec(0, kRounds);
      std::reverse(want.begin(), want.end());
      EXPECT_EQ(got, want);

      for (uint64_t limit : {1u, 2u, 7u}) {
        got.clear();
        auto lim = db_->read_stream(pid_, sid, 5, false, limit);
        ASSERT_TRUE(lim);
        EXPECT_EQ(check_views(std::move(*lim), &got, false), limit);
        EXPECT_EQ(got, iota_vec(5, 5 + limit));
      }
      // Every other record header-only: a page read still holds each whole record it decodes.
      auto it = db_->read_stream(pid_, sid, 0);
      ASSERT_TRUE(it);
      for (size_t v = 0; v < kRounds; ++v) {
        auto e = it->next_view(/*header_only=*/v % 2 == 0);
        ASSERT_TRUE(e && *e != nullptr) << v;
        EXPECT_EQ((*e)->stream_version, v);
        if (v % 2 == 1) {
          EXPECT_EQ((*e)->payload, sized(s, v));
        }
      }
    }
    std::vector<uint64_t> got;
    auto part = db_->read_partition(pid_, 0);
    ASSERT_TRUE(part);
    EXPECT_EQ(check_views(std::move(*part), &got, true), kStreams * kRounds);
    EXPECT_EQ(got, iota_vec(0, kStreams * kRounds));
    reopen();
  }
}

TEST_F(ScanViews, RemainingHintNeverOvercounts) {
  fill("s", "o", 300);
  // Reads `it` to the end, checking the hint against the `left` events still to come before
  // each step; returns what is left at the end (0 when the count was right).
  auto count_down = [](auto& it, uint64_t left) {
    while (true) {
      EXPECT_LE(it.remaining_hint(), left);
      auto v = it.next_view();
      EXPECT_TRUE(v);
      if (!v || *v == nullptr) break;
      --left;
    }
    return left;
  };
  auto st = db_->read_stream(pid_, "s", 10);
  ASSERT_TRUE(st);
  EXPECT_EQ(count_down(*st, 290), 0u);
  EXPECT_EQ(st->remaining_hint(), 0u);
  auto part = db_->read_partition(pid_, 0);
  ASSERT_TRUE(part);
  EXPECT_EQ(count_down(*part, 360), 0u);
}

// A flipped payload byte in a closed segment: the scan returns the events before it, then a
// checksum error at that record's offset, and never the damaged event.
TEST_F(ScanViews, DamagedRecordIsAnErrorNotAView) {
  const auto results = fill("s", "o", 400);
  ASSERT_EQ(results.size(), 400u);
  const size_t victim = 20;  // a single-event transaction (i % 5 != 4) in segment 0
  ASSERT_EQ(results[victim].segment_id, results[0].segment_id);
  ASSERT_NE(results[victim].segment_id, results.back().segment_id);
  const uint64_t offset = results[victim].offsets[0];
  db_->close();
  db_.reset();
  {
    const auto path = get_path(dir_.path(), 0, results[victim].segment_id, SegmentKind::Events);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekg(static_cast<std::streamoff>(offset + 200));  // inside the event name or payload
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x20);
    f.seekp(static_cast<std::streamoff>(offset + 200));
    f.write(&c, 1);
  }
  reopen();
  for (bool by_partition : {false, true}) {
    SCOPED_TRACE(by_partition ? "partition" : "stream");
    auto check = [&](auto it) {
      size_t good = 0;
      while (true) {
        auto v = it.next_view();
        if (!v) {
          EXPECT_EQ(v.error().code, Errc::Crc32cMismatch) << v.error().to_string();
          EXPECT_EQ(v.error().offset, offset);
          break;
        }
        if (*v == nullptr) {
          ADD_FAILURE() << "scan ended without reporting the damaged record";
          break;
        }
        EXPECT_NE((*v)->event_id, Uuid{}) << good;
        ++good;
      }
      // The error ends the iteration.
      auto after = it.next_view();
      EXPECT_TRUE(after && *after == nullptr);
      return good;
    };
    if (by_partition) {
      auto it = db_->read_partition(pid_, 0);
      ASSERT_TRUE(it);
      EXPECT_EQ(check(std::move(*it)), victim + victim / 5);  // 20 events + 4 of "o" before it
    } else {
      auto it = db_->read_stream(pid_, "s", 0);
      ASSERT_TRUE(it);
      EXPECT_EQ(check(std::move(*it)), victim);
    }
  }
}

// `limit` ends an iteration after that many events, wherever they come from (closed segments,
// the live one, both), forward, reverse and by partition; without it nothing changes.
TEST_F(ScanViews, LimitEndsTheIteration) {
  fill("s", "o", 600);  // several closed segments and a live one
  // The `field` of every event the iterator returns.
  auto field_of = [&](auto it, uint64_t EventView::*field) {
    std::vector<uint64_t> out;
    while (true) {
      auto v = it.next_view();
      EXPECT_TRUE(v) << v.error().to_string();
      if (!v || *v == nullptr) break;
      out.push_back((*v)->*field);
    }
    return out;
  };
  auto versions_of = [&](auto it) { return field_of(std::move(it), &EventView::stream_version); };
  auto sequences_of = [&](auto it) {
    return field_of(std::move(it), &EventView::partition_sequence);
  };
  for (uint64_t from : std::vector<uint64_t>{0, 1, 290, 580, 599, 600, 1000}) {
    for (uint64_t limit : std::vector<uint64_t>{0, 1, 2, 19, 20, 21, 150, 1000, UINT64_MAX}) {
      SCOPED_TRACE("from " + std::to_string(from) + " limit " + std::to_string(limit));
      auto fwd = db_->read_stream(pid_, "s", from, false, limit);
      ASSERT_TRUE(fwd);
      const uint64_t lo = std::min<uint64_t>(from, 600);
      EXPECT_EQ(versions_of(std::move(*fwd)), iota_vec(lo, lo + std::min(limit, 600 - lo)));

      auto rev = db_->read_stream(pid_, "s", from, true, limit);
      ASSERT_TRUE(rev);
      std::vector<uint64_t> want_rev;
      for (uint64_t v = std::min<uint64_t>(from, 599) + 1; v-- > 0 && want_rev.size() < limit;) {
        want_rev.push_back(v);
      }
      EXPECT_EQ(versions_of(std::move(*rev)), want_rev);

      auto part = db_->read_partition(pid_, from, limit);
      ASSERT_TRUE(part);
      const uint64_t plo = std::min<uint64_t>(from, 720);
      EXPECT_EQ(sequences_of(std::move(*part)), iota_vec(plo, plo + std::min(limit, 720 - plo)));
    }
  }
}

}  // namespace
}  // namespace sierra
