// Engine micro-benchmarks (make bench). Figures and the commands that produced them go in
// BENCHMARKS.md. Data lives under $SIERRA_BENCH_DIR (default /tmp/sierra-bench), on the same
// disk the raw fdatasync baseline measures.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "engine/database.hpp"
#include "engine/index/index_files.hpp"
#include "engine/segment/paths.hpp"

namespace fs = std::filesystem;
using namespace sierra;

namespace {

fs::path bench_root() {
  const char* env = std::getenv("SIERRA_BENCH_DIR");
  return env ? fs::path(env) : fs::path("/tmp/sierra-bench");
}

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

NewEvent make_event(const std::string& stream, size_t payload_size) {
  NewEvent e;
  e.partition_key = partition_key_for_stream(stream);
  e.event_id = new_event_id(partition_hash(e.partition_key));
  e.stream_id = stream;
  e.event_name = "BenchEvent";
  e.timestamp_ns = now_ns();
  e.payload.assign(payload_size, 'x');
  return e;
}

std::shared_ptr<Database> fresh_db(const std::string& name, uint64_t segment_size = 256ull << 20) {
  const fs::path dir = bench_root() / name;
  fs::remove_all(dir);
  auto db = DatabaseBuilder().segment_size(segment_size).open(dir);
  if (!db) {
    std::fprintf(stderr, "open: %s\n", db.error().to_string().c_str());
    std::abort();
  }
  return *db;
}

// Raw baseline: sequential write of `block` bytes + fdatasync, the disk's durable-write bandwidth.
void BM_RawWriteFdatasync(benchmark::State& state) {
  const size_t block = static_cast<size_t>(state.range(0));
  fs::create_directories(bench_root());
  const fs::path path = bench_root() / "raw.bin";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  std::string buf(block, 'x');
  for (auto _ : state) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) std::abort();
    ::fdatasync(fd);
  }
  ::close(fd);
  fs::remove(path);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * block));
}
BENCHMARK(BM_RawWriteFdatasync)->Arg(256)->Arg(4096)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

// Appends of 1-event transactions from N concurrent appenders (sync API, one call per event).
std::shared_ptr<Database> g_db;
std::mutex g_mu;

void BM_AppendSingle(benchmark::State& state) {
  if (state.thread_index() == 0) g_db = fresh_db("append-single");
  // Google Benchmark synchronises threads before the timed loop.
  const std::string stream =
      "bench-" + std::to_string(state.thread_index()) + "-" + std::to_string(state.range(0));
  std::vector<std::string> streams;
  for (int i = 0; i < 64; ++i) streams.push_back(stream + "-" + std::to_string(i));
  size_t i = 0;
  for (auto _ : state) {
    const std::string& s = streams[i++ % streams.size()];
    NewEvent e = make_event(s, static_cast<size_t>(state.range(0)));
    auto pid = partition_id_for_key(e.partition_key, 32);
    auto tx = Transaction::make({std::move(e)});
    auto r = g_db->append_events(pid, std::move(*tx));
    if (!r) state.SkipWithError(r.error().to_string().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) {
    g_db->close();
    g_db.reset();
  }
}
BENCHMARK(BM_AppendSingle)->Arg(200)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();

// 100-event transactions of 200-byte events, one appender.
void BM_AppendBatch100(benchmark::State& state) {
  auto db = fresh_db("append-batch");
  const std::string stream = "batch-stream";
  std::vector<NewEvent> events;
  for (int i = 0; i < 100; ++i) events.push_back(make_event(stream, 200));
  const auto pid = partition_id_for_key(events[0].partition_key, 32);
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<NewEvent> copy = events;
    for (auto& e : copy) e.event_id = new_event_id(partition_hash(e.partition_key));
    auto tx = Transaction::make(std::move(copy));
    auto r = db->append_events(pid, std::move(*tx));
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    bytes += 100 * 200;
  }
  state.SetItemsProcessed(state.iterations() * 100);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_AppendBatch100)->UseRealTime();

// Random read_event over a populated store with many closed segments.
struct ReadFixture {
  std::shared_ptr<Database> db;
  std::vector<std::pair<PartitionId, Uuid>> ids;
  std::vector<std::pair<PartitionId, std::string>> streams;
};
ReadFixture& read_fixture() {
  static ReadFixture f = [] {
    ReadFixture r;
    const size_t total = std::getenv("SIERRA_BENCH_EVENTS")
                             ? std::strtoull(std::getenv("SIERRA_BENCH_EVENTS"), nullptr, 10)
                             : 1'000'000;
    r.db = fresh_db("reads", 16ull << 20);
    const size_t per_tx = 100;
    for (size_t i = 0; i < total / per_tx; ++i) {
      const std::string stream = "read-stream-" + std::to_string(i % 1000);
      std::vector<NewEvent> evs;
      for (size_t k = 0; k < per_tx; ++k) evs.push_back(make_event(stream, 100));
      const auto pid = partition_id_for_key(evs[0].partition_key, 32);
      for (auto& e : evs) {
        if (r.ids.size() < 2'000'000) r.ids.emplace_back(pid, e.event_id);
      }
      auto tx = Transaction::make(std::move(evs));
      if (!r.db->append_events(pid, std::move(*tx))) std::abort();
      if (i < 1000) r.streams.emplace_back(pid, stream);
    }
    return r;
  }();
  return f;
}

