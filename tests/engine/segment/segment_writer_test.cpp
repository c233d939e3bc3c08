#include "engine/segment/segment_writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "engine/crc32c.hpp"
#include "engine/fault_env.hpp"
#include "engine/file.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_test_util.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
namespace sf = segment_format;
using segtest::encode;
using segtest::make_event;
using segtest::make_tx;
using segtest::OwnedEvent;
using segtest::TempDir;

constexpr uint64_t kSegSize = 1 << 20;

std::unique_ptr<SegmentWriter> must_create(const fs::path& base, BucketId b = 1, SegmentId s = 0,
                                           uint64_t size = kSegSize,
                                           std::shared_ptr<Env> env = Env::real()) {
  auto w = SegmentWriter::create(base, b, s, size, std::move(env));
  EXPECT_TRUE(w) << w.error().to_string();
  return w ? std::move(*w) : nullptr;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  auto f = File::open(p, File::Mode::ReadOnly);
  EXPECT_TRUE(f);
  auto size = f->size();
  std::vector<uint8_t> out(*size);
  EXPECT_TRUE(f->pread_exact(out.data(), out.size(), 0));
  return out;
}

void write_file(const fs::path& p, std::span<const uint8_t> bytes) {
  fs::create_directories(p.parent_path());
  auto f = File::open(p, File::Mode::CreateTruncate);
  ASSERT_TRUE(f) << f.error().to_string();
  ASSERT_TRUE(f->pwrite_all(bytes.data(), bytes.size(), 0));
}

// Every committed transaction `r` can see, by iteration.
std::vector<CommittedTransaction> all_transactions(
    const Result<std::shared_ptr<SegmentReader>>& r) {
  EXPECT_TRUE(r) << r.error().to_string();
  std::vector<CommittedTransaction> out;
  if (!r) return out;
  auto it = (*r)->iter();
  for (;;) {
    auto tx = it.next_transaction();
    EXPECT_TRUE(tx) << tx.error().to_string();
    if (!tx || !*tx) break;
    out.push_back(std::move(**tx));
  }
  return out;
}

// ... of a closed segment file (read to its end).
std::vector<CommittedTransaction> all_transactions(const fs::path& path, BucketId b, SegmentId s) {
  return all_transactions(SegmentReader::open(path, b, s));
}

// ... of a segment still being written: only up to the writer's flushed end (past it the file
// holds preallocated zeros).
std::vector<CommittedTransaction> all_transactions(const SegmentWriter& w) {
  return all_transactions(
      SegmentReader::open(w.path(), w.bucket(), w.segment(), w.flushed_offset_handle()));
}

