// ReplicaSet: a node's bucket replicas on an io_context (replica_set.hpp).
#include "cluster/replica_set.hpp"

#include <asio.hpp>
#include <chrono>
#include <map>
#include <string>
#include <utility>

namespace sierra::cluster {

namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

class ReplicaSet::Impl : public std::enable_shared_from_this<ReplicaSet::Impl> {
 public:
  struct Bucket {
    BucketId id = 0;
    std::unique_ptr<BucketLog> log;
    std::unique_ptr<BucketReplica> replica;
    bool sync_posted = false;
    bool flush_posted = false;
    bool feed_posted = false;
    uint64_t fed = 0;  // entries up to this one were given to on_committed (this incarnation)
    uint64_t incarnation = 0;  // bumped when the replica is dropped: stale posts are ignored
  };

  Impl(asio::io_context& io, Options o, Send send)
      : io_(io), opts_(std::move(o)), send_(std::move(send)), timer_(io) {}

  Status open() {
    for (BucketId b : opts_.buckets) {
      auto bucket = std::make_unique<Bucket>();
      bucket->id = b;
      buckets_.emplace(b, std::move(bucket));
    }
    for (auto& [id, b] : buckets_) {
      if (auto s = open_bucket(*b); !s) return s;
    }
    arm_timer();
    return {};
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    for (auto& [id, b] : buckets_) {
      ++b->incarnation;
      b->replica.reset();
      b->log.reset();
    }
  }

  void on_frame(uint64_t, const Frame& f) {
    if (stopped_) return;
    if (f.kind == FrameKind::Raft) {
      deliver(f.group, f.payload);
    } else if (f.kind == FrameKind::RaftBatch) {
      auto items = decode_raft_batch(f.payload);
      if (!items) {
        say(LogLevel::Warn, "a raft batch frame that does not parse: " + items.error().to_string());
        return;
      }
      for (const BatchItem& it : *items) {
        if (stopped_) return;
        deliver(it.group, it.message);
      }
    }
  }

  uint64_t messages_sent_ = 0;
  uint64_t frames_sent_ = 0;

  void append(BucketId bucket, PartitionId pid, Transaction tx,
              BucketReplica::AppendCallback done) {
    auto it = buckets_.find(bucket);
    if (stopped_ || it == buckets_.end() || !it->second->replica) {
      done(std::unexpected(Error{
          Errc::NotLeader, "bucket " + std::to_string(bucket) + " is not served here", 0, 0}));
      return;
    }
    Bucket& b = *it->second;
    b.replica->append(pid, std::move(tx), std::move(done));
    post_flush(b);
  }

  BucketStatus status(BucketId bucket) const {
    BucketStatus s;
    auto it = buckets_.find(bucket);
    if (it == buckets_.end() || !it->second->replica) return s;
    const BucketReplica& r = *it->second->replica;
    s.open = true;
    s.role = r.role();
    s.leader = r.leader_id();
    s.term = r.term();
    s.commit_index = r.commit_index();
    s.applied_index = r.applied_index();
    s.ready = r.ready();
    return s;
  }

  const BucketLog* log(BucketId bucket) const {
    auto it = buckets_.find(bucket);
    return it == buckets_.end() ? nullptr : it->second->log.get();
  }

  uint64_t reopens_ = 0;

 private:
  // Messages at least this large leave in a frame of their own.
  static constexpr size_t kBatchMessageLimit = 64 * 1024;
  struct Outbox {
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> items;
  };

  void deliver(uint32_t group, std::span<const uint8_t> message) {
    auto it = buckets_.find(static_cast<BucketId>(group));
    if (group > 0xffff || it == buckets_.end() || !it->second->replica) return;
    Bucket& b = *it->second;
    check(b, b.replica->receive(now_ms(), message), "receive");
  }

  void queue_message(uint64_t to, uint32_t group, std::vector<uint8_t> bytes) {
    ++messages_sent_;
    Outbox& box = outbox_[to];
    if (bytes.size() >= kBatchMessageLimit) {
      flush_outbox(to);  // keeps each group's messages in order
      send_frame(to, FrameKind::Raft, group, bytes);
      return;
    }
    box.items.emplace_back(group, std::move(bytes));
    if (!outbox_posted_) {
      outbox_posted_ = true;
      asio::post(io_, [self = shared_from_this()] {
        self->outbox_posted_ = false;
        if (self->stopped_) return;
        for (auto& [peer, b] : self->outbox_) self->flush_outbox(peer);
      });
    }
  }

