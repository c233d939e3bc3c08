#include "server/subscriptions/subscription.hpp"

#include <algorithm>
#include <utility>

#include "resp/reply_writer.hpp"
#include "server/commands/command.hpp"
#include "server/commands/engine_error.hpp"
#include "server/commands/event_reply.hpp"
#include "server/subscriptions/pubsub_format.hpp"
#include "server/subscriptions/subscription_hub.hpp"

namespace sierra::server {

std::string encode_subscription_event(int protocol, std::string_view kind, std::string_view id,
                                      uint64_t count) {
  std::string out;
  resp::ReplyWriter w(out, protocol);
  w.push(3);
  w.simple(kind);
  w.simple(id);
  w.integer(static_cast<int64_t>(count));
  return out;
}

std::string encode_subscription_error(int protocol, std::string_view id, std::string_view message) {
  std::string out;
  resp::ReplyWriter w(out, protocol);
  w.push(3);
  w.simple("error");
  w.simple(id);
  w.bulk(message);
  return out;
}

Subscription::Subscription(Uuid id, uint64_t connection_id, std::weak_ptr<ClientLink> conn,
                           int protocol, std::shared_ptr<Database> db,
                           std::weak_ptr<SubscriptionHub> hub, uint64_t window,
                           std::vector<PartitionStart> partitions, std::vector<StreamStart> streams,
                           bool all_partitions)
    : id_(id),
      id_text_(id.to_string()),
      connection_id_(connection_id),
      conn_(std::move(conn)),
      protocol_(protocol),
      db_(std::move(db)),
      hub_(std::move(hub)),
      window_(std::max<uint64_t>(window, 1)),
      all_partitions_(all_partitions),
      partitions_(std::move(partitions)),
      streams_(std::move(streams)) {}

std::vector<PartitionId> Subscription::partitions() const {
  std::vector<PartitionId> out;
  out.reserve(partitions_.size() + streams_.size());
  for (const auto& p : partitions_) out.push_back(p.partition);
  for (const auto& s : streams_) out.push_back(s.partition);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t Subscription::budget_locked() const {
  // acked_plus_one_ <= 2^63 and window_ < 2^63: no overflow.
  const uint64_t limit = acked_plus_one_ + window_;  // first cursor not allowed
  return limit > next_cursor_ ? limit - next_cursor_ : 0;
}

bool Subscription::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

bool Subscription::post_run() {
  auto hub = hub_.lock();
  if (!hub) return false;
  return hub->post([self = shared_from_this()] { self->run(); });
}

void Subscription::wake() {
  std::lock_guard lock(mu_);
  if (!active_) return;
  if (scheduled_) {
    dirty_ = true;
    return;
  }
  if (budget_locked() == 0) return;  // EACK wakes it
  scheduled_ = true;
  dirty_ = false;
  if (!post_run()) scheduled_ = false;
}

void Subscription::start() {
  {
    std::lock_guard lock(mu_);
    scheduled_ = false;
  }
  wake();
}

void Subscription::ack(uint64_t cursor) {
  {
    std::lock_guard lock(mu_);
    acked_plus_one_ = cursor + 1;
  }
  wake();
}

void Subscription::cancel() {
  std::lock_guard lock(mu_);
  active_ = false;
}

void Subscription::encode_message(std::string& out, uint64_t cursor, const EventRecord& e) const {
  if (!channel_.empty()) {
    encode_pubsub_message(out, protocol_, channel_, id_text_, cursor, e);
    return;
  }
  resp::ReplyWriter w(out, protocol_);
  w.push(4);
  w.simple("message");
  w.simple(id_text_);
  w.integer(static_cast<int64_t>(cursor));
  write_event(w, e);
}

std::optional<std::string> Subscription::deliver_partitions(std::string& out, uint64_t& cursor,
                                                            uint64_t limit, bool& more) {
  const std::size_t n = partitions_.size();
  uint64_t delivered = 0;
  for (std::size_t k = 0; k < n && delivered < limit && out.size() < kMaxBatchBytes; ++k) {
    PartitionStart& ps = partitions_[(round_robin_ + k) % n];
    auto latest = db_->get_partition_sequence(ps.partition);
    if (!latest) return "read error: " + client_error_text(latest.error(), "subscription read");
    if (!*latest || **latest < ps.next_sequence) continue;
    const uint64_t available = **latest - ps.next_sequence + 1;
    const uint64_t take = std::min({available, limit - delivered, kMaxPartitionBatch});
    auto it = db_->read_partition(ps.partition, ps.next_sequence);
    if (!it) return "read error: " + client_error_text(it.error(), "subscription read");
    uint64_t taken = 0;
    while (taken < take && out.size() < kMaxBatchBytes) {
      auto rec = it->next();
      if (!rec) return "read error: " + client_error_text(rec.error(), "subscription read");
      if (!*rec) break;
      const EventRecord& e = **rec;
      if (e.partition_sequence != ps.next_sequence) {
        return "partition " + std::to_string(ps.partition) + " expected sequence " +
               std::to_string(ps.next_sequence) + " but read " +
               std::to_string(e.partition_sequence);
      }
      encode_message(out, cursor++, e);
      ++ps.next_sequence;
      ++taken;
    }
    delivered += taken;
    if (taken < available) more = true;
  }
  if (n > 0) round_robin_ = (round_robin_ + 1) % n;
  return std::nullopt;
}

std::optional<std::string> Subscription::deliver_streams(std::string& out, uint64_t& cursor,
                                                         uint64_t limit, bool& more) {
  const std::size_t n = streams_.size();
  uint64_t delivered = 0;
  for (std::size_t k = 0; k < n && delivered < limit && out.size() < kMaxBatchBytes; ++k) {
    StreamStart& ss = streams_[(round_robin_ + k) % n];
    auto info = db_->get_stream_version(ss.partition, ss.stream_id);
    if (!info) return "read error: " + client_error_text(info.error(), "subscription read");
    if (!*info || (*info)->version < ss.next_version) continue;
    const uint64_t available = (*info)->version - ss.next_version + 1;
    const uint64_t take = std::min({available, limit - delivered, kMaxPartitionBatch});
    auto it = db_->read_stream(ss.partition, ss.stream_id, ss.next_version);
    if (!it) return "read error: " + client_error_text(it.error(), "subscription read");
    uint64_t taken = 0;
    while (taken < take && out.size() < kMaxBatchBytes) {
      auto rec = it->next();
      if (!rec) return "read error: " + client_error_text(rec.error(), "subscription read");
      if (!*rec) break;
      const EventRecord& e = **rec;
      if (e.stream_version < ss.next_version) continue;
      encode_message(out, cursor++, e);
      ss.next_version = e.stream_version + 1;
      ++taken;
    }
    delivered += taken;
    if (taken < available) more = true;
  }
  if (n > 0) round_robin_ = (round_robin_ + 1) % n;
  return std::nullopt;
}

void Subscription::run() {
  uint64_t budget = 0;
  uint64_t cursor = 0;
  {
    std::lock_guard lock(mu_);
    if (!active_) {
      scheduled_ = false;
      return;
    }
    dirty_ = false;  // commits from now on wake us again
    budget = budget_locked();
    cursor = next_cursor_;
    if (budget == 0) {
      scheduled_ = false;
      return;
    }
  }
  auto conn = conn_.lock();
  auto hub = hub_.lock();
  if (!conn || conn->closed() || !hub) {
    std::lock_guard lock(mu_);
    active_ = false;
    scheduled_ = false;
    return;
  }
  if (conn->pending_bytes() >= hub->max_pending_bytes()) {
    // The client is not reading: leave the events in the log and try again shortly.
    {
      std::lock_guard lock(mu_);
      scheduled_ = false;
    }
    hub->retry_later(weak_from_this());
    return;
  }

  std::string out;
  bool more = false;
  const uint64_t limit = std::min(budget, kMaxBatchEvents);
  std::optional<std::string> error = kind() == Kind::Partitions
                                         ? deliver_partitions(out, cursor, limit, more)
                                         : deliver_streams(out, cursor, limit, more);
  bool failed = false;
  {
    std::lock_guard lock(mu_);
    if (!active_) {
      scheduled_ = false;
      return;  // cancelled while reading: nothing more is pushed
    }
    // Pushed under the lock: once cancel() returns, no push of this subscription follows.
    if (!out.empty()) conn->push(std::move(out));
    next_cursor_ = cursor;
    if (error) {
      conn->push(encode_subscription_error(protocol_, id_text_, *error));
      active_ = false;
      scheduled_ = false;
      failed = true;
    } else if ((more || dirty_) && budget_locked() > 0) {
      dirty_ = false;
      if (!post_run()) scheduled_ = false;
    } else {
      scheduled_ = false;
    }
  }
  if (failed) hub->remove(connection_id_, id_);
}

}  // namespace sierra::server
