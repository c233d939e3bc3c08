#include "server/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>

#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "server/auth/protected_mode.hpp"
#include "server/connection.hpp"
#include "server/fd_limit.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "server/tls/tls_context.hpp"

namespace sierra::server {

namespace {

constexpr std::string_view kMaxClientsError = "-ERR max number of clients reached\r\n";

// Runs read commands off the network threads.
class ReadPool final : public ReadExecutor {
 public:
  explicit ReadPool(std::size_t threads) : pool_(threads) {}
  ~ReadPool() override { stop(); }

  void post(std::function<void()> job) override {
    // A read posted by a command arrives wrapped by its connection's track_read
    // (CommandContext::post_read), which counts it against that connection's reads in flight.
    asio::post(pool_, [job = std::move(job)] {
      try {
        job();
      } catch (const std::exception& e) {
        spdlog::error("read job failed: {}", e.what());
      } catch (...) {
        spdlog::error("read job failed");
      }
    });
  }

  // Lets running jobs finish, discards queued ones, joins the threads. Idempotent.
  void stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  asio::thread_pool pool_;
};

// File descriptors kept free for everything but client sockets: the engine's files (a rollover
// opens a new segment and writes index files), rejected sockets on their way out, logs.
constexpr uint64_t kFdReserve = 128;

uint64_t open_fd_count() {
  std::error_code ec;
  uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n;
}

// The number of clients the process's descriptor limit allows (raising the soft limit to the
// hard one first). Beyond it accept() fails with EMFILE: the client would wait in the listen
// backlog without an answer, and the engine could no longer open files. Capping max_clients
// instead gives such clients the "max number of clients reached" error.
uint32_t fd_capped_max_clients(uint32_t configured) {
  const std::optional<uint64_t> limit = raise_fd_limit();
  if (!limit) return configured;
  const uint64_t used = open_fd_count() + kFdReserve;
  const uint64_t allowed = *limit > used ? *limit - used : 1;
  if (allowed >= configured) return configured;
  spdlog::warn(
      "limits.max_clients lowered from {} to {}: the open-files limit is {} (raise it with "
      "ulimit -n / LimitNOFILE=)",
      configured, allowed, *limit);
  return static_cast<uint32_t>(allowed);
}

std::string format_address(const asio::ip::address& addr, uint16_t port) {
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(port);
  return addr.to_string() + ":" + std::to_string(port);
}

}  // namespace

std::expected<std::string, std::string> load_or_create_node_id(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(dir) / "node_id";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (auto id = Uuid::parse(text.str())) return id->to_string();
    spdlog::warn("{} does not hold a UUID; writing a new node id", path.string());
  }
  fs::create_directories(dir, ec);
  const std::string id = uuid_v4().to_string();
  const std::string content = id + "\n";
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size());
  if (auto s = write_file_atomically(path, bytes); !s) {
    return std::unexpected("cannot write " + path.string() + ": " + s.error().to_string());
  }
  return id;
}

class ServerImpl {
 public:
  // Declared first: connections (destroyed with io below) refer to these.
  ServerContext ctx;
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
  bool stopping = false;
  bool stopped = false;

  std::optional<asio::ssl::context> tls_ctx;  // set when TLS is on; outlives the connections
  std::atomic<bool> protected_mode{true};
  std::size_t handshaking = 0;  // TLS connections in their handshake (under mu; counted as
                                // connected clients and against limits.max_clients)

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(io)};
  // One per listener: the client port and the optional tls.port.
  struct Listener {
    explicit Listener(asio::strand<asio::io_context::executor_type>& strand)
        : acceptor(strand), retry_timer(strand) {}
    asio::ip::tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
    bool tls = false;
    bool failing = false;  // log a run of accept errors once
  };
  Listener plain{accept_strand};
  Listener secure{accept_strand};
  std::unique_ptr<ReadPool> reads;  // destroyed before io: its jobs may hold connections
  std::shared_ptr<SubscriptionHub> hub;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> next_id{1};
  std::string address;
  uint16_t tls_port = 0;

  void accept(Listener& l);
  void on_accept(asio::ip::tcp::socket socket, bool tls);
  void start_handshake(asio::ip::tcp::socket socket);
  // Makes and starts (or, in protected mode, refuses) the connection; `counted`: already
  // counted in connected_clients by the TLS handshake.
  void open_connection(ClientStream stream, bool counted);
  void unregister(uint64_t id);
  void stop();
};

