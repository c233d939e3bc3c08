// The driver of one bucket's C-Raft core (bucket_replica.hpp). Every step's update is carried
// out in the order CLUSTER §3.6 requires: term/vote durable, then entries written (truncating
// first), then messages sent; entries are reported persisted only after the log's fsync, and
// applied only up to min(commit, durable). docs/CLUSTER.md "Driver" maps each obligation to the
// code below and to the simulation's mutation test that shows it matters.
#include "cluster/bucket_replica.hpp"

#include <algorithm>
#include <deque>
#include <limits>
#include <string>
#include <utility>

#include "cluster/raft_shim.h"

namespace sierra::cluster {
namespace {

struct CoreDeleter {
  void operator()(raft_shim_core* c) const { raft_shim_destroy(c); }
};
using CorePtr = std::unique_ptr<raft_shim_core, CoreDeleter>;

Error shim_error(int rv, const char* what, const raft_shim_core* core) {
  std::string msg = std::string(what) + ": " + raft_shim_strerror(rv);
  if (core != nullptr) {
    const char* detail = raft_shim_errmsg(core);
    if (detail != nullptr && *detail != '\0') msg += std::string(" (") + detail + ")";
  }
  return Error{Errc::Io, std::move(msg), 0, 0};
}

std::unexpected<Error> fail_with(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message), 0, 0});
}

// Reads the whole log for the core's start: terms and types of every entry, and the payloads
// of configuration entries (the core reads nothing else at start).
struct StartEntries {
  std::vector<LogEntry> owned;
  std::vector<raft_shim_entry> views;
};

Result<StartEntries> read_for_start(const ReplicatedLog& log) {
  StartEntries out;
  const uint64_t last = log.last_index();
  out.owned.reserve(last);
  for (uint64_t next = 1; next <= last;) {
    auto chunk = log.read_entries(next, 4096, 64u << 20);
    if (!chunk) return std::unexpected(chunk.error());
    if (chunk->empty())
      return fail_with(Errc::Io, "log returned no entries at " + std::to_string(next));
    for (auto& e : *chunk) {
      if (e.type != LogEntryType::Configuration) e.payload.clear();
      out.owned.push_back(std::move(e));
    }
    next += chunk->size();
  }
  out.views.reserve(out.owned.size());
  for (const auto& e : out.owned)
    out.views.push_back({e.term, static_cast<uint8_t>(e.type), e.payload.data(), e.payload.size()});
  return out;
}

}  // namespace

class BucketReplica::Impl {
 public:
  Impl(Options options, ReplicatedLog& log, Host host)
      : opt_(std::move(options)), log_(log), host_(std::move(host)) {}

  ~Impl() {
    // Everything still waiting learns that this replica will not answer it.
    fail_queue(Error{Errc::NotLeader, "the replica stopped; nothing was proposed", 0, 0});
    if (first_pending_ != 0)
      log_.abandon_proposals(first_pending_, Error{Errc::OutcomeUnknown,
                                                   "the replica stopped with the append pending; "
                                                   "it may or may not commit: retry with the "
                                                   "same event ids",
                                                   0, 0});
  }

  Status open(uint64_t now) {
    raft_shim_options so{};
    so.election_timeout_ms = opt_.election_timeout_ms;
    so.heartbeat_timeout_ms = opt_.heartbeat_timeout_ms;
    so.pre_vote = opt_.pre_vote ? 1 : 0;
    core_.reset(raft_shim_create(opt_.node_id, opt_.seed, &so, &Impl::load, this));
    if (core_ == nullptr) return fail_with(Errc::InvalidArgument, "cannot create the raft core");

    VoteState vote = opt_.mutation == Mutation::SkipVoteSync ? VoteState{} : log_.vote_state();
    if (log_.last_index() == 0) {
      // Bootstrap: every member starts from term 1 with the same configuration at index 1.
      if (opt_.voters.empty() ||
          std::find(opt_.voters.begin(), opt_.voters.end(), opt_.node_id) == opt_.voters.end())
        return fail_with(Errc::InvalidArgument, "the voters must include this node");
      uint8_t* conf = nullptr;
      size_t conf_len = 0;
      int rv =
          raft_shim_encode_configuration(opt_.voters.data(), opt_.voters.size(), &conf, &conf_len);
      if (rv != 0) return std::unexpected(shim_error(rv, "encode configuration", nullptr));
      std::vector<uint8_t> bytes(conf, conf + conf_len);
      raft_shim_free(conf);
      if (vote.term == 0) {
        vote = {1, 0};
        if (opt_.mutation != Mutation::SkipVoteSync)
          if (auto st = log_.save_vote_state(vote); !st) return st;
      }
      LogEntryRef boot{1, LogEntryType::Configuration, bytes};
      if (auto st = log_.append(1, std::span(&boot, 1)); !st) return st;
      if (auto st = log_.sync(); !st) return st;
    }
    // The core takes every entry given at start as persisted (obligation 2): make them so.
    if (log_.durable_index() < log_.last_index())
      if (auto st = log_.sync(); !st) return st;
    auto start = read_for_start(log_);
    if (!start) return std::unexpected(start.error());
    if (vote.term == 0 && !start->owned.empty()) {
      // Entries but no saved vote (only under SkipVoteSync, or a crash during bootstrap): the
      // node never voted, so its term is at least its last entry's.
      vote.term = start->owned.back().term;
      vote.voted_for = 0;
    }
    vote_ = vote;
    asked_to_ = log_.last_index();
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_start(core_.get(), now, vote.term, vote.voted_for, nullptr, 1,
                             start->views.data(), start->views.size(), &u);
    if (rv != 0) return std::unexpected(shim_error(rv, "start", core_.get()));
    return after_step(now, u);
  }

