#include "server/commands/transaction_commands.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/commands/append_commands.hpp"
#include "server/commands/arguments.hpp"
#include "server/commands/authorize.hpp"
#include "server/commands/routing_key.hpp"

namespace sierra::server {

namespace {

// Most commands one transaction may queue (Redis has no limit; this bounds a connection's
// memory and EXEC's work).
constexpr std::size_t kMaxQueued = 10000;

std::string upper(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& ch : out) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return out;
}

bool is_control(const CommandSpec& spec) {
  return spec.name == "MULTI" || spec.name == "EXEC" || spec.name == "DISCARD" ||
         spec.name == "WATCH" || spec.name == "UNWATCH";
}

// What may run inside EXEC: appends, reads that are not subscriptions, and the commands that
// only compute their reply. Commands that change the session (HELLO, CLIENT, SELECT, QUIT),
// subscriptions and SHUTDOWN are refused at queue time.
bool allowed_in_multi(const CommandSpec& spec) {
  if (spec.has(kSubscription)) return false;
  if (spec.appends() || spec.has(kRead)) return true;
  return spec.name == "PING" || spec.name == "ECHO" || spec.name == "INFO" ||
         spec.name == "COMMAND";
}

std::optional<WatchedStream> current_version(ServerContext& ctx, std::string_view stream,
                                             std::string& error) {
  WatchedStream w;
  w.stream_id = std::string(stream);
  w.partition = partition_id_for_hash(partition_hash(partition_key_for_stream(stream)),
                                      ctx.db->partition_count());
  if (!ctx.db->owns_partition(w.partition)) {
    error = "partition unavailable";
    return std::nullopt;
  }
  auto v = ctx.db->get_stream_version(w.partition, stream);
  if (!v) {
    error = v.error().message;
    return std::nullopt;
  }
  if (*v) w.version = (*v)->version;
  return w;
}

class ExecRun;

// The client as EXEC's steps see it: the connection's, except that a read the connection skips
// because it closed meanwhile (ClientLink::track_read) abandons the EXEC, which would otherwise
// wait for that step forever and keep the connection alive.
class StepClient final : public ClientLink {
 public:
  StepClient(std::shared_ptr<ClientLink> real, std::weak_ptr<ExecRun> run, ReplyPtr step)
      : real_(std::move(real)), run_(std::move(run)), step_(std::move(step)) {}
  uint64_t client_id() const override { return real_->client_id(); }
  void push(std::string bytes) override { real_->push(std::move(bytes)); }
  void on_close(std::function<void()> cb) override { real_->on_close(std::move(cb)); }
  bool closed() const override { return real_->closed(); }
  std::size_t pending_bytes() const override { return real_->pending_bytes(); }
  std::function<void()> track_read(std::function<void()> job) override;
  std::shared_ptr<ClientLink> share() override { return real_->share(); }

 private:
  std::shared_ptr<ClientLink> real_;
  std::weak_ptr<ExecRun> run_;
  ReplyPtr step_;
};

// One EXEC in progress: runs the queued commands in order, each into its own reply, then writes
// the array of those replies into EXEC's reply. Steps run on the connection's strand, or on the
// thread that finished the previous step (the commands allowed here do not touch the session).
class ExecRun : public std::enable_shared_from_this<ExecRun> {
 public:
  ExecRun(ServerContext& server, Session& session, ReplyPtr reply,
          std::shared_ptr<ClientLink> client, std::vector<QueuedCommand> queued)
      : server_(server),
        session_(session),
        reply_(std::move(reply)),
        client_(std::move(client)),
        queued_(std::move(queued)) {
    for (std::size_t i = 0; i < queued_.size(); ++i) {
      subs_.push_back(std::make_shared<Reply>(reply_->protocol()));
      if (queued_[i].spec->appends() && first_append_ == kNone) first_append_ = i;
    }
  }

