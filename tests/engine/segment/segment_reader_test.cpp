#include "engine/segment/segment_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "engine/file.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_test_util.hpp"
#include "engine/segment/segment_writer.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
namespace sf = segment_format;
using segtest::encode;
using segtest::make_event;
using segtest::make_tx;
using segtest::OwnedEvent;
using segtest::TempDir;

constexpr uint64_t kSegSize = 256'000'000;

// Writes a closed segment file made of the header and `body` bytes.
fs::path write_segment(const fs::path& dir, std::span<const uint8_t> body, BucketId b = 1,
                       SegmentId s = 0) {
  const auto path = dir / "data.evts";
  auto f = File::open(path, File::Mode::CreateTruncate);
  EXPECT_TRUE(f) << f.error().to_string();
  sf::SegmentHeader h;
  h.bucket_id = b;
  h.segment_id = s;
  auto header = sf::encode_header(h);
  EXPECT_TRUE(f->pwrite_all(header.data(), header.size(), 0));
  EXPECT_TRUE(f->pwrite_all(body.data(), body.size(), sf::kHeaderSize));
  return path;
}

std::shared_ptr<SegmentReader> must_open(const fs::path& path, BucketId b = 1, SegmentId s = 0,
                                         std::shared_ptr<std::atomic<uint64_t>> h = nullptr) {
  auto r = SegmentReader::open(path, b, s, std::move(h));
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : nullptr;
}

