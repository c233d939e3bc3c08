// sierradb-replica-bench: single-node durable appends through the engine's write path
// (sierra::Database, one bucket, its writer thread's group commit) against the replication path
// on one node (a one-voter cluster::BucketReplica over a BucketLog on real segment files), in one
// run, on the same filesystem, with the same workload: single-event transactions of --payload
// bytes to --streams streams of one bucket, each acknowledged only after its fdatasync.
//
// Two ways of driving both sides, each with C outstanding appends:
//   threads  C client threads, each building a transaction and blocking until it is durable.
//            Engine: Database::append_events. Replica: the client hands the transaction to the
//            thread that owns the replica (a mutex + condition variable inbox, as the engine's
//            writer queue) and waits for the answer (a promise, as append_events does).
//   inline   C clients modelled on the thread that executes the appends; an answered client
//            issues its next append at once. Engine: append_events_async, whose callback (on the
//            writer thread) builds and submits the next one. Replica: one loop that takes every
//            outstanding append, calls append() for each, flush_proposals() (one batched submit),
//            sync_log() (one fsync, commit, apply, callbacks), and repeats.
// In both modes the replica's loop is that of a single-node server: one thread owns the replica,
// appends that arrive during an fsync go into the next round, tick() is called when due.
//
// Each case (mode, C) is --repeat slices of --seconds / --repeat per side, alternating which side
// runs first, each slice on a fresh directory after its own warm-up; the figures merge the
// slices, and the per-slice ratios show how much the shared machine moved between them.
//
// Printed per concurrency level: appends/s in the measured window, latency p50/p99 (issue to
// durable answer), CPU time of the whole process per append, appends per fsync, and the ratio
// replica/engine. --breakdown wraps the replica's log in a timing decorator and prints where the
// replica's thread spends its time per append (a separate pass, so the main figures are taken
// without the decorator).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/bucket_replica.hpp"
#include "engine/bucket_log.hpp"
#include "engine/database.hpp"
#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "engine/transaction.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using sierra::AppendResult;
using sierra::PartitionId;
using sierra::Result;
using sierra::Transaction;
using sierra::cluster::BucketReplica;

// Hard bounds besides --seconds and --max-appends: how long a case may overrun its deadline
// before it is abandoned, and how many latency samples one client keeps.
constexpr auto kOverrun = std::chrono::seconds(60);
constexpr size_t kMaxSamplesPerClient = 1u << 21;

struct Config {
  fs::path dir;
  double seconds = 3;
  double warmup = 0.5;
  std::vector<unsigned> concurrency{1, 16, 128};
  std::vector<std::string> modes{"threads", "inline"};
  size_t payload = 200;
  unsigned streams = 1000;
  uint64_t max_appends = 5'000'000;
  uint16_t partitions = 32;
  uint64_t segment_size = 256ull << 20;
  unsigned repeat = 3;  // slices per case, alternating which side runs first
  bool breakdown = false;
  bool probe = true;
  bool run_engine = true;  // --sides
  bool run_replica = true;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

uint64_t wall_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count());
}

// The streams of the workload and the transactions written to them: one event of `payload`
// bytes, a fresh (server-generated) event id, any expected version.
class Workload {
 public:
  Workload(unsigned streams, size_t payload, uint16_t partitions) : payload_(payload, 'x') {
    for (unsigned i = 0; i < streams; ++i) {
      Stream s;
      s.name = "bench-stream-" + std::to_string(i);
      s.key = sierra::partition_key_for_stream(s.name);
      s.hash = sierra::partition_hash(s.key);
      s.pid = sierra::partition_id_for_key(s.key, partitions);
      streams_.push_back(std::move(s));
    }
  }
  // The k-th append of client c.
  std::pair<PartitionId, Transaction> make(unsigned c, uint64_t k) const {
    const Stream& s = streams_[(c * 7919 + k * 104729) % streams_.size()];
    sierra::NewEvent e;
    e.event_id = sierra::new_event_id(s.hash);
    e.fresh_id = true;
    e.partition_key = s.key;
    e.stream_id = s.name;
    e.expected_version = sierra::ExpectedVersion::any();
    e.event_name = "BenchEvent";
    e.timestamp_ns = wall_ns();
    e.payload = payload_;
    std::vector<sierra::NewEvent> events;
    events.push_back(std::move(e));
    auto tx = Transaction::make(std::move(events));
    if (!tx) {
      std::fprintf(stderr, "Transaction::make: %s\n", tx.error().to_string().c_str());
      std::abort();
    }
    return {s.pid, std::move(*tx)};
  }