  Status receive(uint64_t now, std::span<const uint8_t> bytes) {
    if (failed_) return std::unexpected(*failed_);
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_receive(core_.get(), now, bytes.data(), bytes.size(), &u);
    if (rv == RAFT_SHIM_MALFORMED)  // the core did not step: the replica stays usable
      return fail_with(Errc::InvalidArgument, "malformed raft message dropped");
    if (rv != 0) return fail(shim_error(rv, "receive", core_.get()));

    return after_step(now, u);
  }

  Status tick(uint64_t now) {
    if (failed_) return std::unexpected(*failed_);
    if (now < raft_shim_next_timeout(core_.get())) return {};
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_timeout(core_.get(), now, &u);
    if (rv != 0) return fail(shim_error(rv, "timeout", core_.get()));
    return after_step(now, u);
  }

  Status sync_log(uint64_t now) {
    if (failed_) return std::unexpected(*failed_);
    if (log_.durable_index() < log_.last_index()) {
      stats_.syncs++;
      if (auto st = log_.sync(); !st) return fail(st.error());
    }
    if (auto st = report_persisted(now); !st) return st;
    return apply_committed(now);
  }

  void append(PartitionId pid, Transaction tx, AppendCallback done) {
    if (failed_) {
      done(std::unexpected(
          Error{Errc::NotLeader, "the replica stopped; nothing was proposed", 0, 0}));
      return;
    }
    if (role_ != Role::Leader) {
      done(std::unexpected(not_leader()));
      return;
    }
    if (queue_.size() >= opt_.max_queued) {
      done(std::unexpected(
          Error{Errc::Busy, "too many appends waiting for this bucket; retry later", 0, 0}));
      return;
    }
    queue_.push_back({pid, std::move(tx), std::move(done)});
  }

  Status flush_proposals(uint64_t now) {
    if (failed_) return std::unexpected(*failed_);
    if (role_ != Role::Leader) {
      fail_queue(not_leader());
      return {};
    }
    if (!ready_) return {};  // waiting for the leader barrier to apply
    while (!queue_.empty()) {
      if (auto st = submit_batch(now); !st) return st;
      if (role_ != Role::Leader) {
        fail_queue(not_leader());
        break;
      }
    }
    return {};
  }

  uint64_t node_id() const { return opt_.node_id; }
  uint64_t next_timeout() const { return core_ ? raft_shim_next_timeout(core_.get()) : 0; }
  Role role() const { return role_; }
  uint64_t leader_id() const { return leader_; }
  uint64_t term() const { return core_ ? raft_shim_term(core_.get()) : 0; }
  uint64_t commit_index() const { return core_ ? raft_shim_commit_index(core_.get()) : 0; }
  uint64_t applied_index() const { return log_.applied_index(); }
  bool ready() const { return role_ == Role::Leader && ready_; }
  const Stats& stats() const { return stats_; }

 private:
  struct Queued {
    PartitionId pid;
    Transaction tx;
    AppendCallback done;
  };

  Error not_leader() const {
    std::string msg = "this replica does not lead the bucket";
    if (leader_ != 0 && leader_ != opt_.node_id)
      msg += "; the leader is node " + std::to_string(leader_);
    return Error{Errc::NotLeader, std::move(msg), 0, 0};
  }