TEST(SegmentWriter, CreateAppendFlushReadBack) {
  TempDir dir;
  auto w = must_create(dir.path(), 3, 7);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->path(), get_path(dir.path(), 3, 7, SegmentKind::Events));
  EXPECT_EQ(w->end_offset(), sf::kHeaderSize);
  EXPECT_EQ(w->flushed_offset(), sf::kHeaderSize);
  auto handle = w->flushed_offset_handle();
  EXPECT_EQ(handle->load(), sf::kHeaderSize);

  std::vector<OwnedEvent> events{make_event(1), make_event(2), make_event(3)};
  auto tx1 = make_tx(1, 1);
  auto tx2 = make_tx(2, 2);
  auto b1 = encode(tx1, {events[0]});
  auto b2 = encode(tx2, {events[1], events[2]});
  EXPECT_EQ(w->append(b1), sf::kHeaderSize);
  EXPECT_EQ(w->append(b2), sf::kHeaderSize + b1.size());
  EXPECT_EQ(w->end_offset(), sf::kHeaderSize + b1.size() + b2.size());
  // Nothing is published (or written) before flush.
  EXPECT_EQ(w->flushed_offset(), sf::kHeaderSize);
  EXPECT_EQ(handle->load(), sf::kHeaderSize);
  EXPECT_EQ(fs::file_size(w->path()), sf::kHeaderSize);

  ASSERT_TRUE(w->flush());
  const uint64_t end = sf::kHeaderSize + b1.size() + b2.size();
  EXPECT_EQ(w->flushed_offset(), end);
  EXPECT_EQ(handle->load(), end);
  // The batch grew the file, so zeros were written ahead of it (up to the segment size).
  EXPECT_EQ(w->allocated_end(), std::min(kSegSize, end + SegmentWriter::kPreallocateBytes));
  EXPECT_EQ(fs::file_size(w->path()), w->allocated_end());
  ASSERT_TRUE(w->flush());  // no-op

  auto r = SegmentReader::open(w->path(), 3, 7, handle);
  ASSERT_TRUE(r) << r.error().to_string();
  auto t1 = (*r)->read_transaction(sf::kHeaderSize);
  ASSERT_TRUE(t1 && *t1);
  ASSERT_EQ((*t1)->events.size(), 1u);
  segtest::expect_event_eq((*t1)->events[0], events[0]);
  EXPECT_FALSE((*t1)->commit);
  auto t2 = (*r)->read_transaction((*t1)->end_offset);
  ASSERT_TRUE(t2 && *t2);
  ASSERT_EQ((*t2)->events.size(), 2u);
  segtest::expect_event_eq((*t2)->events[1], events[2]);
  ASSERT_TRUE((*t2)->commit);
  EXPECT_EQ((*t2)->commit->event_count, 2u);
  EXPECT_EQ((*t2)->end_offset, end);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(fs::file_size(get_path(dir.path(), 3, 7, SegmentKind::Events)), end);  // released
}

TEST(SegmentWriter, CreateFailsIfExistsAndRejectsTinySegments) {
  TempDir dir;
  ASSERT_TRUE(must_create(dir.path()));
  auto again = SegmentWriter::create(dir.path(), 1, 0, kSegSize);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::Io);
  auto tiny = SegmentWriter::create(dir.path(), 1, 1, 100);
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error().code, Errc::InvalidArgument);
}

TEST(SegmentWriter, HeaderOnDisk) {
  TempDir dir;
  auto w = must_create(dir.path(), 62, 9);
  auto bytes = read_file(w->path());
  ASSERT_EQ(bytes.size(), sf::kHeaderSize);
  auto h = sf::decode_header(bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->bucket_id, 62);
  EXPECT_EQ(h->segment_id, 9u);
  EXPECT_EQ(h->version, sf::kFormatVersion);
  EXPECT_GT(h->created_at_ns, 0u);
}

TEST(SegmentWriter, FitsDecidesRollover) {
  TempDir dir;
  auto e = make_event(1);
  auto tx = encode(make_tx(1, 1), {e});
  const uint64_t size = sf::kHeaderSize + 2 * tx.size() + 10;
  auto w = must_create(dir.path(), 1, 0, size);
  EXPECT_TRUE(w->fits(tx.size()));
  w->append(tx);
  EXPECT_TRUE(w->fits(tx.size()));
  EXPECT_TRUE(w->fits(tx.size() + 10));
  EXPECT_FALSE(w->fits(tx.size() + 11));
  w->append(tx);
  ASSERT_TRUE(w->flush());
  EXPECT_TRUE(w->fits(10));
  EXPECT_FALSE(w->fits(tx.size()));
  // A transaction that can never fit (EventsExceedSegmentSize is the caller's decision).
  auto fresh = must_create(dir.path(), 1, 1, size);
  EXPECT_FALSE(fresh->fits(size - sf::kHeaderSize + 1));
  EXPECT_TRUE(fresh->fits(size - sf::kHeaderSize));
}

TEST(SegmentWriter, DiscardUnflushed) {
  TempDir dir;
  auto w = must_create(dir.path());
  auto tx = encode(make_tx(1, 1), {make_event(1)});
  w->append(tx);
  w->discard_unflushed();
  EXPECT_EQ(w->end_offset(), sf::kHeaderSize);
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(fs::file_size(w->path()), sf::kHeaderSize);
}

