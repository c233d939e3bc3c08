// sierradb-bench: a pipelined RESP load generator for SierraDB (EAPPEND, EMAPPEND, EGET, ESCAN,
// EPSCAN) with Redis Streams equivalents (XADD, XRANGE) and PING, so the same tool can drive
// both servers. Each client thread runs one asio::io_context; each connection keeps up to
// --pipeline requests in flight and times every request from send to reply.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "group_key.hpp"
#include "histogram.hpp"
#include "resp/reply_reader.hpp"

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using sierra::bench::Histogram;
using sierra::resp::ReadStatus;
using sierra::resp::ReplyReader;
using sierra::resp::RespType;
using sierra::resp::RespValue;

constexpr std::size_t kMaxErrorSamples = 5;
constexpr std::size_t kSetupChunk = 512;

// ---------------------------------------------------------------------------------------------
// Options

enum class Workload : uint8_t {
  EAppend,
  EAppendExact,
  EMAppend,
  EGet,
  EScan,
  EPScan,
  XAdd,
  XRange,
  Ping,
};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 9090;
  unsigned connections = 16;
  unsigned pipeline = 1;
  std::size_t data_size = 100;
  uint64_t streams = 1000;
  uint64_t requests = 0;  // 0: run for --duration
  double duration = 10;
  double rate = 0;  // requests/s over all connections; 0: closed loop (as fast as replies come)
  bool timed = true;
  double warmup = 0;
  unsigned threads = 1;
  int resp = 3;
  std::string workload_name = "eappend";
  Workload workload = Workload::EAppend;
  std::string expected_version = "any";
  unsigned batch = 4;
  uint64_t count = 10;
  std::optional<uint64_t> fill;
  bool fill_interleaved = false;
  std::string prefix = "bench-";
  std::string event_name = "BenchEvent";
  uint64_t seed = 0;
  double timeout = 10;
  bool json = false;
  bool quiet = false;
};

bool is_sierra(Workload w) {
  return w != Workload::XAdd && w != Workload::XRange && w != Workload::Ping;
}

// ---------------------------------------------------------------------------------------------
// Request encoding

void put_len(std::string& out, char type, std::size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  (void)ec;
  out.push_back(type);
  out.append(buf, end);
  out.append("\r\n");
}

void put_cmd(std::string& out, std::initializer_list<std::string_view> args) {
  put_len(out, '*', args.size());
  for (std::string_view a : args) {
    put_len(out, '$', a.size());
    out.append(a);
    out.append("\r\n");
  }
}

// Builder for commands whose argument count is only known at the end (EMAPPEND).
class CmdBuilder {
 public:
  void arg(std::string_view a) {
    put_len(body_, '$', a.size());
    body_.append(a);
    body_.append("\r\n");
    ++n_;
  }
  void finish(std::string& out) {
    put_len(out, '*', n_);
    out.append(body_);
    body_.clear();
    n_ = 0;
  }

 private:
  std::string body_;
  std::size_t n_ = 0;
};

std::string u64s(uint64_t v) {
  return std::to_string(v);
}

// ---------------------------------------------------------------------------------------------
// Random numbers (splitmix64; fast, per thread)

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  uint64_t s_;
};

// ---------------------------------------------------------------------------------------------
// Synchronous client for handshakes and the setup phase. Runs before the socket's io_context
// is started by a worker thread; every operation has a deadline (--timeout).

// Starts an async operation, runs the socket's io_context until it completes or `timeout`
// seconds pass (then cancels it and reports timed_out).
template <class Start>
asio::error_code run_with_deadline(tcp::socket& sock, double timeout, std::size_t* n, Start start) {
  auto& io = static_cast<asio::io_context&>(sock.get_executor().context());
  bool done = false;
  asio::error_code result;
  start([&](asio::error_code ec, std::size_t k = 0) {
    done = true;
    result = ec;
    if (n != nullptr) *n = k;
  });
  io.restart();
  io.run_for(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout)));
  if (!done) {
    asio::error_code ignored;
    sock.cancel(ignored);
    io.restart();
    io.run();  // delivers the cancelled handler
    result = asio::error::timed_out;
  }
  io.restart();
  return result;
}

class SyncClient {
 public:
  SyncClient(tcp::socket& sock, double timeout) : sock_(sock), timeout_(timeout) {}

  // Sends `reqs` (each one encoded command) pipelined and reads one reply per request.
  bool call(const std::vector<std::string>& reqs, std::vector<RespValue>& replies,
            std::string& err) {
    replies.clear();
    for (std::size_t i = 0; i < reqs.size(); i += kSetupChunk) {
      std::size_t end = std::min(reqs.size(), i + kSetupChunk);
      std::string out;
      for (std::size_t j = i; j < end; ++j) out.append(reqs[j]);
      asio::error_code ec = run_with_deadline(sock_, timeout_, nullptr, [&](auto handler) {
        asio::async_write(sock_, asio::buffer(out), handler);
      });
      if (ec) {
        err = "write: " + ec.message();
        return false;
      }
      for (std::size_t j = i; j < end; ++j) {
        RespValue v;
        if (!read_one(v, err)) return false;
        replies.push_back(std::move(v));
      }
    }
    return true;
  }