  std::unexpected<Error> fail(Error e) {
    if (!failed_) failed_ = e;
    return std::unexpected(std::move(e));
  }

  void fail_queue(const Error& why) {
    std::deque<Queued> q;
    q.swap(queue_);
    for (auto& item : q) item.done(std::unexpected(why));
  }

  // The loader's entries must stay valid until the step returns: kept until the next step.
  void begin_step() { loaded_.clear(); }

  static int load(void* ctx, uint64_t first, uint32_t n, raft_shim_entry* out) {
    auto* self = static_cast<Impl*>(ctx);
    if (first == 0 || n == 0 || first + n - 1 > self->log_.last_index()) return -1;
    auto got = self->log_.read_entries(first, n, std::numeric_limits<size_t>::max());
    if (!got || got->size() != n) return -1;
    self->loaded_.push_back(std::move(*got));
    const auto& es = self->loaded_.back();
    for (uint32_t i = 0; i < n; i++)
      out[i] = {es[i].term, static_cast<uint8_t>(es[i].type), es[i].payload.data(),
                es[i].payload.size()};
    return 0;
  }

  // Carries out `u` and everything it leads to (persisted reports under a mutation, applying,
  // the leader barrier, queued proposals).
  Status after_step(uint64_t now, const raft_shim_update* u) {
    for (int depth = 0; u != nullptr; depth++) {
      if (depth > 64)
        return fail(Error{Errc::InvariantViolation, "update loop did not settle", 0, 0});
      auto next = handle(now, *u);
      if (!next) return std::unexpected(next.error());
      u = *next;
    }
    if (auto st = apply_committed(now); !st) return st;
    return after_role(now);
  }

  // One update, in the obligations' order. Returns the update of a follow-up step, if any.
  Result<const raft_shim_update*> handle(uint64_t now, const raft_shim_update& u) {
    // Obligation 1: term and vote durable before any message of this step leaves.
    if ((u.flags & RAFT_SHIM_UPDATE_TERM_VOTE) != 0 || u.term != vote_.term) {
      VoteState next{u.term, u.voted_for};
      if (next != vote_) {
        if (opt_.mutation != Mutation::SkipVoteSync)
          if (auto st = log_.save_vote_state(next); !st) return fail(st.error());
        vote_ = next;
      }
    }
    // Obligation 2: entries written (a first index at or below the last one truncates the
    // uncommitted suffix first); reported persisted only after sync_log's fsync.
    bool wrote = false;
    if ((u.flags & RAFT_SHIM_UPDATE_ENTRIES) != 0 && u.n_entries > 0) {
      if (u.first_index <= known_commit_ || u.first_index <= log_.applied_index())
        return fail(Error{
            Errc::InvariantViolation,
            "the core asked to overwrite committed entry " + std::to_string(u.first_index), 0, 0});
      if (u.first_index <= log_.last_index() && first_pending_ != 0 &&
          u.first_index <= last_pending_)
        abandon_from(u.first_index);
      std::vector<LogEntryRef> refs;
      refs.reserve(u.n_entries);
      for (size_t i = 0; i < u.n_entries; i++)
        refs.push_back({u.entries[i].term, static_cast<LogEntryType>(u.entries[i].type),
                        std::span(u.entries[i].data, u.entries[i].len)});
      if (auto st = log_.append(u.first_index, refs); !st) return fail(st.error());
      if (log_.last_index() != u.last_index)
        return fail(Error{Errc::InvariantViolation,
                          "after writing " + std::to_string(u.first_index) + ".." +
                              std::to_string(u.first_index + u.n_entries - 1) +
                              " the log ends at " + std::to_string(log_.last_index()) +
                              ", the core's at " + std::to_string(u.last_index),
                          0, 0});
      asked_to_ = u.first_index + u.n_entries - 1;
      wrote = true;
      if (host_.want_sync) host_.want_sync();
    }
    // Messages (obligation 3, filling AppendEntries from the log, happens inside the step
    // through load()).
    stats_.loaded_messages += u.n_loaded_messages;
    for (size_t i = 0; i < u.n_messages; i++) {
      const raft_shim_message& m = u.messages[i];
      stats_.messages_sent++;
      if (host_.send) host_.send(m.to, std::vector<uint8_t>(m.bytes, m.bytes + m.len));
    }
    known_commit_ = std::max(known_commit_, u.commit_index);
    note_role(u);
    if (wrote && opt_.mutation == Mutation::PersistedBeforeSync) {
      const raft_shim_update* next = nullptr;
      begin_step();
      int rv = raft_shim_persisted(core_.get(), now, asked_to_, &next);
      if (rv != 0) return fail(shim_error(rv, "persisted", core_.get()));
      return next;
    }
    return static_cast<const raft_shim_update*>(nullptr);
  }

