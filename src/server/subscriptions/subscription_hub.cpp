#include "server/subscriptions/subscription_hub.hpp"

#include <algorithm>
#include <utility>

#include "server/commands/command.hpp"
#include "server/subscriptions/blocked_reads.hpp"
#include "server/subscriptions/subscription.hpp"

namespace sierra::server {

SubscriptionHub::SubscriptionHub() : blocked_(std::make_shared<BlockedReads>()) {}

SubscriptionHub::~SubscriptionHub() {
  shutdown();
}

CommitListener SubscriptionHub::listener() {
  {
    std::lock_guard lock(mu_);
    listening_ = true;
  }
  return [weak = weak_from_this()](std::span<const std::pair<PartitionId, uint64_t>> moved) {
    if (auto hub = weak.lock()) hub->on_commit(moved);
  };
}

void SubscriptionHub::on_commit(std::span<const std::pair<PartitionId, uint64_t>> moved) {
  blocked_->on_commit(moved);
  std::lock_guard lock(mu_);
  if (active_ == 0) return;
  for (const auto& [pid, latest] : moved) {
    (void)latest;
    if (pid >= by_partition_.size()) continue;
    for (const auto& sub : by_partition_[pid]) sub->wake();
  }
}

void SubscriptionHub::attach(std::shared_ptr<Database> db, ReadExecutor* reads,
                             std::size_t max_pending_bytes) {
  {
    std::lock_guard lock(mu_);
    db_ = std::move(db);
    by_partition_.assign(db_ ? db_->partition_count() : 0, {});
    max_pending_bytes_ = std::max<std::size_t>(max_pending_bytes, 64 * 1024);
  }
  {
    std::lock_guard lock(exec_mu_);
    reads_ = reads;
    stopped_ = false;
  }
  blocked_->set_poster([weak = weak_from_this()](std::function<void()> job) {
    auto hub = weak.lock();
    return hub && hub->post(std::move(job));
  });
  std::lock_guard lock(tick_mu_);
  if (!ticker_.joinable()) {
    tick_stop_ = false;
    ticker_ = std::thread([this] { tick_loop(); });
  }
}

void SubscriptionHub::release_blocked_reads() {
  blocked_->release_all();
}

void SubscriptionHub::shutdown() {
  blocked_->release_all();
  {
    std::lock_guard lock(exec_mu_);
    stopped_ = true;
    reads_ = nullptr;
  }
  std::vector<std::shared_ptr<Subscription>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [cid, subs] : by_connection_) {
      for (auto& [id, sub] : subs) all.push_back(sub);
    }
    by_connection_.clear();
    for (auto& v : by_partition_) v.clear();
    active_ = 0;
  }
  for (auto& sub : all) sub->cancel();
  std::thread t;
  {
    std::lock_guard lock(tick_mu_);
    tick_stop_ = true;
    retry_.clear();
    t = std::move(ticker_);
  }
  tick_cv_.notify_all();
  if (t.joinable()) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // the last owner let go on the ticker thread itself
    } else {
      t.join();
    }
  }
}

std::size_t SubscriptionHub::add(const std::shared_ptr<Subscription>& sub,
                                 const std::shared_ptr<ClientLink>& conn) {
  std::size_t count = 0;
  bool hook = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = by_connection_.try_emplace(sub->connection_id());
    hook = inserted;
    it->second.emplace(sub->id(), sub);
    count = it->second.size();
    ++active_;
    for (PartitionId p : sub->partitions()) {
      if (p < by_partition_.size()) by_partition_[p].push_back(sub);
    }
  }
  if (hook && conn) {
    // Runs at once if the connection already closed. The entry then stays until it closes, so
    // a connection that subscribes and unsubscribes repeatedly hooks only once.
    conn->on_close([weak = weak_from_this(), cid = sub->connection_id()] {
      if (auto hub = weak.lock()) hub->drop_connection(cid);
    });
  }
  return count;
}