TEST(SegmentWriter, SetConfirmations) {
  TempDir dir;
  auto w = must_create(dir.path());
  auto tx1 = make_tx(1, 2);
  auto b1 = encode(tx1, {make_event(1), make_event(2)});
  std::vector<uint32_t> offs;
  const uint64_t at = w->append(b1);
  ASSERT_TRUE(w->flush());
  auto r = SegmentReader::open(w->path(), 1, 0, w->flushed_offset_handle());
  ASSERT_TRUE(r);
  auto first = (*r)->read_record(at);
  ASSERT_TRUE(first);
  const uint64_t second_at = record_end(*first);
  const uint64_t commit_at = at + b1.size() - sf::kCommitSize;

  ASSERT_TRUE(w->set_confirmations(at, tx1.transaction_id, 2));
  ASSERT_TRUE(w->set_confirmations(second_at, tx1.transaction_id, 5));
  ASSERT_TRUE(w->set_confirmations(commit_at, tx1.transaction_id, 2));
  auto tx = (*r)->read_transaction(at);
  ASSERT_TRUE(tx && *tx) << (tx ? "" : tx.error().to_string());
  EXPECT_EQ((*tx)->events[0].confirmation_count, 2);
  EXPECT_EQ((*tx)->events[1].confirmation_count, 5);
  EXPECT_EQ((*tx)->commit->confirmation_count, 2);

  // Wrong transaction id.
  auto st = w->set_confirmations(at, uuid_v4(), 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::WrongTransactionId);
  // Not a record start (the confirmation crc of the bytes found there does not verify).
  st = w->set_confirmations(at + 3, tx1.transaction_id, 1);
  ASSERT_FALSE(st);
  // Beyond the flushed end: a buffered record, and past the file.
  auto tx2 = make_tx(2, 1);
  const uint64_t at2 = w->append(encode(tx2, {make_event(3)}));
  st = w->set_confirmations(at2, tx2.transaction_id, 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::OffsetExceedsFileSize);
  st = w->set_confirmations(1 << 30, tx2.transaction_id, 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::OffsetExceedsFileSize);
  // Whole record must be below the flushed end: the last 59 bytes of the flushed data.
  st = w->set_confirmations(w->flushed_offset() - 59, tx1.transaction_id, 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::OffsetExceedsFileSize);
  // After the flush it works, and the file still verifies on reopen.
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->set_confirmations(at2, tx2.transaction_id, 1));
  ASSERT_TRUE(w->close());
  RecoveryReport rep;
  auto w2 = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep);
  ASSERT_TRUE(w2) << w2.error().to_string();
  EXPECT_EQ(rep.bytes_dropped, 0u);
  EXPECT_EQ(rep.transactions, 2u);
}

TEST(SegmentWriter, TruncateAfter) {
  TempDir dir;
  auto w = must_create(dir.path());
  std::vector<uint64_t> ends;
  for (uint64_t pos = 1; pos <= 5; ++pos) {
    const size_t n = pos == 3 ? 3 : 1;
    std::vector<OwnedEvent> evs;
    for (size_t i = 0; i < n; ++i) evs.push_back(make_event(pos * 10 + i));
    w->append(encode(make_tx(pos, n), evs));
    ends.push_back(w->end_offset());
  }
  ASSERT_TRUE(w->flush());
  auto handle = w->flushed_offset_handle();
  // Unflushed bytes are discarded by truncate_after.
  w->append(encode(make_tx(6, 1), {make_event(60)}));

  ASSERT_TRUE(w->truncate_after(3));
  EXPECT_EQ(w->flushed_offset(), ends[2]);
  EXPECT_EQ(w->end_offset(), ends[2]);
  EXPECT_EQ(handle->load(), ends[2]);
  EXPECT_EQ(fs::file_size(w->path()), ends[2]);
  ASSERT_TRUE(w->truncate_after(3));  // idempotent
  ASSERT_TRUE(w->truncate_after(100));
  EXPECT_EQ(w->flushed_offset(), ends[2]);

  // New transactions continue from there.
  w->append(encode(make_tx(4, 2), {make_event(70), make_event(71)}));
  ASSERT_TRUE(w->flush());
  auto txs = all_transactions(*w);
  ASSERT_EQ(txs.size(), 4u);
  EXPECT_EQ(txs[2].events.size(), 3u);
  EXPECT_EQ(txs[3].events[0].tx.log_position, 4u);

  ASSERT_TRUE(w->truncate_after(0));
  EXPECT_EQ(fs::file_size(w->path()), sf::kHeaderSize);
  EXPECT_EQ(w->allocated_end(), sf::kHeaderSize);
  EXPECT_TRUE(all_transactions(w->path(), 1, 0).empty());
}