 private:
  struct Stream {
    std::string name;
    sierra::Uuid key;
    sierra::PartitionHash hash{};
    PartitionId pid = 0;
  };
  std::vector<Stream> streams_;
  std::string payload_;
};

// The measured window of a case and what its clients saw.
class Recorder {
 public:
  Recorder(unsigned clients, Clock::time_point start, const Config& cfg)
      : samples_(clients),
        window_begin_(start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(cfg.warmup))),
        window_end_(window_begin_ + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(cfg.seconds))),
        max_appends_(cfg.max_appends) {}

  Clock::time_point end() const { return window_end_; }
  // Whether client may issue another append now (time and count bounds).
  bool may_issue(Clock::time_point now) {
    return now < window_end_ && issued_.fetch_add(1, std::memory_order_relaxed) < max_appends_;
  }
  // An append issued at `issued` answered at `done`.
  void answered(unsigned c, Clock::time_point issued, Clock::time_point done, bool ok) {
    total_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (issued < window_begin_ || done > window_end_) return;
    auto& v = samples_[c];
    if (v.size() < kMaxSamplesPerClient)
      v.push_back(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - issued).count()));
  }
  uint64_t total() const { return total_.load(); }
  uint64_t errors() const { return errors_.load(); }
  std::vector<uint64_t> merged() const {
    std::vector<uint64_t> all;
    for (const auto& v : samples_) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    return all;
  }

 private:
  std::vector<std::vector<uint64_t>> samples_;
  Clock::time_point window_begin_;
  Clock::time_point window_end_;
  uint64_t max_appends_;
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> errors_{0};
};

// What one side measured in one or more slices of a case (merge() adds slices).
struct Outcome {
  std::vector<uint64_t> lat_ns;  // appends issued and answered inside the measured window
  double seconds = 0;            // length of the measured windows
  uint64_t total = 0;            // every answered append (warm-up and overrun included)
  uint64_t errors = 0;
  uint64_t fsyncs = 0;
  double cpu = 0;              // process CPU seconds over the slices
  double bytes_per_entry = 0;  // replica: segment bytes written per transaction entry
  std::string failure;         // a fatal error: the case's figures are meaningless

  double appends_per_s() const {
    return seconds > 0 ? static_cast<double>(lat_ns.size()) / seconds : 0;
  }
  // q in [0, 1), of sorted lat_ns.
  double quantile_us(double q) const {
    if (lat_ns.empty()) return 0;
    const auto i = std::min(lat_ns.size() - 1, static_cast<size_t>(q * lat_ns.size()));
    return static_cast<double>(lat_ns[i]) / 1e3;
  }
  double cpu_us_per_append() const {
    return total > 0 ? cpu * 1e6 / static_cast<double>(total) : 0;
  }
  double appends_per_fsync() const {
    return fsyncs > 0 ? static_cast<double>(total) / static_cast<double>(fsyncs) : 0;
  }
  void merge(Outcome o) {
    lat_ns.insert(lat_ns.end(), o.lat_ns.begin(), o.lat_ns.end());
    std::sort(lat_ns.begin(), lat_ns.end());
    seconds += o.seconds;
    total += o.total;
    errors += o.errors;
    fsyncs += o.fsyncs;
    cpu += o.cpu;
    if (o.bytes_per_entry > 0) bytes_per_entry = o.bytes_per_entry;
    if (failure.empty()) failure = std::move(o.failure);
  }
};

Outcome summarise(const Recorder& rec, const Config& cfg, double cpu, uint64_t fsyncs) {
  Outcome o;
  o.lat_ns = rec.merged();
  o.seconds = cfg.seconds;
  o.total = rec.total();
  o.errors = rec.errors();
  o.fsyncs = fsyncs;
  o.cpu = cpu;
  return o;
}

void log_to_stderr(sierra::LogLevel level, std::string_view msg) {
  if (level >= sierra::LogLevel::Warn)
    std::fprintf(stderr, "[log] %.*s\n", static_cast<int>(msg.size()), msg.data());
}