std::shared_ptr<Subscription> SubscriptionHub::find(uint64_t connection_id, const Uuid& id) const {
  std::lock_guard lock(mu_);
  auto it = by_connection_.find(connection_id);
  if (it == by_connection_.end()) return nullptr;
  auto s = it->second.find(id);
  return s == it->second.end() ? nullptr : s->second;
}

std::shared_ptr<Subscription> SubscriptionHub::find_channel(uint64_t connection_id,
                                                            std::string_view channel) const {
  std::lock_guard lock(mu_);
  auto it = by_connection_.find(connection_id);
  if (it == by_connection_.end()) return nullptr;
  for (const auto& [id, sub] : it->second) {
    if (!sub->channel().empty() && sub->channel() == channel) return sub;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Subscription>> SubscriptionHub::channels(uint64_t connection_id) const {
  std::vector<std::shared_ptr<Subscription>> out;
  std::lock_guard lock(mu_);
  auto it = by_connection_.find(connection_id);
  if (it == by_connection_.end()) return out;
  for (const auto& [id, sub] : it->second) {
    if (!sub->channel().empty()) out.push_back(sub);
  }
  return out;
}

void SubscriptionHub::unindex_locked(const std::shared_ptr<Subscription>& sub) {
  for (PartitionId p : sub->partitions()) {
    if (p >= by_partition_.size()) continue;
    auto& v = by_partition_[p];
    v.erase(std::remove(v.begin(), v.end(), sub), v.end());
  }
  --active_;
}

std::optional<std::size_t> SubscriptionHub::remove(uint64_t connection_id, const Uuid& id) {
  std::shared_ptr<Subscription> sub;
  std::size_t left = 0;
  {
    std::lock_guard lock(mu_);
    auto it = by_connection_.find(connection_id);
    if (it == by_connection_.end()) return std::nullopt;
    auto s = it->second.find(id);
    if (s == it->second.end()) return std::nullopt;
    sub = std::move(s->second);
    it->second.erase(s);
    left = it->second.size();
    unindex_locked(sub);
  }
  sub->cancel();
  return left;
}

void SubscriptionHub::drop_connection(uint64_t connection_id) {
  std::vector<std::shared_ptr<Subscription>> dropped;
  {
    std::lock_guard lock(mu_);
    auto it = by_connection_.find(connection_id);
    if (it == by_connection_.end()) return;
    for (auto& [id, sub] : it->second) {
      unindex_locked(sub);
      dropped.push_back(std::move(sub));
    }
    by_connection_.erase(it);
  }
  for (auto& sub : dropped) sub->cancel();
}

std::size_t SubscriptionHub::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

bool SubscriptionHub::post(std::function<void()> job) {
  std::lock_guard lock(exec_mu_);
  if (stopped_ || reads_ == nullptr) return false;
  reads_->post(std::move(job));
  return true;
}

void SubscriptionHub::retry_later(std::weak_ptr<Subscription> sub) {
  std::lock_guard lock(tick_mu_);
  if (!tick_stop_) retry_.push_back(std::move(sub));
}

void SubscriptionHub::tick_loop() {
  std::unique_lock lock(tick_mu_);
  while (!tick_stop_) {
    tick_cv_.wait_for(lock, kTick, [this] { return tick_stop_; });
    if (tick_stop_) break;
    std::vector<std::weak_ptr<Subscription>> retry;
    retry.swap(retry_);
    lock.unlock();
    for (auto& w : retry) {
      if (auto sub = w.lock()) sub->wake();
    }
    bool poll = false;
    bool listening = true;
    {
      std::lock_guard reg(mu_);
      poll = !listening_ && active_ > 0;
      listening = listening_;
    }
    if (!listening) blocked_->wake_all();
    if (poll) {
      // No commit listener: check every subscription for new events.
      std::vector<std::shared_ptr<Subscription>> all;
      {
        std::lock_guard reg(mu_);
        for (auto& [cid, subs] : by_connection_) {
          for (auto& [id, sub] : subs) all.push_back(sub);
        }
      }
      for (auto& sub : all) sub->wake();
    }
    lock.lock();
  }
}

}  // namespace sierra::server
