// Golden files of the on-disk formats (tests/engine/golden/README.md): the files in this folder
// were written once by write_golden() and checked by hand against docs/FORMAT.md and
// docs/INDEX_FORMAT.md. The decoders must read them back field by field (values written
// literally here), and the encoders must reproduce them byte for byte, so a change made to an
// encoder and its decoder together (a silent format change) fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/crc32c.hpp"
#include "engine/golden/golden_input.hpp"
#include "engine/index/index_files.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/segment_reader.hpp"
#include "support/temp_dir.hpp"

#ifndef SIERRA_GOLDEN_DIR
#error "SIERRA_GOLDEN_DIR must name tests/engine/golden (set in tests/CMakeLists.txt)"
#endif

namespace sierra {
namespace {

namespace fs = std::filesystem;
using namespace golden;

const fs::path kDir = SIERRA_GOLDEN_DIR;

uint16_t le16(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint16_t>(b.at(at) | (b.at(at + 1) << 8));
}
uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= static_cast<uint32_t>(b.at(at + i)) << (8 * i);
  return v;
}
uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b.at(at + i)) << (8 * i);
  return v;
}
uint32_t crc_of(const std::vector<uint8_t>& b, size_t from, size_t to) {
  return crc32c::value(b.data() + from, to - from);
}
std::string ascii(const std::vector<uint8_t>& b, size_t at, size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data() + at), n);
}

// Where each event record starts and how long it is (120 + body bytes, docs/FORMAT.md format
// 2), worked out by hand from the input of golden_input.hpp; the three-event transaction's
// commit record (60 bytes) sits at 636.
struct Placed {
  uint64_t offset;
  uint32_t length;
};
constexpr Placed kEvents[] = {{64, 140}, {204, 162}, {366, 136}, {502, 134}, {696, 144}};
constexpr uint64_t kCommitOffset = 636;
constexpr uint64_t kSegmentSize = 840;

// ------------------------------------------------------------------ (a) raw bytes, by hand

TEST(GoldenFormat, SegmentBytesMatchTheDocumentedLayout) {
  const auto b = read_bytes(kDir / "data.evts");
  ASSERT_EQ(b.size(), kSegmentSize);
  // Header: magic "EVTS", version 2, bucket, segment, created_at, header CRC of [0, 60).
  EXPECT_EQ(ascii(b, 0, 4), "EVTS");
  EXPECT_EQ(le32(b, 0), 0x53545645u);
  EXPECT_EQ(le16(b, 4), 2u);
  EXPECT_EQ(le16(b, 6), 3u);
  EXPECT_EQ(le32(b, 8), 7u);
  EXPECT_EQ(le64(b, 16), 1'700'000'000'000'000'000ull);
  EXPECT_EQ(le32(b, 60), crc_of(b, 0, 60));

  for (const Placed& p : kEvents) {
    SCOPED_TRACE("event record at " + std::to_string(p.offset));
    const size_t o = p.offset;
    EXPECT_EQ(le32(b, o), p.length);
    EXPECT_EQ(b[o + 13], 1u) << "kind event";
    // Main CRC over [0, 4) ++ [13, length).
    uint32_t crc = crc32c::extend(0, b.data() + o, 4);
    crc = crc32c::extend(crc, b.data() + o + 13, p.length - 13);
    EXPECT_EQ(le32(b, o + 4), crc);
    // Record header CRC (format 2) over [0, 4) ++ [13, 116), stored at 116.
    uint32_t hcrc = crc32c::extend(0, b.data() + o, 4);
    hcrc = crc32c::extend(hcrc, b.data() + o + 13, 116 - 13);
    EXPECT_EQ(le32(b, o + 116), hcrc);
    EXPECT_EQ(b[o + 8], 0u) << "confirmation count";
    // Confirmation CRC over transaction id ++ count.
    std::vector<uint8_t> conf(b.begin() + o + 32, b.begin() + o + 48);
    conf.push_back(b[o + 8]);
    EXPECT_EQ(le32(b, o + 9), crc32c::value(conf.data(), conf.size()));
  }
  // Batch-start flag on the very first record only.
  EXPECT_EQ(le16(b, 64 + 14), 1u);
  EXPECT_EQ(le16(b, 204 + 14), 0u);
  EXPECT_EQ(le16(b, 696 + 14), 0u);
  // Log positions 1, 2, 2, 2, 3.
  EXPECT_EQ(le64(b, 64 + 16), 1u);
  EXPECT_EQ(le64(b, 366 + 16), 2u);
  EXPECT_EQ(le64(b, 696 + 16), 3u);
  // Single flag: bit 7 of transaction id byte 8 (record byte 40).
  EXPECT_EQ(b[64 + 40] & 0x80, 0x80);
  EXPECT_EQ(b[204 + 40] & 0x80, 0);
  // Event fields of the first record: partition id 5, sequence 0, stream id "golden-a" first in
  // the body, then the name.
  EXPECT_EQ(le16(b, 64 + 88), 5u);
  EXPECT_EQ(b[64 + 106], 8u) << "stream id length";
  EXPECT_EQ(b[64 + 107], 7u) << "event name length";
  EXPECT_EQ(le32(b, 64 + 112), 5u) << "payload length";
  EXPECT_EQ(ascii(b, 64 + 120, 15), "golden-aCreated");
  // The commit record: kind 2, 60 bytes, event count 3, the transaction's id and log position.
  EXPECT_EQ(le32(b, kCommitOffset), 60u);
  EXPECT_EQ(b[kCommitOffset + 13], 2u);
  EXPECT_EQ(le32(b, kCommitOffset + 56), 3u);
  EXPECT_EQ(le64(b, kCommitOffset + 16), 2u);
  EXPECT_EQ(le64(b, kCommitOffset + 48), 1'700'000'000'500'000'000ull);
  EXPECT_EQ(0, std::memcmp(b.data() + kCommitOffset + 32, b.data() + 204 + 32, 16));
}