std::string loadavg() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "?";
  char buf[128] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string out(buf, n);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// ------------------------------------------------------------------------------ engine side

Outcome run_engine(const Config& cfg, const Workload& wl, const std::string& mode, unsigned c,
                   const fs::path& dir) {
  std::atomic<uint64_t> batches{0};
  auto db = sierra::DatabaseBuilder()
                .total_buckets(1)
                .partition_count(cfg.partitions)
                .segment_size(cfg.segment_size)
                .log_sink(log_to_stderr)
                .on_commit([&batches](auto) { batches.fetch_add(1, std::memory_order_relaxed); })
                .open(dir);
  if (!db) return Outcome{.failure = "open: " + db.error().to_string()};
  std::shared_ptr<sierra::Database> database = *db;

  const double cpu0 = cpu_seconds();
  const auto start = Clock::now();
  Recorder rec(c, start, cfg);
  double cpu = 0;

  if (mode == "threads") {
    std::vector<std::thread> clients;
    for (unsigned i = 0; i < c; ++i) {
      clients.emplace_back([&, i] {
        for (uint64_t k = 0; rec.may_issue(Clock::now()); ++k) {
          auto [pid, tx] = wl.make(i, k);
          const auto t0 = Clock::now();
          auto r = database->append_events(pid, std::move(tx));
          rec.answered(i, t0, Clock::now(), r.has_value());
          if (!r) break;
        }
      });
    }
    for (auto& t : clients) t.join();
    cpu = cpu_seconds() - cpu0;
    database->close();
  } else {
    // C outstanding async appends; each callback (on the writer thread) issues the next one.
    struct Client {
      uint64_t k = 0;
      Clock::time_point issued;
    };
    std::vector<Client> state(c);
    std::mutex mu;
    std::condition_variable cv;
    unsigned active = c;
    auto finish = [&] {
      std::lock_guard lock(mu);
      if (--active == 0) cv.notify_all();
    };
    std::function<void(unsigned)> issue;
    issue = [&](unsigned i) {
      const auto now = Clock::now();
      if (!rec.may_issue(now)) {
        finish();
        return;
      }
      auto [pid, tx] = wl.make(i, state[i].k++);
      state[i].issued = now;
      database->append_events_async(pid, std::move(tx), [&, i](Result<AppendResult> r) {
        rec.answered(i, state[i].issued, Clock::now(), r.has_value());
        if (r)
          issue(i);
        else
          finish();
      });
    };
    for (unsigned i = 0; i < c; ++i) issue(i);
    std::unique_lock lock(mu);
    if (!cv.wait_until(lock, rec.end() + kOverrun, [&] { return active == 0; })) {
      std::fprintf(stderr, "engine inline: clients did not finish; aborting\n");
      std::abort();  // the callbacks reference this frame
    }
    lock.unlock();
    cpu = cpu_seconds() - cpu0;
    database->close();  // the writer thread is done with this frame's callbacks
  }
  return summarise(rec, cfg, cpu, batches.load());
}

// ----------------------------------------------------------------------------- replica side

// Times the calls the replica makes on its log (the decorator of --breakdown).
class TimedLog final : public sierra::ReplicatedLog {
 public:
  explicit TimedLog(sierra::ReplicatedLog& inner) : inner_(inner) {}
  struct Times {
    double propose = 0, append = 0, sync = 0, apply = 0, read = 0;
  };
  const Times& times() const { return t_; }

