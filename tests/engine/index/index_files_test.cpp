// Closed index files (EIDX/PIDX/SIDX), their MPHF and Bloom filter: STORAGE.md §8.1 index tests
// (closed half), scale, B27 (same stream id in two partitions) and corruption handling.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/index/bloom.hpp"
#include "engine/index/index_files.hpp"
#include "engine/index/mphf.hpp"
#include "support/temp_dir.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;

class IndexFilesTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_{"sierra-index-test"};
  fs::path dir_ = tmp_.path();
};

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}

Uuid random_uuid(std::mt19937_64& rng) {
  Uuid u;
  for (int i = 0; i < 2; ++i) {
    const uint64_t x = rng();
    std::memcpy(u.bytes.data() + 8 * i, &x, 8);
  }
  return u;
}

// ---- Mphf -----------------------------------------------------------------------------------

std::vector<std::string> make_keys(size_t n, const std::string& prefix = "key-") {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i * 7919));
  return keys;
}

void expect_perfect(const Mphf& m, const std::vector<std::string>& keys) {
  std::set<uint32_t> slots;
  for (const auto& k : keys) {
    auto s = m.slot(k);
    ASSERT_TRUE(s.has_value()) << k;
    EXPECT_LT(*s, keys.size());
    slots.insert(*s);
  }
  EXPECT_EQ(slots.size(), keys.size());
}

TEST(MphfTest, EmptyKeySet) {
  auto m = Mphf::build({});
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->key_count(), 0u);
  EXPECT_EQ(m->kind(), Mphf::Kind::Table);
  EXPECT_EQ(m->slot(std::string_view("anything")), std::nullopt);
  auto back = Mphf::deserialize(m->bytes(), 0);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->slot(std::string_view("")), std::nullopt);
}

TEST(MphfTest, OneKey) {
  std::vector<std::string_view> keys{"only"};
  auto m = Mphf::build(keys);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->slot(std::string_view("only")), 0u);
  EXPECT_EQ(m->slot(std::string_view("other")), std::nullopt);
}

TEST(MphfTest, SmallSetsUseTableAndArePerfect) {
  for (size_t n = 1; n <= Mphf::kSmallKeySet; ++n) {
    auto keys = make_keys(n);
    std::vector<std::string_view> views(keys.begin(), keys.end());
    auto m = Mphf::build(views);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->kind(), Mphf::Kind::Table);
    expect_perfect(*m, keys);
  }
}

TEST(MphfTest, BdzLargeSetRoundTrip) {
  auto keys = make_keys(50000);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto m = Mphf::build(views);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind(), Mphf::Kind::Bdz);
  expect_perfect(*m, keys);
  // Compact: well under one byte per key.
  EXPECT_LT(m->bytes().size(), keys.size());
  auto back = Mphf::deserialize(m->bytes(), keys.size());
  ASSERT_TRUE(back) << back.error().to_string();
  for (const auto& k : keys) EXPECT_EQ(back->slot(k), m->slot(k));
  // Non-members land on some slot or none, never out of range.
  for (const auto& k : make_keys(1000, "absent-")) {
    auto s = back->slot(k);
    if (s) {
      EXPECT_LT(*s, keys.size());
    }
  }
}

TEST(MphfTest, ForcedTableForLargeSet) {
  auto keys = make_keys(3000);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto m = Mphf::build(views, /*force_table=*/true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind(), Mphf::Kind::Table);
  expect_perfect(*m, keys);
  auto back = Mphf::deserialize(m->bytes(), keys.size());
  ASSERT_TRUE(back);
  expect_perfect(*back, keys);
}

TEST(MphfTest, DuplicateKeysRejected) {
  std::vector<std::string_view> small{"a", "b", "a"};
  auto m = Mphf::build(small);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::InvalidArgument);
  auto keys = make_keys(100);
  keys.push_back(keys[5]);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto big = Mphf::build(views);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::InvalidArgument);
}