// ---- recovery ----

struct Built {
  std::vector<uint8_t> file;        // whole segment file
  std::vector<uint64_t> tx_starts;  // start of each transaction
  std::vector<uint64_t> tx_ends;
};

// Writes transactions of the given sizes through a writer and returns the file.
Built build_segment(const fs::path& base, const std::vector<size_t>& sizes) {
  Built b;
  auto w = must_create(base);
  uint64_t pos = 1;
  for (size_t n : sizes) {
    std::vector<OwnedEvent> evs;
    for (size_t i = 0; i < n; ++i)
      evs.push_back(make_event(pos * 10 + i, std::string(20 + i, 'x')));
    b.tx_starts.push_back(w->append(encode(make_tx(pos++, n), evs)));
    b.tx_ends.push_back(w->end_offset());
  }
  EXPECT_TRUE(w->flush());
  EXPECT_TRUE(w->close());
  b.file = read_file(get_path(base, 1, 0, SegmentKind::Events));
  return b;
}

// Opens `bytes` as the live segment of a fresh data directory; checks the recovery against
// `expected_end` / `expected_txs`; then appends and reads back a new transaction.
void check_recovery(std::span<const uint8_t> bytes, uint64_t expected_end, uint64_t expected_txs,
                    uint64_t expected_last_pos, const std::string& what,
                    std::string_view reason_contains = {}) {
  SCOPED_TRACE(what);
  TempDir dir(TempDir::kMemory);
  const auto path = get_path(dir.path(), 1, 0, SegmentKind::Events);
  write_file(path, bytes);
  RecoveryReport rep;
  auto w = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep);
  ASSERT_TRUE(w) << w.error().to_string();
  EXPECT_EQ(rep.file_size_before, bytes.size());
  EXPECT_EQ(rep.valid_end, expected_end);
  EXPECT_EQ(rep.bytes_dropped, bytes.size() - expected_end);
  EXPECT_EQ(rep.transactions, expected_txs);
  EXPECT_EQ(rep.has_transactions, expected_txs > 0);
  EXPECT_EQ(rep.last_log_position, expected_last_pos);
  EXPECT_EQ(rep.reason.empty(), rep.bytes_dropped == 0) << rep.reason;
  EXPECT_NE(rep.reason.find(reason_contains), std::string::npos) << rep.reason;
  EXPECT_EQ(fs::file_size(path), expected_end);
  EXPECT_EQ((*w)->flushed_offset(), expected_end);
  EXPECT_EQ((*w)->flushed_offset_handle()->load(), expected_end);

  auto e1 = make_event(900);
  auto e2 = make_event(901);
  const uint64_t at = (*w)->append(encode(make_tx(expected_last_pos + 1, 2), {e1, e2}));
  EXPECT_EQ(at, expected_end);
  ASSERT_TRUE((*w)->flush());
  auto txs = all_transactions(**w);
  ASSERT_EQ(txs.size(), expected_txs + 1);
  ASSERT_EQ(txs.back().events.size(), 2u);
  segtest::expect_event_eq(txs.back().events[1], e2);
  ASSERT_TRUE((*w)->close());
  // And a second open finds everything intact.
  RecoveryReport rep2;
  auto w2 = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep2);
  ASSERT_TRUE(w2) << w2.error().to_string();
  EXPECT_EQ(rep2.bytes_dropped, 0u);
  EXPECT_EQ(rep2.transactions, expected_txs + 1);
}