void ServerImpl::accept(Listener& l) {
  // Sockets use the plain io executor; each connection makes its own strand.
  l.acceptor.async_accept(io, [this, &l](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (!l.acceptor.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // E.g. EMFILE: retry shortly rather than spin; log the first failure of a run only.
      if (!l.failing) {
        spdlog::warn("accept failed: {} (retrying every 50 ms)", ec.message());
        l.failing = true;
      }
      l.retry_timer.expires_after(std::chrono::milliseconds(50));
      l.retry_timer.async_wait([this, &l](const asio::error_code& tec) {
        if (!tec && l.acceptor.is_open()) accept(l);
      });
      return;
    }
    if (l.failing) {
      spdlog::info("accepting connections again");
      l.failing = false;
    }
    on_accept(std::move(socket), l.tls);
    accept(l);
  });
}

void ServerImpl::on_accept(asio::ip::tcp::socket socket, bool tls) {
  asio::error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  if (tls) {
    start_handshake(std::move(socket));
  } else {
    open_connection(ClientStream(std::move(socket)), false);
  }
}

void ServerImpl::start_handshake(asio::ip::tcp::socket socket) {
  struct Handshake {
    Handshake(asio::ip::tcp::socket s, asio::ssl::context& tls, asio::io_context& io)
        : strand(asio::make_strand(io)), stream(std::move(s), tls), timer(strand) {}
    asio::strand<asio::io_context::executor_type> strand;
    ClientStream::TlsStream stream;
    asio::steady_timer timer;
    bool done = false;  // on strand
  };
  {
    std::lock_guard lock(mu);
    if (stopping || conns.size() + handshaking >= ctx.config.limits.max_clients) {
      // No TLS yet to say why: just close.
      ctx.stats.rejected_connections.fetch_add(1, std::memory_order_relaxed);
      asio::error_code ignored;
      socket.close(ignored);
      return;
    }
    ++handshaking;
    ctx.stats.connected_clients.fetch_add(1, std::memory_order_relaxed);
  }
  auto h = std::make_shared<Handshake>(std::move(socket), *tls_ctx, io);
  h->timer.expires_after(std::chrono::milliseconds(ctx.config.tls.handshake_timeout_ms));
  h->timer.async_wait([h](const asio::error_code& ec) {
    if (ec || h->done) return;
    // The handshake completes with an error once its socket is closed.
    asio::error_code ignored;
    h->stream.next_layer().close(ignored);
  });
  h->stream.async_handshake(asio::ssl::stream_base::server,
                            asio::bind_executor(h->strand, [this, h](const asio::error_code& ec) {
                              h->done = true;
                              h->timer.cancel();
                              bool keep = !ec;
                              {
                                std::lock_guard lock(mu);
                                --handshaking;
                                if (stopping) keep = false;
                                if (!keep)
                                  ctx.stats.connected_clients.fetch_sub(1,
                                                                        std::memory_order_relaxed);
                                cv.notify_all();
                              }
                              if (!keep) {
                                if (ec) spdlog::debug("TLS handshake failed: {}", ec.message());
                                asio::error_code ignored;
                                h->stream.next_layer().close(ignored);
                                return;
                              }
                              open_connection(ClientStream(std::move(h->stream)), true);
                            }));
}