TEST(MphfTest, DeserializeRejectsBadFraming) {
  auto keys = make_keys(40);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto m = Mphf::build(views);
  ASSERT_TRUE(m);
  std::vector<uint8_t> bytes(m->bytes().begin(), m->bytes().end());
  EXPECT_EQ(Mphf::deserialize(bytes, 41).error().code, Errc::CorruptIndex);  // wrong count
  EXPECT_EQ(Mphf::deserialize(std::span(bytes).first(5), 40).error().code, Errc::CorruptIndex);
  auto bad_kind = bytes;
  bad_kind[0] = 9;
  EXPECT_EQ(Mphf::deserialize(bad_kind, 40).error().code, Errc::CorruptIndex);
  auto t = Mphf::build(views, true);
  ASSERT_TRUE(t);
  std::vector<uint8_t> tb(t->bytes().begin(), t->bytes().end());
  tb.pop_back();
  EXPECT_EQ(Mphf::deserialize(tb, 40).error().code, Errc::CorruptIndex);
}

// ---- Bloom ----------------------------------------------------------------------------------

TEST(BloomTest, NoFalseNegativesAndAboutOnePercentFalsePositives) {
  Bloom b = Bloom::with_capacity(10000);
  auto keys = make_keys(10000, "stream-");
  for (const auto& k : keys) b.add(k);
  for (const auto& k : keys) ASSERT_TRUE(b.may_contain(k));
  size_t fp = 0;
  const size_t probes = 100000;
  for (size_t i = 0; i < probes; ++i) fp += b.may_contain("absent-" + std::to_string(i));
  EXPECT_LT(static_cast<double>(fp) / probes, 0.02);
  EXPECT_GT(b.hash_count(), 1u);
}

TEST(BloomTest, SerializeRoundTrip) {
  Bloom b = Bloom::with_capacity(100);
  b.add("stream-a");
  b.add("stream-b");
  auto bytes = b.serialize();
  auto back = Bloom::deserialize(bytes);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(back->may_contain("stream-a"));
  EXPECT_TRUE(back->may_contain("stream-b"));
  EXPECT_EQ(back->hash_count(), b.hash_count());
  EXPECT_EQ(back->bitmap(), b.bitmap());
  EXPECT_TRUE(Bloom::may_contain(b.bitmap(), b.hash_count(), "stream-a"));
}

TEST(BloomTest, DeserializeRejectsMalformed) {
  Bloom b = Bloom::with_capacity(10);
  auto bytes = b.serialize();
  EXPECT_FALSE(Bloom::deserialize(std::span(bytes).first(10)));
  auto shorter = bytes;
  shorter.pop_back();
  EXPECT_EQ(Bloom::deserialize(shorter).error().code, Errc::CorruptIndex);
  auto zero_k = bytes;
  std::memset(zero_k.data() + 8, 0, 4);
  EXPECT_EQ(Bloom::deserialize(zero_k).error().code, Errc::CorruptIndex);
}

// ---- event index ----------------------------------------------------------------------------