  sierra::VoteState vote_state() const override { return inner_.vote_state(); }
  sierra::Status save_vote_state(sierra::VoteState s) override { return inner_.save_vote_state(s); }
  uint64_t last_index() const override { return inner_.last_index(); }
  uint64_t durable_index() const override { return inner_.durable_index(); }
  Result<uint64_t> term_at(uint64_t index) const override { return inner_.term_at(index); }
  Result<std::vector<sierra::LogEntry>> read_entries(uint64_t from, size_t max_count,
                                                     size_t max_bytes) const override {
    const auto t0 = Clock::now();
    auto r = inner_.read_entries(from, max_count, max_bytes);
    t_.read += secs(t0);
    return r;
  }
  sierra::Status append(uint64_t first_index,
                        std::span<const sierra::LogEntryRef> entries) override {
    const auto t0 = Clock::now();
    auto r = inner_.append(first_index, entries);
    t_.append += secs(t0);
    return r;
  }
  sierra::Status sync() override {
    const auto t0 = Clock::now();
    auto r = inner_.sync();
    t_.sync += secs(t0);
    return r;
  }
  uint64_t applied_index() const override { return inner_.applied_index(); }
  sierra::Status apply(uint64_t index, const AppliedSink& sink) override {
    const auto t0 = Clock::now();
    auto r = inner_.apply(index, sink);
    t_.apply += secs(t0);
    return r;
  }
  std::optional<sierra::Proposal> propose(PartitionId pid, Transaction tx, uint64_t index,
                                          uint64_t term, AppendCallback done) override {
    const auto t0 = Clock::now();
    auto r = inner_.propose(pid, std::move(tx), index, term, std::move(done));
    t_.propose += secs(t0);
    return r;
  }
  void abandon_proposals(uint64_t from_index, const sierra::Error& why) override {
    inner_.abandon_proposals(from_index, why);
  }

 private:
  static double secs(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  sierra::ReplicatedLog& inner_;
  mutable Times t_;
};

// Where the replica's thread spent its time (--breakdown), in seconds over the case.
struct Breakdown {
  double loop_append = 0;  // BucketReplica::append calls (queueing)
  double flush = 0;        // flush_proposals: propose + submit + log append
  double sync_log = 0;     // sync_log: log sync + persisted + apply + callbacks
  double build = 0;        // building transactions (inline mode only)
  TimedLog::Times log;
  uint64_t appends = 0;
};

// The replica with its log, opened until ready (the one voter elected itself and applied its
// barrier).
struct Replica {
  std::unique_ptr<sierra::BucketLog> bucket_log;
  std::unique_ptr<TimedLog> timed;
  std::unique_ptr<BucketReplica> replica;
  std::string error;

  sierra::ReplicatedLog& log() {
    return timed ? static_cast<sierra::ReplicatedLog&>(*timed) : *bucket_log;
  }

