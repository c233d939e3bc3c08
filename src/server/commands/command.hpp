// The contract between the network layer and the commands: a command handler receives the
// parsed arguments of one request and fills that request's Reply exactly once, at once or later
// from another thread (appends complete on the engine's writer threads). Replies are written to
// the socket in request order by the connection, whatever order they finish in.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/database.hpp"
#include "resp/reply_writer.hpp"
#include "server/config.hpp"

namespace sierra::server {

// Runs read work off the network threads (sized by threads.read).
class ReadExecutor {
 public:
  virtual ~ReadExecutor() = default;
  virtual void post(std::function<void()> job) = 0;
};

// Process-wide counters shown by INFO.
struct ServerStats {
  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> commands_processed{0};
  std::atomic<uint64_t> command_errors{0};
  std::atomic<uint64_t> events_appended{0};
  std::atomic<uint64_t> events_read{0};
  std::atomic<uint64_t> net_input_bytes{0};
  std::atomic<uint64_t> net_output_bytes{0};
};

class SubscriptionHub;  // server/subscriptions (later)

// State shared by every connection of a server.
struct ServerContext {
  std::shared_ptr<Database> db;
  Config config;
  ReadExecutor* reads = nullptr;
  ServerStats stats;
  std::string peer_id;  // stable node id, persisted in the data dir
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  SubscriptionHub* subscriptions = nullptr;
};

// State of one client connection that commands may read or change.
struct Session {
  uint64_t id = 0;
  int protocol = 3;  // 2 after HELLO 2: replies are RESP2-encoded
  std::string name;  // CLIENT SETNAME / HELLO SETNAME
  std::string lib_name, lib_ver;
  bool close_after_reply = false;  // QUIT
};

// The reply to one request. Thread-safe to finish from any thread, exactly once.
class Reply {
 public:
  explicit Reply(int protocol) : protocol_(protocol) {}
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  int protocol() const { return protocol_; }
  // Writer appending to this reply's bytes (use before finish()).
  resp::ReplyWriter writer() { return resp::ReplyWriter(bytes_, protocol_); }
  // Marks the reply complete and notifies the connection.
  void finish() {
    done_.store(true, std::memory_order_release);
    if (on_finish_) on_finish_();
  }

  // For the connection.
  bool done() const { return done_.load(std::memory_order_acquire); }
  std::string& bytes() { return bytes_; }
  void set_on_finish(std::function<void()> f) { on_finish_ = std::move(f); }

 private:
  int protocol_;
  std::string bytes_;
  std::atomic<bool> done_{false};
  std::function<void()> on_finish_;
};
using ReplyPtr = std::shared_ptr<Reply>;

// args[0] is the command name as sent; views are valid only during the call: copy what an
// asynchronous completion needs.
using Args = std::span<const std::string_view>;
using Handler = void (*)(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);

struct CommandSpec {
  std::string_view name;  // upper case
  Handler handler;
  // Writes to the log and completes on a writer thread. A connection runs a pipelined command
  // after an unfinished append only once the append has finished, and an append only once the
  // reads before it have (PROTOCOL §1.6: each command sees the effects of the earlier ones).
  bool appends = false;
};

// Case-insensitive lookup in the command table (commands/command_table.cpp).
const CommandSpec* find_command(std::string_view name);

// Helpers for handlers.
inline void reply_error(const ReplyPtr& r, std::string_view code, std::string_view message) {
  r->writer().error(code, message);
  r->finish();
}

}  // namespace sierra::server