TEST_F(IndexFilesTest, EventIndexFlushAndReopen) {
  LiveEventIndex idx;
  const Uuid a = uuid_v4();
  const Uuid b = uuid_v4();
  idx.insert(a, 42);
  idx.insert(b, 1042);
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", idx));
  auto f = EventIndexFile::open(dir_ / "index.eidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->key_count(), 2u);
  EXPECT_EQ((*f)->get(a).value(), 42u);
  EXPECT_EQ((*f)->get(b).value(), 1042u);
  EXPECT_EQ((*f)->get(uuid_v4()).value(), std::nullopt);
  EXPECT_TRUE((*f)->verify());
  auto all = (*f)->all();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(IndexFilesTest, EventIndexIdsDifferingInOneByte) {
  LiveEventIndex idx;
  Uuid a = uuid_v4();
  Uuid b = a;
  b.bytes[9] ^= 0x01;
  idx.insert(a, 1);
  idx.insert(b, 2);
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", idx));
  auto f = EventIndexFile::open(dir_ / "index.eidx");
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->get(a).value(), 1u);
  EXPECT_EQ((*f)->get(b).value(), 2u);
  Uuid c = a;
  c.bytes[9] ^= 0x02;
  EXPECT_EQ((*f)->get(c).value(), std::nullopt);
}

TEST_F(IndexFilesTest, EventIndexEmpty) {
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", LiveEventIndex{}));
  auto f = EventIndexFile::open(dir_ / "index.eidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->key_count(), 0u);
  EXPECT_EQ((*f)->get(uuid_v4()).value(), std::nullopt);
  EXPECT_EQ((*f)->get(Uuid::nil()).value(), std::nullopt);
  EXPECT_TRUE((*f)->verify());
  EXPECT_TRUE((*f)->all()->empty());
}

TEST_F(IndexFilesTest, EventIndexLarge) {
  std::mt19937_64 rng(12345);
  LiveEventIndex idx;
  std::vector<Uuid> ids;
  for (uint64_t i = 0; i < 100000; ++i) {
    ids.push_back(random_uuid(rng));
    idx.insert(ids.back(), i * 100);
  }
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", idx));
  auto f = EventIndexFile::open(dir_ / "index.eidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->key_count(), 100000u);
  for (uint64_t i = 0; i < ids.size(); ++i) {
    auto r = (*f)->get(ids[i]);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(*r, i * 100);
  }
  std::mt19937_64 other(999);
  for (int i = 0; i < 10000; ++i) {
    auto r = (*f)->get(random_uuid(other));
    ASSERT_TRUE(r);
    ASSERT_EQ(*r, std::nullopt);
  }
  EXPECT_TRUE((*f)->verify());
  auto all = (*f)->all();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 100000u);
  // The MPHF is small: the file is ~28 bytes per key plus well under a byte per key.
  EXPECT_LT(fs::file_size(dir_ / "index.eidx"), 100000u * 29 + 200);
}

TEST_F(IndexFilesTest, MissingFileIsIo) {
  auto e = EventIndexFile::open(dir_ / "nope.eidx");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, Errc::Io);
  auto p = PartitionIndexFile::open(dir_ / "nope.pidx");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::Io);
  auto s = StreamIndexFile::open(dir_ / "nope.sidx");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::Io);
}

TEST_F(IndexFilesTest, WrongKindOfFileIsCorrupt) {
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", LiveEventIndex{}));
  auto s = StreamIndexFile::open(dir_ / "index.eidx");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::CorruptIndex);
  EXPECT_NE(s.error().message.find("magic"), std::string::npos) << s.error().message;
}

// ---- partition index ------------------------------------------------------------------------

TEST_F(IndexFilesTest, PartitionIndexThreeSequences) {
  LivePartitionIndex idx;
  idx.insert(7, 0, 100);
  idx.insert(7, 1, 200);
  idx.insert(7, 2, 300);
  ASSERT_TRUE(PartitionIndexFile::write(dir_ / "partition.pidx", idx));
  auto f = PartitionIndexFile::open(dir_ / "partition.pidx");
  ASSERT_TRUE(f) << f.error().to_string();
  auto s = (*f)->summary(7);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->sequence_min, 0u);
  EXPECT_EQ(s->sequence_max, 2u);
  EXPECT_EQ(s->count, 3u);
  EXPECT_EQ((*f)->offsets(7).value(), (std::vector<SeqOffset>{{0, 100}, {1, 200}, {2, 300}}));
  EXPECT_EQ((*f)->summary(8), std::nullopt);
  EXPECT_TRUE((*f)->offsets(8).value().empty());
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, PartitionIndexTwoAndFourPartitions) {
  for (int parts : {2, 4}) {
    LivePartitionIndex idx;
    for (int p = parts - 1; p >= 0; --p) {
      for (uint64_t s = 0; s <= static_cast<uint64_t>(p); ++s) {
        idx.insert(static_cast<PartitionId>(p * 10), s + 5, (p * 1000) + s);
      }
    }
    const auto path = dir_ / ("p" + std::to_string(parts) + ".pidx");
    ASSERT_TRUE(PartitionIndexFile::write(path, idx));
    auto f = PartitionIndexFile::open(path);
    ASSERT_TRUE(f) << f.error().to_string();
    ASSERT_EQ((*f)->summaries().size(), static_cast<size_t>(parts));
    for (int p = 0; p < parts; ++p) {
      const auto pid = static_cast<PartitionId>(p * 10);
      EXPECT_EQ((*f)->summaries()[p].partition_id, pid);  // ascending
      auto s = (*f)->summary(pid);
      ASSERT_TRUE(s);
      EXPECT_EQ(s->sequence_min, 5u);
      EXPECT_EQ(s->sequence_max, 5u + p);
      EXPECT_EQ(s->count, static_cast<uint64_t>(p + 1));
      auto list = (*f)->offsets(pid);
      ASSERT_TRUE(list);
      EXPECT_EQ(*list, idx.get(pid)->offsets);
    }
    EXPECT_EQ((*f)->summary(999), std::nullopt);
    EXPECT_TRUE((*f)->offsets(999)->empty());
    EXPECT_EQ((*f)->summary(1), std::nullopt);
  }
}