  bool call1(const std::string& req, RespValue& reply, std::string& err) {
    std::vector<RespValue> r;
    if (!call({req}, r, err)) return false;
    reply = std::move(r.front());
    return true;
  }

 private:
  bool read_one(RespValue& v, std::string& err) {
    for (;;) {
      if (!buf_.empty()) {
        auto r = reader_.parse(buf_);
        buf_.erase(0, r.consumed);
        if (r.status == ReadStatus::Value) {
          v = reader_.take();
          return true;
        }
        if (r.status == ReadStatus::Error) {
          err = std::string(reader_.error());
          return false;
        }
      }
      std::size_t n = 0;
      asio::error_code ec = run_with_deadline(sock_, timeout_, &n, [&](auto handler) {
        sock_.async_read_some(asio::buffer(tmp_), handler);
      });
      if (ec) {
        err = ec == asio::error::eof ? "connection closed by server" : "read: " + ec.message();
        return false;
      }
      buf_.append(tmp_.data(), n);
    }
  }

  tcp::socket& sock_;
  double timeout_;
  std::string buf_;
  std::vector<char> tmp_ = std::vector<char>(64 * 1024);
  ReplyReader reader_;
};

bool connect_socket(tcp::socket& sock, const tcp::resolver::results_type& eps, double timeout,
                    std::string& err) {
  asio::error_code ec = run_with_deadline(sock, timeout, nullptr, [&](auto handler) {
    asio::async_connect(sock, eps,
                        [handler](asio::error_code e, const tcp::endpoint&) { handler(e); });
  });
  if (ec) {
    err = "connect: " + ec.message();
    return false;
  }
  sock.set_option(tcp::no_delay(true), ec);
  return true;
}

std::string short_text(const RespValue& v) {
  if (v.is_error() || v.is_string()) return v.str;
  switch (v.type) {
    case RespType::Integer:
      return std::to_string(v.integer);
    case RespType::Null:
      return "(nil)";
    default:
      return "(aggregate)";
  }
}

// ---------------------------------------------------------------------------------------------
// Shared run state

struct Shared {
  Options opt;
  std::vector<std::string> streams;             // key space names
  std::vector<std::string> event_ids;           // eget
  std::vector<uint64_t> partition_start_limit;  // epscan: random start in [0, limit]
  std::string payload;
  Clock::time_point measure_start;
  Clock::time_point end;
  std::atomic<int64_t> budget{0};  // -n mode: measured requests still to issue
};

struct Stats {
  Histogram hist;
  uint64_t requests = 0;  // measured replies (including errors)
  uint64_t events = 0;
  uint64_t errors = 0;
  uint64_t nulls = 0;        // eget: not found
  uint64_t conn_errors = 0;  // connections that failed mid-run
  std::vector<std::string> error_samples;
  Clock::time_point last_completion{};

  // Keeps the first few distinct error messages.
  void sample(std::string msg) {
    if (error_samples.size() >= kMaxErrorSamples) return;
    if (std::find(error_samples.begin(), error_samples.end(), msg) != error_samples.end()) return;
    error_samples.push_back(std::move(msg));
  }
  void merge(const Stats& o) {
    hist.merge(o.hist);
    requests += o.requests;
    events += o.events;
    errors += o.errors;
    nulls += o.nulls;
    conn_errors += o.conn_errors;
    for (const auto& s : o.error_samples) sample(s);
    last_completion = std::max(last_completion, o.last_completion);
  }
};

class Conn;

struct ThreadCtx {
  explicit ThreadCtx(uint64_t seed) : rng(seed) {}
  asio::io_context io{1};
  Stats stats;
  Rng rng;
  std::atomic<uint64_t> completions{0};
  std::vector<std::unique_ptr<Conn>> conns;
};

// ---------------------------------------------------------------------------------------------
// One pipelined connection

