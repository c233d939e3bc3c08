// The reads waiting for events (ESCAN/EPSCAN/EPREAD ... BLOCK <ms>, as Redis's XREAD BLOCK).
// A blocked read is one waiter record: the read to retry (a closure that builds the reply only
// when it finds events), the partitions whose commits may satisfy it, a deadline timer and the
// connection's read hold (later replies of the connection wait behind it, as in Redis). The
// SubscriptionHub forwards the engine's commit notifications here: a commit to a partition wakes
// every read waiting on it, in the order they blocked, and each re-runs once on the read
// executor. A read that finds nothing blocks again until its deadline; at the deadline it runs a
// last time and must reply. The connection closing drops its waiters without a reply.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/ids.hpp"

namespace sierra::server {

class ClientLink;

class BlockedReads : public std::enable_shared_from_this<BlockedReads> {
 public:
  // Runs the read. `final`: the deadline passed (or the server stops): it must reply, with an
  // empty result if need be. Otherwise it replies and returns true if it found events, or
  // returns false without replying (nothing written) to keep waiting.
  using Attempt = std::function<bool(bool final)>;
  // Posts a job on the read executor; false if it cannot (the caller then runs it inline).
  using Poster = std::function<bool(std::function<void()>)>;

  BlockedReads();
  ~BlockedReads();
  BlockedReads(const BlockedReads&) = delete;
  BlockedReads& operator=(const BlockedReads&) = delete;

  void set_poster(Poster post);

  // Runs `attempt` now (on the calling thread, normally the read executor); if it did not
  // reply, registers a waiter on `partitions` until `timeout` (nullopt: no deadline, BLOCK 0).
  // `conn` may be null (unit tests); `hold` is released when the read replies or is dropped.
  void block(uint64_t connection_id, const std::shared_ptr<ClientLink>& conn,
             std::vector<PartitionId> partitions, std::optional<std::chrono::milliseconds> timeout,
             std::shared_ptr<void> hold, Attempt attempt);

  // The partitions that moved (from the commit listener): wakes their waiters. Non-blocking.
  void on_commit(std::span<const std::pair<PartitionId, uint64_t>> moved);
  // Wakes every waiter (polling when the engine reports no commits).
  void wake_all();
  // Drops the waiters of a closed connection (no reply).
  void drop_connection(uint64_t connection_id);
  // Every waiter replies now (final attempt, inline) and no read blocks any more: a server
  // stopping answers its blocked clients so their connections can drain.
  void release_all();
  // Waiters registered (for tests and INFO).
  std::size_t waiting() const;

 private:
  struct Waiter;
  void run(const std::shared_ptr<Waiter>& w);
  void wake(const std::shared_ptr<Waiter>& w, bool timed_out);
  void finish(const std::shared_ptr<Waiter>& w);

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread timer_thread_;

  mutable std::mutex mu_;
  Poster post_;
  bool released_ = false;
  uint64_t next_serial_ = 0;
  std::unordered_map<PartitionId, std::vector<std::shared_ptr<Waiter>>> by_partition_;
  std::unordered_map<uint64_t, std::vector<std::shared_ptr<Waiter>>> by_connection_;
  std::size_t waiting_ = 0;
};

}  // namespace sierra::server