void ServerImpl::open_connection(ClientStream stream, bool counted) {
  auto& stats = ctx.stats;
  const uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard lock(mu);
    if (!counted && (stopping || conns.size() + handshaking >= ctx.config.limits.max_clients)) {
      stats.rejected_connections.fetch_add(1, std::memory_order_relaxed);
      auto s = std::make_shared<asio::ip::tcp::socket>(std::move(stream.socket()));
      asio::async_write(*s, asio::buffer(kMaxClientsError.data(), kMaxClientsError.size()),
                        [s](const asio::error_code&, std::size_t) {
                          asio::error_code ignored;
                          s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                          s->close(ignored);
                        });
      return;
    }
    stats.connections_received.fetch_add(1, std::memory_order_relaxed);
    if (!counted) stats.connected_clients.fetch_add(1, std::memory_order_relaxed);
    conn = std::make_shared<Connection>(std::move(stream), ctx, id);
    conns.emplace(id, conn);
  }
  conn->on_close([this, id] { unregister(id); });
  asio::error_code ec;
  const auto peer = conn->peer_address(ec);
  if (!ec && auth::protected_mode_refuses(protected_mode.load(std::memory_order_relaxed),
                                          ctx.users.current()->auth_configured(), peer)) {
    spdlog::info("protected mode: refused connection {} from {} (not loopback)", id,
                 peer.to_string());
    conn->refuse(std::string(auth::kProtectedModeDenied));
    return;
  }
  conn->start();
}

void ServerImpl::unregister(uint64_t id) {
  std::lock_guard lock(mu);
  if (conns.erase(id) != 0) {
    ctx.stats.connected_clients.fetch_sub(1, std::memory_order_relaxed);
  }
  cv.notify_all();
}

void ServerImpl::stop() {
  {
    std::unique_lock lock(mu);
    if (stopping) {
      cv.wait(lock, [this] { return stopped; });
      return;
    }
    stopping = true;
  }
  spdlog::info("shutting down: waiting for connections to finish");
  asio::post(accept_strand, [this] {
    asio::error_code ec;
    for (Listener* l : {&plain, &secure}) {
      l->acceptor.close(ec);
      l->retry_timer.cancel();
    }
  });

  auto snapshot = [this] {
    std::vector<std::shared_ptr<Connection>> live;
    std::lock_guard lock(mu);
    for (auto& [id, weak] : conns) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
    return live;
  };
  if (hub) hub->release_blocked_reads();  // blocked reads reply now: connections can drain
  for (auto& c : snapshot()) c->shutdown();
  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, Server::kDrainTimeout, [this] { return conns.empty(); })) {
      spdlog::warn("{} connection(s) still busy after {} ms; closing them", conns.size(),
                   Server::kDrainTimeout.count());
    }
  }
  for (auto& c : snapshot()) c->force_close();
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(1), [this] { return conns.empty(); });
  }

  if (hub) hub->shutdown();
  if (reads) reads->stop();
  work.reset();
  io.stop();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  if (ctx.db) ctx.db->close();

  std::lock_guard lock(mu);
  stopped = true;
  cv.notify_all();
}

// ------------------------------------------------------------------------------------ Server

Server::Server(std::unique_ptr<ServerImpl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
}