class Conn {
 public:
  Conn(ThreadCtx& t, Shared& s, unsigned index)
      : t_(t), s_(s), sock_(t.io), timer_(t.io), index_(index) {
    rbuf_.resize(64 * 1024);
    if (s_.opt.rate > 0) {
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(s_.opt.connections / s_.opt.rate));
    }
  }

  // Connects and performs the handshake synchronously (before the io_context runs).
  bool open(const tcp::resolver::results_type& eps, std::string& err) {
    if (!connect_socket(sock_, eps, s_.opt.timeout, err)) return false;
    SyncClient sc(sock_, s_.opt.timeout);
    RespValue r;
    if (s_.opt.resp == 3) {
      std::string req;
      put_cmd(req, {"HELLO", "3"});
      if (!sc.call1(req, r, err)) return false;
      if (r.is_error()) {
        err = "HELLO 3 failed: " + r.str + " (use --resp 2)";
        return false;
      }
    }
    if (s_.opt.workload == Workload::EAppendExact) {
      stream_ = s_.opt.prefix + "exact-" + std::to_string(index_);
      std::string req;
      put_cmd(req, {"ESVER", stream_});
      if (!sc.call1(req, r, err)) return false;
      if (!set_version(r, err)) return false;
    }
    return true;
  }

  void start() {
    // Rate mode: connections start spread over one interval so the arrivals are even.
    next_due_ = Clock::now() + interval_ * index_ / std::max(1u, s_.opt.connections);
    read();
    fill();
  }

  // After an aborted run (io_context stopped): measured requests still in flight are errors.
  uint64_t abandon() {
    uint64_t n = 0;
    for (const Pending& p : inflight_) n += p.kind == Kind::Measured ? 1 : 0;
    inflight_.clear();
    return n;
  }

 private:
  enum class Kind : uint8_t { Measured, Warmup, Resync };
  struct Pending {
    Clock::time_point sent;
    Kind kind;
  };

  bool set_version(const RespValue& r, std::string& err) {
    if (r.type == RespType::Null) {
      next_version_ = -1;
    } else if (r.type == RespType::Integer) {
      next_version_ = r.integer;
    } else {
      err = "ESVER " + stream_ + ": unexpected reply " + short_text(r);
      return false;
    }
    return true;
  }

  // Whether another request may be issued now; consumes a -n token for measured requests.
  bool may_issue(Clock::time_point now, Kind& kind) {
    if (done_) return false;
    if (s_.opt.timed && now >= s_.end) {
      done_ = true;
      return false;
    }
    if (now < s_.measure_start) {
      kind = Kind::Warmup;
      return true;
    }
    kind = Kind::Measured;
    if (s_.opt.requests > 0 && s_.budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
      done_ = true;
      return false;
    }
    return true;
  }

  const std::string& random_stream() { return s_.streams[t_.rng.below(s_.streams.size())]; }

  void build(std::string& out) {
    const Options& o = s_.opt;
    switch (o.workload) {
      case Workload::EAppend:
        if (o.expected_version == "none") {
          put_cmd(out, {"EAPPEND", random_stream(), o.event_name, "PAYLOAD", s_.payload});
        } else {
          put_cmd(out, {"EAPPEND", random_stream(), o.event_name, "EXPECTED_VERSION",
                        o.expected_version, "PAYLOAD", s_.payload});
        }
        break;
      case Workload::EAppendExact: {
        std::string ev = next_version_ < 0 ? "empty" : std::to_string(next_version_);
        ++next_version_;
        put_cmd(out,
                {"EAPPEND", stream_, o.event_name, "EXPECTED_VERSION", ev, "PAYLOAD", s_.payload});
        break;
      }
      case Workload::EMAppend: {
        // Group g: streams <prefix>tx<g>-<k> always written with partition key pk(g), which
        // spreads the groups over all partitions (group_key.hpp).
        uint64_t g = t_.rng.below(o.streams);
        const std::string pk = sierra::bench::group_partition_key(g);
        CmdBuilder b;
        b.arg("EMAPPEND");
        b.arg(pk);
        std::string base = o.prefix + "tx" + std::to_string(g) + "-";
        for (unsigned k = 0; k < o.batch; ++k) {
          b.arg(base + std::to_string(k));
          b.arg(o.event_name);
          if (o.expected_version != "none") {
            b.arg("EXPECTED_VERSION");
            b.arg(o.expected_version);
          }
          b.arg("PAYLOAD");
          b.arg(s_.payload);
        }
        b.finish(out);
        break;
      }
      case Workload::EGet:
        put_cmd(out, {"EGET", s_.event_ids[t_.rng.below(s_.event_ids.size())]});
        break;
      case Workload::EScan:
        put_cmd(out, {"ESCAN", random_stream(), "-", "+", "COUNT", u64s(o.count)});
        break;
      case Workload::EPScan: {
        uint64_t p = t_.rng.below(s_.partition_start_limit.size());
        uint64_t start = t_.rng.below(s_.partition_start_limit[p] + 1);
        put_cmd(out, {"EPSCAN", u64s(p), u64s(start), "+", "COUNT", u64s(o.count)});
        break;
      }
      case Workload::XAdd:
        put_cmd(out, {"XADD", random_stream(), "*", "payload", s_.payload});
        break;
      case Workload::XRange:
        put_cmd(out, {"XRANGE", random_stream(), "-", "+", "COUNT", u64s(o.count)});
        break;
      case Workload::Ping:
        put_cmd(out, {"PING"});
        break;
    }
  }

  // Events carried by a successful reply.
  uint64_t events_of(const RespValue& v) {
    switch (s_.opt.workload) {
      case Workload::EAppend:
      case Workload::EAppendExact:
      case Workload::XAdd:
        return 1;
      case Workload::EMAppend:
        return s_.opt.batch;
      case Workload::EGet:
        if (v.type == RespType::Null) {
          ++t_.stats.nulls;
          return 0;
        }
        return 1;
      case Workload::EScan:
      case Workload::EPScan: {
        const RespValue* ev = v.find("events");
        if (ev == nullptr && v.type == RespType::Array && v.children.size() == 4) {
          ev = &v.children[3];  // RESP2-flattened map
        }
        return ev != nullptr ? ev->children.size() : 0;
      }
      case Workload::XRange:
        return v.children.size();
      case Workload::Ping:
        return 0;
    }
    return 0;
  }

  void fill() {
    if (closed_) return;
    Clock::time_point now = Clock::now();
    if (resync_) {
      // eappend-exact after an error: drain, then re-read the stream version.
      if (inflight_.empty() && !resync_sent_) {
        put_cmd(out_, {"ESVER", stream_});
        inflight_.push_back({now, Kind::Resync});
        resync_sent_ = true;
      }
    } else if (interval_.count() > 0) {
      // Open loop (--rate): each request has a due time on a fixed schedule and its latency is
      // counted from that time, so a slow reply also charges the requests queued behind it
      // (no coordinated omission).
      Kind kind{};
      while (inflight_.size() < s_.opt.pipeline && next_due_ <= now && may_issue(next_due_, kind)) {
        build(out_);
        inflight_.push_back({next_due_, kind});
        next_due_ += interval_;
      }
      if (!done_ && !timer_armed_ && next_due_ > now) {
        timer_armed_ = true;
        timer_.expires_at(next_due_);
        timer_.async_wait([this](asio::error_code ec) {
          timer_armed_ = false;
          if (!ec && !closed_) fill();
        });
      }
    } else {
      Kind kind{};
      while (inflight_.size() < s_.opt.pipeline && may_issue(now, kind)) {
        build(out_);
        inflight_.push_back({now, kind});
      }
    }
    if (inflight_.empty() && done_) {
      close();
      return;
    }
    flush();
  }

  void flush() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    wbuf_.swap(out_);
    asio::async_write(sock_, asio::buffer(wbuf_), [this](asio::error_code ec, std::size_t) {
      writing_ = false;
      wbuf_.clear();
      if (ec) {
        fail("write: " + ec.message());
        return;
      }
      flush();
    });
  }

  void read() {
    if (closed_) return;
    sock_.async_read_some(asio::buffer(rbuf_), [this](asio::error_code ec, std::size_t n) {
      if (closed_) return;
      if (ec) {
        fail(ec == asio::error::eof ? "connection closed by server" : "read: " + ec.message());
        return;
      }
      in_.append(rbuf_.data(), n);
      std::size_t pos = 0;
      for (;;) {
        auto r = reader_.parse(std::string_view(in_).substr(pos));
        pos += r.consumed;
        if (r.status == ReadStatus::NeedMore) break;
        if (r.status == ReadStatus::Error) {
          fail(std::string(reader_.error()));
          return;
        }
        on_reply(reader_.take());
        if (closed_) return;
      }
      in_.erase(0, pos);
      fill();
      read();
    });
  }

  void on_reply(RespValue v) {
    if (inflight_.empty()) {
      if (v.type == RespType::Push) return;  // unsolicited push
      fail("unexpected reply with nothing in flight: " + short_text(v));
      return;
    }
    if (v.type == RespType::Push) return;
    Pending p = inflight_.front();
    inflight_.pop_front();
    Clock::time_point now = Clock::now();
    t_.completions.fetch_add(1, std::memory_order_relaxed);
    if (p.kind == Kind::Resync) {
      std::string err;
      if (!set_version(v, err)) {
        fail(err);
        return;
      }
      resync_ = false;
      resync_sent_ = false;
      return;
    }
    bool error = v.is_error();
    if (error && s_.opt.workload == Workload::EAppendExact) resync_ = true;
    if (p.kind != Kind::Measured) return;
    Stats& st = t_.stats;
    ++st.requests;
    st.last_completion = now;
    st.hist.record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - p.sent).count()));
    if (error) {
      ++st.errors;
      st.sample(v.str);
    } else {
      st.events += events_of(v);
    }
  }

  void fail(std::string msg) {
    if (closed_) return;
    Stats& st = t_.stats;
    ++st.conn_errors;
    st.sample("connection " + std::to_string(index_) + ": " + msg);
    for (const Pending& p : inflight_) {
      if (p.kind == Kind::Measured) ++st.errors;
    }
    inflight_.clear();
    done_ = true;
    close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
  }

  ThreadCtx& t_;
  Shared& s_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  Clock::duration interval_{0};  // --rate: time between this connection's requests
  Clock::time_point next_due_{};
  bool timer_armed_ = false;
  unsigned index_;
  std::string out_;
  std::string wbuf_;
  bool writing_ = false;
  std::vector<char> rbuf_;
  std::string in_;
  ReplyReader reader_;
  std::deque<Pending> inflight_;
  bool done_ = false;
  bool closed_ = false;
  // eappend-exact
  std::string stream_;
  int64_t next_version_ = -1;  // -1: stream empty
  bool resync_ = false;
  bool resync_sent_ = false;
};

