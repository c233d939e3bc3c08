#include "server/subscriptions/blocked_reads.hpp"

#include <algorithm>

#include "server/commands/command.hpp"

namespace sierra::server {

struct BlockedReads::Waiter {
  enum class State : uint8_t { Queued, Running, Waiting, Done };

  uint64_t connection_id = 0;
  std::vector<PartitionId> partitions;
  std::optional<std::chrono::milliseconds> timeout;
  std::unique_ptr<asio::steady_timer> timer;  // used on the timer thread only

  std::mutex m;
  State state = State::Queued;
  bool again = false;      // woken while running: run once more
  bool timed_out = false;  // the deadline passed: the next run is final
  Attempt attempt;
  std::shared_ptr<void> hold;
};

BlockedReads::BlockedReads() : work_(asio::make_work_guard(io_)) {
  timer_thread_ = std::thread([this] { io_.run(); });
}

BlockedReads::~BlockedReads() {
  work_.reset();
  io_.stop();
  if (timer_thread_.joinable()) {
    if (timer_thread_.get_id() == std::this_thread::get_id()) {
      timer_thread_.detach();  // the last owner let go on the timer thread itself
    } else {
      timer_thread_.join();
    }
  }
}

void BlockedReads::set_poster(Poster post) {
  std::lock_guard lock(mu_);
  post_ = std::move(post);
}

void BlockedReads::block(uint64_t connection_id, const std::shared_ptr<ClientLink>& conn,
                         std::vector<PartitionId> partitions,
                         std::optional<std::chrono::milliseconds> timeout,
                         std::shared_ptr<void> hold, Attempt attempt) {
  bool released = false;
  {
    std::lock_guard lock(mu_);
    released = released_;
  }
  // Most reads find events at once: those never register.
  if (attempt(released)) return;
  if (released) return;

  auto w = std::make_shared<Waiter>();
  w->connection_id = connection_id;
  w->partitions = std::move(partitions);
  w->timeout = timeout;
  w->attempt = std::move(attempt);
  w->hold = std::move(hold);
  bool hook = false;
  {
    std::lock_guard lock(mu_);
    for (PartitionId p : w->partitions) by_partition_[p].push_back(w);
    auto [it, inserted] = by_connection_.try_emplace(connection_id);
    it->second.push_back(w);
    hook = inserted;
    ++waiting_;
    if (released_) w->timed_out = true;
  }
  if (hook && conn) {
    // Runs at once if the connection already closed (then the waiter is dropped here).
    conn->on_close([weak = weak_from_this(), connection_id] {
      if (auto self = weak.lock()) self->drop_connection(connection_id);
    });
  }
  if (timeout) {
    asio::post(io_, [weak = weak_from_this(), w] {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard lock(w->m);
        if (w->state == Waiter::State::Done) return;
      }
      w->timer = std::make_unique<asio::steady_timer>(self->io_, *w->timeout);
      w->timer->async_wait([weak, ww = std::weak_ptr<Waiter>(w)](const asio::error_code& ec) {
        if (ec) return;
        auto s = weak.lock();
        auto waiter = ww.lock();
        if (s && waiter) s->wake(waiter, /*timed_out=*/true);
      });
    });
  }
  // Registered before this second look: a commit that lands from now on wakes it again.
  run(w);
}

void BlockedReads::run(const std::shared_ptr<Waiter>& w) {
  while (true) {
    bool final = false;
    Attempt attempt;
    {
      std::lock_guard lock(w->m);
      if (w->state == Waiter::State::Done) return;
      w->state = Waiter::State::Running;
      w->again = false;
      final = w->timed_out;
      attempt = w->attempt;  // a copy: a concurrent drop may clear the waiter's
    }
    const bool replied = attempt(final);
    if (replied || final) {
      finish(w);
      return;
    }
    {
      std::lock_guard lock(w->m);
      if (w->state == Waiter::State::Done) return;
      if (!w->again) {
        w->state = Waiter::State::Waiting;
        return;
      }
      w->state = Waiter::State::Queued;
    }
    Poster post;
    {
      std::lock_guard lock(mu_);
      post = post_;
    }
    // Back of the read queue, behind the other woken reads (fair); inline without an executor.
    if (post && post([weak = weak_from_this(), w] {
          if (auto self = weak.lock()) self->run(w);
        })) {
      return;
    }
  }
}

