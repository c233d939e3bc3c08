// Transport: the peer connections of one node (transport.hpp). Connections, handshake,
// send queues, reconnect backoff and the test-only faults.
#include "cluster/transport.hpp"

#include <asio.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <utility>

namespace sierra::cluster {

namespace {

constexpr uint32_t kHelloVersion = 1;
constexpr size_t kHelloSize = 20;  // u64 node id, u64 cluster id, u32 version
constexpr size_t kReadChunk = 64 * 1024;

std::vector<uint8_t> hello_payload(uint64_t node, uint64_t cluster) {
  std::vector<uint8_t> p(kHelloSize);
  std::memcpy(p.data(), &node, 8);
  std::memcpy(p.data() + 8, &cluster, 8);
  std::memcpy(p.data() + 16, &kHelloVersion, 4);
  return p;
}

struct Hello {
  uint64_t node = 0;
  uint64_t cluster = 0;
  uint32_t version = 0;
};

std::optional<Hello> parse_hello(const Frame& f) {
  if (f.kind != FrameKind::Hello || f.payload.size() != kHelloSize) return std::nullopt;
  Hello h;
  std::memcpy(&h.node, f.payload.data(), 8);
  std::memcpy(&h.cluster, f.payload.data() + 8, 8);
  std::memcpy(&h.version, f.payload.data() + 16, 4);
  return h;
}

}  // namespace

class Transport::Impl : public std::enable_shared_from_this<Transport::Impl> {
 public:
  struct Conn {
    explicit Conn(asio::io_context& io, uint32_t max_payload)
        : socket(io), hello_timer(io), reader(max_payload) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer hello_timer;
    FrameReader reader;
    std::vector<uint8_t> read_buf = std::vector<uint8_t>(kReadChunk);
    uint64_t peer = 0;  // 0 until its Hello identified it
    bool up = false;    // handshake complete
    bool closed = false;
    bool writing = false;
    std::vector<std::vector<uint8_t>> in_flight;
  };
  struct PeerState {
    Peer peer;
    bool dialer = false;  // this node dials it (its id is higher)
    std::shared_ptr<Conn> conn;
    std::deque<std::vector<uint8_t>> queue;
    PeerStats stats;
    unsigned backoff_ms = 0;
    std::unique_ptr<asio::steady_timer> reconnect_timer;
    Fault out_fault, in_fault;
  };

  Impl(asio::io_context& io, Options o, OnFrame on_frame, OnPeerState on_state)
      : io_(io),
        opts_(std::move(o)),
        on_frame_(std::move(on_frame)),
        on_state_(std::move(on_state)),
        acceptor_(io),
        rng_(opts_.node_id * 0x9E3779B97F4A7C15ull + 1) {}