struct IndexFileSpec {
  const char* name;
  const char* magic;
  uint64_t keys;
  uint32_t record_size;
};

TEST(GoldenFormat, IndexFileBytesMatchTheDocumentedLayout) {
  const IndexFileSpec specs[] = {{"index.eidx", "EIDX", 5, 28},
                                 {"partition.pidx", "PIDX", 2, 44},
                                 {"stream.sidx", "SIDX", 3, 124}};
  for (const auto& s : specs) {
    SCOPED_TRACE(s.name);
    const auto b = read_bytes(kDir / s.name);
    ASSERT_GE(b.size(), 72u);
    const size_t f = b.size();
    EXPECT_EQ(ascii(b, 0, 4), s.magic);
    EXPECT_EQ(le32(b, 4), 2u) << "format version (2: the event index carries a Bloom filter)";
    EXPECT_EQ(le64(b, 8), s.keys);
    const uint64_t l = le64(b, 16);
    const uint64_t bloom = le64(b, 24);
    const uint64_t r = le64(b, 32);
    EXPECT_EQ(r, 64 + l + bloom);
    EXPECT_EQ(le64(b, 40), r + s.keys * s.record_size) << "values offset";
    EXPECT_EQ(le64(b, 48), f) << "file length";
    EXPECT_EQ(le32(b, 56), s.record_size);
    // Header CRC covers the header's first 60 bytes, the MPHF and the Bloom filter.
    uint32_t hcrc = crc32c::extend(0, b.data(), 60);
    hcrc = crc32c::extend(hcrc, b.data() + 64, l + bloom);
    EXPECT_EQ(le32(b, 60), hcrc);
    // Trailer: file CRC of [0, F-8), then the magic again.
    EXPECT_EQ(le32(b, f - 8), crc_of(b, 0, f - 8));
    EXPECT_EQ(ascii(b, f - 4, 4), s.magic);
  }
  // PIDX has no MPHF and no Bloom filter; its first record is partition 5: sequences 0..3, 4
  // events.
  const auto p = read_bytes(kDir / "partition.pidx");
  EXPECT_EQ(le64(p, 16), 0u);
  EXPECT_EQ(le64(p, 24), 0u);
  EXPECT_EQ(le16(p, 64), 5u);
  EXPECT_EQ(le64(p, 64 + 8), 0u);
  EXPECT_EQ(le64(p, 64 + 16), 3u);
  EXPECT_EQ(le64(p, 64 + 24), 4u);
  EXPECT_EQ(le32(p, 64 + 40), crc_of(p, 64, 64 + 40));
  EXPECT_EQ(le16(p, 64 + 44), 9u);
}

// ------------------------------------------------------------------ (a) decoders, field by field