  void flush_outbox(uint64_t to) {
    Outbox& box = outbox_[to];
    if (box.items.empty()) return;
    if (box.items.size() == 1) {
      send_frame(to, FrameKind::Raft, box.items[0].first, box.items[0].second);
    } else {
      std::vector<BatchItem> items;
      items.reserve(box.items.size());
      for (const auto& [group, bytes] : box.items) items.push_back(BatchItem{group, bytes});
      std::vector<uint8_t> payload;
      encode_raft_batch(payload, items);
      send_frame(to, FrameKind::RaftBatch, kGroupNone, payload);
    }
    box.items.clear();
  }

  void send_frame(uint64_t to, FrameKind kind, uint32_t group, std::span<const uint8_t> payload) {
    ++frames_sent_;
    if (send_) send_(to, kind, group, payload);
  }

  void say(LogLevel level, const std::string& msg) const {
    if (opts_.log) opts_.log(level, msg);
  }

  Status open_bucket(Bucket& b) {
    BucketLog::Options lo;
    lo.dir = opts_.dir;
    lo.bucket_id = b.id;
    lo.partition_count = opts_.partition_count;
    lo.segment_size = opts_.segment_size;
    lo.env = opts_.env;
    lo.log = opts_.log;
    auto log = BucketLog::open(std::move(lo));
    if (!log) return std::unexpected(log.error());
    b.log = std::move(*log);
    BucketReplica::Options ro;
    ro.node_id = opts_.node_id;
    ro.voters = opts_.voters;
    ro.seed = static_cast<unsigned>(opts_.node_id * 1000003u + b.id * 7919u + reopens_);
    ro.election_timeout_ms = opts_.election_timeout_ms;
    ro.heartbeat_timeout_ms = opts_.heartbeat_timeout_ms;
    BucketReplica::Host host;
    const BucketId id = b.id;
    host.send = [this, id](uint64_t to, std::vector<uint8_t> bytes) {
      queue_message(to, id, std::move(bytes));
    };
    host.want_sync = [this, id] { post_sync(*buckets_.at(id)); };
    if (opts_.on_committed) {
      host.on_applied = [this, id](const AppliedTransaction&) { post_feed(*buckets_.at(id)); };
    }
    auto r = BucketReplica::open(std::move(ro), *b.log, std::move(host), now_ms());
    if (!r) {
      b.log.reset();
      return std::unexpected(r.error());
    }
    b.replica = std::move(*r);
    // The read side may lack entries the log had applied when the node stopped (their writes
    // were still in flight): it gets every applied entry again, from the first (repeats are
    // no-ops there).
    b.fed = 0;
    if (opts_.on_committed) feed(b);
    return {};
  }

  // Entries were applied: once the replica's call is over, give them to on_committed, read
  // back from the log in one pass per turn (not one read per entry).
  void post_feed(Bucket& b) {
    if (b.feed_posted) return;
    b.feed_posted = true;
    asio::post(io_, [self = shared_from_this(), id = b.id, inc = b.incarnation] {
      Bucket& bb = *self->buckets_.at(id);
      bb.feed_posted = false;
      if (self->stopped_ || bb.incarnation != inc || !bb.log) return;
      self->feed(bb);
    });
  }

  // Gives on_committed every transaction entry after `fed` up to the applied index, in order.
  void feed(Bucket& b) {
    const uint64_t applied = b.log->applied_index();
    while (b.fed < applied) {
      const uint64_t from = b.fed + 1;
      auto chunk = b.log->read_entries(from, 256, 4u << 20);
      if (!chunk || chunk->empty()) {
        say(LogLevel::Error, "bucket " + std::to_string(b.id) + ": entry " + std::to_string(from) +
                                 " cannot be read for the read side" +
                                 (chunk ? std::string() : ": " + chunk.error().to_string()));
        return;
      }
      for (const LogEntry& e : *chunk) {
        if (b.fed == applied) break;
        const uint64_t index = ++b.fed;
        if (e.type != LogEntryType::Transaction) continue;
        auto records = decode_transaction_records(e.payload);
        if (!records) {
          say(LogLevel::Error, "bucket " + std::to_string(b.id) + ": entry " +
                                   std::to_string(index) + ": " + records.error().to_string());
          return;
        }
        opts_.on_committed(b.id, index, std::move(*records));
      }
    }
  }