  // Checks and prepares the appends; false if EXEC was answered (CROSSSLOT).
  bool prepare(const std::vector<WatchedStream>& watched) {
    std::set<PartitionId> partitions;
    for (const QueuedCommand& q : queued_) {
      if (!q.spec->appends()) continue;
      const std::vector<std::string_view> args = views(q);
      if (auto key = routing_key(*q.spec, args)) {
        if (auto pid = routing_partition(*key, server_.db->partition_count())) {
          partitions.insert(*pid);
        }
      }
    }
    if (partitions.size() > 1) {
      reply_error(reply_, "CROSSSLOT",
                  "Keys in request don't hash to the same partition: the appends of a "
                  "transaction must all go to one partition (one partition key)");
      return false;
    }
    std::optional<std::size_t> failed;
    for (std::size_t i = 0; i < queued_.size(); ++i) {
      const QueuedCommand& q = queued_[i];
      if (!q.spec->appends()) continue;
      auto p = prepare_append(server_, views(q));
      if (!p) {
        subs_[i]->writer().error(p.error().code, p.error().message);
        failed = failed.value_or(i);
        prepared_.emplace_back();
        continue;
      }
      prepared_.push_back(std::move(*p));
      append_index_.push_back(i);
    }
    if (!failed && !prepared_.empty()) {
      for (const PreparedAppend& p : prepared_) {
        if (p.key != prepared_.front().key) {
          reply_error(reply_, "CROSSSLOT",
                      "the appends of a transaction must share one partition key (they are "
                      "one engine transaction, as EMAPPEND's events)");
          return false;
        }
      }
      // A watched stream appended to without an expected version gets the watched version as
      // its expected version: the engine checks it atomically with the append.
      for (PreparedAppend& p : prepared_) {
        for (NewEvent& e : p.events) {
          if (e.expected_version.kind != ExpectedVersion::Kind::Any) continue;
          for (const WatchedStream& w : watched) {
            if (w.partition == p.pid && w.stream_id == e.stream_id) {
              e.expected_version =
                  w.version ? ExpectedVersion::exact(*w.version) : ExpectedVersion::empty();
              watch_checked_ = true;
            }
          }
        }
      }
    }
    if (failed) {
      // Nothing is written: the other appends answer why.
      const std::string why =
          "not written: command " + std::to_string(*failed + 1) + " of the transaction failed";
      for (std::size_t i = 0; i < queued_.size(); ++i) {
        // The appends that failed to prepare already hold their own error.
        if (queued_[i].spec->appends() && subs_[i]->bytes().empty()) {
          subs_[i]->writer().error("EXECABORT", why);
        }
      }
      prepared_.clear();
      append_failed_ = true;
    }
    watched_ = watched;
    return true;
  }

