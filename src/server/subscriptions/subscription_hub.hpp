// The registry of every subscription of a server. The engine's commit listener (installed with
// DatabaseBuilder::on_commit(hub->listener())) tells it which partitions moved; it wakes the
// subscriptions of those partitions, which then read from the log on the read executor. The
// listener only takes a short lock and posts work: it never blocks a writer thread.
//
// Subscriptions belong to one connection: the hub hooks the connection's close to drop all of
// them at once. Without a commit listener (a hub not passed to the engine), subscriptions are
// polled every few milliseconds instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/database.hpp"
#include "engine/ids.hpp"

namespace sierra::server {

class BlockedReads;
class ClientLink;
class ReadExecutor;
class Subscription;

class SubscriptionHub : public std::enable_shared_from_this<SubscriptionHub> {
 public:
  // How often throttled subscriptions (connection output over the limit) are retried, and how
  // often subscriptions are polled without a commit listener.
  static constexpr std::chrono::milliseconds kTick{5};

  SubscriptionHub();
  ~SubscriptionHub();
  SubscriptionHub(const SubscriptionHub&) = delete;
  SubscriptionHub& operator=(const SubscriptionHub&) = delete;

  // For DatabaseBuilder::on_commit. Holds the hub weakly.
  CommitListener listener();
  void on_commit(std::span<const std::pair<PartitionId, uint64_t>> moved);

  // Starts serving: reads run on `reads`; pushes bigger than `max_pending_bytes` queued on a
  // connection pause its subscriptions until it drains.
  void attach(std::shared_ptr<Database> db, ReadExecutor* reads, std::size_t max_pending_bytes);
  // Cancels every subscription and stops posting work. Idempotent.
  void shutdown();

  const std::shared_ptr<Database>& db() const { return db_; }
  std::size_t max_pending_bytes() const { return max_pending_bytes_; }

  // Registers a subscription of `conn`; returns the number now active on that connection.
  std::size_t add(const std::shared_ptr<Subscription>& sub,
                  const std::shared_ptr<ClientLink>& conn);
  std::shared_ptr<Subscription> find(uint64_t connection_id, const Uuid& id) const;
  // The pub/sub-form subscription of `connection_id` on `channel` (SUBSCRIBE), or nullptr.
  std::shared_ptr<Subscription> find_channel(uint64_t connection_id,
                                             std::string_view channel) const;
  // Every pub/sub-form subscription of `connection_id` (UNSUBSCRIBE without channels).
  std::vector<std::shared_ptr<Subscription>> channels(uint64_t connection_id) const;
  // Unregisters and cancels; returns the number left on that connection, or nullopt if unknown.
  std::optional<std::size_t> remove(uint64_t connection_id, const Uuid& id);
  void drop_connection(uint64_t connection_id);
  // Subscriptions active on the server (for tests and INFO).
  std::size_t active() const;
  // The blocked reads (ESCAN/EPSCAN/EPREAD ... BLOCK), woken by the same commit notifications.
  BlockedReads& blocked_reads() { return *blocked_; }
  // A stopping server answers its blocked reads first (so their connections can drain).
  void release_blocked_reads();

  // For subscriptions: runs `job` on the read executor; false once shut down.
  bool post(std::function<void()> job);
  // For subscriptions: wake `sub` again after the next tick.
  void retry_later(std::weak_ptr<Subscription> sub);

 private:
  void unindex_locked(const std::shared_ptr<Subscription>& sub);
  void tick_loop();

  std::shared_ptr<Database> db_;
  std::shared_ptr<BlockedReads> blocked_;
  std::size_t max_pending_bytes_ = 64u << 20;

  mutable std::mutex mu_;  // the registry; taken before a subscription's own mutex
  std::unordered_map<uint64_t, std::unordered_map<Uuid, std::shared_ptr<Subscription>, UuidHash>>
      by_connection_;
  std::vector<std::vector<std::shared_ptr<Subscription>>> by_partition_;
  std::size_t active_ = 0;
  bool listening_ = false;

  std::mutex exec_mu_;  // taken last
  ReadExecutor* reads_ = nullptr;
  bool stopped_ = false;

  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  std::vector<std::weak_ptr<Subscription>> retry_;
  bool tick_stop_ = false;
  std::thread ticker_;
};

}  // namespace sierra::server