// Port of STORAGE.md §8.1 segment test 3: 10 000 records (every 5th a commit), read back at
// every offset in random order, alternating positional reads and iterator reads.
TEST(SegmentReader, TenThousandRecordsRandomOrder) {
  TempDir dir;
  auto w = SegmentWriter::create(dir.path(), 1, 0, kSegSize);
  ASSERT_TRUE(w) << w.error().to_string();
  OwnedEvent e;
  e.event_id = *Uuid::parse("0191a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b");
  e.partition_key = *Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  e.partition_id = 42;
  e.partition_sequence = 69'420;
  e.stream_version = 1;
  e.timestamp_ns = 1'700'000'000;
  e.stream_id = "test_stream";
  e.event_name = "TestEvent";
  e.metadata = "{}";
  e.payload = "payload_data";
  struct Expected {
    uint64_t offset;
    bool commit;
    Uuid txid;
    uint64_t log_position;
  };
  std::vector<Expected> expected;
  std::vector<uint8_t> buf;
  for (uint64_t t = 0; t < 2000; ++t) {
    auto tx = make_tx(t + 1, 4, 7);
    buf.clear();
    std::vector<uint32_t> offs;
    auto v = std::vector<EventToWrite>(4, e.view());
    ASSERT_TRUE(sf::encode_transaction(buf, tx, 1'700'000'001, v, &offs));
    const uint64_t at = (*w)->append(buf);
    for (uint32_t o : offs) expected.push_back({at + o, false, tx.transaction_id, t + 1});
    expected.push_back({at + buf.size() - sf::kCommitSize, true, tx.transaction_id, t + 1});
    if (t % 100 == 99) {
      ASSERT_TRUE((*w)->flush());
    }
  }
  ASSERT_TRUE((*w)->flush());
  ASSERT_EQ(expected.size(), 10'000u);

  auto r = must_open((*w)->path(), 1, 0, (*w)->flushed_offset_handle());
  ASSERT_TRUE(r);
  std::vector<size_t> order(expected.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& x = expected[order[k]];
    Result<Record> rec = make_error(Errc::Io, "unset");
    if (k % 2 == 0) {
      rec = r->read_record(x.offset);
    } else {
      auto it = r->iter(x.offset);
      auto n = it.next_record();
      ASSERT_TRUE(n) << n.error().to_string();
      ASSERT_TRUE(*n);
      rec = std::move(**n);
      EXPECT_EQ(it.position(), record_end(*rec));
    }
    ASSERT_TRUE(rec) << rec.error().to_string();
    EXPECT_EQ(record_offset(*rec), x.offset);
    if (x.commit) {
      const auto* c = std::get_if<CommitRecord>(&*rec);
      ASSERT_NE(c, nullptr) << x.offset;
      EXPECT_EQ(c->event_count, 4u);
      EXPECT_EQ(c->tx.transaction_id, x.txid);
      EXPECT_EQ(c->tx.log_position, x.log_position);
      EXPECT_EQ(c->tx.term, 7u);
      EXPECT_EQ(c->timestamp_ns, 1'700'000'001u);
    } else {
      const auto* ev = std::get_if<EventRecord>(&*rec);
      ASSERT_NE(ev, nullptr) << x.offset;
      segtest::expect_event_eq(*ev, e);
      EXPECT_EQ(ev->tx.transaction_id, x.txid);
      EXPECT_EQ(ev->tx.log_position, x.log_position);
    }
  }
  // A full sequential scan sees every record once, in order; both modes agree on lengths.
  for (bool header_only : {false, true}) {
    auto it = r->iter();
    size_t i = 0;
    for (;;) {
      auto n = it.next_record(header_only);
      ASSERT_TRUE(n) << n.error().to_string();
      if (!*n) break;
      ASSERT_LT(i, expected.size());
      EXPECT_EQ(record_offset(**n), expected[i].offset);
      ++i;
    }
    EXPECT_EQ(i, expected.size());
    EXPECT_EQ(it.position(), r->visible_end());
  }
  // And 2000 transactions.
  auto it = r->iter();
  size_t txs = 0;
  for (;;) {
    auto t = it.next_transaction(true);
    ASSERT_TRUE(t) << t.error().to_string();
    if (!*t) break;
    EXPECT_EQ((*t)->events.size(), 4u);
    EXPECT_EQ((*t)->events[0].tx.log_position, txs + 1);
    ++txs;
  }
  EXPECT_EQ(txs, 2000u);
}

TEST(SegmentReader, OpenValidatesHeader) {
  TempDir dir;
  auto path = write_segment(dir.path(), {}, 5, 9);
  EXPECT_TRUE(must_open(path, 5, 9));
  auto r = SegmentReader::open(path, 4, 9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::BucketMismatch);
  r = SegmentReader::open(path, 5, 8);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::BucketMismatch);
  fs::resize_file(path, 10);
  r = SegmentReader::open(path, 5, 9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptHeader);
}

// Layout used by the iterator tests: committed transactions mixed with orphans.
struct Mixed {
  std::vector<uint8_t> body;
  std::vector<std::string> committed;  // first payload of each committed transaction, in order
  uint64_t b_start = 0;                // uncommitted multi-event run, then a single
  uint64_t d_start = 0, d_second = 0;  // committed 3-event transaction
  uint64_t i_start = 0;                // uncommitted run at the very end
};

Mixed build_mixed() {
  Mixed m;
  auto add = [&](const std::vector<uint8_t>& bytes) {
    const uint64_t at = sf::kHeaderSize + m.body.size();
    m.body.insert(m.body.end(), bytes.begin(), bytes.end());
    return at;
  };
  auto records = [](const std::vector<uint8_t>& bytes) {
    std::vector<std::vector<uint8_t>> out;
    size_t pos = 0;
    while (pos < bytes.size()) {
      const uint32_t len = sf::peek_record_length(std::span<const uint8_t>(bytes).subspan(pos));
      out.emplace_back(bytes.begin() + pos, bytes.begin() + pos + len);
      pos += len;
    }
    return out;
  };
  uint64_t pos = 1;
  // A: single.
  add(encode(make_tx(pos++, 1), {make_event(1, "A")}));
  m.committed.push_back("A");
  // Orphan commit.
  add(records(encode(make_tx(pos++, 2), {make_event(2), make_event(3)})).back());
  // B: two events, no commit; then C: single.
  auto b = records(encode(make_tx(pos++, 2), {make_event(4, "B1"), make_event(5, "B2")}));
  m.b_start = add(b[0]);
  add(b[1]);
  add(encode(make_tx(pos++, 1), {make_event(6, "C")}));
  m.committed.push_back("C");
  // D: committed multi-event.
  std::vector<uint32_t> offs;
  const auto d =
      encode(make_tx(pos++, 3), {make_event(7, "D"), make_event(8), make_event(9)}, &offs);
  m.d_start = add(d);
  m.d_second = m.d_start + offs[1];
  m.committed.push_back("D");
  // E: first event of a multi-event transaction only; then F: committed multi-event.
  add(records(encode(make_tx(pos++, 2), {make_event(10, "E"), make_event(11)}))[0]);
  add(encode(make_tx(pos++, 2), {make_event(12, "F"), make_event(13)}));
  m.committed.push_back("F");
  // G: commit says 3 but only 2 events precede it.
  auto g =
      records(encode(make_tx(pos++, 3), {make_event(14, "G"), make_event(15), make_event(16)}));
  add(g[0]);
  add(g[2]);
  add(g[3]);
  // H: single.
  add(encode(make_tx(pos++, 1), {make_event(17, "H")}));
  m.committed.push_back("H");
  // I: uncommitted at the end.
  auto i = records(encode(make_tx(pos++, 2), {make_event(18, "I"), make_event(19)}));
  m.i_start = add(i[0]);
  add(i[1]);
  return m;
}

TEST(SegmentReader, IteratorSkipsOrphansAndUncommitted) {
  TempDir dir;
  auto m = build_mixed();
  auto r = must_open(write_segment(dir.path(), m.body));
  for (bool header_only : {false, true}) {
    auto it = r->iter();
    std::vector<std::string> seen;
    std::vector<uint64_t> ends;
    for (;;) {
      auto t = it.next_transaction(header_only);
      ASSERT_TRUE(t) << t.error().to_string();
      if (!*t) break;
      const auto& tx = **t;
      ASSERT_FALSE(tx.events.empty());
      seen.push_back(header_only ? std::to_string(tx.events.size()) : tx.events[0].payload);
      EXPECT_EQ(tx.commit.has_value(), tx.events.size() >= 2);
      if (tx.commit) {
        EXPECT_EQ(tx.commit->event_count, tx.events.size());
      }
      for (const auto& e : tx.events) {
        EXPECT_EQ(e.tx.transaction_id, tx.events[0].tx.transaction_id);
      }
      ends.push_back(tx.end_offset);
      EXPECT_EQ(it.position(), tx.end_offset);
    }
    if (header_only) {
      EXPECT_EQ(seen, (std::vector<std::string>{"1", "1", "3", "2", "1"}));
    } else {
      EXPECT_EQ(seen, m.committed);
    }
    EXPECT_TRUE(std::is_sorted(ends.begin(), ends.end()));
    // The trailing uncommitted run is not consumed: the iterator stays before it.
    EXPECT_EQ(it.position(), m.i_start);
    auto again = it.next_transaction(header_only);
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
  }
}

TEST(SegmentReader, ReadTransaction) {
  TempDir dir;
  auto m = build_mixed();
  auto r = must_open(write_segment(dir.path(), m.body));
  // Whole transaction from its first event.
  auto d = r->read_transaction(m.d_start);
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->events.size(), 3u);
  EXPECT_EQ((*d)->events[0].payload, "D");
  ASSERT_TRUE((*d)->commit);
  EXPECT_EQ((*d)->commit->event_count, 3u);
  // From its second event: the rest of it.
  auto d2 = r->read_transaction(m.d_second, true);
  ASSERT_TRUE(d2 && *d2);
  EXPECT_EQ((*d2)->events.size(), 2u);
  EXPECT_EQ((*d2)->end_offset, (*d)->end_offset);
  // Single.
  auto a = r->read_transaction(sf::kHeaderSize);
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->events.size(), 1u);
  EXPECT_FALSE((*a)->commit);
  // An uncommitted run interrupted by another transaction.
  auto b = r->read_transaction(m.b_start);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::CorruptRecord);
  // An uncommitted run at the visible end.
  auto i = r->read_transaction(m.i_start);
  ASSERT_TRUE(i) << i.error().to_string();
  EXPECT_FALSE(*i);
  // A commit record is not a transaction start.
  auto c = r->read_transaction((*d)->commit->offset);
  ASSERT_FALSE(c);
  // Offsets out of range.
  auto bad = r->read_transaction(r->visible_end());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::CorruptRecord);
  bad = r->read_transaction(10);
  ASSERT_FALSE(bad);
}