  // A failed call: the replica is unusable (fail-stop). Drop it; reopen from the files later.
  void check(Bucket& b, const Status& s, const char* what) {
    if (s) return;
    say(LogLevel::Error, "bucket " + std::to_string(b.id) + ": " + what + " failed: " +
                             s.error().to_string() + "; the replica stops and is reopened in " +
                             std::to_string(opts_.reopen_after_ms) + " ms");
    ++b.incarnation;
    b.replica.reset();
    b.log.reset();
    auto t = std::make_shared<asio::steady_timer>(io_);
    t->expires_after(std::chrono::milliseconds(opts_.reopen_after_ms));
    t->async_wait([self = shared_from_this(), t, id = b.id](std::error_code ec) {
      if (ec || self->stopped_) return;
      Bucket& bb = *self->buckets_.at(id);
      ++self->reopens_;
      if (auto st = self->open_bucket(bb); !st) {
        self->check(bb, st, "reopen");
      }
    });
  }

  void post_sync(Bucket& b) {
    if (b.sync_posted) return;
    b.sync_posted = true;
    asio::post(io_, [self = shared_from_this(), id = b.id, inc = b.incarnation] {
      Bucket& bb = *self->buckets_.at(id);
      bb.sync_posted = false;
      if (self->stopped_ || bb.incarnation != inc || !bb.replica) return;
      self->check(bb, bb.replica->sync_log(now_ms()), "sync");
    });
  }

  void post_flush(Bucket& b) {
    if (b.flush_posted) return;
    b.flush_posted = true;
    asio::post(io_, [self = shared_from_this(), id = b.id, inc = b.incarnation] {
      Bucket& bb = *self->buckets_.at(id);
      bb.flush_posted = false;
      if (self->stopped_ || bb.incarnation != inc || !bb.replica) return;
      self->check(bb, bb.replica->flush_proposals(now_ms()), "flush");
    });
  }

  void arm_timer() {
    const unsigned tick = opts_.tick_ms != 0 ? opts_.tick_ms : opts_.heartbeat_timeout_ms;
    // A fixed grid (not "tick after the last one ended"): heartbeats stay aligned.
    const auto clock = std::chrono::steady_clock::now();
    next_tick_ = next_tick_ == std::chrono::steady_clock::time_point{}
                     ? clock + std::chrono::milliseconds(tick)
                     : next_tick_ + std::chrono::milliseconds(tick);
    if (next_tick_ < clock) next_tick_ = clock + std::chrono::milliseconds(tick);  // fell behind
    timer_.expires_at(next_tick_);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopped_) return;
      const uint64_t now = now_ms();
      for (auto& [id, b] : self->buckets_) {
        if (b->replica && b->replica->next_timeout() <= now) {
          self->check(*b, b->replica->tick(now), "tick");
        }
      }
      self->arm_timer();
    });
  }

  asio::io_context& io_;
  Options opts_;
  Send send_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_tick_{};
  std::map<BucketId, std::unique_ptr<Bucket>> buckets_;
  std::map<uint64_t, Outbox> outbox_;  // by peer
  bool outbox_posted_ = false;
  bool stopped_ = false;
};

Result<std::unique_ptr<ReplicaSet>> ReplicaSet::open(asio::io_context& io, Options options,
                                                     Send send) {
  if (options.node_id == 0 || options.voters.empty() || options.buckets.empty()) {
    return make_error(Errc::InvalidArgument, "a replica set needs a node id, voters and buckets");
  }
  auto impl = std::make_shared<Impl>(io, std::move(options), std::move(send));
  if (auto s = impl->open(); !s) {
    impl->stop();
    return std::unexpected(s.error());
  }
  return std::make_unique<ReplicaSet>(PassKey{}, std::move(impl));
}

ReplicaSet::ReplicaSet(PassKey, std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReplicaSet::~ReplicaSet() {
  if (impl_) impl_->stop();
}
void ReplicaSet::on_frame(uint64_t from, const Frame& frame) {
  impl_->on_frame(from, frame);
}
void ReplicaSet::append(BucketId bucket, PartitionId pid, Transaction tx,
                        BucketReplica::AppendCallback done) {
  impl_->append(bucket, pid, std::move(tx), std::move(done));
}
ReplicaSet::BucketStatus ReplicaSet::status(BucketId bucket) const {
  return impl_->status(bucket);
}
const BucketLog* ReplicaSet::log(BucketId bucket) const {
  return impl_->log(bucket);
}
uint64_t ReplicaSet::reopens() const {
  return impl_->reopens_;
}
uint64_t ReplicaSet::messages_sent() const {
  return impl_->messages_sent_;
}
uint64_t ReplicaSet::frames_sent() const {
  return impl_->frames_sent_;
}
void ReplicaSet::stop() {
  impl_->stop();
}

}  // namespace sierra::cluster
