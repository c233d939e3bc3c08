// Crash test: a forked child appends from several threads and reports every acknowledged
// append through a pipe; the parent kills it with SIGKILL at a random moment, reopens the
// database in-process and checks DECISIONS.md D3: every acknowledged event is there with its
// acknowledged sequence and version, sequences and versions are gapless, and nothing appears
// that is not a complete transaction (multi-event transactions are all-or-nothing). The next
// cycle continues on the recovered directory with expected versions learned from the reopen.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/database.hpp"
#include "engine/database_test_util.hpp"
#include "engine/segment/paths.hpp"

namespace sierra {
namespace {

using namespace dbtest;
namespace fs = std::filesystem;
using EV = ExpectedVersion;

constexpr int kThreads = 6;
constexpr int kStreamsPerThread = 2;

// One acknowledged event (or an error report), written to the pipe as a fixed-size record.
// All records of a transaction go out in one write() (< PIPE_BUF, so atomic).
struct Ack {
  uint32_t magic = 0x41434b21;  // "ACK!"
  uint32_t kind = 0;            // 1 = acknowledged event, 2 = append error, 3 = open error
  char stream[16] = {};
  uint64_t version = 0;
  uint64_t sequence = 0;
  uint16_t partition = 0;
  uint16_t tx_size = 0;
  uint16_t tx_index = 0;
  uint16_t errc = 0;
  uint8_t event_id[16] = {};
  uint8_t txid[16] = {};
};
static_assert(sizeof(Ack) < 128);

std::string stream_name(int thread, int s) {
  return "t" + std::to_string(thread) + "-s" + std::to_string(s);
}

// Payload: "<tx size> <index in tx> " then filler; lets the checker tell a complete transaction.
std::string payload(size_t tx_size, size_t index, size_t filler) {
  return std::to_string(tx_size) + " " + std::to_string(index) + " " + std::string(filler, 'f');
}
std::pair<size_t, size_t> parse_payload(const std::string& p) {
  size_t a = 0, b = 0;
  if (std::sscanf(p.c_str(), "%zu %zu", &a, &b) != 2) return {0, 0};
  return {a, b};
}

void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(4);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

struct CrashConfig {
  uint64_t segment_size;
  std::vector<Uuid> keys;  // thread t uses keys[t % keys.size()]
  DatabaseBuilder builder() const {
    return DatabaseBuilder().segment_size(segment_size).log_sink(quiet_log);
  }
};

// Runs in the forked child; never returns.
[[noreturn]] void child_main(const fs::path& dir, const CrashConfig& cfg,
                             std::map<std::string, uint64_t> next_version, int fd, uint64_t seed) {
  auto db = cfg.builder().open(dir);
  if (!db) {
    Ack a;
    a.kind = 3;
    a.errc = static_cast<uint16_t>(db.error().code);
    write_all(fd, &a, sizeof a);
    _exit(3);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      const Uuid key = cfg.keys[t % cfg.keys.size()];
      const PartitionId pid = pid_of(key);
      std::map<std::string, uint64_t> next;
      for (int s = 0; s < kStreamsPerThread; ++s) {
        next[stream_name(t, s)] = next_version[stream_name(t, s)];
      }
      while (true) {
        const size_t n = rng() % 10 < 6 ? 1 : 2 + rng() % 3;
        std::vector<NewEvent> evs;
        std::map<std::string, uint64_t> tentative = next;
        for (size_t i = 0; i < n; ++i) {
          const std::string s = stream_name(t, static_cast<int>(rng() % kStreamsPerThread));
          evs.push_back(
              make_event(s, EV::from_next_version(tentative[s]), key, payload(n, i, rng() % 3000)));
          ++tentative[s];
        }
        auto tx = Transaction::make(evs);
        if (!tx) _exit(5);
        auto r = (*db)->append_events(pid, std::move(*tx));
        std::vector<Ack> acks;
        if (!r) {
          Ack a;
          a.kind = 2;
          a.errc = static_cast<uint16_t>(r.error().code);
          acks.push_back(a);
        } else {
          for (size_t i = 0; i < n; ++i) {
            Ack a;
            a.kind = 1;
            std::strncpy(a.stream, evs[i].stream_id.c_str(), sizeof a.stream - 1);
            a.version = r->stream_versions[i];
            a.sequence = r->first_partition_sequence + i;
            a.partition = r->partition_id;
            a.tx_size = static_cast<uint16_t>(n);
            a.tx_index = static_cast<uint16_t>(i);
            std::memcpy(a.event_id, evs[i].event_id.bytes.data(), 16);
            std::memcpy(a.txid, r->transaction_id.bytes.data(), 16);
            acks.push_back(a);
          }
          next = tentative;
        }
        write_all(fd, acks.data(), acks.size() * sizeof(Ack));
        if (!r) _exit(2);
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

class CrashTest : public ::testing::Test {
 protected:
  // Runs `cycles` fork/kill/recover cycles on one directory.
  void run_cycles(const CrashConfig& cfg, int cycles, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::map<std::string, uint64_t> next_version;  // learned from the reopened database
    for (int t = 0; t < kThreads; ++t) {
      for (int s = 0; s < kStreamsPerThread; ++s) next_version[stream_name(t, s)] = 0;
    }
    std::vector<Ack> all_acks;
    size_t cycles_with_acks = 0;
    int kills = 0;  // children killed mid-run by SIGKILL
    for (int cycle = 0; cycle < cycles; ++cycle) {
      SCOPED_TRACE("cycle " + std::to_string(cycle) + " seed " + std::to_string(seed));
      int fds[2];
      ASSERT_EQ(::pipe(fds), 0);
      const bool wait_first_ack = rng() % 4 != 0;  // else the kill may hit open/recovery
      const auto window = std::chrono::milliseconds(5 + rng() % 56);
      const uint64_t child_seed = rng();
      const pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        ::close(fds[0]);
        child_main(dir_.path(), cfg, next_version, fds[1], child_seed);
      }
      ::close(fds[1]);
      std::vector<Ack> acks;
      std::string buf;
      auto read_some = [&](int timeout_ms) -> bool {  // false at EOF
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return true;
        char tmp[8192];
        ssize_t n = ::read(fds[0], tmp, sizeof tmp);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<size_t>(n));
        while (buf.size() >= sizeof(Ack)) {
          Ack a;
          std::memcpy(&a, buf.data(), sizeof a);
          buf.erase(0, sizeof a);
          acks.push_back(a);
        }
        return true;
      };
      auto start = std::chrono::steady_clock::now();
      if (wait_first_ack) {
        const auto limit = start + std::chrono::seconds(10);
        while (acks.empty() && std::chrono::steady_clock::now() < limit) {
          if (!read_some(10)) break;
        }
        start = std::chrono::steady_clock::now();
      }
      while (std::chrono::steady_clock::now() < start + window) {
        if (!read_some(1)) break;
      }
      ::kill(child, SIGKILL);
      int status = 0;
      ::waitpid(child, &status, 0);
      while (read_some(1000)) {
      }
      ::close(fds[0]);
      EXPECT_TRUE(buf.empty()) << "partial ack record";
      for (const Ack& a : acks) {
        ASSERT_EQ(a.magic, 0x41434b21u);
        ASSERT_EQ(a.kind, 1u) << "child reported an error: kind " << a.kind << " "
                              << errc_name(static_cast<Errc>(a.errc));
      }
      if (!acks.empty()) ++cycles_with_acks;
      // The fault took effect: the child died of our SIGKILL, not on its own.
      ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << status;
      ASSERT_EQ(WTERMSIG(status), SIGKILL) << "child died of another signal";
      ++kills;
      all_acks.insert(all_acks.end(), acks.begin(), acks.end());
      ASSERT_NO_FATAL_FAILURE(check(cfg, all_acks, acks.size(), next_version));
    }
    EXPECT_EQ(kills, cycles) << "a cycle did not kill its child";
    EXPECT_GE(cycles_with_acks, static_cast<size_t>(cycles / 2));
    std::printf(
        "  %d cycles, %zu with acks, %zu acknowledged events, %zu durable but unacknowledged "
        "transactions\n",
        cycles, cycles_with_acks, all_acks.size(), unacked_total_);
  }

  void check(const CrashConfig& cfg, const std::vector<Ack>& all_acks, size_t new_acks,
             std::map<std::string, uint64_t>& next_version) {
    auto opened = cfg.builder().open(dir_.path());
    ASSERT_TRUE(opened) << opened.error().to_string();
    std::shared_ptr<Database> db = *opened;
    // Every acknowledged event, with its acknowledged sequence and version.
    std::set<Uuid> acked_tx;
    for (const Ack& a : all_acks) {
      Uuid id;
      std::memcpy(id.bytes.data(), a.event_id, 16);
      Uuid txid;
      std::memcpy(txid.bytes.data(), a.txid, 16);
      acked_tx.insert(txid);
      auto ev = db->read_event(a.partition, id);
      ASSERT_TRUE(ev) << ev.error().to_string();
      ASSERT_TRUE(ev->has_value()) << "acknowledged event lost: " << a.stream << "@" << a.version;
      EXPECT_EQ((*ev)->partition_sequence, a.sequence);
      EXPECT_EQ((*ev)->stream_version, a.version);
      EXPECT_EQ((*ev)->stream_id, std::string(a.stream));
      EXPECT_EQ((*ev)->tx.transaction_id, txid);
    }
    (void)new_acks;
    // Per partition: gapless from 0, grouped into complete transactions.
    std::set<PartitionId> pids;
    for (const Uuid& k : cfg.keys) pids.insert(pid_of(k));
    size_t unacked_tx = 0;
    std::set<Uuid> seen_tx;
    for (PartitionId pid : pids) {
      auto all = scan_partition(*db, pid, 0);
      ASSERT_EQ(sequences(all), iota_vec(0, all.size())) << "partition " << pid;
      auto latest = db->get_partition_sequence(pid);
      ASSERT_TRUE(latest);
      if (all.empty()) {
        EXPECT_FALSE(latest->has_value());
      } else {
        EXPECT_EQ(*latest, std::optional<uint64_t>(all.size() - 1));
      }
      for (size_t i = 0; i < all.size();) {
        const Uuid txid = all[i].tx.transaction_id;
        const auto [size, index] = parse_payload(all[i].payload);
        ASSERT_GE(size, 1u) << "unparsable payload at sequence " << i;
        ASSERT_EQ(index, 0u) << "transaction starts in the middle at sequence " << i;
        ASSERT_LE(i + size, all.size()) << "partial transaction at the end of partition " << pid;
        for (size_t j = 0; j < size; ++j) {
          ASSERT_EQ(all[i + j].tx.transaction_id, txid) << "partial transaction at " << i;
          ASSERT_EQ(parse_payload(all[i + j].payload), std::make_pair(size, j));
        }
        EXPECT_EQ(transaction_id_is_single(txid), size == 1);
        EXPECT_TRUE(seen_tx.insert(txid).second) << "transaction appears twice";
        if (!acked_tx.contains(txid)) ++unacked_tx;
        i += size;
      }
    }
    // At most one append per thread and cycle can be durable without its acknowledgement.
    EXPECT_LE(unacked_tx, static_cast<size_t>(kThreads) * (cycle_count_ + 1));
    unacked_total_ = unacked_tx;
    ++cycle_count_;
    EXPECT_EQ(seen_tx.size(), acked_tx.size() + unacked_tx);
    // Per stream: gapless versions; learn the next expected version.
    for (int t = 0; t < kThreads; ++t) {
      const PartitionId pid = pid_of(cfg.keys[t % cfg.keys.size()]);
      for (int s = 0; s < kStreamsPerThread; ++s) {
        const std::string name = stream_name(t, s);
        auto vs = versions(scan_stream(*db, pid, name, 0));
        ASSERT_EQ(vs, iota_vec(0, vs.size())) << name;
        auto rev = versions(scan_stream(*db, pid, name, UINT64_MAX, true));
        ASSERT_EQ(rev.size(), vs.size());
        auto v = db->get_stream_version(pid, name);
        ASSERT_TRUE(v);
        if (vs.empty()) {
          EXPECT_FALSE(v->has_value());
        } else {
          ASSERT_TRUE(v->has_value());
          EXPECT_EQ((*v)->version, vs.size() - 1);
        }
        EXPECT_GE(vs.size(), next_version[name]) << "stream went backwards: " << name;
        next_version[name] = vs.size();
      }
    }
    db->close();
  }

  TempDir dir_{"sierra-crash"};
  size_t cycle_count_ = 0;
  size_t unacked_total_ = 0;
};

// Random keys: several threads share a partition (keys.size() < kThreads).
std::vector<Uuid> crash_keys(size_t n) {
  std::vector<Uuid> keys;
  std::set<PartitionId> used;
  while (keys.size() < n) {
    Uuid k = uuid_v4();
    if (used.insert(pid_of(k)).second) keys.push_back(k);
  }
  return keys;
}

TEST_F(CrashTest, KillDuringAppendsSmallSegments) {
  // 64 KiB segments: crashes regularly hit a rollover or a pending background index write.
  CrashConfig cfg{64 * 1024, crash_keys(3)};
  const uint64_t seed = std::getenv("SIERRA_TEST_SEED")
                            ? std::strtoull(std::getenv("SIERRA_TEST_SEED"), nullptr, 10)
                            : static_cast<uint64_t>(::time(nullptr));
  run_cycles(cfg, 40, seed);
  auto ids = list_segment_ids(dir_.path(), bucket_for_partition(pid_of(cfg.keys[0]), 4));
  ASSERT_TRUE(ids);
  EXPECT_GT(ids->size(), 1u) << "no rollover happened";
  std::printf("  bucket of key 0: %zu segments\n", ids->size());
}

TEST_F(CrashTest, KillDuringAppendsLargeSegments) {
  CrashConfig cfg{4 * 1024 * 1024, crash_keys(4)};
  const uint64_t seed = std::getenv("SIERRA_TEST_SEED")
                            ? std::strtoull(std::getenv("SIERRA_TEST_SEED"), nullptr, 10)
                            : static_cast<uint64_t>(::time(nullptr)) + 1;
  run_cycles(cfg, 10, seed);
}

// A crash during rollover, between creating the next segment file and making its header
// durable, leaves an empty or short data.evts as the highest segment. Open must recover (the
// segment never held a record) instead of failing on the header.
TEST(CrashRecovery, TornHeaderOfNewSegment) {
  for (size_t header_bytes : {size_t{0}, size_t{10}}) {
    SCOPED_TRACE("header bytes " + std::to_string(header_bytes));
    TempDir dir("sierra-torn-header");
    auto b = DatabaseBuilder().segment_size(64 * 1024).log_sink(quiet_log);
    const Uuid key = uuid_v4();
    const PartitionId pid = pid_of(key);
    const BucketId bucket = bucket_for_partition(pid, 4);
    std::vector<Uuid> ids;
    {
      auto db = b.open(dir.path());
      ASSERT_TRUE(db) << db.error().to_string();
      for (int i = 0; i < 30; ++i) {
        NewEvent e = make_event("s", EV::any(), key, std::string(5000, 'x'));
        ids.push_back(e.event_id);
        ASSERT_TRUE(append_one(**db, e));
      }
    }
    auto segs = list_segment_ids(dir.path(), bucket);
    ASSERT_TRUE(segs);
    const SegmentId next = segs->back() + 1;
    ASSERT_TRUE(ensure_segment_dir(dir.path(), bucket, next));
    {
      std::ofstream f(get_path(dir.path(), bucket, next, SegmentKind::Events), std::ios::binary);
      f << std::string(header_bytes, '\x53');
    }
    auto db = b.open(dir.path());
    ASSERT_TRUE(db) << "open after a torn segment creation: " << db.error().to_string();
    EXPECT_EQ(sequences(scan_partition(**db, pid)), iota_vec(0, 30));
    for (const Uuid& id : ids) EXPECT_TRUE((*db)->read_event(pid, id)->has_value());
    auto r = append_one(**db, make_event("s", EV::exact(29), key, std::string(5000, 'y')));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->first_partition_sequence, 30u);
    (*db)->close();
    auto again = b.open(dir.path());
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(sequences(scan_partition(**again, pid)), iota_vec(0, 31));
  }
}

}  // namespace
}  // namespace sierra