TEST(SegmentWriterRecovery, CleanFileDropsNothing) {
  TempDir src;
  auto b = build_segment(src.path(), {1, 3, 1});
  check_recovery(b.file, b.file.size(), 3, 3, "clean");
}

TEST(SegmentWriterRecovery, EmptySegment) {
  TempDir src;
  auto b = build_segment(src.path(), {});
  check_recovery(b.file, sf::kHeaderSize, 0, 0, "empty");
}

// Every possible torn tail of a multi-event last transaction, and of a single-event one.
TEST(SegmentWriterRecovery, TornTailAtEveryByte) {
  for (const auto& sizes : {std::vector<size_t>{1, 2, 1, 3}, std::vector<size_t>{2, 1, 1}}) {
    TempDir src;
    auto b = build_segment(src.path(), sizes);
    const size_t last = sizes.size() - 1;
    for (uint64_t len = b.tx_starts[last]; len <= b.file.size(); ++len) {
      const bool whole = len == b.file.size();
      check_recovery(std::span<const uint8_t>(b.file.data(), len),
                     whole ? b.file.size() : b.tx_starts[last], whole ? sizes.size() : last,
                     whole ? sizes.size() : last, "length " + std::to_string(len));
      if (HasFatalFailure() || HasFailure()) return;
    }
  }
}

TEST(SegmentWriterRecovery, GarbageAfterValidEnd) {
  TempDir src;
  auto b = build_segment(src.path(), {1, 2});
  std::mt19937 rng(7);
  for (size_t n : {1, 59, 60, 61, 200, 5000}) {
    for (int kind = 0; kind < 3; ++kind) {
      auto bytes = b.file;
      for (size_t i = 0; i < n; ++i) {
        bytes.push_back(kind == 0 ? 0 : kind == 1 ? 0xFF : static_cast<uint8_t>(rng()));
      }
      check_recovery(bytes, b.file.size(), 2, 2,
                     "garbage " + std::to_string(n) + " kind " + std::to_string(kind));
    }
  }
}

TEST(SegmentWriterRecovery, CorruptRecordInTheMiddleTruncatesFromThere) {
  TempDir src;
  auto b = build_segment(src.path(), {1, 1, 2, 1});
  auto bytes = b.file;
  bytes[b.tx_starts[2] + 70] ^= 0x01;  // inside the first event of the multi-event tx
  check_recovery(bytes, b.tx_starts[2], 2, 2, "flip", "crc mismatch");
}

TEST(SegmentWriterRecovery, UncommittedAndOrphanRecords) {
  TempDir src;
  auto b = build_segment(src.path(), {1});
  // A multi-event transaction without its commit.
  auto multi = encode(make_tx(2, 2), {make_event(1), make_event(2)});
  auto no_commit = b.file;
  no_commit.insert(no_commit.end(), multi.begin(), multi.end() - sf::kCommitSize);
  check_recovery(no_commit, b.file.size(), 1, 1, "no commit", "uncommitted");
  // Followed by a complete single-event transaction: still cut at the uncommitted run.
  auto single = encode(make_tx(3, 1), {make_event(3)});
  auto interrupted = no_commit;
  interrupted.insert(interrupted.end(), single.begin(), single.end());
  check_recovery(interrupted, b.file.size(), 1, 1, "interrupted", "uncommitted");
  // An orphan commit.
  auto orphan = b.file;
  orphan.insert(orphan.end(), multi.end() - sf::kCommitSize, multi.end());
  check_recovery(orphan, b.file.size(), 1, 1, "orphan commit", "orphan");
  // Commit count mismatch: drop one of two events.
  auto multi3 = encode(make_tx(2, 3), {make_event(4), make_event(5), make_event(6)});
  auto mismatch = b.file;
  const uint32_t first_len = sf::peek_record_length(multi3);
  mismatch.insert(mismatch.end(), multi3.begin() + first_len, multi3.end());
  check_recovery(mismatch, b.file.size(), 1, 1, "count mismatch", "count mismatch");
}