  Status start() {
    for (const Peer& p : opts_.peers) {
      PeerState st;
      st.peer = p;
      st.dialer = opts_.node_id < p.id;
      st.reconnect_timer = std::make_unique<asio::steady_timer>(io_);
      peers_.emplace(p.id, std::move(st));
    }
    std::error_code ec;
    const auto addr = asio::ip::make_address(opts_.listen_host, ec);
    if (ec) {
      return make_error(Errc::InvalidArgument,
                        "peer listen address " + opts_.listen_host + ": " + ec.message());
    }
    const asio::ip::tcp::endpoint ep(addr, opts_.listen_port);
    if (acceptor_.open(ep.protocol(), ec); ec) return io_error("open the peer listener", ec);
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (acceptor_.bind(ep, ec); ec) {
      return io_error(
          "bind the peer port " + opts_.listen_host + ":" + std::to_string(opts_.listen_port), ec);
    }
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return io_error("listen on the peer port", ec);
    }
    port_ = acceptor_.local_endpoint(ec).port();
    accept();
    for (auto& [id, st] : peers_) {
      if (st.dialer) dial(id);
    }
    return {};
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    std::error_code ec;
    acceptor_.close(ec);
    for (auto& [id, st] : peers_) {
      st.reconnect_timer->cancel();
      st.queue.clear();
      st.stats.queued_bytes = 0;
      if (st.conn) close(st.conn, /*notify=*/false);
    }
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& c : pending) close(c, false);
  }

  uint16_t port() const { return port_; }

  bool send(uint64_t to, uint32_t group, FrameKind kind, std::span<const uint8_t> payload) {
    auto it = peers_.find(to);
    if (stopped_ || it == peers_.end()) return false;
    PeerState& st = it->second;
    if (st.out_fault.drop > 0 && chance(st.out_fault.drop)) {
      ++st.stats.dropped_by_fault;
      return false;
    }
    std::vector<uint8_t> bytes;
    encode_frame(bytes, group, kind, payload);
    if (st.out_fault.delay_ms > 0) {
      auto timer = std::make_shared<asio::steady_timer>(io_);
      timer->expires_after(std::chrono::milliseconds(st.out_fault.delay_ms));
      timer->async_wait(
          [self = shared_from_this(), to, timer, b = std::move(bytes)](std::error_code ec) mutable {
            if (ec || self->stopped_) return;
            self->enqueue(to, std::move(b));
          });
      return true;
    }
    return enqueue(to, std::move(bytes));
  }

  PeerStats stats(uint64_t peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() ? PeerStats{} : it->second.stats;
  }

  Status set_fault(uint64_t peer, Direction d, Fault f) {
    if (!opts_.allow_fault_injection) {
      return make_error(Errc::InvalidArgument,
                        "fault injection is refused: the node was not started with the test flag");
    }
    auto it = peers_.find(peer);
    if (it == peers_.end()) {
      return make_error(Errc::InvalidArgument, "unknown peer " + std::to_string(peer));
    }
    if (d == Direction::Outgoing || d == Direction::Both) it->second.out_fault = f;
    if (d == Direction::Incoming || d == Direction::Both) it->second.in_fault = Fault{f.drop, 0};
    return {};
  }

 private:
  static std::unexpected<Error> io_error(const std::string& what, const std::error_code& ec) {
    return std::unexpected(Error{Errc::Io, what + ": " + ec.message(), 0, ec.value()});
  }

  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  bool enqueue(uint64_t to, std::vector<uint8_t> bytes) {
    PeerState& st = peers_.at(to);
    if (st.stats.queued_bytes + bytes.size() > opts_.max_queued_bytes) {
      ++st.stats.dropped_queue_full;
      return false;
    }
    st.stats.queued_bytes += bytes.size();
    st.queue.push_back(std::move(bytes));
    if (st.conn && st.conn->up) write(st.conn);
    return true;
  }

  // ------------------------------------------------------------------------------- connecting

  void accept() {
    auto conn = std::make_shared<Conn>(io_, opts_.max_frame_payload);
    acceptor_.async_accept(conn->socket, [self = shared_from_this(), conn](std::error_code ec) {
      if (self->stopped_) return;
      if (!ec) {
        std::error_code ignored;
        conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        self->pending_.push_back(conn);
        conn->hello_timer.expires_after(std::chrono::milliseconds(self->opts_.hello_timeout_ms));
        conn->hello_timer.async_wait([self, conn](std::error_code tec) {
          if (!tec && !conn->up) self->close(conn, false);
        });
        self->read(conn);
      }
      self->accept();
    });
  }

  void dial(uint64_t id) {
    PeerState& st = peers_.at(id);
    auto conn = std::make_shared<Conn>(io_, opts_.max_frame_payload);
    conn->peer = id;
    st.conn = conn;
    std::error_code ec;
    auto addr = asio::ip::make_address(st.peer.host, ec);
    auto connected = [self = shared_from_this(), conn, id](std::error_code cec) {
      if (self->stopped_ || conn->closed) return;
      if (cec) {
        self->close(conn, false);
        return;
      }
      std::error_code ignored;
      conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
      self->send_hello(conn);
      self->read(conn);
    };
    if (!ec) {
      conn->socket.async_connect(asio::ip::tcp::endpoint(addr, st.peer.port), connected);
      return;
    }
    // A host name: resolve, then connect to the first address that answers.
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
    resolver->async_resolve(
        st.peer.host, std::to_string(st.peer.port),
        [self = shared_from_this(), conn, resolver, connected](
            std::error_code rec, asio::ip::tcp::resolver::results_type results) {
          if (self->stopped_ || conn->closed) return;
          if (rec) {
            self->close(conn, false);
            return;
          }
          asio::async_connect(
              conn->socket, results,
              [connected](std::error_code cec, const asio::ip::tcp::endpoint&) { connected(cec); });
        });
  }

  void schedule_reconnect(uint64_t id) {
    PeerState& st = peers_.at(id);
    st.backoff_ms = st.backoff_ms == 0 ? opts_.reconnect_min_ms
                                       : std::min(st.backoff_ms * 2, opts_.reconnect_max_ms);
    // +-25 % jitter, so that peers that lost each other do not retry in lock step.
    const unsigned jitter = st.backoff_ms / 4;
    const unsigned delay =
        st.backoff_ms - jitter + (jitter ? static_cast<unsigned>(rng_() % (2 * jitter + 1)) : 0);
    st.reconnect_timer->expires_after(std::chrono::milliseconds(delay));
    st.reconnect_timer->async_wait([self = shared_from_this(), id](std::error_code ec) {
      if (ec || self->stopped_) return;
      self->dial(id);
    });
  }

  void send_hello(const std::shared_ptr<Conn>& conn) {
    std::vector<uint8_t> bytes;
    const auto p = hello_payload(opts_.node_id, opts_.cluster_id);
    encode_frame(bytes, kGroupNone, FrameKind::Hello, p);
    // The Hello goes first, ahead of anything queued for the peer.
    conn->writing = true;
    auto buf = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    asio::async_write(conn->socket, asio::buffer(*buf),
                      [self = shared_from_this(), conn, buf](std::error_code ec, size_t) {
                        conn->writing = false;
                        if (self->stopped_ || conn->closed) return;
                        if (ec) {
                          self->close(conn, true);
                          return;
                        }
                        if (conn->up) self->write(conn);
                      });
  }

  // Called on a valid Hello: the connection now carries the peer's frames.
  void handshake_done(const std::shared_ptr<Conn>& conn, uint64_t id) {
    PeerState& st = peers_.at(id);
    conn->up = true;
    conn->hello_timer.cancel();
    st.backoff_ms = 0;
    ++st.stats.connects;
    st.stats.connected = true;
    if (on_state_) on_state_(id, true);
    if (!conn->writing) write(conn);
  }

  void on_hello(const std::shared_ptr<Conn>& conn, const Frame& f) {
    auto h = parse_hello(f);
    auto it = h ? peers_.find(h->node) : peers_.end();
    const bool ok = h && h->version == kHelloVersion && h->cluster == opts_.cluster_id &&
                    it != peers_.end() &&
                    (conn->peer == 0 ? !it->second.dialer : conn->peer == h->node);
    if (!ok) {
      close(conn, conn->peer != 0);
      return;
    }
    if (conn->peer == 0) {
      // Accepted: it replaces any older connection of that peer (which restarted, or whose old
      // connection is half-open).
      std::erase(pending_, conn);
      PeerState& st = it->second;
      if (st.conn && st.conn != conn) close(st.conn, true);
      conn->peer = h->node;
      st.conn = conn;
      send_hello(conn);
    }
    handshake_done(conn, h->node);
  }

  // --------------------------------------------------------------------------------- reading

  void read(const std::shared_ptr<Conn>& conn) {
    conn->socket.async_read_some(asio::buffer(conn->read_buf), [self = shared_from_this(), conn](
                                                                   std::error_code ec, size_t n) {
      if (self->stopped_ || conn->closed) return;
      if (ec) {
        self->close(conn, true);
        return;
      }
      conn->reader.feed(std::span<const uint8_t>(conn->read_buf.data(), n));
      for (;;) {
        auto f = conn->reader.next();
        if (!f) {  // the stream can no longer be framed
          self->close(conn, true);
          return;
        }
        if (!*f) break;
        if (!conn->up) {
          self->on_hello(conn, **f);
          if (conn->closed) return;
          continue;
        }
        if ((*f)->kind == FrameKind::Hello) continue;  // a repeated Hello: nothing new
        PeerState& st = self->peers_.at(conn->peer);
        if (st.in_fault.drop > 0 && self->chance(st.in_fault.drop)) {
          ++st.stats.dropped_by_fault;
          continue;
        }
        ++st.stats.frames_received;
        if (self->on_frame_) self->on_frame_(conn->peer, std::move(**f));
        // The callback may have stopped the transport or closed this connection.
        if (self->stopped_ || conn->closed) return;
      }
      self->read(conn);
    });
  }

  // --------------------------------------------------------------------------------- writing

  void write(const std::shared_ptr<Conn>& conn) {
    if (conn->writing || conn->closed || !conn->up) return;
    PeerState& st = peers_.at(conn->peer);
    if (st.queue.empty()) return;
    // Everything queued goes in one gathered write.
    conn->in_flight.clear();
    size_t bytes = 0;
    while (!st.queue.empty() && conn->in_flight.size() < 1024) {
      bytes += st.queue.front().size();
      conn->in_flight.push_back(std::move(st.queue.front()));
      st.queue.pop_front();
    }
    st.stats.queued_bytes -= bytes;
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(conn->in_flight.size());
    for (const auto& b : conn->in_flight) bufs.push_back(asio::buffer(b));
    conn->writing = true;
    asio::async_write(conn->socket, bufs,
                      [self = shared_from_this(), conn, bytes](std::error_code ec, size_t) {
                        conn->writing = false;
                        if (self->stopped_ || conn->closed) return;
                        if (ec) {
                          self->close(conn, true);
                          return;
                        }
                        PeerState& s = self->peers_.at(conn->peer);
                        s.stats.frames_sent += conn->in_flight.size();
                        s.stats.bytes_sent += bytes;
                        conn->in_flight.clear();
                        self->write(conn);
                      });
  }

  // --------------------------------------------------------------------------------- closing

  // Takes its own reference: `conn` may be the PeerState's, which this resets.
  void close(std::shared_ptr<Conn> conn, bool notify) {
    if (conn->closed) return;
    conn->closed = true;
    std::error_code ec;
    conn->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    conn->socket.close(ec);
    conn->hello_timer.cancel();
    std::erase(pending_, conn);
    if (conn->peer == 0) return;
    PeerState& st = peers_.at(conn->peer);
    if (st.conn != conn) return;
    st.conn.reset();
    const bool was_up = conn->up;
    if (was_up) st.stats.connected = false;
    if (was_up && notify && on_state_) on_state_(conn->peer, false);
    if (st.dialer && !stopped_) schedule_reconnect(conn->peer);
  }

  asio::io_context& io_;
  Options opts_;
  OnFrame on_frame_;
  OnPeerState on_state_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::map<uint64_t, PeerState> peers_;
  std::vector<std::shared_ptr<Conn>> pending_;  // accepted, not yet identified
  std::mt19937_64 rng_;
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------- Transport