TEST(SegmentReader, NeverReadsPastPublishedFlushedOffset) {
  TempDir dir;
  auto w = SegmentWriter::create(dir.path(), 2, 3, kSegSize);
  ASSERT_TRUE(w);
  auto r = must_open((*w)->path(), 2, 3, (*w)->flushed_offset_handle());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->visible_end(), sf::kHeaderSize);
  auto it = r->iter();
  auto e1 = make_event(1, "first");
  const uint64_t at = (*w)->append(encode(make_tx(1, 1), {e1}));
  // Appended, not flushed: invisible.
  auto rec = r->read_record(at);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::CorruptRecord);
  auto n = it.next_record();
  ASSERT_TRUE(n);
  EXPECT_FALSE(*n);
  ASSERT_TRUE((*w)->flush());
  // Flushed: visible to the same iterator.
  auto t = it.next_transaction();
  ASSERT_TRUE(t && *t);
  segtest::expect_event_eq((*t)->events[0], e1);
  // Bytes written to the file but not published stay invisible (write without publish).
  auto e2 = make_event(2, "second");
  auto bytes = encode(make_tx(2, 1), {e2});
  {
    auto f = File::open((*w)->path(), File::Mode::ReadWrite);
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->pwrite_all(bytes.data(), bytes.size(), (*w)->flushed_offset()));
  }
  rec = r->read_record((*w)->flushed_offset());
  ASSERT_FALSE(rec);
  t = it.next_transaction();
  ASSERT_TRUE(t);
  EXPECT_FALSE(*t);
  // A closed-segment view sees the file length (here: the preallocated zeros past the data).
  auto closed_view = must_open((*w)->path(), 2, 3);
  EXPECT_EQ(closed_view->visible_end(), (*w)->allocated_end());
  EXPECT_GT((*w)->allocated_end(), (*w)->flushed_offset() + bytes.size());
}

