// A deterministic in-memory Raft group over the C shim, for tests: N cores, an in-memory log
// store per node (which fills AppendEntries from its log), a simulated network carrying the
// shim's wire form with seeded delays, persistence reported as soon as an update asks for it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster/raft_shim.h"

namespace sierra::test {

// A node's log: index i lives at entries[i - 1]. Serves the shim's loader.
struct ShimLog {
  struct Entry {
    uint64_t term = 0;
    uint8_t type = 0;
    std::vector<uint8_t> data;
  };
  std::vector<Entry> entries;
  bool fill = true;       // false: the loader refuses (proves that filling is needed)
  uint64_t loads = 0;     // ranges served
  uint64_t refusals = 0;  // ranges refused

  uint64_t last_index() const { return entries.size(); }

  // Truncates from `first` (the uncommitted suffix) and appends copies.
  void put(uint64_t first, const raft_shim_entry* es, size_t n) {
    entries.resize(first - 1);
    for (size_t i = 0; i < n; i++)
      entries.push_back(
          {es[i].term, es[i].type, std::vector<uint8_t>(es[i].data, es[i].data + es[i].len)});
  }

  static int load(void* ctx, uint64_t first, uint32_t n, raft_shim_entry* out) {
    auto* log = static_cast<ShimLog*>(ctx);
    if (!log->fill || first == 0 || first + n - 1 > log->last_index()) {
      log->refusals++;
      return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
      const Entry& e = log->entries[first - 1 + i];
      out[i] = {e.term, e.type, e.data.data(), e.data.size()};
    }
    log->loads++;
    return 0;
  }
};

struct CoreDeleter {
  void operator()(raft_shim_core* c) const { raft_shim_destroy(c); }
};
using CorePtr = std::unique_ptr<raft_shim_core, CoreDeleter>;

struct SimNode {
  uint64_t id = 0;
  CorePtr core;
  std::unique_ptr<ShimLog> log;
  uint64_t term = 0;  // "durable" term and vote
  uint64_t vote = 0;
  uint64_t commit = 0;
  uint8_t role = RAFT_SHIM_FOLLOWER;
  uint64_t timeout = 0;
  bool up = true;  // false: partitioned (all its messages, both ways, are lost)
};

class ShimGroup {
 public:
  ShimGroup(size_t n, uint64_t seed, bool fill) : rng_(seed) {
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < n; i++) ids.push_back(i + 1);
    uint8_t* conf = nullptr;
    size_t conf_len = 0;
    ok_ = raft_shim_encode_configuration(ids.data(), ids.size(), &conf, &conf_len) == 0;
    if (!ok_) return;
    raft_shim_options opt{};
    opt.election_timeout_ms = 1000;
    opt.heartbeat_timeout_ms = 100;
    opt.pre_vote = 1;
    for (uint64_t id : ids) {
      SimNode node;
      node.id = id;
      node.log = std::make_unique<ShimLog>();
      node.log->fill = fill;
      node.core.reset(raft_shim_create(id, static_cast<unsigned>(seed * 31 + id), &opt,
                                       &ShimLog::load, node.log.get()));
      ok_ = ok_ && node.core != nullptr;
      nodes_.push_back(std::move(node));
    }
    // Bootstrap: every node starts from term 1 and the same configuration entry at index 1.
    raft_shim_entry boot{1, RAFT_SHIM_CHANGE, conf, conf_len};
    for (auto& node : nodes_) {
      if (!ok_) break;
      node.log->put(1, &boot, 1);
      node.term = 1;
      const raft_shim_update* u = nullptr;
      ok_ = raft_shim_start(node.core.get(), now_, 1, 0, nullptr, 1, &boot, 1, &u) == 0;
      if (ok_) handle(node, u);
    }
    raft_shim_free(conf);
  }

  bool ok() const { return ok_ && violation_.empty(); }
  const std::string& violation() const { return violation_; }
  std::vector<SimNode>& nodes() { return nodes_; }
  SimNode& node(uint64_t id) { return nodes_[id - 1]; }
  uint64_t now() const { return now_; }
  uint64_t append_entries_with_entries() const { return ae_with_entries_; }
  uint64_t loaded_messages() const { return loaded_; }
  uint64_t dropped_messages() const { return dropped_; }

  // Runs the next event (a message delivery or a timeout). False when nothing is left to run
  // or an invariant broke.
  bool step() {
    if (!ok()) return false;
    size_t best_msg = net_.size();
    for (size_t i = 0; i < net_.size(); i++)
      if (best_msg == net_.size() || net_[i].at < net_[best_msg].at ||
          (net_[i].at == net_[best_msg].at && net_[i].seq < net_[best_msg].seq))
        best_msg = i;
    SimNode* best_node = nullptr;
    for (auto& n : nodes_)
      if (best_node == nullptr || n.timeout < best_node->timeout) best_node = &n;
    if (best_msg < net_.size() &&
        (best_node == nullptr || net_[best_msg].at <= best_node->timeout)) {
      Flight f = std::move(net_[best_msg]);
      net_.erase(net_.begin() + static_cast<long>(best_msg));
      now_ = std::max(now_, f.at);
      SimNode& to = node(f.to);
      if (!to.up || !node(f.from).up) return true;  // lost in the partition
      const raft_shim_update* u = nullptr;
      int rv = raft_shim_receive(to.core.get(), now_, f.bytes.data(), f.bytes.size(), &u);
      if (rv != 0)
        return fail("receive failed on node " + std::to_string(to.id) + ": " +
                    raft_shim_strerror(rv));
      handle(to, u);
      return ok();
    }
    if (best_node == nullptr) return false;
    now_ = std::max(now_, best_node->timeout);
    const raft_shim_update* u = nullptr;
    int rv = raft_shim_timeout(best_node->core.get(), now_, &u);
    if (rv != 0) return fail("timeout failed: " + std::string(raft_shim_strerror(rv)));
    handle(*best_node, u);
    return ok();
  }

