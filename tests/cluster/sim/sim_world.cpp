#include "cluster/sim/sim_world.hpp"
#include "cluster/raft_shim.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

namespace sierra::test::sim {

namespace {

using cluster::BucketReplica;
using cluster::Role;

std::string str(uint64_t v) {
  return std::to_string(v);
}

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kUnixBaseMs = 1'700'000'000'000;  // event ids embed a plausible Unix time

}  // namespace

FaultMix FaultMix::random(std::mt19937_64& rng) {
  FaultMix m;
  auto coin = [&rng] { return (rng() & 1) != 0; };
  m.partitions = coin();
  m.asymmetric = coin();
  m.crashes = coin();
  m.power_loss = coin();
  m.disk_errors = coin();
  m.clock_jumps = coin();
  m.lossy = (rng() % 4) != 0;
  m.gap_ms = static_cast<unsigned>(250 + rng() % 1000);
  m.down_ms = static_cast<unsigned>(200 + rng() % 1500);
  return m;
}

std::string FaultMix::describe() const {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ",";
    s += name;
  };
  add(partitions, "partitions");
  add(asymmetric, "asymmetric");
  add(crashes, "crashes");
  add(power_loss, "power_loss");
  add(disk_errors, "disk_errors");
  add(clock_jumps, "clock_jumps");
  add(lossy, "lossy");
  if (s.empty()) s = "none";
  return s + " gap=" + std::to_string(gap_ms) + "ms down<=" + std::to_string(down_ms) + "ms";
}

SimWorld::SimWorld(SimConfig config) : config_(std::move(config)), rng_(config_.seed) {
  if (config_.random_faults) config_.faults = FaultMix::random(rng_);
  const size_t n = config_.nodes;
  blocked_.assign(n, std::vector<bool>(n, false));
  if (files()) {
    // Unique per world: two worlds of one seed may be alive at once (ReplayIsExact).
    static std::atomic<uint64_t> worlds{0};
    root_ = std::filesystem::temp_directory_path() /
            ("sierra-sim-" + str(static_cast<uint64_t>(::getpid())) + "-" + str(config_.seed) +
             "-" + str(worlds.fetch_add(1)));
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    if (const char* v = std::getenv("SIM_SECTOR"); v != nullptr && *v != '\0')
      config_.sector_size = std::max<uint64_t>(1, std::strtoull(v, nullptr, 10));
  }
  for (size_t i = 0; i < n; i++) {
    auto node = std::make_unique<Node>();
    node->id = i + 1;
    if (files()) {
      node->dir = root_ / ("node" + str(node->id));
      node->sim_disk = std::make_shared<SimDisk>(node->dir);
      node->sim_disk->sector_size = config_.sector_size;
    }
    nodes_.push_back(std::move(node));
  }
  for (size_t i = 0; i < n; i++) start_node(i);

  // Streams: one shared hot stream (contended expected versions), two per client on the
  // client's own partition key.
  auto add_stream = [this](std::string name, const Uuid& key) {
    streams_.push_back({std::move(name), key, partition_id_for_key(key, config_.partition_count)});
    return streams_.size() - 1;
  };
  const size_t hot = add_stream("hot", partition_key_for_stream("hot"));
  for (size_t c = 0; c < config_.clients; c++) {
    Client cl;
    const Uuid key = partition_key_for_stream("client-" + str(c));
    cl.own.push_back(add_stream("c" + str(c) + "-a", key));
    cl.own.push_back(add_stream("c" + str(c) + "-b", key));
    cl.own.push_back(hot);
    cl.guess = rand(0, n - 1);
    clients_.push_back(std::move(cl));
    Event e;
    e.kind = Kind::ClientWake;
    e.client = c;
    schedule(now_ + rand(0, 50), std::move(e));
  }
  const FaultMix& f = config_.faults;
  if (f.partitions || f.asymmetric || f.crashes || f.power_loss || f.disk_errors || f.clock_jumps)
    schedule(now_ + rand(f.gap_ms / 2, f.gap_ms * 3 / 2), Event{});
  run_end_ = now_ + config_.run_ms;
  if (const char* tr = std::getenv("SIM_TRACE"); tr != nullptr && *tr != '\0')
    trace_from_ = std::strtoull(tr, nullptr, 10);
}