  void note_role(const raft_shim_update& u) {
    const auto role = static_cast<Role>(u.role);
    leader_ = u.leader_id;
    if (role != role_ || (role == Role::Leader && u.term != leader_term_)) {
      const bool was_leader = role_ == Role::Leader;
      role_ = role;
      if (was_leader) lost_leadership();
      if (role_ == Role::Leader) {
        leader_term_ = u.term;
        need_barrier_ = true;
        ready_ = false;
        barrier_index_ = 0;
      }
    }
  }

  void lost_leadership() {
    ready_ = false;
    need_barrier_ = false;
    barrier_index_ = 0;
    if (first_pending_ != 0) abandon_from(first_pending_);
    fail_queue(not_leader());
  }

  void abandon_from(uint64_t index) {
    log_.abandon_proposals(index, Error{Errc::OutcomeUnknown,
                                        "leadership of the bucket was lost with the append "
                                        "pending; it may or may not commit: retry with the same "
                                        "event ids",
                                        0, 0});
    if (index <= first_pending_) {
      first_pending_ = 0;
      last_pending_ = 0;
    } else {
      last_pending_ = index - 1;
    }
  }

  // Obligation 7: a new leader submits a barrier and proposes nothing until it has applied.
  Status after_role(uint64_t now) {
    if (role_ != Role::Leader || !need_barrier_) return {};
    need_barrier_ = false;
    if (opt_.mutation == Mutation::SkipLeaderBarrier) {
      ready_ = true;
      return flush_proposals(now);
    }
    uint64_t index = 0;
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_submit_barrier(core_.get(), now, &index, &u);
    if (rv == RAFT_SHIM_NOTLEADER) return {};
    if (rv != 0) return fail(shim_error(rv, "submit barrier", core_.get()));
    barrier_index_ = index;
    return after_step(now, u);
  }

  Status report_persisted(uint64_t now) {
    // The core's own record of what it takes as persisted is the reference: it lowers it
    // itself when it truncates a conflicting suffix.
    const uint64_t upto =
        std::min({log_.durable_index(), asked_to_, raft_shim_last_index(core_.get())});
    if (upto <= raft_shim_last_stored(core_.get())) return {};
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_persisted(core_.get(), now, upto, &u);
    if (rv != 0) return fail(shim_error(rv, "persisted", core_.get()));
    return after_step(now, u);
  }

  // Obligation 4: applied only up to what is both committed and durable here.
  Status apply_committed(uint64_t now) {
    uint64_t target = std::min(
        raft_shim_commit_index(core_.get()),
        opt_.mutation == Mutation::ApplyBeforeDurable ? log_.last_index() : log_.durable_index());
    if (target > log_.applied_index()) {
      if (auto st = log_.apply(target, host_.on_applied); !st) return fail(st.error());
      if (first_pending_ != 0 && log_.applied_index() >= last_pending_) {
        first_pending_ = 0;
        last_pending_ = 0;
      } else if (first_pending_ != 0 && log_.applied_index() >= first_pending_) {
        first_pending_ = log_.applied_index() + 1;
      }
    }
    if (role_ == Role::Leader && !ready_ && barrier_index_ != 0 &&
        log_.applied_index() >= barrier_index_) {
      ready_ = true;
      return flush_proposals(now);
    }
    return {};
  }

