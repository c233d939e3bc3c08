// The network server: accepts Redis-protocol clients on network.client_address, runs their
// connections on a small pool of network threads, runs read commands on a separate read pool,
// and stops gracefully (stop accepting, finish in-flight requests, flush replies, close the db).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/database.hpp"
#include "server/commands/command.hpp"
#include "server/config.hpp"

namespace sierra::server {

class Connection;
class ServerImpl;
class SubscriptionHub;

// Loads the node id stored in `<dir>/node_id`, or creates one (random UUID, written atomically)
// so it is stable across restarts. Returns an error text on I/O failure.
std::expected<std::string, std::string> load_or_create_node_id(const std::string& dir);

class Server {
 public:
  // How long stop() waits for connections to finish their in-flight requests.
  static constexpr std::chrono::milliseconds kDrainTimeout{5000};

  // Binds the listener and starts the network and read threads. The database must be open;
  // the server closes it in stop(). Errors (bad address, port in use, node id) are returned as
  // one line of text.
  // `hub` serves the subscriptions; pass the one whose listener() the database was opened with
  // (DatabaseBuilder::on_commit) so live events are pushed at once. Without one, the server
  // makes a hub that polls for new events.
  static std::expected<std::unique_ptr<Server>, std::string> start(
      Config config, std::shared_ptr<Database> db, std::shared_ptr<SubscriptionHub> hub = nullptr);

  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when client_port was 0) and "host:port".
  uint16_t port() const;
  std::string address() const;

  // The bound port of tls.port (0 when there is no TLS listener).
  uint16_t tls_port() const;

  ServerContext& context();

  // SIGHUP: replaces the users and protected_mode with those of `fresh` (a newly loaded
  // configuration); on an error nothing changes. Thread-safe; connections look their user up
  // again before their next command.
  std::expected<void, std::string> reload_auth(const Config& fresh);

  // Graceful stop: stop accepting; let every connection finish its in-flight requests and flush
  // its replies (at most kDrainTimeout, then force-close); stop the threads; close the
  // database. Idempotent and blocking; must not be called from a network or read thread.
  void stop();

  // Blocks until stop() has completed (from another thread).
  void wait();

  // Internal (use start()).
  explicit Server(std::unique_ptr<ServerImpl> impl);

 private:
  std::unique_ptr<ServerImpl> impl_;
};

}  // namespace sierra::server