SimWorld::~SimWorld() {
  // Replicas before their logs; callbacks fired now only schedule (ignored) events.
  for (auto& n : nodes_) {
    n->replica.reset();
    close_log(*n);
  }
  nodes_.clear();
  if (!root_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
}

bool SimWorld::open_log(size_t i) {
  Node& n = *nodes_[i];
  if (!files()) {
    n.mem_log = MemLog::open(n.disk, config_.partition_count);
    if (!n.mem_log || n.mem_log->open_error()) {
      checker_.fail("node " + str(n.id) + ": MemLog::open failed" +
                    (n.mem_log ? ": " + n.mem_log->open_error()->to_string() : std::string()));
      n.mem_log.reset();
      return false;
    }
    n.log = n.mem_log.get();
    return true;
  }
  n.sim_disk->revive();
  BucketLog::Options o;
  o.dir = n.dir;
  o.bucket_id = 0;
  o.partition_count = config_.partition_count;
  o.segment_size = config_.segment_size;
  o.env = n.sim_disk;
  const int before = pending_faults(n);
  auto r = BucketLog::open(std::move(o));
  if (!r) {
    if (pending_faults(n) < before) {  // an injected fault: fail-stop, restart later
      fail_stop(i);
      return false;
    }
    checker_.fail("node " + str(n.id) + ": BucketLog::open failed: " + r.error().to_string());
    return false;
  }
  n.bucket_log = std::move(*r);
  n.log = n.bucket_log.get();
  return true;
}

void SimWorld::fail_stop(size_t i) {
  Node& n = *nodes_[i];
  stats_.fail_stops++;
  if (n.sim_disk) n.sim_disk->crash();  // first: the dying process writes nothing more
  close_log(n);
  if (!n.sim_disk) n.disk.crash();
  n.incarnation++;
  n.restart_pending = true;
  Event e;
  e.kind = Kind::Restart;
  e.node = i;
  schedule(now_ + rand(50, 500), std::move(e));
}

void SimWorld::close_log(Node& n) {
  n.log = nullptr;
  n.mem_log.reset();
  n.bucket_log.reset();
}

uint64_t SimWorld::next_sequence(const Node& n, PartitionId pid) const {
  if (n.mem_log) return n.mem_log->next_sequence(pid);
  if (n.bucket_log) return n.bucket_log->next_sequence(pid);
  return 0;
}

uint64_t SimWorld::rand(uint64_t lo, uint64_t hi) {
  if (hi <= lo) return lo;
  return lo + rng_() % (hi - lo + 1);
}

bool SimWorld::chance(double p) {
  return static_cast<double>(rng_() % 1'000'000) < p * 1e6;
}

void SimWorld::schedule(uint64_t at, Event e) {
  queue_.emplace(std::make_pair(at, seq_++), e);
}

BucketReplica::Host SimWorld::make_host(size_t i) {
  const uint64_t inc = nodes_[i]->incarnation;
  BucketReplica::Host host;
  host.send = [this, i, inc](uint64_t to, std::vector<uint8_t> bytes) {
    if (nodes_[i]->incarnation != inc) return;
    if (to < 1 || to > nodes_.size()) {
      checker_.fail("node " + str(i + 1) + " sent to unknown node " + str(to));
      return;
    }
    if (config_.faults.lossy && chance(0.02)) return;
    Event e;
    e.kind = Kind::Deliver;
    e.node = to - 1;
    e.from = i;
    e.bytes = std::move(bytes);
    if (config_.faults.lossy && chance(0.02)) schedule(now_ + rand(1, 30), e);
    schedule(now_ + rand(1, 30), std::move(e));
  };
  host.want_sync = [this, i, inc] {
    Node& n = *nodes_[i];
    if (n.incarnation != inc || n.sync_pending) return;
    n.sync_pending = true;
    Event e;
    e.kind = Kind::Sync;
    e.node = i;
    e.incarnation = inc;
    schedule(now_ + rand(0, config_.max_sync_delay_ms), std::move(e));
  };
  host.on_applied = [this, i](const AppliedTransaction& tx) { checker_.on_applied(i + 1, tx); };
  return host;
}

bool SimWorld::start_node(size_t i) {
  Node& n = *nodes_[i];
  n.sync_pending = false;
  n.flush_pending = false;
  if (!open_log(i)) return false;
  BucketReplica::Options o;
  o.node_id = n.id;
  for (size_t k = 0; k < nodes_.size(); k++) o.voters.push_back(k + 1);
  o.seed = static_cast<unsigned>(config_.seed * 7919 + n.id * 131 + n.incarnation * 17);
  o.election_timeout_ms = config_.election_timeout_ms;
  o.heartbeat_timeout_ms = config_.heartbeat_timeout_ms;
  o.mutation = config_.mutation;
  const int before = pending_faults(n);
  auto r = BucketReplica::open(std::move(o), *n.log, make_host(i), local_now(n));
  if (!r) {
    if (pending_faults(n) < before) {
      fail_stop(i);
      return false;
    }
    checker_.fail("node " + str(n.id) + ": open: " + r.error().to_string());
    return false;
  }
  n.replica = std::move(*r);
  n.max_commit = n.log->applied_index();
  return true;
}

void SimWorld::stop_node(size_t i, bool power_loss, uint64_t restart_after) {
  Node& n = *nodes_[i];
  if (n.replica) {
    const auto& s = n.replica->stats();
    stats_.messages_sent += s.messages_sent;
    stats_.submits += s.submits;
    stats_.entries_submitted += s.entries_submitted;
  }
  n.incarnation++;  // first: nothing the dying replica does is delivered
  // A dead process runs no destructors: whatever the log's would write never reaches the disk.
  if (n.sim_disk) n.sim_disk->crash();
  n.replica.reset();
  close_log(n);
  if (n.sim_disk) {
    if (power_loss) n.sim_disk->power_loss(rng_);
  } else if (power_loss) {
    n.disk.power_loss();
  } else {
    n.disk.crash();
  }
  n.sync_pending = false;
  n.flush_pending = false;
  if (!n.restart_pending) {
    n.restart_pending = true;
    Event e;
    e.kind = Kind::Restart;
    e.node = i;
    schedule(now_ + restart_after, std::move(e));
  }
}

bool SimWorld::handle_status(size_t i, const Status& s, int faults_before, const char* what) {
  if (s) return true;
  Node& n = *nodes_[i];
  if (pending_faults(n) < faults_before) {
    stats_.fail_stops++;
    stop_node(i, false, rand(50, 500));
    return false;
  }
  checker_.fail("node " + str(n.id) + " " + what + ": " + s.error().to_string());
  return false;
}

void SimWorld::want_flush(size_t i) {
  Node& n = *nodes_[i];
  if (n.flush_pending) return;
  n.flush_pending = true;
  Event e;
  e.kind = Kind::Flush;
  e.node = i;
  e.incarnation = n.incarnation;
  schedule(now_ + rand(0, 2), std::move(e));
}

void SimWorld::tick_node(size_t i) {
  Node& n = *nodes_[i];
  const int before = pending_faults(n);
  Status s = n.replica->tick(local_now(n));
  handle_status(i, s, before, "tick");
}

void SimWorld::deliver(Event& e) {
  if (trace_from_ != kNever && now_ >= trace_from_) {
    raft_shim_message_info info{};
    if (raft_shim_message_peek(e.bytes.data(), e.bytes.size(), &info) == 0)
      std::fprintf(stderr, "t=%llu deliver %zu->%zu kind %d term %llu prev %llu n %u%s\n",
                   static_cast<unsigned long long>(now_), e.from + 1, e.node + 1, info.kind,
                   static_cast<unsigned long long>(info.term),
                   static_cast<unsigned long long>(info.prev_log_index), info.n_entries,
                   blocked_[e.from][e.node] ? " blocked" : "");
  }
  if (blocked_[e.from][e.node]) return;
  Node& n = *nodes_[e.node];
  if (!n.replica) return;
  const int before = pending_faults(n);
  Status s = n.replica->receive(local_now(n), e.bytes);
  handle_status(e.node, s, before, "receive");
}

void SimWorld::step_event(Event e) {
  switch (e.kind) {
    case Kind::Deliver:
      deliver(e);
      return;
    case Kind::Sync: {
      Node& n = *nodes_[e.node];
      if (n.incarnation != e.incarnation || !n.replica) return;
      n.sync_pending = false;
      const int before = pending_faults(n);
      Status s = n.replica->sync_log(local_now(n));
      handle_status(e.node, s, before, "sync_log");
      return;
    }
    case Kind::Flush: {
      Node& n = *nodes_[e.node];
      if (n.incarnation != e.incarnation || !n.replica) return;
      n.flush_pending = false;
      const int before = pending_faults(n);
      Status s = n.replica->flush_proposals(local_now(n));
      handle_status(e.node, s, before, "flush_proposals");
      return;
    }
    case Kind::Restart: {
      Node& n = *nodes_[e.node];
      n.restart_pending = false;
      if (!n.replica) start_node(e.node);
      return;
    }
    case Kind::ClientWake: {
      Client& cl = clients_[e.client];
      if (e.op != 0) {  // a retry of the op in progress
        if (cl.op && cl.op->id == e.op && cl.op->attempt == e.attempt) client_attempt(e.client);
        return;
      }
      if (!cl.op) client_wake(e.client);
      return;
    }
    case Kind::ClientAnswer:
      client_answer(e);
      return;
    case Kind::ClientTimeout: {
      Client& cl = clients_[e.client];
      if (cl.op && cl.op->id == e.op && cl.op->attempt == e.attempt) {
        stats_.unknown_outcomes++;
        client_retry(e.client, 0, true);
      }
      return;
    }
    case Kind::Fault:
      fault();
      return;
  }
}

void SimWorld::client_wake(size_t c) {
  if (ending_) return;
  Client& cl = clients_[c];
  Op op;
  op.id = cl.next_op++;
  const size_t first = cl.own[rand(0, cl.own.size() - 1)];
  const Stream& s0 = streams_[first];
  const size_t count = rand(1, 3);
  std::vector<NewEvent> events;
  for (size_t k = 0; k < count; k++) {
    size_t si = first;
    // Own streams share a partition key: a transaction may span both.
    if (k > 0 && first != cl.own.back() && chance(0.3)) si = cl.own[rand(0, 1)];
    const Stream& s = streams_[si];
    NewEvent ev;
    ev.event_id = event_id_from_parts(kUnixBaseMs + now_, static_cast<uint16_t>(rand(0, 4095)),
                                      partition_hash(s.key), rand(0, (uint64_t{1} << 46) - 1));
    ev.partition_key = s.key;
    ev.stream_id = s.name;
    ev.expected_version = ExpectedVersion::any();
    if (k == 0 && (cl.wrong_in_a_row < 2 && chance(0.75)))
      ev.expected_version = ExpectedVersion::from_next_version(known_next_version_[s.name]);
    ev.event_name = "e";
    ev.timestamp_ns = (kUnixBaseMs + now_) * 1'000'000 + k;
    ev.payload = "c" + str(c) + "-op" + str(op.id) + "-" + str(k);
    events.push_back(std::move(ev));
    op.streams.push_back(si);
  }
  auto tx = Transaction::make(std::move(events));
  if (!tx) {
    checker_.fail("client transaction rejected: " + tx.error().to_string());
    return;
  }
  Uuid txid;
  const uint64_t hi = rng_(), lo = rng_();
  for (int b = 0; b < 8; b++) {
    txid.bytes[b] = static_cast<uint8_t>(hi >> (8 * b));
    txid.bytes[8 + b] = static_cast<uint8_t>(lo >> (8 * b));
  }
  txid.bytes[6] = static_cast<uint8_t>((txid.bytes[6] & 0x0f) | 0x40);
  tx->transaction_id(txid);
  op.pid = s0.pid;
  op.started_ms = now_;
  op.tx = std::move(*tx);
  checker_.on_submit(op.pid, *op.tx);
  cl.op = std::move(op);
  client_attempt(c);
}

void SimWorld::client_attempt(size_t c) {
  Client& cl = clients_[c];
  Op& op = *cl.op;
  op.attempt++;
  const size_t k = cl.guess;
  Event timeout;
  timeout.kind = Kind::ClientTimeout;
  timeout.client = c;
  timeout.op = op.id;
  timeout.attempt = op.attempt;
  schedule(now_ + 4ull * config_.election_timeout_ms, std::move(timeout));
  Node& n = *nodes_[k];
  if (!n.replica) {  // connection refused
    Event e;
    e.kind = Kind::ClientAnswer;
    e.node = k;
    e.client = c;
    e.op = op.id;
    e.attempt = op.attempt;
    e.txid = op.tx->id();
    e.answer = make_error(Errc::NotLeader, "connection refused");
    schedule(now_ + rand(1, 5), std::move(e));
    return;
  }
  const uint64_t op_id = op.id, attempt = op.attempt;
  const Uuid txid = op.tx->id();
  n.replica->append(op.pid, *op.tx, [this, c, k, op_id, attempt, txid](Result<AppendResult> r) {
    if (config_.faults.lossy && chance(0.02)) return;  // the answer is lost
    Event e;
    e.kind = Kind::ClientAnswer;
    e.node = k;
    e.client = c;
    e.op = op_id;
    e.attempt = attempt;
    e.txid = txid;
    e.answer = std::move(r);
    schedule(now_ + rand(1, 10), std::move(e));
  });
  want_flush(k);
}

void SimWorld::client_retry(size_t c, uint64_t delay, bool rotate) {
  Client& cl = clients_[c];
  if (rotate) cl.guess = (cl.guess + 1 + rand(0, nodes_.size() - 2)) % nodes_.size();
  Op& op = *cl.op;
  op.attempt++;  // answers and timeouts of the earlier attempt no longer steer the client
  Event e;
  e.kind = Kind::ClientWake;
  e.client = c;
  e.op = op.id;
  e.attempt = op.attempt;
  schedule(now_ + delay, std::move(e));
}

void SimWorld::client_answer(Event& e) {
  Client& cl = clients_[e.client];
  // Every answer counts, also a late one to an op the client has finished.
  const Result<AppendResult>& r = *e.answer;
  const bool current = cl.op && cl.op->id == e.op;
  if (r)
    checker_.on_ack(e.txid, *r);
  else if (r.error().code == Errc::WrongExpectedVersion || r.error().code == Errc::DuplicateEventId)
    checker_.on_definite_failure(e.txid, r.error().code);
  if (!current) return;
  Op& op = *cl.op;
  if (r) {
    stats_.acks++;
    stats_.ack_latency_ms.push_back(now_ - op.started_ms);
    for (size_t k = 0; k < op.streams.size() && k < r->stream_versions.size(); k++) {
      uint64_t& next = known_next_version_[streams_[op.streams[k]].name];
      next = std::max(next, r->stream_versions[k] + 1);
    }
    cl.op.reset();
    cl.wrong_in_a_row = 0;
    Event w;
    w.kind = Kind::ClientWake;
    w.client = e.client;
    schedule(now_ + rand(0, 20), std::move(w));
    return;
  }
  const Errc code = r.error().code;
  switch (code) {
    case Errc::WrongExpectedVersion:
    case Errc::DuplicateEventId: {
      stats_.definite_failures++;
      cl.op.reset();
      cl.wrong_in_a_row++;
      Event w;
      w.kind = Kind::ClientWake;
      w.client = e.client;
      schedule(now_ + rand(0, 20), std::move(w));
      return;
    }
    case Errc::NotLeader:
    case Errc::Busy: {
      if (e.attempt != op.attempt) return;
      const Node& n = *nodes_[e.node];
      const uint64_t hint = n.replica ? n.replica->leader_id() : 0;
      if (hint >= 1 && hint <= nodes_.size() && hint - 1 != e.node) {
        cl.guess = hint - 1;
        client_retry(e.client, rand(1, 10), false);
      } else {
        client_retry(e.client, rand(5, 60), true);
      }
      return;
    }
    case Errc::OutcomeUnknown:
    case Errc::ShuttingDown:
    case Errc::Io:
    case Errc::NoSpace:
      if (e.attempt != op.attempt) return;
      stats_.unknown_outcomes++;
      client_retry(e.client, rand(20, 200), true);
      return;
    default:
      checker_.fail("client " + str(e.client) + " got " + r.error().to_string());
      return;
  }
}

void SimWorld::fault() {
  if (ending_) return;
  const FaultMix& f = config_.faults;
  schedule(now_ + rand(f.gap_ms / 2, f.gap_ms * 3 / 2), Event{});
  std::vector<int> kinds;
  if (f.partitions) kinds.push_back(0);
  if (f.asymmetric) kinds.push_back(1);
  if (f.crashes) kinds.push_back(2);
  if (f.power_loss) kinds.push_back(3);
  if (f.disk_errors) kinds.push_back(4);
  if (f.clock_jumps) kinds.push_back(5);
  if (kinds.empty()) return;
  const size_t n = nodes_.size();
  std::vector<size_t> alive;
  for (size_t i = 0; i < n; i++)
    if (nodes_[i]->replica) alive.push_back(i);
  // Leader-biased victim choice.
  auto victim = [&]() -> std::optional<size_t> {
    if (alive.empty()) return std::nullopt;
    if (chance(0.5))
      for (size_t i : alive)
        if (nodes_[i]->replica->role() == Role::Leader) return i;
    return alive[rand(0, alive.size() - 1)];
  };
  auto heal = [this] {
    for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  };
  switch (kinds[rand(0, kinds.size() - 1)]) {
    case 0: {
      bool any = false;
      for (auto& row : blocked_) any = any || std::find(row.begin(), row.end(), true) != row.end();
      if (any && chance(0.6)) {
        heal();
        return;
      }
      auto v = victim();
      const size_t k = v ? *v : rand(0, n - 1);
      for (size_t j = 0; j < n; j++) blocked_[k][j] = blocked_[j][k] = (j != k);
      return;
    }
    case 1: {
      if (chance(0.3)) {
        heal();
        return;
      }
      const size_t a = rand(0, n - 1);
      const size_t b = (a + 1 + rand(0, n - 2)) % n;
      blocked_[a][b] = true;
      return;
    }
    case 2:
      if (auto v = victim()) {
        stats_.crashes++;
        stop_node(*v, false, rand(50, f.down_ms));
      }
      return;
    case 3:
      if (chance(0.2)) {  // an outage: every node loses its page cache
        for (size_t i : alive) {
          stats_.crashes++;
          stop_node(i, true, rand(50, f.down_ms));
        }
      } else if (auto v = victim()) {
        stats_.crashes++;
        stop_node(*v, true, rand(50, f.down_ms));
      }
      return;
    case 4:
      if (auto v = victim()) {
        Node& node = *nodes_[*v];
        if (node.sim_disk) {
          // Failed fsyncs of any file or of the log's data, failed vote saves (the fsync of a
          // vote slot), a full disk on a write.
          const uint64_t what = rand(0, 9);
          const int err = chance(0.7) ? EIO : ENOSPC;
          if (what < 3)
            node.sim_disk->fail_syncs(static_cast<int>(rand(1, 2)), err);
          else if (what < 5)
            node.sim_disk->fail_syncs(static_cast<int>(rand(1, 2)), err, "data.evts");
          else if (what < 8)
            node.sim_disk->fail_syncs(1, err, "vote.");
          else
            node.sim_disk->fail_writes(1);
        } else if (chance(0.5)) {
          node.disk.fail_syncs += static_cast<int>(rand(1, 2));
        } else {
          node.disk.fail_vote_saves += 1;
        }
      }
      return;
    case 5: {
      const size_t k = rand(0, n - 1);
      nodes_[k]->clock_offset += rand(0, 2ull * config_.election_timeout_ms);
      return;
    }
    default:
      return;
  }
}

void SimWorld::end_phase() {
  ending_ = true;
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  for (size_t i = 0; i < nodes_.size(); i++) {
    Node& n = *nodes_[i];
    n.disk.fail_syncs = 0;
    n.disk.fail_vote_saves = 0;
    if (n.sim_disk) n.sim_disk->clear_faults();
    if (!n.replica) start_node(i);
  }
}

bool SimWorld::converged() {
  for (const Client& cl : clients_)
    if (cl.op) return false;
  bool leader_ready = false;
  uint64_t applied = 0;
  for (size_t i = 0; i < nodes_.size(); i++) {
    const Node& n = *nodes_[i];
    if (!n.replica) return false;
    const uint64_t a = n.replica->applied_index();
    if (i == 0) applied = a;
    if (a != applied || n.replica->commit_index() != a) return false;
    if (n.replica->role() == Role::Leader && n.replica->ready()) leader_ready = true;
  }
  return leader_ready;
}

std::string SimWorld::describe_state() const {
  std::string s;
  for (const auto& n : nodes_) {
    s += " [node " + str(n->id);
    if (!n->replica) {
      s += " down]";
      continue;
    }
    const BucketReplica& r = *n->replica;
    s += " role " + str(static_cast<uint64_t>(r.role())) + " term " + str(r.term()) + " leader " +
         str(r.leader_id()) + (r.ready() ? " ready" : "") + " applied " + str(r.applied_index()) +
         " commit " + str(r.commit_index()) + " durable " + str(n->log->durable_index()) +
         " last " + str(n->log->last_index()) + " timeout " + str(r.next_timeout()) + " local " +
         str(local_now(*n)) + "]";
  }
  for (size_t c = 0; c < clients_.size(); c++)
    if (clients_[c].op)
      s += " [client " + str(c) + " op " + str(clients_[c].op->id) + " attempt " +
           str(clients_[c].op->attempt) + " to node " + str(clients_[c].guess + 1) + "]";
  return s;
}

void SimWorld::observe() {
  for (const auto& n : nodes_) {
    if (!n->replica) continue;
    const BucketReplica& r = *n->replica;
    if (r.role() == Role::Leader) checker_.on_leader(r.term(), n->id);
    // The core's commit index may step back (seen: a follower's by one); what was committed
    // stays committed, so the bound is the highest seen since open (or the applied index the
    // log reopened with).
    n->max_commit = std::max(n->max_commit, r.commit_index());
    checker_.on_replica_state(n->id, r.applied_index(), n->max_commit);
  }
}

std::string SimWorld::run() {
  while (checker_.ok()) {
    if (stats_.steps++ >= config_.max_steps) {
      checker_.fail("step budget exhausted at " + str(now_) + " ms");
      break;
    }
    if (!ending_ && now_ >= run_end_) end_phase();
    if (ending_) {
      if (converged()) break;
      if (now_ > run_end_ + config_.settle_ms) {
        // Liveness, not safety: the safety checks of the end still run first.
        const std::string state = describe_state();
        checker_.final_check();
        if (checker_.ok()) {
          liveness_failure_ = true;
          checker_.fail("liveness: no convergence " + str(config_.settle_ms) +
                        " ms after healing:" + state);
        }
        break;
      }
    }
    uint64_t best_t = kNever;
    size_t best_node = nodes_.size();
    for (size_t i = 0; i < nodes_.size(); i++) {
      const Node& n = *nodes_[i];
      if (!n.replica) continue;
      const uint64_t t = n.replica->next_timeout();
      const uint64_t global = t > n.clock_offset ? t - n.clock_offset : 0;
      if (global < best_t) {
        best_t = global;
        best_node = i;
      }
    }
    if (!queue_.empty() && queue_.begin()->first.first <= best_t) {
      auto it = queue_.begin();
      now_ = std::max(now_, it->first.first);
      Event e = std::move(it->second);
      queue_.erase(it);
      step_event(std::move(e));
    } else if (best_node < nodes_.size()) {
      now_ = std::max(now_, best_t);
      tick_node(best_node);
    } else {
      checker_.fail("nothing left to run at " + str(now_) + " ms");
      break;
    }
    if (!checker_.ok()) break;
    if (trace_from_ != kNever && now_ >= trace_from_)
      std::fprintf(stderr, "t=%llu%s\n", static_cast<unsigned long long>(now_),
                   describe_state().c_str());
    observe();
    checker_.check();
  }
  stats_.end_ms = now_;
  if (checker_.ok()) {
    checker_.final_check();
    for (PartitionId p = 0; p < config_.partition_count && checker_.ok(); p++) {
      const uint64_t want = checker_.next_sequence(p);
      for (const auto& n : nodes_)
        if (n->log && next_sequence(*n, p) != want)
          checker_.fail("node " + str(n->id) + ": next sequence of partition " + str(p) + " is " +
                        str(next_sequence(*n, p)) + ", the committed history says " + str(want));
    }
  }
  for (const auto& n : nodes_)
    if (n->replica) {
      const auto& s = n->replica->stats();
      stats_.messages_sent += s.messages_sent;
      stats_.submits += s.submits;
      stats_.entries_submitted += s.entries_submitted;
    }
  for (const auto& n : nodes_)
    if (n->sim_disk) {
      stats_.disk_faults += n->sim_disk->injected();
      stats_.lost_bytes += n->sim_disk->lost_bytes();
      stats_.removed_files += n->sim_disk->removed_files();
    }
  stats_.committed = checker_.committed_transactions();
  return checker_.violation();
}

}  // namespace sierra::test::sim