  // Steps until pred() holds; at most max_steps. True when it held.
  template <class Pred>
  bool run_until(Pred pred, int max_steps) {
    for (int i = 0; i < max_steps; i++) {
      if (pred()) return true;
      if (!step()) return pred();
    }
    return pred();
  }

  std::vector<uint64_t> leaders() const {
    uint64_t top = 0;
    for (auto& n : nodes_) top = std::max(top, n.term);
    std::vector<uint64_t> out;
    for (auto& n : nodes_)
      if (n.role == RAFT_SHIM_LEADER && n.term == top) out.push_back(n.id);
    return out;
  }

  // Submits one command on `id`; returns its index.
  std::optional<uint64_t> submit(uint64_t id, const std::string& payload) {
    raft_shim_entry e{0, RAFT_SHIM_COMMAND, reinterpret_cast<const uint8_t*>(payload.data()),
                      payload.size()};
    uint64_t index = 0;
    const raft_shim_update* u = nullptr;
    if (raft_shim_submit(node(id).core.get(), now_, &e, 1, &index, &u) != 0) return std::nullopt;
    handle(node(id), u);
    return index;
  }

  std::optional<uint64_t> submit_barrier(uint64_t id) {
    uint64_t index = 0;
    const raft_shim_update* u = nullptr;
    if (raft_shim_submit_barrier(node(id).core.get(), now_, &index, &u) != 0) return std::nullopt;
    handle(node(id), u);
    return index;
  }

 private:
  struct Flight {
    uint64_t at = 0;
    uint64_t seq = 0;
    uint64_t from = 0;
    uint64_t to = 0;
    std::vector<uint8_t> bytes;
  };

  bool fail(std::string what) {
    if (violation_.empty()) violation_ = std::move(what);
    return false;
  }

  // Carries out an update as a driver must: term/vote first, then entries, then messages, then
  // (persistence being immediate here) reports the entries persisted and handles that update.
  void handle(SimNode& n, const raft_shim_update* u) {
    for (int depth = 0; u != nullptr && depth < 4; depth++) {
      const uint64_t commit_before = n.commit;
      if (u->flags & RAFT_SHIM_UPDATE_TERM_VOTE) {
        n.term = u->term;
        n.vote = u->voted_for;
      }
      n.term = u->term;
      n.role = u->role;
      n.timeout = u->timeout;
      if (u->commit_index < n.commit)
        fail("commit index went back on node " + std::to_string(n.id));
      n.commit = u->commit_index;
      if (n.role == RAFT_SHIM_LEADER) {
        auto [it, fresh] = leader_of_term_.emplace(n.term, n.id);
        if (!fresh && it->second != n.id) fail("two leaders in term " + std::to_string(n.term));
      }
      uint64_t persist_to = 0;
      if (u->flags & RAFT_SHIM_UPDATE_ENTRIES) {
        if (u->first_index <= commit_before)
          fail("entries update over the commit index on node " + std::to_string(n.id));
        n.log->put(u->first_index, u->entries, u->n_entries);
        persist_to = u->first_index + u->n_entries - 1;
      }
      loaded_ += u->n_loaded_messages;
      dropped_ += u->n_dropped_messages;
      for (size_t i = 0; i < u->n_messages; i++) {
        const raft_shim_message& m = u->messages[i];
        raft_shim_message_info info{};
        if (raft_shim_message_peek(m.bytes, m.len, &info) != 0 || info.from != n.id) {
          fail("bad wire form from node " + std::to_string(n.id));
          return;
        }
        if (info.kind == RAFT_SHIM_APPEND_ENTRIES && info.n_entries > 0) ae_with_entries_++;
        std::uniform_int_distribution<uint64_t> delay(1, 10);
        net_.push_back({now_ + delay(rng_), seq_++, n.id, m.to,
                        std::vector<uint8_t>(m.bytes, m.bytes + m.len)});
      }
      check_committed_prefixes();
      if (persist_to == 0) return;
      u = nullptr;
      int rv = raft_shim_persisted(n.core.get(), now_, persist_to, &u);
      if (rv != 0) {
        fail("persisted failed on node " + std::to_string(n.id) + ": " + raft_shim_strerror(rv));
        return;
      }
    }
  }

  void check_committed_prefixes() {
    for (auto& a : nodes_)
      for (auto& b : nodes_) {
        uint64_t upto = std::min({a.commit, b.commit, a.log->last_index(), b.log->last_index()});
        for (uint64_t i = 1; i <= upto; i++) {
          const auto& ea = a.log->entries[i - 1];
          const auto& eb = b.log->entries[i - 1];
          if (ea.term != eb.term || ea.type != eb.type || ea.data != eb.data) {
            fail("committed entry " + std::to_string(i) + " differs between nodes");
            return;
          }
        }
      }
  }

  std::mt19937_64 rng_;
  std::vector<SimNode> nodes_;
  std::vector<Flight> net_;
  std::map<uint64_t, uint64_t> leader_of_term_;
  uint64_t now_ = 1000;
  uint64_t seq_ = 0;
  uint64_t ae_with_entries_ = 0;
  uint64_t loaded_ = 0;
  uint64_t dropped_ = 0;
  bool ok_ = true;
  std::string violation_;
};

}  // namespace sierra::test