TEST(SegmentWriterRecovery, BadHeaders) {
  TempDir src;
  auto b = build_segment(src.path(), {1});
  auto open_bytes = [](std::span<const uint8_t> bytes, BucketId bucket = 1, SegmentId seg = 0) {
    TempDir dir;
    write_file(get_path(dir.path(), bucket, seg, SegmentKind::Events), bytes);
    return SegmentWriter::open(dir.path(), bucket, seg, kSegSize, nullptr);
  };
  auto bad = b.file;
  bad[1] ^= 0x20;
  auto r = open_bytes(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptHeader);
  bad = b.file;
  bad[30] ^= 0x01;
  r = open_bytes(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptHeader);
  r = open_bytes(std::span<const uint8_t>(b.file.data(), 40));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptHeader);
  r = open_bytes({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptHeader);
  // Another version with a valid crc.
  bad = b.file;
  bad[4] = sf::kFormatVersion + 1;
  const uint32_t crc = crc32c::value(bad.data(), 60);
  std::memcpy(bad.data() + 60, &crc, 4);
  r = open_bytes(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::UnsupportedVersion);
  // File of bucket 1 segment 0 placed where bucket 2 / segment 5 is expected.
  r = open_bytes(b.file, 2, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::BucketMismatch);
  r = open_bytes(b.file, 1, 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::BucketMismatch);
  // Missing file.
  TempDir empty;
  auto missing = SegmentWriter::open(empty.path(), 1, 0, kSegSize, nullptr);
  ASSERT_FALSE(missing);
}

// ---- write / sync failures ----

// Sets the Env's hook for one scope.
class FaultGuard {
 public:
  FaultGuard(HookEnv& env, HookEnv::Hook h) : env_(env) { env_.set(std::move(h)); }
  ~FaultGuard() { env_.clear(); }
  FaultGuard(const FaultGuard&) = delete;
  FaultGuard& operator=(const FaultGuard&) = delete;

 private:
  HookEnv& env_;
};

TEST(SegmentWriter, WriteFailureDiscardsAndRollsBack) {
  TempDir dir;
  auto env = std::make_shared<HookEnv>();
  auto w = must_create(dir.path(), 1, 0, kSegSize, env);
  auto handle = w->flushed_offset_handle();
  w->append(encode(make_tx(1, 1), {make_event(1)}));
  ASSERT_TRUE(w->flush());
  const uint64_t flushed = w->flushed_offset();
  {
    FaultGuard g(*env, [](HookEnv::Op op, const fs::path&, uint64_t, size_t) {
      return op == HookEnv::Op::Write ? ENOSPC : 0;
    });
    w->append(encode(make_tx(2, 2), {make_event(2), make_event(3)}));
    auto st = w->flush();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::NoSpace);
    EXPECT_EQ(st.error().sys_errno, ENOSPC);
  }
  EXPECT_EQ(env->injected(HookEnv::Op::Write), 1u) << "the ENOSPC was not injected";
  EXPECT_FALSE(w->broken());
  EXPECT_EQ(w->flushed_offset(), flushed);
  EXPECT_EQ(w->end_offset(), flushed);
  EXPECT_EQ(handle->load(), flushed);
  // The next transaction takes the same offset and works.
  EXPECT_EQ(w->append(encode(make_tx(2, 1), {make_event(4)})), flushed);
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(all_transactions(*w).size(), 2u);
}