std::expected<std::unique_ptr<Server>, std::string> Server::start(
    Config config, std::shared_ptr<Database> db, std::shared_ptr<SubscriptionHub> hub) {
  auto impl = std::make_unique<ServerImpl>();
  auto node_id = load_or_create_node_id(config.dir);
  if (!node_id) return std::unexpected(node_id.error());

  asio::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(config.network.client_host, ec);
  if (ec) {
    return std::unexpected("invalid client address '" + config.network.client_host +
                           "': " + ec.message());
  }
  if (config.tls.enabled()) {
    tls::TlsSettings settings{config.tls.cert_file, config.tls.key_file, std::nullopt,
                              config.tls.require_client_cert};
    if (!config.tls.ca_file.empty()) settings.ca_file = config.tls.ca_file;
    auto tls_ctx = tls::make_server_context(settings);
    if (!tls_ctx) return std::unexpected("config error: " + tls_ctx.error());
    impl->tls_ctx.emplace(std::move(*tls_ctx));
  }
  auto listen = [&addr](asio::ip::tcp::acceptor& acc,
                        uint16_t want) -> std::expected<uint16_t, std::string> {
    const asio::ip::tcp::endpoint endpoint(addr, want);
    asio::error_code lec;
    acc.open(endpoint.protocol(), lec);
    if (!lec) acc.set_option(asio::socket_base::reuse_address(true), lec);
    if (!lec) acc.bind(endpoint, lec);
    if (!lec) acc.listen(asio::socket_base::max_listen_connections, lec);
    if (lec)
      return std::unexpected("cannot listen on " + format_address(addr, want) + ": " +
                             lec.message());
    return acc.local_endpoint(lec).port();
  };
  auto port = listen(impl->plain.acceptor, config.network.client_port);
  if (!port) return std::unexpected(port.error());
  impl->plain.tls = config.tls.client_port;
  config.network.client_port = *port;
  impl->address = format_address(addr, *port);
  if (config.tls.port != 0) {
    auto tls_port = listen(impl->secure.acceptor, config.tls.port);
    if (!tls_port) return std::unexpected(tls_port.error());
    impl->secure.tls = true;
    impl->tls_port = *tls_port;
    config.tls.port = *tls_port;
  }
  {
    auto users = auth::UserDirectory::build(auth_spec(config));
    if (!users) return std::unexpected("config error: users: " + users.error());
    const bool configured = users->auth_configured();
    impl->ctx.users.replace(std::move(*users));
    impl->protected_mode.store(config.protected_mode);
    if (!configured && config.protected_mode) {
      spdlog::info(
          "protected mode: no password or user configured; only loopback clients are accepted "
          "(see docs/SECURITY.md)");
    } else if (!configured) {
      spdlog::warn(
          "protected mode is off and no password or user is configured: anyone who can reach {} "
          "can read and append every stream",
          impl->address);
    }
  }
  if (impl->tls_ctx) {
    spdlog::info("TLS on {}{}", config.tls.client_port ? impl->address + " (client port)" : "",
                 impl->tls_port != 0 ? (config.tls.client_port ? " and " : "") +
                                           format_address(addr, impl->tls_port)
                                     : std::string());
  }

  // spdlog's registry is created on first use. Create it here, before any of our threads
  // exist: otherwise the first log line of a network thread and one of the thread stopping the
  // server can race to create it (TSan saw this in ServerTest; libspdlog's static-init guard is
  // not instrumented, so only thread creation orders it for the sanitizer).
  (void)spdlog::default_logger_raw();
  impl->reads = std::make_unique<ReadPool>(std::max<uint16_t>(config.threads.read, 1));
  config.limits.max_clients = fd_capped_max_clients(config.limits.max_clients);
  impl->ctx.config = std::move(config);
  impl->ctx.db = std::move(db);
  impl->ctx.reads = impl->reads.get();
  impl->ctx.peer_id = std::move(*node_id);
  impl->ctx.started = std::chrono::steady_clock::now();
  impl->hub = hub ? std::move(hub) : std::make_shared<SubscriptionHub>();
  impl->hub->attach(impl->ctx.db, impl->reads.get(),
                    static_cast<std::size_t>(impl->ctx.config.limits.max_pending_reply_bytes));
  impl->ctx.subscriptions = impl->hub.get();

  impl->work.emplace(impl->io.get_executor());
  ServerImpl* p = impl.get();
  asio::post(p->accept_strand, [p] {
    p->accept(p->plain);
    if (p->secure.acceptor.is_open()) p->accept(p->secure);
  });
  const unsigned n = std::clamp(std::thread::hardware_concurrency(), 1u, 2u);
  for (unsigned i = 0; i < n; ++i) {
    p->threads.emplace_back([p] {
      for (;;) {
        try {
          p->io.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("network thread: {}", e.what());
        }
      }
    });
  }
  return std::make_unique<Server>(std::move(impl));
}

uint16_t Server::port() const {
  return impl_->ctx.config.network.client_port;
}
std::string Server::address() const {
  return impl_->address;
}
uint16_t Server::tls_port() const {
  return impl_->tls_port;
}

std::expected<void, std::string> Server::reload_auth(const Config& fresh) {
  auto users = auth::UserDirectory::build(auth_spec(fresh));
  if (!users) return std::unexpected("users: " + users.error());
  const std::size_t count = users->size();
  impl_->ctx.users.replace(std::move(*users));
  impl_->protected_mode.store(fresh.protected_mode);
  spdlog::info("reloaded users from the config file: {} users, protected_mode {}", count,
               fresh.protected_mode ? "on" : "off");
  return {};
}

ServerContext& Server::context() {
  return impl_->ctx;
}
void Server::stop() {
  impl_->stop();
}

void Server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->stopped; });
}

}  // namespace sierra::server