TEST(GoldenFormat, SegmentDecodesToTheExpectedRecords) {
  auto reader = SegmentReader::open(kDir / "data.evts", 3, 7);
  ASSERT_TRUE(reader) << reader.error().to_string();
  EXPECT_EQ((*reader)->header().version, 2u);
  EXPECT_EQ((*reader)->header().created_at_ns, 1'700'000'000'000'000'000ull);

  const Uuid a = partition_key_for_stream("golden-a");
  const Uuid c = partition_key_for_stream("golden-c");
  // UUIDv5 of the default-key namespace and the stream id (computed with Python's uuid module).
  EXPECT_EQ(a.to_string(), "421b4880-8b81-5f06-9dc9-02a4dfd56f1d");
  EXPECT_EQ(c.to_string(), "7b59496f-8484-5705-93a5-9e135b79478a");
  struct Want {
    uint64_t log_position;
    const char* txid;
    Uuid key;
    PartitionId pid;
    uint64_t seq;
    uint64_t version;
    uint64_t ts;
    const char* stream;
    const char* name;
    std::string metadata;
    std::string payload;
  };
  const std::vector<Want> want = {
      {1, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0", a, 5, 0, 0, 1'700'000'000'000'000'001ull,
       "golden-a", "Created", "", "hello"},
      {2, "11223344-5566-4778-0899-aabbccddeeff", a, 5, 1, 1, 1'700'000'000'000'000'002ull,
       "golden-a", "Renamed", R"({"trace":"abc"})", R"({"name":"x"})"},
      {2, "11223344-5566-4778-0899-aabbccddeeff", a, 5, 2, 0, 1'700'000'000'000'000'003ull,
       "golden-b", "Linked", "", "b0"},
      {2, "11223344-5566-4778-0899-aabbccddeeff", a, 5, 3, 2, 1'700'000'000'000'000'004ull,
       "golden-a", "Closed", "", ""},
      {3, "99999999-8888-4777-a666-555555555555", c, 9, 0, 0, 1'700'000'000'000'000'005ull,
       "golden-c", "Binary", std::string("\x00\x01\x02meta", 7), std::string("\xff\x00\xfe", 3)},
  };

  std::vector<EventRecord> got;
  std::vector<CommittedTransaction> txs;
  auto it = (*reader)->iter();
  for (int guard = 0; guard < 10; ++guard) {
    auto t = it.next_transaction();
    ASSERT_TRUE(t) << t.error().to_string();
    if (!*t) break;
    for (const auto& e : (*t)->events) got.push_back(e);
    txs.push_back(std::move(**t));
  }
  ASSERT_EQ(txs.size(), 3u);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    const EventRecord& e = got[i];
    const Want& w = want[i];
    EXPECT_EQ(e.offset, kEvents[i].offset);
    EXPECT_EQ(e.length, kEvents[i].length);
    EXPECT_EQ(e.tx.log_position, w.log_position);
    EXPECT_EQ(e.tx.term, 0u);
    EXPECT_EQ(e.tx.transaction_id.to_string(), w.txid);
    EXPECT_EQ(e.timestamp_ns, w.ts);
    EXPECT_EQ(e.confirmation_count, 0u);
    EXPECT_EQ(e.event_id, golden::event_id(w.key, i < 4 ? i : 0));
    EXPECT_TRUE(validate_event_id(e.event_id, partition_hash(w.key)));
    EXPECT_EQ(e.partition_key, w.key);
    EXPECT_EQ(e.partition_id, w.pid);
    EXPECT_EQ(e.partition_sequence, w.seq);
    EXPECT_EQ(e.stream_version, w.version);
    EXPECT_EQ(e.batch_start, i == 0);
    EXPECT_EQ(e.stream_id, w.stream);
    EXPECT_EQ(e.event_name, w.name);
    EXPECT_EQ(e.metadata, w.metadata);
    EXPECT_EQ(e.payload, w.payload);
  }
  EXPECT_FALSE(txs[0].commit.has_value());
  ASSERT_TRUE(txs[1].commit.has_value());
  EXPECT_EQ(txs[1].commit->offset, kCommitOffset);
  EXPECT_EQ(txs[1].commit->length, 60u);
  EXPECT_EQ(txs[1].commit->event_count, 3u);
  EXPECT_EQ(txs[1].commit->timestamp_ns, 1'700'000'000'500'000'000ull);
  EXPECT_EQ(txs[1].commit->tx.log_position, 2u);
  EXPECT_EQ(txs[1].end_offset, 696u);
  EXPECT_EQ(txs[2].end_offset, kSegmentSize);
}