TEST(SegmentWriter, SyncFailureBreaksWriterAndReopenRecovers) {
  TempDir dir;
  auto env = std::make_shared<HookEnv>();
  auto w = must_create(dir.path(), 1, 0, kSegSize, env);
  auto handle = w->flushed_offset_handle();
  w->append(encode(make_tx(1, 1), {make_event(1)}));
  ASSERT_TRUE(w->flush());
  const uint64_t flushed = w->flushed_offset();
  {
    FaultGuard g(*env, [](HookEnv::Op op, const fs::path&, uint64_t, size_t) {
      return op == HookEnv::Op::Sync ? EIO : 0;
    });
    w->append(encode(make_tx(2, 1), {make_event(2)}));
    auto st = w->flush();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::Io);
    EXPECT_EQ(st.error().sys_errno, EIO);
  }
  EXPECT_EQ(env->injected(HookEnv::Op::Sync), 1u) << "the sync fault was not injected";
  EXPECT_TRUE(w->broken());
  EXPECT_EQ(handle->load(), flushed);
  w->append(encode(make_tx(2, 1), {make_event(3)}));
  EXPECT_FALSE(w->flush());
  w.reset();
  RecoveryReport rep;
  auto w2 = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep);
  ASSERT_TRUE(w2) << w2.error().to_string();
  EXPECT_EQ(rep.valid_end, flushed);
  EXPECT_EQ(rep.transactions, 1u);
}

// ---- preallocation ----

// A batch that grows the file writes zeros ahead of itself; later batches land inside them and
// leave the file size alone; a crash leaves the zeros, which recovery recognises and drops
// without calling them damage.
TEST(SegmentWriterPreallocation, ZerosAheadAreReusedAndRecoveredAsZeroTail) {
  TempDir dir;
  auto w = must_create(dir.path(), 1, 0, 4 * SegmentWriter::kPreallocateBytes);
  const fs::path path = w->path();
  w->append(encode(make_tx(1, 1), {make_event(1)}));
  ASSERT_TRUE(w->flush());
  const uint64_t first_end = w->flushed_offset();
  const uint64_t allocated = w->allocated_end();
  EXPECT_EQ(allocated, first_end + SegmentWriter::kPreallocateBytes);
  EXPECT_EQ(fs::file_size(path), allocated);
  for (uint64_t pos = 2; pos <= 20; ++pos) {
    w->append(encode(make_tx(pos, 2), {make_event(pos * 10), make_event(pos * 10 + 1)}));
    ASSERT_TRUE(w->flush());
  }
  EXPECT_EQ(w->allocated_end(), allocated);  // inside the zeros: the file did not grow
  EXPECT_EQ(fs::file_size(path), allocated);
  const uint64_t end = w->flushed_offset();
  EXPECT_EQ(all_transactions(*w).size(), 20u);
  // Readers of the live segment never see the zeros.
  auto r = SegmentReader::open(path, 1, 0, w->flushed_offset_handle());
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)->visible_end(), end);
  auto bytes = read_file(path);
  EXPECT_TRUE(std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(end), bytes.end(),
                          [](uint8_t b) { return b == 0; }));

  w.reset();  // a crash: no close, the zeros stay
  auto seen = inspect_live_segment(path, 1, 0, 4 * SegmentWriter::kPreallocateBytes);
  ASSERT_TRUE(seen) << seen.error().to_string();
  EXPECT_TRUE(seen->zero_tail);
  EXPECT_FALSE(seen->later_batch_offset);
  EXPECT_EQ(seen->valid_end, end);
  EXPECT_EQ(seen->bytes_dropped, allocated - end);
  RecoveryReport rep;
  auto w2 = SegmentWriter::open(dir.path(), 1, 0, 4 * SegmentWriter::kPreallocateBytes, &rep);
  ASSERT_TRUE(w2) << w2.error().to_string();
  EXPECT_TRUE(rep.zero_tail);
  EXPECT_EQ(rep.transactions, 20u);
  EXPECT_EQ(fs::file_size(path), end);
  // Writing continues, preallocating again.
  (*w2)->append(encode(make_tx(21, 1), {make_event(210)}));
  ASSERT_TRUE((*w2)->flush());
  EXPECT_EQ((*w2)->allocated_end(), (*w2)->flushed_offset() + SegmentWriter::kPreallocateBytes);
  ASSERT_TRUE((*w2)->close());
  EXPECT_EQ(fs::file_size(path), (*w2)->flushed_offset());  // close releases the zeros
  EXPECT_EQ(all_transactions(path, 1, 0).size(), 21u);
}

