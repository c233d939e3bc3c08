// sierradb-fsync-probe: what one durable write costs on this machine, without the server.
//
// Each of --threads threads owns one file in --dir (preallocated like a live segment: 1 MiB
// written and synced first, so the loop never changes the file size) and repeats: write
// --size bytes at the next offset, fdatasync. Prints syncs per second, the latency of a
// write + fdatasync (p50/p99), and the CPU time (user + system, whole process) per sync.
//
// Why it exists: under 50 closed-loop clients the server's CPU goes mostly to fdatasync
// (BENCHMARKS.md). This measures the per-sync cost alone, with the same engine File calls,
// so that a figure in BENCHMARKS.md can be checked on another machine.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/file.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kFileBytes = 1 << 20;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = ".";
  unsigned threads = 1;
  double seconds = 3;
  size_t size = 1200;  // about 4 events of 200 B payload with their headers
  CLI::App app{"sierradb-fsync-probe: write + fdatasync cost on this machine"};
  app.add_option("--dir", dir, "Directory for the probe files (on the disk to measure)")
      ->capture_default_str();
  app.add_option("-t,--threads", threads, "Threads, each with its own file (like buckets)")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Duration")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--size", size, "Bytes written before each fdatasync")
      ->check(CLI::Range(size_t{1}, size_t{kFileBytes / 2}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::string> errors(threads);
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  const std::filesystem::path base(dir);
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto path = base / ("sierradb-fsync-probe-" + std::to_string(t));
      auto f = sierra::File::open(path, sierra::File::Mode::CreateTruncate);
      if (!f) {
        errors[t] = f.error().to_string();
        return;
      }
      const std::vector<char> zeros(kFileBytes, 0);
      if (auto s = f->pwrite_all(zeros.data(), zeros.size(), 0); !s || !f->sync()) {
        errors[t] = "preallocation failed";
        return;
      }
      const std::vector<char> data(size, 'x');
      while (!go.load()) std::this_thread::yield();
      const auto end = Clock::now() + std::chrono::duration<double>(seconds);
      uint64_t off = 0;
      for (auto now = Clock::now(); now < end;) {
        if (auto s = f->pwrite_all(data.data(), data.size(), off); !s) {
          errors[t] = s.error().to_string();
          break;
        }
        if (auto s = f->datasync(); !s) {
          errors[t] = s.error().to_string();
          break;
        }
        const auto after = Clock::now();
        latencies[t].push_back(std::chrono::duration<double, std::micro>(after - now).count());
        now = after;
        off = off + size * 2 > kFileBytes ? 0 : off + size;
      }
      std::error_code ec;
      std::filesystem::remove(path, ec);
    });
  }
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  go = true;
  for (auto& w : workers) w.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;

  for (const auto& e : errors) {
    if (!e.empty()) {
      std::fprintf(stderr, "error: %s\n", e.c_str());
      return 1;
    }
  }
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  if (all.empty()) {
    std::fprintf(stderr, "error: no sync completed\n");
    return 1;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "threads %u  size %zu B  syncs %zu  %.0f syncs/s  latency p50 %.0f us  p99 %.0f us  "
      "cpu per sync %.1f us\n",
      threads, size, all.size(), static_cast<double>(all.size()) / wall, pct(0.5), pct(0.99),
      cpu * 1e6 / static_cast<double>(all.size()));
  return 0;
}