TEST_F(IndexFilesTest, PartitionIndexEmpty) {
  ASSERT_TRUE(PartitionIndexFile::write(dir_ / "partition.pidx", LivePartitionIndex{}));
  auto f = PartitionIndexFile::open(dir_ / "partition.pidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_TRUE((*f)->summaries().empty());
  EXPECT_EQ((*f)->summary(0), std::nullopt);
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, PartitionIndexAllPartitionsLargeLists) {
  LivePartitionIndex idx;
  for (uint64_t s = 0; s < 20000; ++s) idx.insert(static_cast<PartitionId>(s % 1024), s, s * 3);
  ASSERT_TRUE(PartitionIndexFile::write(dir_ / "partition.pidx", idx));
  auto f = PartitionIndexFile::open(dir_ / "partition.pidx");
  ASSERT_TRUE(f);
  ASSERT_EQ((*f)->summaries().size(), 1024u);
  for (PartitionId p = 0; p < 1024; ++p) EXPECT_EQ((*f)->offsets(p).value(), idx.get(p)->offsets);
  EXPECT_TRUE((*f)->verify());
}

// ---- stream index ---------------------------------------------------------------------------

TEST_F(IndexFilesTest, StreamIndexFlushAndReopen) {
  LiveStreamIndex idx;
  const Uuid pk_a = uuid_v4();
  const Uuid pk_b = uuid_v4();
  const Uuid pk_k = uuid_v4();
  const Uuid pk_l = uuid_v4();
  ASSERT_TRUE(idx.insert(1, "stream-a", pk_a, 0, 100));
  ASSERT_TRUE(idx.insert(1, "stream-a", pk_a, 1, 200));
  ASSERT_TRUE(idx.insert(1, "stream-b", pk_b, 3, 300));
  ASSERT_TRUE(idx.insert(2, "stream-k", pk_k, 10, 400));
  ASSERT_TRUE(idx.insert(2, "stream-k", pk_k, 11, 500));
  ASSERT_TRUE(idx.insert(2, "stream-k", pk_k, 12, 600));
  ASSERT_TRUE(idx.insert(3, "stream-l", pk_l, 0, 700));
  ASSERT_TRUE(StreamIndexFile::write(dir_ / "stream.sidx", idx));
  auto f = StreamIndexFile::open(dir_ / "stream.sidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->key_count(), 4u);

  auto a = (*f)->get(1, "stream-a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->partition_key, pk_a);
  EXPECT_EQ((*a)->version_min, 0u);
  EXPECT_EQ((*a)->version_max, 1u);
  EXPECT_EQ((*a)->count, 2u);
  EXPECT_EQ((*f)->offsets(1, "stream-a").value(), (std::vector<SeqOffset>{{0, 100}, {1, 200}}));

  auto k = (*f)->get(2, "stream-k").value();
  ASSERT_TRUE(k);
  EXPECT_EQ(k->partition_key, pk_k);
  EXPECT_EQ(k->version_min, 10u);
  EXPECT_EQ(k->version_max, 12u);
  EXPECT_EQ((*f)->offsets(2, "stream-k").value()->size(), 3u);
  EXPECT_EQ((*f)->get(1, "stream-b").value()->version_min, 3u);
  EXPECT_EQ((*f)->get(3, "stream-l").value()->partition_key, pk_l);

  EXPECT_EQ((*f)->get(1, "unknown").value(), std::nullopt);
  EXPECT_EQ((*f)->offsets(1, "unknown").value(), std::nullopt);
  EXPECT_EQ((*f)->get(1, "my-stream").value(), std::nullopt);
  EXPECT_EQ((*f)->get(2, "stream-a").value(), std::nullopt);  // right id, wrong partition
  EXPECT_EQ((*f)->get(1, "").value(), std::nullopt);
  EXPECT_EQ((*f)->get(1, std::string(65, 'x')).value(), std::nullopt);
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, StreamIndexSameStreamIdInTwoPartitions) {
  LiveStreamIndex idx;
  const Uuid pk1 = uuid_v4();
  const Uuid pk2 = uuid_v4();
  ASSERT_TRUE(idx.insert(4, "stream-a", pk1, 0, 10));
  ASSERT_TRUE(idx.insert(8, "stream-a", pk2, 0, 20));
  ASSERT_TRUE(idx.insert(8, "stream-a", pk2, 1, 30));
  ASSERT_TRUE(StreamIndexFile::write(dir_ / "stream.sidx", idx));
  auto f = StreamIndexFile::open(dir_ / "stream.sidx");
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->get(4, "stream-a").value()->partition_key, pk1);
  EXPECT_EQ((*f)->get(8, "stream-a").value()->partition_key, pk2);
  EXPECT_EQ((*f)->offsets(4, "stream-a").value(), (std::vector<SeqOffset>{{0, 10}}));
  EXPECT_EQ((*f)->offsets(8, "stream-a").value(), (std::vector<SeqOffset>{{0, 20}, {1, 30}}));
  EXPECT_EQ((*f)->get(5, "stream-a").value(), std::nullopt);
}

TEST_F(IndexFilesTest, StreamIndexEmpty) {
  ASSERT_TRUE(StreamIndexFile::write(dir_ / "stream.sidx", LiveStreamIndex{}));
  auto f = StreamIndexFile::open(dir_ / "stream.sidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->key_count(), 0u);
  EXPECT_EQ((*f)->get(0, "stream-a").value(), std::nullopt);
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, StreamIndexMaxLengthIdAndLarge) {
  LiveStreamIndex idx;
  const std::string longest(kStreamIdMaxBytes, 'z');
  const Uuid pk = uuid_v4();
  ASSERT_TRUE(idx.insert(0, longest, pk, 0, 1));
  for (int i = 0; i < 20000; ++i) {
    const auto pid = static_cast<PartitionId>(i % 32);
    ASSERT_TRUE(idx.insert(pid, "s-" + std::to_string(i), pk, 0, i));
    ASSERT_TRUE(idx.insert(pid, "s-" + std::to_string(i), pk, 1, i + 1));
  }
  ASSERT_TRUE(StreamIndexFile::write(dir_ / "stream.sidx", idx));
  auto f = StreamIndexFile::open(dir_ / "stream.sidx");
  ASSERT_TRUE(f) << f.error().to_string();
  EXPECT_EQ((*f)->get(0, longest).value()->count, 1u);
  for (int i = 0; i < 20000; ++i) {
    const auto pid = static_cast<PartitionId>(i % 32);
    auto list = (*f)->offsets(pid, "s-" + std::to_string(i));
    ASSERT_TRUE(list);
    ASSERT_TRUE(list->has_value());
    ASSERT_EQ(**list, (std::vector<SeqOffset>{{0, static_cast<uint64_t>(i)},
                                              {1, static_cast<uint64_t>(i) + 1}}));
    ASSERT_EQ((*f)->get(static_cast<PartitionId>(pid + 1), "s-" + std::to_string(i)).value(),
              std::nullopt);
  }
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ((*f)->get(0, "absent-" + std::to_string(i)).value(), std::nullopt);
  }
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, StreamIndexRejectsOverlongId) {
  LiveStreamIndex idx;
  ASSERT_TRUE(idx.insert(0, std::string(65, 'x'), uuid_v4(), 0, 0));
  auto r = StreamIndexFile::write(dir_ / "stream.sidx", idx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidLength);
  EXPECT_FALSE(fs::exists(dir_ / "stream.sidx"));
}

// ---- corruption -----------------------------------------------------------------------------

struct Fixtures {
  LiveEventIndex events;
  LivePartitionIndex partitions;
  LiveStreamIndex streams;
};

// `n_keys` > Mphf::kSmallKeySet makes the event/stream MPHFs BDZ instead of Table.
Fixtures make_fixtures(int n_keys) {
  Fixtures f;
  std::mt19937_64 rng(n_keys);
  for (int i = 0; i < n_keys; ++i) {
    f.events.insert(random_uuid(rng), 1000 + i);
    f.partitions.insert(static_cast<PartitionId>(i % 5), i, 1000 + i);
    const auto pid = static_cast<PartitionId>(i % 3);
    const std::string sid = "stream-" + std::to_string(i);
    const Uuid pk = random_uuid(rng);
    (void)f.streams.insert(pid, sid, pk, 0, 1000 + i);
    (void)f.streams.insert(pid, sid, pk, 1, 2000 + i);
  }
  return f;
}

// Opens the (possibly damaged) file and checks every lookup answers right or CorruptIndex,
// and that some check (open, a lookup or verify) reports the damage.
void check_event_file(const fs::path& p, const LiveEventIndex& idx, bool damaged) {
  auto f = EventIndexFile::open(p);
  if (!f) {
    EXPECT_EQ(f.error().code, Errc::CorruptIndex) << f.error().to_string();
    return;
  }
  bool reported = false;
  for (const auto& [id, off] : idx.entries()) {
    auto r = (*f)->get(id);
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::CorruptIndex);
      reported = true;
    } else {
      EXPECT_EQ(*r, off) << "wrong data from a damaged file";
    }
  }
  auto v = (*f)->verify();
  if (!v) {
    EXPECT_EQ(v.error().code, Errc::CorruptIndex);
    reported = true;
  }
  EXPECT_EQ(reported, damaged);
  EXPECT_FALSE(damaged && v) << "verify() missed the damage";
}

