// One subscription (PROTOCOL.md §7): a selection (partitions or streams) with the next position
// of each, a cursor, a window and the last acknowledged cursor. Delivery re-reads the log with
// the engine iterators from the next positions up to what is visible, so history and live go
// through the same code: no gap and no duplicate at the switch, by construction. A run reads a
// bounded batch on the read executor, encodes `message` pushes and hands them to the
// connection; it stops when the window is full (at most W unacknowledged cursors) and resumes
// on EACK. Nothing is buffered between runs: a slow subscriber catches up from the log and
// never holds more than W events or slows appenders.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/database.hpp"
#include "engine/ids.hpp"

namespace sierra::server {

class ClientLink;
class SubscriptionHub;

// Where a subscription starts in one partition or stream.
struct PartitionStart {
  PartitionId partition = 0;
  uint64_t next_sequence = 0;
};
struct StreamStart {
  PartitionId partition = 0;
  Uuid partition_key;
  std::string stream_id;
  uint64_t next_version = 0;
};

class Subscription : public std::enable_shared_from_this<Subscription> {
 public:
  // Events per run (the batch handed to the connection at once) and per partition per run.
  static constexpr uint64_t kMaxBatchEvents = 512;
  static constexpr uint64_t kMaxPartitionBatch = 128;
  static constexpr std::size_t kMaxBatchBytes = 1 << 20;

  enum class Kind { Partitions, Streams };

  Subscription(Uuid id, uint64_t connection_id, std::weak_ptr<ClientLink> conn, int protocol,
               std::shared_ptr<Database> db, std::weak_ptr<SubscriptionHub> hub, uint64_t window,
               std::vector<PartitionStart> partitions, std::vector<StreamStart> streams,
               bool all_partitions);

  const Uuid& id() const { return id_; }
  uint64_t connection_id() const { return connection_id_; }
  Kind kind() const { return streams_.empty() ? Kind::Partitions : Kind::Streams; }
  bool all_partitions() const { return all_partitions_; }
  // The partitions whose commits may concern this subscription.
  std::vector<PartitionId> partitions() const;

  // Delivers in the Redis pub/sub form on `channel` (SUBSCRIBE, pubsub_format.hpp) instead of
  // the `message <id> <cursor> <event>` push. Call before start().
  void set_pubsub_channel(std::string channel) { channel_ = std::move(channel); }
  // The pub/sub channel, or empty for ESUB/EPSUB subscriptions.
  const std::string& channel() const { return channel_; }

  // Enables delivery (call once the subscribe reply is finished, so no message precedes it).
  void start();
  // Something may be readable (a commit, an ack, the connection drained): schedules a run on
  // the read executor unless one is scheduled (then it re-checks when done) or the window is
  // full. Thread-safe, non-blocking.
  void wake();
  // EACK: sets the last acknowledged cursor (may go backwards) and wakes.
  void ack(uint64_t cursor);
  // Stops delivery: once this returns, no further push is handed to the connection.
  void cancel();
  bool active() const;

 private:
  // Allowed further deliveries: cursors up to acked + W (cursors 0..W-1 before any ack).
  uint64_t budget_locked() const;
  void run();
  // Reads up to `limit` events into `out`; returns an error text on failure.
  std::optional<std::string> deliver_partitions(std::string& out, uint64_t& cursor, uint64_t limit,
                                                bool& more);
  std::optional<std::string> deliver_streams(std::string& out, uint64_t& cursor, uint64_t limit,
                                             bool& more);
  void encode_message(std::string& out, uint64_t cursor, const EventRecord& e) const;
  bool post_run();

  const Uuid id_;
  const std::string id_text_;
  const uint64_t connection_id_;
  const std::weak_ptr<ClientLink> conn_;
  const int protocol_;
  const std::shared_ptr<Database> db_;
  const std::weak_ptr<SubscriptionHub> hub_;
  const uint64_t window_;
  const bool all_partitions_;
  std::string channel_;  // set before start(), then read-only

  // Owned by the single running run() (runs never overlap).
  std::vector<PartitionStart> partitions_;
  std::vector<StreamStart> streams_;
  std::size_t round_robin_ = 0;

  mutable std::mutex mu_;
  bool active_ = true;
  bool scheduled_ = true;  // a run is queued or running (true until start())
  bool dirty_ = false;     // woken while scheduled: check again
  uint64_t next_cursor_ = 0;
  uint64_t acked_plus_one_ = 0;  // last acked cursor + 1; 0 before any ack
};

// `>3 subscribe|unsubscribe <id> :<count>` and `>3 error <id> $<message>`.
std::string encode_subscription_event(int protocol, std::string_view kind, std::string_view id,
                                      uint64_t count);
std::string encode_subscription_error(int protocol, std::string_view id, std::string_view message);

}  // namespace sierra::server