Result<std::unique_ptr<Transport>> Transport::start(asio::io_context& io, Options options,
                                                    OnFrame on_frame, OnPeerState on_state) {
  if (options.node_id == 0) return make_error(Errc::InvalidArgument, "node id must be > 0");
  std::map<uint64_t, int> seen;
  for (const Peer& p : options.peers) {
    if (p.id == 0 || p.id == options.node_id || seen[p.id]++ > 0) {
      return make_error(Errc::InvalidArgument,
                        "peer id " + std::to_string(p.id) + " is 0, this node's, or listed twice");
    }
    if (p.port == 0) {
      return make_error(Errc::InvalidArgument, "peer " + std::to_string(p.id) + " has no port");
    }
  }
  if (options.reconnect_min_ms == 0 || options.reconnect_max_ms < options.reconnect_min_ms) {
    return make_error(Errc::InvalidArgument, "reconnect backoff: need 0 < min <= max");
  }
  auto impl =
      std::make_shared<Impl>(io, std::move(options), std::move(on_frame), std::move(on_state));
  if (auto s = impl->start(); !s) {
    impl->stop();
    return std::unexpected(std::move(s.error()));
  }
  return std::make_unique<Transport>(PassKey{}, std::move(impl));
}

Transport::Transport(PassKey, std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transport::~Transport() {
  if (impl_) impl_->stop();
}
uint16_t Transport::port() const {
  return impl_->port();
}
bool Transport::send(uint64_t to, uint32_t group, FrameKind kind,
                     std::span<const uint8_t> payload) {
  return impl_->send(to, group, kind, payload);
}
Transport::PeerStats Transport::stats(uint64_t peer) const {
  return impl_->stats(peer);
}
Status Transport::set_fault(uint64_t peer, Direction direction, Fault fault) {
  return impl_->set_fault(peer, direction, fault);
}
void Transport::stop() {
  impl_->stop();
}

}  // namespace sierra::cluster
