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
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/database.hpp"
#include "resp/reply_writer.hpp"
#include "server/auth/auth_rate_limiter.hpp"
#include "server/auth/user_registry.hpp"
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
  // The users and their permissions (docs/SECURITY.md); replaced on SIGHUP.
  auth::UserRegistry users;
};

// State of one client connection that commands may read or change.
struct Session {
  uint64_t id = 0;
  int protocol = 3;  // 2 after HELLO 2: replies are RESP2-encoded
  std::string name;  // CLIENT SETNAME / HELLO SETNAME
  std::string lib_name, lib_ver;
  bool close_after_reply = false;  // QUIT

  // Authentication (docs/SECURITY.md §2), kept by authorize() and the AUTH commands. `user`
  // points into `users`, the directory snapshot it was found in (kept alive by this pointer);
  // nullptr: not logged in. `users` is nullptr until the first command.
  std::shared_ptr<const auth::UserDirectory> users;
  uint64_t users_generation = 0;
  const auth::User* user = nullptr;
  bool authenticated = false;  // by a successful AUTH (not the initial nopass "default")
  std::string peer;            // the client's address, for log lines
  std::optional<auth::AuthRateLimiter> auth_limiter;  // made at the first failed AUTH
  std::chrono::steady_clock::time_point last_auth_log{};
  uint64_t auth_logs_suppressed = 0;
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

// What a command may do with the client it serves, without knowing the connection class:
// queue pushes, learn of its close, and count reads against its limits. Connection implements
// it; subscriptions hold it weakly.
class ClientLink {
 public:
  virtual ~ClientLink() = default;
  virtual uint64_t client_id() const = 0;
  // Thread-safe. Queues pre-encoded push bytes, written between complete replies.
  virtual void push(std::string bytes) = 0;
  // Thread-safe. `cb` runs once when the client closes, or at once if it already has.
  virtual void on_close(std::function<void()> cb) = 0;
  virtual bool closed() const = 0;
  // Bytes queued for the client but not yet written (approximate).
  virtual std::size_t pending_bytes() const = 0;
  // Wraps a job for the read executor so that it counts as one of this client's reads in
  // flight until it returns (and is skipped if the client closed meanwhile).
  virtual std::function<void()> track_read(std::function<void()> job) = 0;
  // A handle that keeps the client alive (for asynchronous completions).
  virtual std::shared_ptr<ClientLink> share() = 0;
  // Counts one read in flight until the returned handle is destroyed (a blocked read holds it
  // while it waits, so the appends pipelined after it wait for it, as Redis). Default: none.
  virtual std::shared_ptr<void> hold_read() { return nullptr; }
  // Runs `job` after `delay` on the client's own executor (a timer, no blocked thread); used to
  // hold the reply of a failed AUTH. The default runs it at once.
  virtual void run_after(std::chrono::milliseconds delay, std::function<void()> job) {
    (void)delay;
    job();
  }
};

// Everything one command invocation works with (Redis passes `client *c`).
struct CommandContext {
  ServerContext& server;
  Session& session;
  Args args;
  ReplyPtr reply;
  // The client the request came from; valid during the call (client->share() to keep it);
  // nullptr when a handler is run outside a connection (unit tests).
  ClientLink* client = nullptr;