  bool open(const Config& cfg, const fs::path& dir, bool time_log) {
    sierra::BucketLog::Options lo;
    lo.dir = dir;
    lo.bucket_id = 0;
    lo.partition_count = cfg.partitions;
    lo.segment_size = cfg.segment_size;
    lo.log = log_to_stderr;
    auto l = sierra::BucketLog::open(std::move(lo));
    if (!l) return fail("BucketLog::open: " + l.error().to_string());
    bucket_log = std::move(*l);
    if (time_log) timed = std::make_unique<TimedLog>(*bucket_log);
    BucketReplica::Options ro;
    ro.node_id = 1;
    ro.voters = {1};
    ro.seed = 1;
    BucketReplica::Host host;
    host.send = [](uint64_t, std::vector<uint8_t>) {};
    host.want_sync = [] {};
    auto r = BucketReplica::open(ro, log(), host, now_ms());
    if (!r) return fail("BucketReplica::open: " + r.error().to_string());
    replica = std::move(*r);
    for (int i = 0; i < 100 && !replica->ready(); ++i) {
      if (auto s = replica->sync_log(now_ms()); !s)
        return fail("sync_log: " + s.error().to_string());
      if (auto s = replica->tick(now_ms()); !s) return fail("tick: " + s.error().to_string());
    }
    if (!replica->ready()) return fail("the one-voter replica did not become ready");
    return true;
  }
  bool fail(std::string e) {
    error = std::move(e);
    return false;
  }
  // One round's tail: submit what is queued, fsync, commit, apply (callbacks fire), tick.
  bool round(Breakdown* bd) {
    auto t0 = Clock::now();
    if (auto s = replica->flush_proposals(now_ms()); !s)
      return fail("flush_proposals: " + s.error().to_string());
    auto t1 = Clock::now();
    if (auto s = replica->sync_log(now_ms()); !s) return fail("sync_log: " + s.error().to_string());
    auto t2 = Clock::now();
    if (bd) {
      bd->flush += std::chrono::duration<double>(t1 - t0).count();
      bd->sync_log += std::chrono::duration<double>(t2 - t1).count();
    }
    const uint64_t now = now_ms();
    if (now >= replica->next_timeout())
      if (auto s = replica->tick(now); !s) return fail("tick: " + s.error().to_string());
    return true;
  }
};

Outcome run_replica(const Config& cfg, const Workload& wl, const std::string& mode, unsigned c,
                    const fs::path& dir, Breakdown* bd) {
  Replica rp;
  if (!rp.open(cfg, dir, bd != nullptr)) return Outcome{.failure = rp.error};
  const uint64_t syncs0 = rp.bucket_log->log_syncs();

  const double cpu0 = cpu_seconds();
  const auto start = Clock::now();
  Recorder rec(c, start, cfg);
  std::string failure;

  if (mode == "threads") {
    struct Request {
      PartitionId pid;
      Transaction tx;
      std::promise<Result<AppendResult>>* answer;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Request> inbox;
    unsigned clients_left = c;
    bool owner_stopped = false;

    std::thread owner([&] {
      std::deque<Request> batch;
      const auto hard_end = rec.end() + kOverrun;
      bool ok = true;
      while (ok && Clock::now() < hard_end) {
        {
          std::unique_lock lock(mu);
          cv.wait_for(lock, std::chrono::milliseconds(10),
                      [&] { return !inbox.empty() || clients_left == 0; });
          if (inbox.empty() && clients_left == 0) break;
          batch.swap(inbox);
        }
        auto t0 = Clock::now();
        for (auto& r : batch) {
          auto* p = r.answer;
          rp.replica->append(r.pid, std::move(r.tx),
                             [p](Result<AppendResult> res) { p->set_value(std::move(res)); });
        }
        if (bd) {
          bd->loop_append += std::chrono::duration<double>(Clock::now() - t0).count();
          bd->appends += batch.size();
        }
        batch.clear();
        ok = rp.round(bd);
      }
      // Whatever still waits learns that nothing more will be answered.
      std::lock_guard lock(mu);
      owner_stopped = true;
      if (!ok) failure = rp.error;
      for (auto& r : inbox)
        r.answer->set_value(std::unexpected(
            sierra::Error{sierra::Errc::ShuttingDown, "the bench's replica loop stopped", 0, 0}));
      inbox.clear();
    });

    std::vector<std::thread> clients;
    for (unsigned i = 0; i < c; ++i) {
      clients.emplace_back([&, i] {
        for (uint64_t k = 0; rec.may_issue(Clock::now()); ++k) {
          auto [pid, tx] = wl.make(i, k);
          std::promise<Result<AppendResult>> answer;
          auto fut = answer.get_future();
          const auto t0 = Clock::now();
          {
            std::lock_guard lock(mu);
            if (owner_stopped) break;
            inbox.push_back({pid, std::move(tx), &answer});
          }
          cv.notify_one();
          if (fut.wait_until(rec.end() + kOverrun) != std::future_status::ready) {
            std::fprintf(stderr, "replica threads: no answer; aborting\n");
            std::abort();  // the promise lives in this frame
          }
          auto r = fut.get();
          rec.answered(i, t0, Clock::now(), r.has_value());
          if (!r) break;
        }
        std::lock_guard lock(mu);
        if (--clients_left == 0) cv.notify_one();
      });
    }
    for (auto& t : clients) t.join();
    owner.join();
  } else {
    // Inline: the clients live on this thread. ready[i]: client i was answered (or has not
    // started) and issues its next append in the coming round.
    struct Client {
      uint64_t k = 0;
      bool ready = true;
      bool done = false;
      Clock::time_point issued;
    };
    std::vector<Client> cl(c);
    for (auto& x : cl) x.issued = start;
    unsigned active = c;
    const auto hard_end = rec.end() + kOverrun;
    while (active > 0 && Clock::now() < hard_end) {
      auto t0 = Clock::now();
      double build = 0;
      size_t issued = 0;
      for (unsigned i = 0; i < c; ++i) {
        Client& x = cl[i];
        if (!x.ready || x.done) continue;
        const auto now = Clock::now();
        if (!rec.may_issue(now)) {
          x.done = true;
          --active;
          continue;
        }
        const auto b0 = bd ? Clock::now() : Clock::time_point{};
        auto [pid, tx] = wl.make(i, x.k++);
        if (bd) build += std::chrono::duration<double>(Clock::now() - b0).count();
        x.ready = false;
        ++issued;
        rp.replica->append(pid, std::move(tx), [&rec, &x, i](Result<AppendResult> r) {
          const auto t = Clock::now();
          rec.answered(i, x.issued, t, r.has_value());
          x.issued = t;  // the client issues its next append at once
          x.ready = true;
          if (!r) x.done = true;
        });
      }
      if (bd) {
        bd->build += build;
        bd->loop_append += std::chrono::duration<double>(Clock::now() - t0).count() - build;
        bd->appends += issued;
      }
      if (!rp.round(bd)) {
        failure = rp.error;
        break;
      }
      for (auto& x : cl)
        if (x.done && x.ready) x.ready = false;  // answered with an error: stops
      active = 0;
      for (auto& x : cl) active += x.done ? 0 : 1;
    }
  }
  const double cpu = cpu_seconds() - cpu0;
  Outcome o = summarise(rec, cfg, cpu, rp.bucket_log->log_syncs() - syncs0);
  o.failure = failure;
  if (bd) bd->log = rp.timed->times();
  rp.replica.reset();
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(dir, ec))
    if (f.path().filename() == "data.evts") bytes += f.file_size(ec);
  if (rp.bucket_log->applied_transactions() > 0)
    o.bytes_per_entry =
        static_cast<double>(bytes) / static_cast<double>(rp.bucket_log->applied_transactions());
  return o;
}

// ------------------------------------------------------------------------------- raw probe

// write(`size` bytes at the end) + fdatasync, repeated for `seconds`: either the file grows
// with every write (as BucketLog's segments do) or the space is preallocated with zeros 1 MiB
// ahead (as the engine's SegmentWriter does, so that most syncs carry no size change).
struct ProbeResult {
  double syncs_per_s = 0;
  double p50_us = 0;
};

ProbeResult raw_probe(const fs::path& path, size_t size, bool preallocate, double seconds) {
  constexpr uint64_t kAhead = 1 << 20;
  constexpr uint64_t kMaxFile = 512ull << 20;
  ProbeResult out;
  auto f = sierra::File::open(path, sierra::File::Mode::CreateTruncate);
  if (!f) return out;
  const std::vector<uint8_t> data(size, 'x');
  const std::vector<uint8_t> zeros(kAhead, 0);
  std::vector<uint64_t> lat;
  uint64_t end = 0;
  uint64_t allocated = 0;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
  auto t = Clock::now();
  for (size_t n = 0; t < deadline && n < 10'000'000 && end + size + kAhead < kMaxFile; ++n) {
    if (!f->pwrite_all(data.data(), size, end)) break;
    end += size;
    if (preallocate && end > allocated) {
      if (!f->pwrite_all(zeros.data(), zeros.size(), end)) break;
      allocated = end + kAhead;
    }
    if (!f->datasync()) break;
    const auto t2 = Clock::now();
    lat.push_back(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t).count()));
    t = t2;
  }
  std::error_code ec;
  fs::remove(path, ec);
  if (lat.empty()) return out;
  std::sort(lat.begin(), lat.end());
  out.syncs_per_s = static_cast<double>(lat.size()) / seconds;
  out.p50_us = static_cast<double>(lat[lat.size() / 2]) / 1e3;
  return out;
}