// A writer thread appends and flushes while a reader thread follows with an iterator: the
// reader sees every transaction exactly once, complete, and never a partial one.
TEST(SegmentReader, ConcurrentTailFollowing) {
  TempDir dir(TempDir::kMemory);
  auto w = SegmentWriter::create(dir.path(), 1, 0, kSegSize);
  ASSERT_TRUE(w);
  auto r = must_open((*w)->path(), 1, 0, (*w)->flushed_offset_handle());
  constexpr uint64_t kTxs = 1500;
  std::thread writer([&] {
    for (uint64_t t = 1; t <= kTxs; ++t) {
      const size_t n = t % 3 == 0 ? 3 : 1;
      std::vector<OwnedEvent> evs;
      for (size_t i = 0; i < n; ++i) evs.push_back(make_event(t * 10 + i, std::to_string(t)));
      (*w)->append(encode(make_tx(t, n), evs));
      if (t % 4 == 0 || t == kTxs) {
        ASSERT_TRUE((*w)->flush());
      }
    }
  });
  auto it = r->iter();
  uint64_t next = 1;
  while (next <= kTxs) {
    auto t = it.next_transaction();
    ASSERT_TRUE(t) << t.error().to_string();
    if (!*t) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ((*t)->events[0].tx.log_position, next);
    ASSERT_EQ((*t)->events.size(), next % 3 == 0 ? 3u : 1u);
    ASSERT_EQ((*t)->events.back().payload, std::to_string(next));
    ++next;
  }
  writer.join();
  auto t = it.next_transaction();
  ASSERT_TRUE(t);
  EXPECT_FALSE(*t);
}