// ---------------------------------------------------------------------------------------------
// Setup: fill the key space and collect ids / partition bounds for the read workloads

bool check_errors(const std::vector<RespValue>& replies, std::string_view what, std::string& err) {
  for (const auto& r : replies) {
    if (r.is_error()) {
      err = std::string(what) + ": " + r.str;
      return false;
    }
  }
  return true;
}

// Calls add(i) for each event stream i still needs to reach `fill` events (have[i] counts them
// and is advanced): stream by stream, or round-robin over the streams when interleaved (as
// concurrent writers leave a log: neighbours in a stream are far apart in its segment).
template <class Add>
void for_each_missing(std::vector<uint64_t>& have, uint64_t fill, bool interleaved, Add add) {
  auto step = [&](std::size_t i) {
    add(i);
    ++have[i];
  };
  if (interleaved) {
    for (bool any = true; any;) {
      any = false;
      for (std::size_t i = 0; i < have.size(); ++i) {
        if (have[i] < fill) step(i), any = true;
      }
    }
  } else {
    for (std::size_t i = 0; i < have.size(); ++i) {
      while (have[i] < fill) step(i);
    }
  }
}

bool fill_sierra(SyncClient& sc, Shared& s, uint64_t fill, std::string& err) {
  std::vector<std::string> reqs;
  std::vector<RespValue> replies;
  for (const auto& st : s.streams) {
    reqs.emplace_back();
    put_cmd(reqs.back(), {"ESVER", st});
  }
  if (!sc.call(reqs, replies, err) || !check_errors(replies, "ESVER", err)) return false;
  std::vector<uint64_t> have(s.streams.size());  // events in the stream = its version + 1
  for (std::size_t i = 0; i < s.streams.size(); ++i) {
    have[i] =
        replies[i].type == RespType::Integer ? static_cast<uint64_t>(replies[i].integer + 1) : 0;
  }
  std::vector<std::string> appends;
  for_each_missing(have, fill, s.opt.fill_interleaved, [&](std::size_t i) {
    appends.emplace_back();
    put_cmd(appends.back(), {"EAPPEND", s.streams[i], s.opt.event_name, "EXPECTED_VERSION",
                             have[i] == 0 ? std::string("empty") : std::to_string(have[i] - 1),
                             "PAYLOAD", s.payload});
  });
  if (!s.opt.quiet && !appends.empty()) {
    std::fprintf(stderr, "setup: appending %zu events to reach %llu per stream\n", appends.size(),
                 static_cast<unsigned long long>(fill));
  }
  return sc.call(appends, replies, err) && check_errors(replies, "setup EAPPEND", err);
}