void check_partition_file(const fs::path& p, const LivePartitionIndex& idx, bool damaged) {
  auto f = PartitionIndexFile::open(p);
  if (!f) {
    EXPECT_EQ(f.error().code, Errc::CorruptIndex) << f.error().to_string();
    return;
  }
  for (const auto& [pid, e] : idx.entries()) {
    auto s = (*f)->summary(pid);
    ASSERT_TRUE(s) << "partition summary lost";
    EXPECT_EQ(s->sequence_min, e.sequence_min);
    EXPECT_EQ(s->sequence_max, e.sequence_max);
    EXPECT_EQ(s->count, e.offsets.size());
    auto r = (*f)->offsets(pid);
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::CorruptIndex);
    } else {
      EXPECT_EQ(*r, e.offsets) << "wrong data from a damaged file";
    }
  }
  auto v = (*f)->verify();
  EXPECT_EQ(!v, damaged) << "verify() result wrong";
}

void check_stream_file(const fs::path& p, const LiveStreamIndex& idx, bool damaged) {
  auto f = StreamIndexFile::open(p);
  if (!f) {
    EXPECT_EQ(f.error().code, Errc::CorruptIndex) << f.error().to_string();
    return;
  }
  for (const auto& [key, e] : idx.entries()) {
    auto s = (*f)->get(key.partition_id, key.stream_id);
    if (!s) {
      EXPECT_EQ(s.error().code, Errc::CorruptIndex);
    } else {
      ASSERT_TRUE(s->has_value()) << "stream lost";
      EXPECT_EQ((*s)->partition_key, e.partition_key);
      EXPECT_EQ((*s)->version_min, e.version_min);
      EXPECT_EQ((*s)->version_max, e.version_max);
    }
    auto r = (*f)->offsets(key.partition_id, key.stream_id);
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::CorruptIndex);
    } else {
      ASSERT_TRUE(r->has_value());
      EXPECT_EQ(**r, e.offsets) << "wrong data from a damaged file";
    }
  }
  auto v = (*f)->verify();
  EXPECT_EQ(!v, damaged) << "verify() result wrong";
}