  // Runs `job` on the server's read executor, counted against the client's reads in flight;
  // inline when the server has no executor.
  void post_read(std::function<void()> job) const;
};

using Handler = void (*)(CommandContext& c);

// Permission classes of a command (ACL categories to be), shown by COMMAND INFO.
enum CommandFlag : uint32_t {
  kWrite = 1u << 0,         // changes the log
  kRead = 1u << 1,          // reads the log
  kSubscription = 1u << 2,  // subscription commands (pushes)
  kConnection = 1u << 3,    // acts on the connection / session only
  kAdmin = 1u << 4,         // server introspection
  kNoAuth = 1u << 5,        // allowed before HELLO / authentication
  kFast = 1u << 6,          // O(1) or O(log n), replies at once
  kLoading = 1u << 7,       // allowed while the node is loading
  kStale = 1u << 8,         // allowed when the node's data may be stale
  // Writes to the log and completes on a writer thread. A connection runs a pipelined command
  // after an unfinished append only once the append has finished, and an append only once the
  // reads before it have (PROTOCOL §1.6).
  kAppends = 1u << 9,
};

// What kind of value routes a command to its partition (and so its bucket and node).
enum class KeyKind : uint8_t {
  StreamId,           // hashed into the stream's partition key (partition_key_for_stream)
  PartitionKey,       // a UUID: hash % partition count
  PartitionSelector,  // a partition id, a partition key UUID, or (EPSUB) `*`, ranges, lists
  EventId,            // an event id UUID: its embedded partition hash
};

// Where a command's routing key is (a Redis key spec, reduced to what SierraDB needs).
struct KeySpec {
  KeyKind kind = KeyKind::StreamId;
  // Position of the key argument (0 = the command has no routing key).
  uint8_t index = 0;
  // If non-empty: an option `<keyword> <value>` whose value, when present, routes instead of
  // the argument at `index` (EAPPEND/ESCAN/ESVER's PARTITION_KEY). Options start at
  // `options_from` and each takes exactly one value, so the search steps over values (a
  // PAYLOAD that reads "PARTITION_KEY" is not taken for the keyword).
  std::string_view override_keyword;
  KeyKind override_kind = KeyKind::PartitionKey;
  uint8_t options_from = 0;
  // ESUB: the arguments from `index` are a list of stream ids, each optionally followed by
  // `PARTITION_KEY <uuid>`, ending at FROM or WINDOW. The first stream routes.
  bool stream_list = false;
  std::string_view notes;  // shown in COMMAND INFO's key specs
};

// How a failed arity check is answered.
enum class ArityReply : uint8_t {
  // `INVALIDARG wrong number of arguments for '<NAME>' command` (Redis's reply).
  Standard,
  // The command's own grammar words the error: it reports the first missing, extra or bad
  // argument in order (`unexpected end of input: expected stream id`), the texts clients saw
  // before arity was declared. The central check still decides that the request fails; the
  // handler only writes the reason and must reply an error (tested for every such command).
  Grammar,
};

// One documented argument (COMMAND DOCS).
struct ArgDoc {
  std::string_view name;
  std::string_view type;   // "key", "string", "integer", "pure-token", "block"
  std::string_view token;  // the keyword of an option, or empty
  bool optional = false;
  bool multiple = false;
  std::span<const ArgDoc> arguments{};  // the parts of a "block" (clients expect them)
};

struct CommandSpec {
  std::string_view name;  // upper case
  Handler handler;
  // Redis convention, counting the name: n > 0 exactly n arguments, n < 0 at least -n.
  int arity = -1;
  uint32_t flags = 0;
  KeySpec key{};
  ArityReply arity_reply = ArityReply::Standard;
  // COMMAND DOCS.
  std::string_view summary;
  std::string_view since = "0.1.0";
  std::string_view group;  // "connection", "server", "stream", "pubsub"
  std::span<const ArgDoc> arguments{};

  bool has(CommandFlag f) const { return (flags & f) != 0; }
  bool appends() const { return has(kAppends); }
};

// Case-insensitive lookup in the command table (commands/command_table.cpp).
const CommandSpec* find_command(std::string_view name);
// Every command, in table order.
std::span<const CommandSpec> all_commands();

// True if `argc` (counting the name) satisfies `arity`.
constexpr bool arity_ok(int arity, std::size_t argc) {
  return arity >= 0 ? argc == static_cast<std::size_t>(arity)
                    : argc >= static_cast<std::size_t>(-arity);
}

// Checks the caller's permission (commands/authorize.hpp) and the arity, then runs the handler
// (the one entry point for every command).
void run_command(const CommandSpec& spec, CommandContext& c);

// Helpers for handlers.
inline void reply_error(const ReplyPtr& r, std::string_view code, std::string_view message) {
  r->writer().error(code, message);
  r->finish();
}

}  // namespace sierra::server