bool fill_redis(SyncClient& sc, Shared& s, uint64_t fill, std::string& err) {
  std::vector<std::string> reqs;
  std::vector<RespValue> replies;
  for (const auto& st : s.streams) {
    reqs.emplace_back();
    put_cmd(reqs.back(), {"XLEN", st});
  }
  if (!sc.call(reqs, replies, err) || !check_errors(replies, "XLEN", err)) return false;
  std::vector<uint64_t> have(s.streams.size());
  for (std::size_t i = 0; i < s.streams.size(); ++i) {
    have[i] = static_cast<uint64_t>(std::max<int64_t>(0, replies[i].integer));
  }
  std::vector<std::string> adds;
  for_each_missing(have, fill, s.opt.fill_interleaved, [&](std::size_t i) {
    adds.emplace_back();
    put_cmd(adds.back(), {"XADD", s.streams[i], "*", "payload", s.payload});
  });
  if (!s.opt.quiet && !adds.empty()) {
    std::fprintf(stderr, "setup: adding %zu entries to reach %llu per stream\n", adds.size(),
                 static_cast<unsigned long long>(fill));
  }
  return sc.call(adds, replies, err) && check_errors(replies, "setup XADD", err);
}

bool setup(Shared& s, const tcp::resolver::results_type& eps, std::string& err) {
  const Options& o = s.opt;
  Workload w = o.workload;
  bool reads =
      w == Workload::EGet || w == Workload::EScan || w == Workload::EPScan || w == Workload::XRange;
  if (!reads) return true;
  asio::io_context io;
  tcp::socket sock(io);
  if (!connect_socket(sock, eps, o.timeout, err)) return false;
  SyncClient sc(sock, o.timeout);
  uint64_t partitions = 32;
  if (is_sierra(w)) {
    std::string req;
    put_cmd(req, {"HELLO", "3"});
    RespValue r;
    if (!sc.call1(req, r, err)) return false;
    if (const RespValue* np = r.find("num_partitions"); np && np->type == RespType::Integer) {
      partitions = static_cast<uint64_t>(std::max<int64_t>(1, np->integer));
    }
  }
  uint64_t fill = o.fill.value_or(w == Workload::EGet ? 1 : o.count);
  if (fill > 0) {
    bool ok = is_sierra(w) ? fill_sierra(sc, s, fill, err) : fill_redis(sc, s, fill, err);
    if (!ok) return false;
  }
  std::vector<std::string> reqs;
  std::vector<RespValue> replies;
  if (w == Workload::EGet) {
    for (const auto& st : s.streams) {
      reqs.emplace_back();
      put_cmd(reqs.back(), {"ESCAN", st, "-", "+", "COUNT", "100"});
    }
    if (!sc.call(reqs, replies, err) || !check_errors(replies, "ESCAN", err)) return false;
    for (const auto& r : replies) {
      const RespValue* evs = r.find("events");
      if (evs == nullptr) continue;
      for (const auto& e : evs->children) {
        if (const RespValue* id = e.find("event_id"); id && id->is_string()) {
          s.event_ids.push_back(id->str);
        }
      }
    }
    if (s.event_ids.empty()) {
      err = "eget: no events found in the key space (use --fill N)";
      return false;
    }
  } else if (w == Workload::EPScan) {
    for (uint64_t p = 0; p < partitions; ++p) {
      reqs.emplace_back();
      put_cmd(reqs.back(), {"EPSEQ", u64s(p)});
    }
    if (!sc.call(reqs, replies, err) || !check_errors(replies, "EPSEQ", err)) return false;
    for (const auto& r : replies) {
      // Start anywhere that still leaves a full page when possible.
      int64_t last = r.type == RespType::Integer ? r.integer : -1;
      int64_t limit = last + 1 - static_cast<int64_t>(o.count);
      s.partition_start_limit.push_back(static_cast<uint64_t>(std::max<int64_t>(0, limit)));
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Reporting

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

void report(const Shared& s, const Stats& st, double elapsed, double setup_s) {
  const Options& o = s.opt;
  double rps = elapsed > 0 ? static_cast<double>(st.requests) / elapsed : 0;
  double eps = elapsed > 0 ? static_cast<double>(st.events) / elapsed : 0;
  const Histogram& h = st.hist;
  if (o.json) {
    nlohmann::ordered_json j = {
        {"workload", o.workload_name},
        {"host", o.host},
        {"port", o.port},
        {"connections", o.connections},
        {"pipeline", o.pipeline},
        {"rate", o.rate},
        {"threads", o.threads},
        {"payload_bytes", o.data_size},
        {"streams", o.streams},
        {"batch", o.batch},
        {"count", o.count},
        {"resp", o.resp},
        {"warmup_s", o.warmup},
        {"setup_s", setup_s},
        {"elapsed_s", elapsed},
        {"requests", st.requests},
        {"events", st.events},
        {"errors", st.errors},
        {"connection_errors", st.conn_errors},
        {"nulls", st.nulls},
        {"requests_per_s", rps},
        {"events_per_s", eps},
        {"latency_us",
         {{"min", us(h.min())},
          {"mean", h.mean() / 1000.0},
          {"p50", us(h.percentile(50))},
          {"p90", us(h.percentile(90))},
          {"p99", us(h.percentile(99))},
          {"p99.9", us(h.percentile(99.9))},
          {"max", us(h.max())}}},
        {"error_samples", st.error_samples},
    };
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("workload %s  %s:%u  resp %d  threads %u  connections %u  pipeline %u",
              o.workload_name.c_str(), o.host.c_str(), o.port, o.resp, o.threads, o.connections,
              o.pipeline);
  if (o.rate > 0) std::printf("  rate %.0f/s (open loop)", o.rate);
  std::printf("\n");
  std::printf("payload %zu B  streams %llu", o.data_size,
              static_cast<unsigned long long>(o.streams));
  if (o.workload == Workload::EMAppend) std::printf("  batch %u", o.batch);
  if (o.workload == Workload::EScan || o.workload == Workload::EPScan ||
      o.workload == Workload::XRange) {
    std::printf("  count %llu", static_cast<unsigned long long>(o.count));
  }
  std::printf("\nelapsed %.2f s (warm-up %.1f s excluded)\n", elapsed, o.warmup);
  std::printf("requests %12llu  %12.1f req/s\n", static_cast<unsigned long long>(st.requests), rps);
  if (o.workload != Workload::Ping) {
    std::printf("events   %12llu  %12.1f events/s\n", static_cast<unsigned long long>(st.events),
                eps);
  }
  if (o.workload == Workload::EGet) {
    std::printf("not found %llu\n", static_cast<unsigned long long>(st.nulls));
  }
  std::printf(
      "latency (us)  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (min %.1f, mean %.1f)\n",
      us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
      us(h.max()), us(h.min()), h.mean() / 1000.0);
  std::printf("errors %llu", static_cast<unsigned long long>(st.errors));
  if (st.conn_errors > 0) {
    std::printf("  (connection failures %llu)", static_cast<unsigned long long>(st.conn_errors));
  }
  std::printf("\n");
  for (const auto& e : st.error_samples) std::printf("  error: %s\n", e.c_str());
}

// ---------------------------------------------------------------------------------------------

int run(Options o) {
  Shared s;
  s.opt = std::move(o);
  const Options& opt = s.opt;
  if (opt.seed == 0) {
    s.opt.seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  }
  Rng rng(opt.seed);
  static constexpr std::string_view kAlnum =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  s.payload.resize(opt.data_size);
  for (auto& c : s.payload) c = kAlnum[rng.below(kAlnum.size())];
  for (uint64_t i = 0; i < opt.streams; ++i) s.streams.push_back(opt.prefix + std::to_string(i));

  asio::io_context resolve_io;
  tcp::resolver resolver(resolve_io);
  asio::error_code ec;
  auto eps = resolver.resolve(opt.host, std::to_string(opt.port), ec);
  if (ec) {
    std::fprintf(stderr, "sierradb-bench: resolve %s: %s\n", opt.host.c_str(),
                 ec.message().c_str());
    return 1;
  }

  std::string err;
  Clock::time_point setup_start = Clock::now();
  if (!setup(s, eps, err)) {
    std::fprintf(stderr, "sierradb-bench: setup failed: %s\n", err.c_str());
    return 1;
  }

  std::vector<std::unique_ptr<ThreadCtx>> threads;
  for (unsigned i = 0; i < opt.threads; ++i) {
    threads.push_back(std::make_unique<ThreadCtx>(opt.seed + 0x1000 * (i + 1)));
  }
  for (unsigned i = 0; i < opt.connections; ++i) {
    ThreadCtx& t = *threads[i % opt.threads];
    auto c = std::make_unique<Conn>(t, s, i);
    if (!c->open(eps, err)) {
      std::fprintf(stderr, "sierradb-bench: connection %u: %s\n", i, err.c_str());
      return 1;
    }
    t.conns.push_back(std::move(c));
  }
  double setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();

  Clock::time_point t0 = Clock::now();
  s.measure_start =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.warmup));
  s.end = s.measure_start +
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));
  s.budget.store(static_cast<int64_t>(opt.requests));
  if (!opt.quiet) {
    char limit[96];
    if (opt.requests > 0 && opt.timed) {
      std::snprintf(limit, sizeof limit, "%llu requests or %.1f s",
                    static_cast<unsigned long long>(opt.requests), opt.duration);
    } else if (opt.requests > 0) {
      std::snprintf(limit, sizeof limit, "%llu requests",
                    static_cast<unsigned long long>(opt.requests));
    } else {
      std::snprintf(limit, sizeof limit, "%.1f s", opt.duration);
    }
    std::fprintf(stderr, "running %s: %u connections x %u in flight, %s%s\n",
                 opt.workload_name.c_str(), opt.connections, opt.pipeline, limit,
                 opt.warmup > 0 ? " after warm-up" : "");
  }

  std::atomic<unsigned> finished{0};
  std::vector<std::jthread> workers;
  for (auto& t : threads) {
    workers.emplace_back([&t, &finished] {
      for (auto& c : t->conns) c->start();
      t->io.run();
      finished.fetch_add(1);
    });
  }

  // Watchdog: stop if no reply arrives for --timeout seconds.
  bool stalled = false;
  uint64_t last_total = 0;
  Clock::time_point last_progress = Clock::now();
  while (finished.load() < threads.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t total = 0;
    for (auto& t : threads) total += t->completions.load(std::memory_order_relaxed);
    Clock::time_point now = Clock::now();
    if (total != last_total) {
      last_total = total;
      last_progress = now;
    } else if (now - last_progress > std::chrono::duration<double>(opt.timeout)) {
      stalled = true;
      for (auto& t : threads) t->io.stop();
      break;
    }
  }
  workers.clear();  // join

  Stats total;
  for (auto& t : threads) total.merge(t->stats);
  if (stalled) {
    for (auto& t : threads) {
      for (auto& c : t->conns) total.errors += c->abandon();
    }
    char msg[96];
    std::snprintf(msg, sizeof msg, "no reply for %g s; run aborted", opt.timeout);
    total.sample(msg);
  }
  double elapsed = 0;
  if (total.requests > 0) {
    elapsed = std::chrono::duration<double>(total.last_completion - s.measure_start).count();
  }
  report(s, total, elapsed, setup_s);
  if (stalled || total.conn_errors > 0) return 1;
  return total.errors > 0 ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o;
    CLI::App app{
        "sierradb-bench: pipelined RESP load generator for SierraDB (and Redis Streams).\n"
        "Workloads:\n"
        "  eappend        EAPPEND to random streams with EXPECTED_VERSION any (or none);\n"
        "                 the server must run with --strict-versioning false\n"
        "  eappend-exact  one stream per connection (<prefix>exact-<i>), exact expected\n"
        "                 versions read with ESVER at start; works with strict versioning\n"
        "  emappend       EMAPPEND of --batch events to streams <prefix>tx<g>-0..K-1 of a\n"
        "                 random group g (one partition key per group, groups spread over\n"
        "                 all partitions); needs strict off\n"
        "  eget           EGET of random existing event ids (collected with ESCAN)\n"
        "  escan          ESCAN <random stream> - + COUNT --count\n"
        "  epscan         EPSCAN <random partition> <random start> + COUNT --count\n"
        "  xadd           Redis: XADD <random stream> * payload <data>\n"
        "  xrange         Redis: XRANGE <random stream> - + COUNT --count\n"
        "  ping           PING\n"
        "Read workloads first fill every stream of the key space to --fill events (default:\n"
        "--count; eget: 1), using exact expected versions (SierraDB) or XADD (Redis).\n"
        "Exit status: 0 ok, 1 setup/connection failure or stall, 2 some replies were errors."};
    app.set_help_flag("--help", "Print this help message and exit");
    app.add_option("-h,--host", o.host, "Server host")->capture_default_str();
    app.add_option("-p,--port", o.port, "Server port (redis: 6379)")->capture_default_str();
    app.add_option("-c,--connections", o.connections, "Number of connections")
        ->check(CLI::Range(1U, 100000U))
        ->capture_default_str();
    app.add_option("-P,--pipeline", o.pipeline, "Requests in flight per connection")
        ->check(CLI::Range(1U, 100000U))
        ->capture_default_str();
    app.add_option("-d,--data-size", o.data_size, "Payload size in bytes")->capture_default_str();
    app.add_option("-r,--streams", o.streams, "Key space: number of streams")
        ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}))
        ->capture_default_str();
    app.add_option("-n,--requests", o.requests,
                   "Number of measured requests (instead of --duration; with both, the first "
                   "limit reached ends the run)");
    app.add_option("--rate", o.rate,
                   "Open loop: total requests per second over all connections, on a fixed "
                   "schedule; latency counts from each request's scheduled time (0: closed loop)")
        ->check(CLI::NonNegativeNumber);
    auto* dur = app.add_option("--duration", o.duration, "Measured run time in seconds")
                    ->check(CLI::PositiveNumber)
                    ->capture_default_str();
    app.add_option("--warmup", o.warmup, "Warm-up seconds before measuring (excluded)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("-t,--threads", o.threads, "Client threads (one io_context each)")
        ->check(CLI::Range(1U, 64U))
        ->capture_default_str();
    app.add_option("--resp", o.resp, "Protocol: 3 sends HELLO 3 on every connection, 2 does not")
        ->check(CLI::IsMember({2, 3}))
        ->capture_default_str();
    app.add_option("-w,--workload", o.workload_name, "Workload (see above)")
        ->check(CLI::IsMember({"eappend", "eappend-exact", "emappend", "eget", "escan", "epscan",
                               "xadd", "xrange", "ping"}))
        ->capture_default_str();
    app.add_option("--expected-version", o.expected_version,
                   "eappend/emappend: send EXPECTED_VERSION any, or omit it (none)")
        ->check(CLI::IsMember({"any", "none"}))
        ->capture_default_str();
    app.add_option("--batch", o.batch, "emappend: events per transaction")
        ->check(CLI::Range(1U, 10000U))
        ->capture_default_str();
    app.add_option("--count", o.count, "escan/epscan/xrange: COUNT per request")
        ->capture_default_str();
    app.add_option("--fill", o.fill, "Read workloads: ensure every stream has N events first");
    app.add_flag("--fill-interleaved", o.fill_interleaved,
                 "Fill round-robin over the streams (as concurrent writers would), not stream by "
                 "stream");
    app.add_option("--prefix", o.prefix, "Stream name prefix")->capture_default_str();
    app.add_option("--event-name", o.event_name, "Event name for appends")->capture_default_str();
    app.add_option("--seed", o.seed, "Random seed (0: time based)");
    app.add_option("--timeout", o.timeout, "Abort when no reply arrives for this many seconds")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_flag("--json", o.json, "Print one JSON line instead of the text report");
    app.add_flag("-q,--quiet", o.quiet, "No progress messages on stderr");
    CLI11_PARSE(app, argc, argv);

    static constexpr std::pair<std::string_view, Workload> kWorkloads[] = {
        {"eappend", Workload::EAppend},   {"eappend-exact", Workload::EAppendExact},
        {"emappend", Workload::EMAppend}, {"eget", Workload::EGet},
        {"escan", Workload::EScan},       {"epscan", Workload::EPScan},
        {"xadd", Workload::XAdd},         {"xrange", Workload::XRange},
        {"ping", Workload::Ping}};
    for (const auto& [name, w] : kWorkloads) {
      if (name == o.workload_name) o.workload = w;
    }
    o.timed = o.requests == 0 || dur->count() > 0;
    o.threads = std::min(o.threads, o.connections);
    return run(std::move(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sierradb-bench: %s\n", e.what());
    return 1;
  }
}