TEST(GoldenFormat, IndexFilesDecodeToTheExpectedEntries) {
  const Uuid a = partition_key_for_stream("golden-a");
  const Uuid c = partition_key_for_stream("golden-c");

  auto eidx = EventIndexFile::open(kDir / "index.eidx");
  ASSERT_TRUE(eidx) << eidx.error().to_string();
  EXPECT_EQ((*eidx)->key_count(), 5u);
  EXPECT_TRUE((*eidx)->verify());
  const Uuid ids[] = {golden::event_id(a, 0), golden::event_id(a, 1), golden::event_id(a, 2),
                      golden::event_id(a, 3), golden::event_id(c, 0)};
  for (size_t i = 0; i < 5; ++i) {
    auto off = (*eidx)->get(ids[i]);
    ASSERT_TRUE(off) << off.error().to_string();
    EXPECT_EQ(*off, std::optional<uint64_t>(kEvents[i].offset)) << i;
  }
  auto absent = (*eidx)->get(golden::event_id(a, 4));
  ASSERT_TRUE(absent);
  EXPECT_EQ(*absent, std::nullopt);

  auto pidx = PartitionIndexFile::open(kDir / "partition.pidx");
  ASSERT_TRUE(pidx) << pidx.error().to_string();
  EXPECT_TRUE((*pidx)->verify());
  const auto& sums = (*pidx)->summaries();
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].partition_id, 5u);
  EXPECT_EQ(sums[0].sequence_min, 0u);
  EXPECT_EQ(sums[0].sequence_max, 3u);
  EXPECT_EQ(sums[0].count, 4u);
  EXPECT_EQ(sums[1].partition_id, 9u);
  EXPECT_EQ(sums[1].sequence_max, 0u);
  EXPECT_EQ(sums[1].count, 1u);
  auto p5 = (*pidx)->offsets(5);
  ASSERT_TRUE(p5);
  EXPECT_EQ(*p5, (std::vector<SeqOffset>{{0, 64}, {1, 204}, {2, 366}, {3, 502}}));
  auto p9 = (*pidx)->offsets(9);
  ASSERT_TRUE(p9);
  EXPECT_EQ(*p9, (std::vector<SeqOffset>{{0, 696}}));

  auto sidx = StreamIndexFile::open(kDir / "stream.sidx");
  ASSERT_TRUE(sidx) << sidx.error().to_string();
  EXPECT_EQ((*sidx)->key_count(), 3u);
  EXPECT_TRUE((*sidx)->verify());
  struct WantStream {
    PartitionId pid;
    const char* sid;
    Uuid key;
    uint64_t vmin, vmax, count;
    std::vector<SeqOffset> offsets;
  };
  const WantStream streams[] = {{5, "golden-a", a, 0, 2, 3, {{0, 64}, {1, 204}, {2, 502}}},
                                {5, "golden-b", a, 0, 0, 1, {{0, 366}}},
                                {9, "golden-c", c, 0, 0, 1, {{0, 696}}}};
  for (const auto& w : streams) {
    SCOPED_TRACE(w.sid);
    auto s = (*sidx)->get(w.pid, w.sid);
    ASSERT_TRUE(s) << s.error().to_string();
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->partition_key, w.key);
    EXPECT_EQ((*s)->version_min, w.vmin);
    EXPECT_EQ((*s)->version_max, w.vmax);
    EXPECT_EQ((*s)->count, w.count);
    auto offs = (*sidx)->offsets(w.pid, w.sid);
    ASSERT_TRUE(offs);
    ASSERT_TRUE(offs->has_value());
    EXPECT_EQ(**offs, w.offsets);
  }
  // The partition id is part of the key: golden-a in partition 9 is another (absent) stream.
  auto other = (*sidx)->get(9, "golden-a");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, std::nullopt);
}

// ------------------------------------------------------------------ (b) encoders, byte for byte

TEST(GoldenFormat, EncodersReproduceTheGoldenFilesByteForByte) {
  test_support::TempDir tmp("sierra-golden");
  auto written = write_golden(tmp.path());
  ASSERT_TRUE(written) << written.error().to_string();
  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    const auto want = read_bytes(kDir / name);
    const auto got = read_bytes(tmp.path() / name);
    ASSERT_FALSE(want.empty()) << "golden file missing: " << (kDir / name);
    EXPECT_EQ(got.size(), want.size());
    size_t first_diff = std::min(got.size(), want.size());
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      if (got[i] != want[i]) {
        first_diff = i;
        break;
      }
    }
    EXPECT_TRUE(got == want) << "the encoder's output differs from the golden file from byte "
                             << first_diff
                             << ": a format change (see tests/engine/golden/README.md)";
  }
}

}  // namespace
}  // namespace sierra