void BM_ReadEventRandom(benchmark::State& state) {
  auto& f = read_fixture();
  std::mt19937_64 rng(42 + state.thread_index());
  for (auto _ : state) {
    const auto& [pid, id] = f.ids[rng() % f.ids.size()];
    auto r = f.db->read_event(pid, id);
    if (!r || !*r) state.SkipWithError("missing event");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReadEventRandom)->Threads(1)->Threads(2)->UseRealTime();

void BM_ScanStream(benchmark::State& state) {
  auto& f = read_fixture();
  size_t events = 0, i = 0;
  for (auto _ : state) {
    const auto& [pid, stream] = f.streams[i++ % f.streams.size()];
    auto it = f.db->read_stream(pid, stream, 0);
    while (true) {
      auto ev = it->next();
      if (!ev || !*ev) break;
      ++events;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
}
BENCHMARK(BM_ScanStream)->UseRealTime();

void BM_ScanPartition(benchmark::State& state) {
  auto& f = read_fixture();
  size_t events = 0;
  PartitionId pid = 0;
  for (auto _ : state) {
    auto it = f.db->read_partition(pid++ % 32, 0);
    while (true) {
      auto ev = it->next();
      if (!ev || !*ev) break;
      ++events;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
}
BENCHMARK(BM_ScanPartition)->Iterations(8)->UseRealTime();

// Open time of the populated directory (closed segments' index files only).
void BM_OpenPopulated(benchmark::State& state) {
  auto& f = read_fixture();
  const fs::path dir = f.db->dir();
  f.db->close();
  for (auto _ : state) {
    auto db = DatabaseBuilder().segment_size(16ull << 20).open(dir);
    if (!db) state.SkipWithError(db.error().to_string().c_str());
    state.PauseTiming();
    (*db)->close();
    state.ResumeTiming();
  }
  // Reopen for any later benchmark.
  f.db = *DatabaseBuilder().segment_size(16ull << 20).open(dir);
}
BENCHMARK(BM_OpenPopulated)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// Event-id uniqueness check (issue 14) over a bucket with 100 closed segments (1 bucket, 128 KiB
// segments, ~500 events each): the per-id cost of the check is one lookup in each closed
// segment's event index, which the Bloom filter ends without I/O for a fresh id.
struct ClosedFixture {
  std::shared_ptr<Database> db;
  std::vector<std::unique_ptr<EventIndexFile>> eidx;  // of every closed segment
  std::vector<NewEvent> first_tx;                     // the first transaction, for retries
  std::vector<Uuid> stored;                           // ids of stored events
  PartitionId pid = 0;
};
ClosedFixture& closed_fixture() {
  static ClosedFixture f = [] {
    ClosedFixture r;
    const fs::path dir = bench_root() / "closed100";
    fs::remove_all(dir);
    auto builder = [] { return DatabaseBuilder().segment_size(128 << 10).total_buckets(1); };
    {
      auto db = builder().open(dir);
      if (!db) std::abort();
      for (size_t i = 0; i < 100'000; ++i) {
        std::vector<NewEvent> evs;
        for (size_t k = 0; k < 50; ++k) evs.push_back(make_event("closed-stream", 100));
        r.pid = partition_id_for_key(evs[0].partition_key, 32);
        if (i == 0) r.first_tx = evs;
        for (const auto& e : evs) r.stored.push_back(e.event_id);
        auto res = (*db)->append_events(r.pid, *Transaction::make(std::move(evs)));
        if (!res) std::abort();
        if (res->segment_id >= 100) break;  // segments 0..99 closed
      }
    }
    auto db = builder().open(dir);  // closed segments now served from their index files
    if (!db) std::abort();
    r.db = *db;
    for (SegmentId s = 0; s < 100; ++s) {
      auto file = EventIndexFile::open(get_path(dir, 0, s, SegmentKind::EventIndex));
      if (!file || !(*file)->has_bloom()) std::abort();
      r.eidx.push_back(std::move(*file));
    }
    return r;
  }();
  return f;
}

// The check of one fresh (absent) id against 100 closed segments: 100 Bloom probes, plus the
// MPHF + 28-byte record read of the ~1 % false positives.
void BM_EventIdNegativeCheck100Closed(benchmark::State& state) {
  auto& f = closed_fixture();
  const PartitionHash hash = partition_hash(f.first_tx.front().partition_key);
  uint64_t hits = 0;
  for (auto _ : state) {
    const Uuid id = new_event_id(hash);
    for (const auto& file : f.eidx) {
      auto r = file->get(id);
      hits += r && *r ? 1 : 0;
    }
  }
  if (hits != 0) state.SkipWithError("a fresh id was found");
  state.counters["segments"] = static_cast<double>(f.eidx.size());
}
BENCHMARK(BM_EventIdNegativeCheck100Closed);

// For contrast, what each lookup would cost without the filter (format-1 files): a stored id's
// lookup is the MPHF + record read that a negative lookup of a format-1 file also pays.
void BM_EventIdIndexRecordRead(benchmark::State& state) {
  auto& f = closed_fixture();
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    const Uuid& id = f.stored[rng() % (f.stored.size() / 2)];
    for (const auto& file : f.eidx) {
      if (file->may_contain(id)) {
        benchmark::DoNotOptimize(file->get(id));
        break;
      }
    }
  }
}
BENCHMARK(BM_EventIdIndexRecordRead);

// A retry of a transaction stored in the oldest closed segment (50 events): found through the
// indexes, read back, compared, answered with its original result; nothing is written.
void BM_RetryFromClosedSegment(benchmark::State& state) {
  auto& f = closed_fixture();
  for (auto _ : state) {
    auto r = f.db->append_events(f.pid, *Transaction::make(f.first_tx));
    if (!r || !r->retry) state.SkipWithError("not answered as a retry");
  }
}
BENCHMARK(BM_RetryFromClosedSegment)->UseRealTime();

}  // namespace