// ----------------------------------------------------------------------------------- report

std::string fmt_rate(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

void print_breakdown(const std::string& mode, unsigned c, const Breakdown& bd, const Outcome& o) {
  if (bd.appends == 0) return;
  const double n = static_cast<double>(bd.appends);
  auto us = [n](double s) { return s * 1e6 / n; };
  const double flush_rest = bd.flush - bd.log.propose - bd.log.append;
  const double sync_rest = bd.sync_log - bd.log.sync - bd.log.apply;
  std::printf("| %s | %u | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
              mode.c_str(), c, o.appends_per_s(), us(bd.build), us(bd.loop_append),
              us(bd.log.propose), us(bd.log.append), us(flush_rest), us(bd.log.sync),
              us(bd.log.apply), us(sync_rest),
              us(bd.build + bd.loop_append + bd.flush + bd.sync_log));
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string dir;
  CLI::App app{
      "sierradb-replica-bench: single-node durable appends, engine write path vs a one-voter "
      "replica group over BucketLog"};
  app.add_option("--dir", dir,
                 "Directory for the data (on the disk to measure); default: a temporary "
                 "directory under /tmp, removed at the end");
  app.add_option("--seconds", cfg.seconds, "Measured seconds per case")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "Seconds before the measured window of each case")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_option("-c,--concurrency", cfg.concurrency, "Outstanding appends (list)")
      ->check(CLI::Range(1U, 1024U))
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--modes", cfg.modes, "threads and/or inline (list)")
      ->check(CLI::IsMember({"threads", "inline"}))
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--repeat", cfg.repeat,
                 "Slices per case: --seconds is split into this many alternating engine/replica "
                 "slices (each with its own warm-up and fresh directory)")
      ->check(CLI::Range(1U, 100U))
      ->capture_default_str();
  app.add_option("--payload", cfg.payload, "Payload bytes per event")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--streams", cfg.streams, "Streams written (round-robin-ish over clients)")
      ->check(CLI::Range(1U, 1000000U))
      ->capture_default_str();
  app.add_option("--max-appends", cfg.max_appends, "Most appends per case")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}))
      ->capture_default_str();
  app.add_flag("--breakdown", cfg.breakdown,
               "Also run each replica case again with its log timed, and print where its thread "
               "spends the time per append");
  std::vector<std::string> sides{"engine", "replica"};
  app.add_option("--sides", sides, "engine and/or replica (list; one side alone: for profiling)")
      ->check(CLI::IsMember({"engine", "replica"}))
      ->delimiter(',')
      ->capture_default_str();
  app.add_flag("!--no-probe", cfg.probe,
               "Skip the raw write + fdatasync probe (growing vs preallocated file)");
  CLI11_PARSE(app, argc, argv);

  cfg.run_engine = std::find(sides.begin(), sides.end(), "engine") != sides.end();
  cfg.run_replica = std::find(sides.begin(), sides.end(), "replica") != sides.end();
  bool remove_base = false;
  if (dir.empty()) {
    std::string templ = (fs::temp_directory_path() / "sierradb-replica-bench-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    cfg.dir = templ;
    remove_base = true;
  } else {
    cfg.dir = dir;
    std::error_code ec;
    fs::create_directories(cfg.dir, ec);
    if (ec) {
      std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
      return 1;
    }
  }

  const Workload wl(cfg.streams, cfg.payload, cfg.partitions);
  std::printf("# load average at start: %s\n", loadavg().c_str());
  std::printf(
      "# sierradb-replica-bench: %zu B payload, 1-event transactions, %u streams, "
      "%u partitions in 1 bucket, %.1f s per case after %.1f s warm-up, dir %s\n",
      cfg.payload, cfg.streams, cfg.partitions, cfg.seconds, cfg.warmup, cfg.dir.c_str());
  std::printf(
      "\n| mode | C | engine appends/s | p50 µs | p99 µs | CPU µs/append | appends/fsync "
      "| replica appends/s | p50 µs | p99 µs | CPU µs/append | appends/fsync | "
      "replica/engine | per slice |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);

  int rc = 0;
  struct Pending {
    std::string mode;
    unsigned c;
  };
  std::vector<Pending> breakdown_cases;
  double bytes_per_entry = 0;
  for (const auto& mode : cfg.modes) {
    for (unsigned c : cfg.concurrency) {
      const fs::path a_dir = cfg.dir / ("engine-" + mode + "-c" + std::to_string(c));
      const fs::path b_dir = cfg.dir / ("replica-" + mode + "-c" + std::to_string(c));
      // Slices alternate the order (engine first, then replica first, ...) so that a slow
      // spell of the shared machine does not land on one side only.
      Config slice = cfg;
      slice.seconds = cfg.seconds / cfg.repeat;
      Outcome a, b;
      std::string ratios;
      for (unsigned r = 0; r < cfg.repeat; ++r) {
        Outcome sa, sb;
        for (int side = 0; side < 2; ++side) {
          const bool engine = (side == 0) == (r % 2 == 0);
          if (engine && cfg.run_engine) {
            sa = run_engine(slice, wl, mode, c, a_dir);
            fs::remove_all(a_dir);
          } else if (!engine && cfg.run_replica) {
            sb = run_replica(slice, wl, mode, c, b_dir, nullptr);
            fs::remove_all(b_dir);
          }
        }
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.2f", r == 0 ? "" : " ",
                      sa.appends_per_s() > 0 ? sb.appends_per_s() / sa.appends_per_s() : 0.0);
        ratios += buf;
        a.merge(std::move(sa));
        b.merge(std::move(sb));
      }
      for (const Outcome* o : {&a, &b}) {
        if (!o->failure.empty() || o->errors > 0) {
          std::fprintf(stderr, "%s C=%u %s: failure '%s', %llu errored appends\n", mode.c_str(), c,
                       o == &a ? "engine" : "replica", o->failure.c_str(),
                       static_cast<unsigned long long>(o->errors));
          rc = 1;
        }
      }
      std::printf(
          "| %s | %u | %s | %.0f | %.0f | %.1f | %.1f | %s | %.0f | %.0f | %.1f | %.1f | "
          "%.2f | %s |\n",
          mode.c_str(), c, fmt_rate(a.appends_per_s()).c_str(), a.quantile_us(0.5),
          a.quantile_us(0.99), a.cpu_us_per_append(), a.appends_per_fsync(),
          fmt_rate(b.appends_per_s()).c_str(), b.quantile_us(0.5), b.quantile_us(0.99),
          b.cpu_us_per_append(), b.appends_per_fsync(),
          a.appends_per_s() > 0 ? b.appends_per_s() / a.appends_per_s() : 0.0, ratios.c_str());
      std::fflush(stdout);
      if (cfg.breakdown) breakdown_cases.push_back({mode, c});
      if (b.bytes_per_entry > 0) bytes_per_entry = b.bytes_per_entry;
    }
  }

  if (cfg.probe && bytes_per_entry > 0) {
    std::printf(
        "\nRaw write + fdatasync in %s (no engine), the write of one round of C entries of "
        "%.0f B (the replica's bytes per entry): file growing with every write (BucketLog) vs "
        "1 MiB preallocated ahead (SegmentWriter).\n\n| C | bytes per sync | growing: syncs/s "
        "| p50 µs | preallocated: syncs/s | p50 µs |\n|---|---|---|---|---|---|\n",
        cfg.dir.c_str(), bytes_per_entry);
    for (unsigned c : cfg.concurrency) {
      const auto size = static_cast<size_t>(bytes_per_entry * c);
      const ProbeResult grow = raw_probe(cfg.dir / "probe-grow", size, false, 1.0);
      const ProbeResult pre = raw_probe(cfg.dir / "probe-pre", size, true, 1.0);
      std::printf("| %u | %zu | %.0f | %.0f | %.0f | %.0f |\n", c, size, grow.syncs_per_s,
                  grow.p50_us, pre.syncs_per_s, pre.p50_us);
      std::fflush(stdout);
    }
  }

  if (!breakdown_cases.empty()) {
    std::printf(
        "\nReplica thread, µs per append (separate pass, log calls timed): build = making the "
        "Transaction (inline only); queue = BucketReplica::append; propose = ReplicatedState "
        "resolve + encode; log append = verify + write; submit rest = the rest of "
        "flush_proposals (raft core, driver); fsync = BucketLog::sync; apply = read back + "
        "decode + state + callbacks; sync rest = the rest of sync_log (persisted step, "
        "commit).\n\n| mode | C | appends/s | build | queue | propose | log append | submit "
        "rest | fsync | apply | sync rest | total |\n|---|---|---|---|---|---|---|---|---|---|---"
        "|---|\n");
    for (const auto& p : breakdown_cases) {
      const fs::path b_dir = cfg.dir / ("replica-timed-" + p.mode + "-c" + std::to_string(p.c));
      Breakdown bd;
      Outcome b = run_replica(cfg, wl, p.mode, p.c, b_dir, &bd);
      fs::remove_all(b_dir);
      if (!b.failure.empty()) {
        std::fprintf(stderr, "breakdown %s C=%u: %s\n", p.mode.c_str(), p.c, b.failure.c_str());
        rc = 1;
        continue;
      }
      print_breakdown(p.mode, p.c, bd, b);
      std::fflush(stdout);
    }
  }

  std::printf("\n# load average at end: %s\n", loadavg().c_str());
  if (remove_base) {
    std::error_code ec;
    fs::remove_all(cfg.dir, ec);
  }
  return rc;
}