// Flips one bit of each byte in turn (in place, restoring it afterwards) and runs `check`.
template <class Check>
void flip_every_byte(const fs::path& p, Check check) {
  const auto original = read_bytes(p);
  ASSERT_FALSE(original.empty());
  check(false);
  auto rw = File::open(p, File::Mode::ReadWrite);
  ASSERT_TRUE(rw);
  for (size_t i = 0; i < original.size(); ++i) {
    const uint8_t damaged = original[i] ^ static_cast<uint8_t>(1u << (i % 8));
    ASSERT_TRUE(rw->pwrite_all(&damaged, 1, i));
    SCOPED_TRACE("flipped byte " + std::to_string(i) + " of " + std::to_string(original.size()));
    check(true);
    ASSERT_TRUE(rw->pwrite_all(&original[i], 1, i));
    if (::testing::Test::HasFailure()) break;
  }
}

TEST_F(IndexFilesTest, EveryFlippedByteIsCaughtSmallFiles) {
  auto fx = make_fixtures(5);  // Table MPHFs
  const auto e = dir_ / "index.eidx";
  const auto pp = dir_ / "partition.pidx";
  const auto s = dir_ / "stream.sidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  ASSERT_TRUE(PartitionIndexFile::write(pp, fx.partitions));
  ASSERT_TRUE(StreamIndexFile::write(s, fx.streams));
  flip_every_byte(e, [&](bool d) { check_event_file(e, fx.events, d); });
  flip_every_byte(pp, [&](bool d) { check_partition_file(pp, fx.partitions, d); });
  flip_every_byte(s, [&](bool d) { check_stream_file(s, fx.streams, d); });
}