  // Keeps itself alive until EXEC's reply is written (the steps' replies only hold it weakly:
  // they belong to it).
  void start() {
    {
      std::lock_guard lock(keep_mu_);
      keep_ = shared_from_this();
    }
    advance();
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  static std::vector<std::string_view> views(const QueuedCommand& q) {
    return std::vector<std::string_view>(q.args.begin(), q.args.end());
  }

  void advance() {
    auto self = shared_from_this();
    while (next_ < queued_.size()) {
      const std::size_t i = next_;
      const QueuedCommand& q = queued_[i];
      if (q.spec->appends()) {
        if (i == first_append_ && !append_failed_) {
          submit();
          return;  // the engine's callback goes on
        }
        ++next_;  // answered by the transaction (or its failure)
        continue;
      }
      running_.store(true, std::memory_order_release);
      subs_[i]->set_on_finish([weak = weak_from_this()] {
        auto run = weak.lock();
        if (!run || run->running_.exchange(false, std::memory_order_acq_rel)) return;
        ++run->next_;
        run->advance();
      });
      const std::vector<std::string_view> args = views(q);
      std::optional<StepClient> step_client;
      if (client_) step_client.emplace(client_, weak_from_this(), subs_[i]);
      CommandContext c{server_, session_, args, subs_[i], step_client ? &*step_client : nullptr};
      run_command(*q.spec, c);
      if (running_.exchange(false, std::memory_order_acq_rel)) return;  // finishes later
      ++next_;
    }
    finish();
  }

  void submit() {
    std::vector<NewEvent> events;
    for (PreparedAppend& p : prepared_) {
      for (NewEvent& e : p.events) events.push_back(std::move(e));
      p.events.clear();
    }
    auto tx = Transaction::make(std::move(events));
    if (!tx) return complete(append_failure(tx.error()), {});
    auto self = shared_from_this();
    server_.db->append_events_async(prepared_.front().pid, std::move(*tx),
                                    [self](Result<AppendResult> result) {
                                      if (!result)
                                        return self->complete(append_failure(result.error()), {});
                                      self->complete(std::nullopt, std::move(*result));
                                    });
  }

  // The transaction's outcome: every append's reply, then the commands after the first append.
  void complete(std::optional<AppendFailure> failure, AppendResult result) {
    if (failure && failure->code == "WRONGVER" && watch_checked_ && watch_changed()) {
      aborted_ = true;  // a watched stream moved: EXEC's null reply
    }
    std::size_t offset = 0;
    for (std::size_t k = 0; k < prepared_.size(); ++k) {
      const PreparedAppend& p = prepared_[k];
      auto w = subs_[append_index_[k]]->writer();
      if (failure) {
        w.error(failure->code, failure->message);
        continue;
      }
      const std::size_t n = p.reply_events.size();
      std::span<const uint64_t> versions(result.stream_versions);
      versions = offset < versions.size() ? versions.subspan(offset) : std::span<const uint64_t>();
      write_append_reply(w, p, result.first_partition_sequence + offset,
                         versions.subspan(0, std::min(n, versions.size())));
      offset += n;
    }
    if (!failure) {
      server_.stats.events_appended.fetch_add(offset, std::memory_order_relaxed);
    }
    ++next_;
    advance();
  }

  bool watch_changed() {
    for (const WatchedStream& w : watched_) {
      std::string error;
      auto now = current_version(server_, w.stream_id, error);
      if (!now || now->version != w.version) return true;
    }
    return false;
  }

  void finish() {
    auto w = reply_->writer();
    if (aborted_) {
      w.null();
    } else {
      w.array(subs_.size());
      for (const ReplyPtr& s : subs_) w.raw(s->bytes());
    }
    reply_->finish();
    abandon();  // advance() still holds it
  }

 public:
  // Drops the self-reference (EXEC finished, or its connection closed).
  void abandon() {
    std::shared_ptr<ExecRun> last;
    std::lock_guard lock(keep_mu_);
    last.swap(keep_);
  }

 private:
  ServerContext& server_;
  Session& session_;
  ReplyPtr reply_;
  std::shared_ptr<ClientLink> client_;
  std::mutex keep_mu_;
  std::shared_ptr<ExecRun> keep_;  // guarded by keep_mu_
  std::vector<QueuedCommand> queued_;
  std::vector<ReplyPtr> subs_;
  std::vector<PreparedAppend> prepared_;
  std::vector<std::size_t> append_index_;  // queued_ index of each prepared_ entry
  std::vector<WatchedStream> watched_;
  std::size_t first_append_ = kNone;
  std::size_t next_ = 0;
  std::atomic<bool> running_{false};
  bool append_failed_ = false;
  bool watch_checked_ = false;
  bool aborted_ = false;
};

std::function<void()> StepClient::track_read(std::function<void()> job) {
  return [inner = real_->track_read(std::move(job)), real = real_, run = run_, step = step_] {
    inner();
    if (!step->done() && real->closed()) {
      if (auto r = run.lock()) r->abandon();
    }
  };
}

void reset(MultiState& m) {
  m = MultiState{};
}

}  // namespace

bool queue_in_multi(CommandContext& c, const CommandSpec* spec) {
  MultiState& m = c.session.multi;
  if (!m.active || spec == nullptr || is_control(*spec)) return false;
  const ReplyPtr& reply = c.reply;
  // Permissions are checked when a command is queued, as Redis does (a refused command makes
  // EXEC answer EXECABORT): the queued appends run as one engine transaction at EXEC, not
  // through run_command.
  if (auto refused = authorize(*spec, c.args, c.session, c.server.users)) {
    m.failed = true;
    if (refused->close) c.session.close_after_reply = true;
    reply_error(reply, refused->code, refused->message);
    return true;
  }
  if (!arity_ok(spec->arity, c.args.size())) {
    m.failed = true;
    reply_error(reply, "INVALIDARG",
                "wrong number of arguments for '" + upper(c.args[0]) + "' command");
    return true;
  }
  if (!allowed_in_multi(*spec)) {
    m.failed = true;
    reply_error(reply, "ERR",
                "Command not allowed inside a transaction: '" + std::string(spec->name) + "'");
    return true;
  }
  if (m.queued.size() >= kMaxQueued) {
    m.failed = true;
    reply_error(
        reply, "ERR",
        "too many commands in the transaction (at most " + std::to_string(kMaxQueued) + ")");
    return true;
  }
  QueuedCommand q;
  q.spec = spec;
  q.args.assign(c.args.begin(), c.args.end());
  m.queued.push_back(std::move(q));
  reply->writer().simple("QUEUED");
  reply->finish();
  return true;
}

void cmd_multi(CommandContext& c) {
  MultiState& m = c.session.multi;
  if (m.active) return reply_error(c.reply, "ERR", "MULTI calls can not be nested");
  m.active = true;
  m.failed = false;
  m.queued.clear();
  c.reply->writer().simple("OK");
  c.reply->finish();
}

void cmd_discard(CommandContext& c) {
  MultiState& m = c.session.multi;
  if (!m.active) return reply_error(c.reply, "ERR", "DISCARD without MULTI");
  reset(m);
  c.reply->writer().simple("OK");
  c.reply->finish();
}

void cmd_watch(CommandContext& c) {
  MultiState& m = c.session.multi;
  if (m.active) return reply_error(c.reply, "ERR", "WATCH inside MULTI is not allowed");
  std::vector<WatchedStream> streams;
  for (std::size_t i = 1; i < c.args.size(); ++i) {
    auto id = parse_stream_id(c.args[i]);
    if (!id) return reply_error(c.reply, "INVALIDARG", id.error().message);
    std::string error;
    auto w = current_version(c.server, *id, error);
    if (!w) return reply_error(c.reply, "CLUSTERDOWN", error);
    streams.push_back(std::move(*w));
  }
  for (auto& w : streams) m.watched.push_back(std::move(w));
  c.reply->writer().simple("OK");
  c.reply->finish();
}

void cmd_unwatch(CommandContext& c) {
  c.session.multi.watched.clear();
  c.reply->writer().simple("OK");
  c.reply->finish();
}

void cmd_exec(CommandContext& c) {
  MultiState& m = c.session.multi;
  if (!m.active) return reply_error(c.reply, "ERR", "EXEC without MULTI");
  MultiState taken = std::move(m);
  reset(m);
  if (taken.failed) {
    return reply_error(c.reply, "EXECABORT", "Transaction discarded because of previous errors.");
  }
  // WATCH: a watched stream whose version moved since WATCH fails the transaction, unwritten.
  for (const WatchedStream& w : taken.watched) {
    std::string error;
    auto now = current_version(c.server, w.stream_id, error);
    if (!now || now->version != w.version) {
      c.reply->writer().null();
      c.reply->finish();
      return;
    }
  }
  auto run = std::make_shared<ExecRun>(c.server, c.session, c.reply,
                                       c.client != nullptr ? c.client->share() : nullptr,
                                       std::move(taken.queued));
  if (!run->prepare(taken.watched)) return;
  run->start();
}

}  // namespace sierra::server