// A torn write inside preallocated space (part of the last batch, then zeros) is a torn tail,
// not a zero tail: it is dropped with its reason.
TEST(SegmentWriterPreallocation, TornBatchBeforeZerosIsATornTail) {
  TempDir dir;
  auto w = must_create(dir.path());
  w->append(encode(make_tx(1, 1), {make_event(1)}));
  ASSERT_TRUE(w->flush());
  const uint64_t end = w->flushed_offset();
  const fs::path path = w->path();
  w.reset();
  auto last = encode(make_tx(2, 2), {make_event(2), make_event(3)});
  {
    auto f = File::open(path, File::Mode::ReadWrite);
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->pwrite_all(last.data(), last.size() / 2, end));  // half of it reached disk
  }
  RecoveryReport rep;
  auto w2 = SegmentWriter::open(dir.path(), 1, 0, kSegSize, &rep);
  ASSERT_TRUE(w2) << w2.error().to_string();
  EXPECT_FALSE(rep.zero_tail);
  EXPECT_FALSE(rep.reason.empty());
  EXPECT_EQ(rep.valid_end, end);
  EXPECT_EQ(rep.transactions, 1u);
  EXPECT_EQ(fs::file_size(path), end);
}

// Zeros never go past the segment size, and release_unused_space() leaves the file ending at
// its last record (what a closed segment must be).
TEST(SegmentWriterPreallocation, BoundedBySegmentSizeAndReleasedBeforeClosing) {
  TempDir dir;
  const uint64_t size = 16 * 1024;
  auto w = must_create(dir.path(), 1, 0, size);
  w->append(encode(make_tx(1, 1), {make_event(1)}));
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(w->allocated_end(), size);
  EXPECT_EQ(fs::file_size(w->path()), size);
  ASSERT_TRUE(w->release_unused_space());
  EXPECT_EQ(w->allocated_end(), w->flushed_offset());
  EXPECT_EQ(fs::file_size(w->path()), w->flushed_offset());
  EXPECT_EQ(all_transactions(w->path(), 1, 0).size(), 1u);  // reads cleanly to the file's end
  ASSERT_TRUE(w->release_unused_space());                   // nothing left: a no-op
  // The next batch grows the file again and preallocates again.
  w->append(encode(make_tx(2, 1), {make_event(2)}));
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(w->allocated_end(), size);
}

// A failed zero write (disk full) does not fail the append: the space is given back and this
// segment stops preallocating.
TEST(SegmentWriterPreallocation, FailedZeroWriteIsNotAnError) {
  TempDir dir;
  auto env = std::make_shared<HookEnv>();
  auto w = must_create(dir.path(), 1, 0, kSegSize, env);
  std::vector<uint64_t> writes;  // lengths of the writes
  {
    FaultGuard g(*env, [&](HookEnv::Op op, const fs::path&, uint64_t, size_t len) {
      if (op != HookEnv::Op::Write) return 0;
      writes.push_back(len);
      return len >= SegmentWriter::kPreallocateBytes / 2 ? ENOSPC : 0;  // the zeros only
    });
    w->append(encode(make_tx(1, 1), {make_event(1)}));
    ASSERT_TRUE(w->flush());
  }
  ASSERT_EQ(writes.size(), 2u);  // the batch, then the zeros (refused)
  EXPECT_EQ(env->injected(HookEnv::Op::Write), 1u) << "the zero write was not refused";
  EXPECT_EQ(w->allocated_end(), w->flushed_offset());
  EXPECT_EQ(fs::file_size(w->path()), w->flushed_offset());
  w->append(encode(make_tx(2, 1), {make_event(2)}));
  ASSERT_TRUE(w->flush());
  EXPECT_EQ(w->allocated_end(), w->flushed_offset());  // no more preallocation here
  EXPECT_EQ(all_transactions(*w).size(), 2u);
}

}  // namespace
}  // namespace sierra