TEST_F(IndexFilesTest, EveryFlippedByteIsCaughtBdzFiles) {
  auto fx = make_fixtures(int{Mphf::kSmallKeySet} + 1);  // BDZ MPHFs
  const auto e = dir_ / "index.eidx";
  const auto s = dir_ / "stream.sidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  ASSERT_TRUE(StreamIndexFile::write(s, fx.streams));
  flip_every_byte(e, [&](bool d) { check_event_file(e, fx.events, d); });
  flip_every_byte(s, [&](bool d) { check_stream_file(s, fx.streams, d); });
}

TEST_F(IndexFilesTest, HeaderOrMphfDamageFailsOpen) {
  auto fx = make_fixtures(30);
  const auto e = dir_ / "index.eidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  const auto original = read_bytes(e);
  const uint64_t mphf_len = le64(original, 16);
  ASSERT_GT(mphf_len, 8u);
  for (size_t pos : {size_t{0}, size_t{5}, size_t{9}, size_t{20}, size_t{50}, size_t{61},
                     size_t{64}, size_t{64 + mphf_len / 2}, size_t{64 + mphf_len - 1}}) {
    auto d = original;
    d[pos] ^= 0x40;
    write_bytes(e, d);
    auto f = EventIndexFile::open(e);
    ASSERT_FALSE(f) << "byte " << pos;
    EXPECT_EQ(f.error().code, Errc::CorruptIndex) << pos;
  }
}