// A corrupted length field is checked against the visible end before any allocation.
TEST(SegmentReader, CorruptLengthIsAnErrorNotAnAllocation) {
  TempDir dir;
  auto body = encode(make_tx(1, 1), {make_event(1)});
  auto second = encode(make_tx(2, 1), {make_event(2)});
  body.insert(body.end(), second.begin(), second.end());
  const uint64_t second_at = sf::kHeaderSize + body.size() - second.size();
  for (uint32_t bad_len : {0xFFFFFFF0u, 0x7FFFFFFFu, 100'000u, 10u, 0u}) {
    auto bytes = body;
    std::memcpy(bytes.data(), &bad_len, 4);
    auto r = must_open(write_segment(dir.path(), bytes));
    auto rec = r->read_record(sf::kHeaderSize);
    ASSERT_FALSE(rec) << bad_len;
    EXPECT_EQ(rec.error().code, Errc::CorruptRecord);
    EXPECT_EQ(rec.error().offset, sf::kHeaderSize);
    auto rec_ho = r->read_record(sf::kHeaderSize, true);
    ASSERT_FALSE(rec_ho) << bad_len;
    EXPECT_EQ(rec_ho.error().code, Errc::CorruptRecord);
    auto it = r->iter();
    auto n = it.next_record();
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, Errc::CorruptRecord);
    EXPECT_EQ(it.position(), sf::kHeaderSize);  // position does not move on error
    auto t = r->read_transaction(sf::kHeaderSize);
    ASSERT_FALSE(t);
    // The record after it is still readable by offset.
    auto ok = r->read_record(second_at);
    ASSERT_TRUE(ok) << ok.error().to_string();
  }
  // A length that fits the file but not the record's fields: CRC catches it.
  auto bytes = body;
  const uint32_t len = sf::peek_record_length(bytes) + 1;
  std::memcpy(bytes.data(), &len, 4);
  auto r = must_open(write_segment(dir.path(), bytes));
  auto rec = r->read_record(sf::kHeaderSize);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::Crc32cMismatch);
}

TEST(SegmentReader, CorruptionReportedWithOffset) {
  TempDir dir;
  auto body = encode(make_tx(1, 1), {make_event(1)});
  auto second = encode(make_tx(2, 2), {make_event(2), make_event(3)});
  body.insert(body.end(), second.begin(), second.end());
  const uint64_t second_at = sf::kHeaderSize + body.size() - second.size();
  body[second_at - sf::kHeaderSize + 120] ^= 0x40;  // stream id byte of the second record
  auto r = must_open(write_segment(dir.path(), body));
  auto rec = r->read_record(second_at);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::Crc32cMismatch);
  EXPECT_EQ(rec.error().offset, second_at);
  // Header-only reads do not check the main CRC, only the confirmation CRC.
  EXPECT_TRUE(r->read_record(second_at, true));
  body[second_at - sf::kHeaderSize + sf::kConfirmationOffset] ^= 1;
  r = must_open(write_segment(dir.path(), body));
  rec = r->read_record(second_at, true);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::ConfirmationCrc32cMismatch);
  auto it = r->iter();
  auto t = it.next_transaction();
  ASSERT_TRUE(t && *t);
  t = it.next_transaction();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().offset, second_at);
}

TEST(SegmentReader, LargeRecordsAndHeaderOnly) {
  TempDir dir;
  std::vector<OwnedEvent> events;
  std::vector<uint8_t> body;
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < 6; ++i) {
    // Above the kept scratch size (1 MiB), tiny, and between the first read (2 KiB) and 1 MiB.
    const size_t size = i % 3 == 0 ? (1u << 20) + i * 1000 : i % 3 == 1 ? 10 + i : 1900 + i * 100;
    std::string payload(size, static_cast<char>('a' + i));
    events.push_back(make_event(i, payload));
    offsets.push_back(sf::kHeaderSize + body.size());
    auto b = encode(make_tx(i + 1, 1), {events.back()});
    body.insert(body.end(), b.begin(), b.end());
  }
  auto r = must_open(write_segment(dir.path(), body));
  for (size_t i = 0; i < events.size(); ++i) {
    auto full = r->read_record(offsets[i]);
    ASSERT_TRUE(full) << full.error().to_string();
    segtest::expect_event_eq(std::get<EventRecord>(*full), events[i]);
    auto ho = r->read_record(offsets[i], true);
    ASSERT_TRUE(ho) << ho.error().to_string();
    segtest::expect_event_eq(std::get<EventRecord>(*ho), events[i], true);
  }
  for (bool header_only : {false, true}) {
    auto it = r->iter();
    for (size_t i = 0; i < events.size(); ++i) {
      auto t = it.next_transaction(header_only);
      ASSERT_TRUE(t && *t) << i;
      segtest::expect_event_eq((*t)->events[0], events[i], header_only);
    }
    auto end = it.next_transaction(header_only);
    ASSERT_TRUE(end);
    EXPECT_FALSE(*end);
  }
}

}  // namespace
}  // namespace sierra