void BlockedReads::wake(const std::shared_ptr<Waiter>& w, bool timed_out) {
  {
    std::lock_guard lock(w->m);
    if (timed_out) w->timed_out = true;
    switch (w->state) {
      case Waiter::State::Done:
      case Waiter::State::Queued:
        return;
      case Waiter::State::Running:
        w->again = true;
        return;
      case Waiter::State::Waiting:
        w->state = Waiter::State::Queued;
        break;
    }
  }
  Poster post;
  {
    std::lock_guard lock(mu_);
    post = post_;
  }
  auto job = [weak = weak_from_this(), w] {
    if (auto self = weak.lock()) self->run(w);
  };
  if (!post || !post(job)) job();
}

void BlockedReads::finish(const std::shared_ptr<Waiter>& w) {
  std::shared_ptr<void> hold;
  Attempt attempt;
  {
    std::lock_guard lock(w->m);
    w->state = Waiter::State::Done;
    hold = std::move(w->hold);
    attempt = std::move(w->attempt);
  }
  {
    std::lock_guard lock(mu_);
    bool found = false;
    for (PartitionId p : w->partitions) {
      auto it = by_partition_.find(p);
      if (it == by_partition_.end()) continue;
      auto& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), w), v.end());
      if (v.empty()) by_partition_.erase(it);
    }
    if (auto it = by_connection_.find(w->connection_id); it != by_connection_.end()) {
      auto& v = it->second;
      const auto before = v.size();
      v.erase(std::remove(v.begin(), v.end(), w), v.end());
      found = v.size() != before;
    }
    if (found) --waiting_;
  }
  if (w->timeout) {
    // The timer lives on the timer thread: cancel (and free) it there.
    asio::post(io_, [w] {
      if (w->timer) w->timer->cancel();
      w->timer.reset();
    });
  }
  // `hold` goes last: releasing it lets the connection parse the commands after this one.
}

void BlockedReads::on_commit(std::span<const std::pair<PartitionId, uint64_t>> moved) {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lock(mu_);
    if (waiting_ == 0) return;
    for (const auto& [pid, latest] : moved) {
      (void)latest;
      auto it = by_partition_.find(pid);
      if (it == by_partition_.end()) continue;
      woken.insert(woken.end(), it->second.begin(), it->second.end());
    }
  }
  for (auto& w : woken) wake(w, /*timed_out=*/false);
}

void BlockedReads::wake_all() {
  std::vector<std::shared_ptr<Waiter>> all;
  {
    std::lock_guard lock(mu_);
    if (waiting_ == 0) return;
    for (auto& [cid, v] : by_connection_) all.insert(all.end(), v.begin(), v.end());
  }
  for (auto& w : all) wake(w, /*timed_out=*/false);
}

void BlockedReads::drop_connection(uint64_t connection_id) {
  std::vector<std::shared_ptr<Waiter>> dropped;
  {
    std::lock_guard lock(mu_);
    auto it = by_connection_.find(connection_id);
    if (it == by_connection_.end()) return;
    dropped = std::move(it->second);
    by_connection_.erase(it);
    waiting_ -= dropped.size();
  }
  for (auto& w : dropped) finish(w);
}

void BlockedReads::release_all() {
  std::vector<std::shared_ptr<Waiter>> all;
  {
    std::lock_guard lock(mu_);
    released_ = true;
    for (auto& [cid, v] : by_connection_) all.insert(all.end(), v.begin(), v.end());
  }
  for (auto& w : all) wake(w, /*timed_out=*/true);
}

std::size_t BlockedReads::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

}  // namespace sierra::server