TEST_F(IndexFilesTest, RecordOrListDamageFailsLookupNotOpen) {
  auto fx = make_fixtures(30);
  const auto e = dir_ / "index.eidx";
  const auto s = dir_ / "stream.sidx";
  const auto pp = dir_ / "partition.pidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  ASSERT_TRUE(StreamIndexFile::write(s, fx.streams));
  ASSERT_TRUE(PartitionIndexFile::write(pp, fx.partitions));

  {  // event record: the first record's key fails, the others still answer
    auto d = read_bytes(e);
    const uint64_t records = le64(d, 32);
    d[records + 17] ^= 0x01;  // the stored offset of slot 0
    write_bytes(e, d);
    auto f = EventIndexFile::open(e);
    ASSERT_TRUE(f) << f.error().to_string();
    int errors = 0;
    for (const auto& [id, off] : fx.events.entries()) {
      auto r = (*f)->get(id);
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::CorruptIndex);
        ++errors;
      } else {
        EXPECT_EQ(*r, off);
      }
    }
    EXPECT_EQ(errors, 1);
    EXPECT_FALSE((*f)->verify());
    auto all = (*f)->all();
    ASSERT_FALSE(all);
    EXPECT_EQ(all.error().code, Errc::CorruptIndex);
  }
  {  // stream value list: last byte of the values section
    auto d = read_bytes(s);
    d[d.size() - 9] ^= 0x80;
    write_bytes(s, d);
    auto f = StreamIndexFile::open(s);
    ASSERT_TRUE(f) << f.error().to_string();
    int errors = 0;
    for (const auto& [key, entry] : fx.streams.entries()) {
      ASSERT_TRUE((*f)->get(key.partition_id, key.stream_id));  // record intact
      auto r = (*f)->offsets(key.partition_id, key.stream_id);
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::CorruptIndex);
        ++errors;
      } else {
        EXPECT_EQ(**r, entry.offsets);
      }
    }
    EXPECT_EQ(errors, 1);
  }
  {  // partition value list
    auto d = read_bytes(pp);
    d[d.size() - 9] ^= 0x80;
    write_bytes(pp, d);
    auto f = PartitionIndexFile::open(pp);
    ASSERT_TRUE(f) << f.error().to_string();
    int errors = 0;
    for (const auto& [pid, entry] : fx.partitions.entries()) {
      auto r = (*f)->offsets(pid);
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::CorruptIndex);
        ++errors;
      } else {
        EXPECT_EQ(*r, entry.offsets);
      }
    }
    EXPECT_EQ(errors, 1);
  }
}

TEST_F(IndexFilesTest, TruncatedOrExtendedFilesFailOpen) {
  auto fx = make_fixtures(30);
  const auto e = dir_ / "index.eidx";
  const auto pp = dir_ / "partition.pidx";
  const auto s = dir_ / "stream.sidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  ASSERT_TRUE(PartitionIndexFile::write(pp, fx.partitions));
  ASSERT_TRUE(StreamIndexFile::write(s, fx.streams));
  for (const auto& p : {e, pp, s}) {
    const auto original = read_bytes(p);
    for (size_t len : {size_t{0}, size_t{10}, size_t{64}, size_t{70}, original.size() / 2,
                       original.size() - 8, original.size() - 1, original.size() + 1}) {
      auto d = original;
      d.resize(len);
      write_bytes(p, d);
      const auto code = p == e    ? EventIndexFile::open(p).error().code
                        : p == pp ? PartitionIndexFile::open(p).error().code
                                  : StreamIndexFile::open(p).error().code;
      EXPECT_EQ(code, Errc::CorruptIndex) << p << " truncated to " << len;
    }
    write_bytes(p, original);
  }
}

TEST_F(IndexFilesTest, VerifyCatchesDamageAfterOpen) {
  auto fx = make_fixtures(30);
  const auto e = dir_ / "index.eidx";
  ASSERT_TRUE(EventIndexFile::write(e, fx.events));
  auto f = EventIndexFile::open(e);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->verify());
  const auto size = fs::file_size(e);
  auto rw = File::open(e, File::Mode::ReadWrite);
  ASSERT_TRUE(rw);
  for (uint64_t pos = 0; pos < size; pos += 7) {
    uint8_t b = 0;
    ASSERT_TRUE(rw->pread_exact(&b, 1, pos));
    const uint8_t flipped = b ^ 0x10;
    ASSERT_TRUE(rw->pwrite_all(&flipped, 1, pos));
    auto v = (*f)->verify();
    ASSERT_FALSE(v) << "byte " << pos;
    EXPECT_EQ(v.error().code, Errc::CorruptIndex);
    ASSERT_TRUE(rw->pwrite_all(&b, 1, pos));
  }
  EXPECT_TRUE((*f)->verify());
}

TEST_F(IndexFilesTest, RewriteReplacesAtomically) {
  LiveEventIndex a;
  a.insert(uuid_v4(), 1);
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", a));
  LiveEventIndex b;
  const Uuid id = uuid_v4();
  b.insert(id, 2);
  b.insert(uuid_v4(), 3);
  ASSERT_TRUE(EventIndexFile::write(dir_ / "index.eidx", b));
  auto f = EventIndexFile::open(dir_ / "index.eidx");
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->key_count(), 2u);
  EXPECT_EQ((*f)->get(id).value(), 2u);
  // Only the index file is left in the directory (no temp files).
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace sierra