  Status submit_batch(uint64_t now) {
    const uint64_t term = raft_shim_term(core_.get());
    const uint64_t first = raft_shim_last_index(core_.get()) + 1;
    std::vector<Proposal> proposals;
    while (!queue_.empty() && proposals.size() < opt_.max_batch) {
      Queued item = std::move(queue_.front());
      queue_.pop_front();
      AppendCallback done = std::move(item.done);
      if (opt_.mutation == Mutation::AckBeforeCommit) {
        // Broken on purpose: the client hears "ok" as soon as the entry is proposed.
        auto shared = std::make_shared<AppendCallback>(std::move(done));
        auto proposal = log_.propose(item.pid, std::move(item.tx), first + proposals.size(), term,
                                     [shared](Result<AppendResult> r) {
                                       if (*shared) (*shared)(std::move(r));
                                     });
        if (proposal) {
          auto early = std::move(*shared);
          *shared = nullptr;
          early(proposal->result);
          proposals.push_back(std::move(*proposal));
        }
        continue;
      }
      auto proposal = log_.propose(item.pid, std::move(item.tx), first + proposals.size(), term,
                                   std::move(done));
      if (proposal) proposals.push_back(std::move(*proposal));
    }
    if (proposals.empty()) return {};
    std::vector<raft_shim_entry> entries;
    entries.reserve(proposals.size());
    for (const auto& p : proposals)
      entries.push_back({0, RAFT_SHIM_COMMAND, p.payload.data(), p.payload.size()});
    uint64_t index = 0;
    const raft_shim_update* u = nullptr;
    begin_step();
    int rv = raft_shim_submit(core_.get(), now, entries.data(), entries.size(), &index, &u);
    if (rv != 0) {
      // Not in the log: a definite "not proposed".
      log_.abandon_proposals(first,
                             rv == RAFT_SHIM_NOTLEADER
                                 ? not_leader()
                                 : Error{Errc::Io, "submit failed: nothing was proposed", 0, 0});
      if (rv == RAFT_SHIM_NOTLEADER) return {};
      return fail(shim_error(rv, "submit", core_.get()));
    }
    if (index != first)
      return fail(
          Error{Errc::InvariantViolation,
                "submitted at " + std::to_string(index) + ", proposed for " + std::to_string(first),
                0, 0});
    if (first_pending_ == 0) first_pending_ = first;
    last_pending_ = first + proposals.size() - 1;
    stats_.submits++;
    stats_.entries_submitted += proposals.size();
    return after_step(now, u);
  }

  Options opt_;
  ReplicatedLog& log_;
  Host host_;
  CorePtr core_;
  std::optional<Error> failed_;
  VoteState vote_;
  Role role_ = Role::Unavailable;
  uint64_t leader_ = 0;
  uint64_t leader_term_ = 0;
  bool need_barrier_ = false;
  bool ready_ = false;
  uint64_t barrier_index_ = 0;
  uint64_t asked_to_ = 0;       // last index an entries update wrote
  uint64_t known_commit_ = 0;   // commit index as of the last update handled
  uint64_t first_pending_ = 0;  // proposals of this leadership not applied yet: [first, last]
  uint64_t last_pending_ = 0;
  std::deque<Queued> queue_;
  std::vector<std::vector<LogEntry>> loaded_;
  Stats stats_;
};

Result<std::unique_ptr<BucketReplica>> BucketReplica::open(Options options, ReplicatedLog& log,
                                                           Host host, uint64_t now_ms) {
  if (options.node_id == 0) return fail_with(Errc::InvalidArgument, "node id must be > 0");
  auto impl = std::make_unique<Impl>(std::move(options), log, std::move(host));
  if (auto st = impl->open(now_ms); !st) return std::unexpected(st.error());
  return std::unique_ptr<BucketReplica>(new BucketReplica(std::move(impl)));
}

BucketReplica::BucketReplica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BucketReplica::~BucketReplica() = default;

Status BucketReplica::receive(uint64_t now_ms, std::span<const uint8_t> bytes) {
  return impl_->receive(now_ms, bytes);
}
Status BucketReplica::tick(uint64_t now_ms) {
  return impl_->tick(now_ms);
}
Status BucketReplica::sync_log(uint64_t now_ms) {
  return impl_->sync_log(now_ms);
}
void BucketReplica::append(PartitionId pid, Transaction tx, AppendCallback done) {
  impl_->append(pid, std::move(tx), std::move(done));
}
Status BucketReplica::flush_proposals(uint64_t now_ms) {
  return impl_->flush_proposals(now_ms);
}
uint64_t BucketReplica::node_id() const {
  return impl_->node_id();
}
uint64_t BucketReplica::next_timeout() const {
  return impl_->next_timeout();
}
Role BucketReplica::role() const {
  return impl_->role();
}
uint64_t BucketReplica::leader_id() const {
  return impl_->leader_id();
}
uint64_t BucketReplica::term() const {
  return impl_->term();
}
uint64_t BucketReplica::commit_index() const {
  return impl_->commit_index();
}
uint64_t BucketReplica::applied_index() const {
  return impl_->applied_index();
}
bool BucketReplica::ready() const {
  return impl_->ready();
}
const BucketReplica::Stats& BucketReplica::stats() const {
  return impl_->stats();
}

}  // namespace sierra::cluster
