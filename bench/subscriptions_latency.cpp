// sierradb-subbench: subscription delivery measurements (issue "Subscriptions") against an
// in-process server on a loopback port, clients over real sockets:
//   - append-to-delivery latency (p50/p99): time from sending EAPPEND until every subscriber
//     (ESUB on the stream, FROM LATEST) has read the `message` push, with 1 and 100 subscribers;
//   - catch-up throughput: N events appended first, then one EPSUB * FROM 0 reads them all.
// Usage: sierradb-subbench [--events N] [--samples N] [--dir PATH]
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.hpp"
#include "server/server.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/resp_test_client.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sierra::resp::RespType;
using sierra::resp::RespValue;
using Clock = std::chrono::steady_clock;
using sierra::test_support::encode_command;

[[noreturn]] void die(std::string_view what) {
  std::fprintf(stderr, "sierradb-subbench: %.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(1);
}

// The shared blocking test client on a RESP3 connection, ending the program on any failure: a
// read that takes over 30 s, a closed connection, a protocol error or an error reply.
class Client {
 public:
  explicit Client(uint16_t port) : c_(port) {
    if (!c_.connected()) die("connect");
    call({"HELLO", "3"});
  }

  void send(std::string_view bytes) {
    if (!c_.send(bytes)) die("send failed");
  }
  void send_cmd(const std::vector<std::string>& args) { send(encode_command(args)); }

  RespValue read() {
    auto v = c_.read(30s);
    if (!v) die(c_.failure());
    return std::move(*v);
  }
  // The next reply; pushes read meanwhile are dropped.
  RespValue read_reply() {
    for (;;) {
      RespValue v = read();
      if (v.type == RespType::Push) continue;
      if (v.type == RespType::Error) die("error reply: " + v.str);
      return v;
    }
  }
  RespValue call(const std::vector<std::string>& args) {
    send_cmd(args);
    return read_reply();
  }
  // The next `message` push (replies read meanwhile must not happen here).
  RespValue next_message() {
    for (;;) {
      RespValue v = read();
      if (v.type != RespType::Push) die("unexpected reply while waiting for a push");
      if (!v.children.empty() && v.children[0].str == "message") return v;
    }
  }
  std::string subscribe(const std::vector<std::string>& args) {
    RespValue id = call(args);
    RespValue p = read();  // the `subscribe` push
    if (p.type != RespType::Push || p.children.empty() || p.children[0].str != "subscribe")
      die("no subscribe push");
    return id.str;
  }

 private:
  sierra::test_support::RespTestClient c_;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

std::optional<long> parse_long(std::string_view s) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  long events = 1'000'000;
  long samples = 1000;
  fs::path dir;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) die("missing value after " + std::string(a));
      return argv[++i];
    };
    if (a == "--events" || a == "--samples") {
      auto v = parse_long(value());
      if (!v) die("expected a positive number after " + std::string(a));
      (a == "--events" ? events : samples) = *v;
    } else if (a == "--dir") {
      dir = value();
    } else {
      std::fprintf(stderr, "usage: sierradb-subbench [--events N] [--samples N] [--dir PATH]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "sierradb-subbench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp failed");
    dir = tmpl;
  }

  using namespace sierra::server;
  Config c;
  c.dir = dir.string();
  c.network.client_address = "127.0.0.1:0";
  c.network.client_host = "127.0.0.1";
  c.network.client_port = 0;
  c.network.cluster_enabled = false;
  c.append.strict_versioning = false;  // EAPPEND without EXPECTED_VERSION
  auto hub = std::make_shared<SubscriptionHub>();
  auto db = sierra::DatabaseBuilder()
                .partition_count(c.partition.count)
                .total_buckets(c.bucket.count)
                .segment_size(c.segment.size_bytes)
                .on_commit(hub->listener())
                .log_sink([](sierra::LogLevel, std::string_view) {})
                .open(c.dir);
  if (!db) die("open: " + db.error().to_string());
  auto server = Server::start(c, *db, hub);
  if (!server) die("server: " + server.error());
  const uint16_t port = (*server)->port();

  std::printf("sierradb-subbench: %ld latency samples per row, catch-up of %ld events, dir %s\n\n",
              samples, events, c.dir.c_str());
  std::printf("| measurement | subscribers | p50 | p99 | throughput |\n");
  std::printf("|---|---:|---:|---:|---:|\n");

  Client w(port);
  for (int subs : {1, 100}) {
    const std::string stream = "lat-" + std::to_string(subs);
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < subs; ++i) {
      cs.push_back(std::make_unique<Client>(port));
      cs.back()->subscribe({"ESUB", stream, "WINDOW", "1000000000"});
    }
    std::vector<double> lat_us;
    const auto start = Clock::now();
    for (long i = 0; i < samples; ++i) {
      const auto t0 = Clock::now();
      w.send_cmd({"EAPPEND", stream, "Ev", "PAYLOAD", "{\"i\":" + std::to_string(i) + "}"});
      for (auto& s : cs) s->next_message();
      lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      w.read_reply();
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "| append-to-delivery (all subscribers) | %d | %.0f us | %.0f us | %.0f deliveries/s |\n",
        subs, percentile(lat_us, 0.5), percentile(lat_us, 0.99),
        static_cast<double>(samples) * subs / secs);
    std::fflush(stdout);
  }

  // Catch-up: pipelined appends over 64 streams, then one subscriber from the start of the log.
  constexpr long kBatch = 1000;
  const auto a0 = Clock::now();
  for (long done = 0; done < events; done += kBatch) {
    const long n = std::min(kBatch, events - done);
    std::string batch;
    for (long i = 0; i < n; ++i)
      batch += encode_command({"EAPPEND", "bulk-" + std::to_string((done + i) % 64), "Ev",
                               "PAYLOAD", "{\"i\":" + std::to_string(done + i) + "}"});
    w.send(batch);
    for (long i = 0; i < n; ++i) w.read_reply();
  }
  const double append_s = std::chrono::duration<double>(Clock::now() - a0).count();

  Client sub(port);
  const auto t0 = Clock::now();
  const std::string id = sub.subscribe({"EPSUB", "*", "FROM", "0", "WINDOW", "1000000000"});
  // Every event of the log: the latency rows' events plus the bulk ones.
  const long total = events + 2 * samples;
  for (long n = 0; n < total; ++n) sub.next_message();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("| catch-up EPSUB * FROM 0 (%ld events) | 1 | | | %.0f events/s (%.2f s) |\n", total,
              static_cast<double>(total) / s, s);
  std::printf("\n(appending the %ld catch-up events, pipelined 1000 deep: %.2f s, %.0f events/s)\n",
              events, append_s, static_cast<double>(events) / append_s);

  server->reset();
  db->reset();
  if (own_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return 0;
}
