#include "cluster/sim/checker.hpp"

#include <iterator>
#include <string>

namespace sierra::test::sim {

namespace {

std::string str(uint64_t v) {
  return std::to_string(v);
}

bool same_events(const std::vector<AppliedEvent>& a, const std::vector<AppliedEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i].event_id != b[i].event_id || a[i].stream_id != b[i].stream_id ||
        a[i].sequence != b[i].sequence || a[i].version != b[i].version)
      return false;
  return true;
}

bool same_result(const AppendResult& a, const AppendResult& b) {
  return a.transaction_id == b.transaction_id && a.partition_id == b.partition_id &&
         a.first_partition_sequence == b.first_partition_sequence &&
         a.last_partition_sequence == b.last_partition_sequence &&
         a.stream_versions == b.stream_versions && a.log_position == b.log_position &&
         a.timestamps_ns == b.timestamps_ns;
}

}  // namespace

std::string describe(const Uuid& u) {
  return u.to_string();
}

void Checker::fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

void Checker::on_leader(uint64_t term, uint64_t node) {
  auto [it, fresh] = leader_of_term_.emplace(term, node);
  if (!fresh && it->second != node)
    fail("two leaders in term " + str(term) + ": nodes " + str(it->second) + " and " + str(node));
}

void Checker::on_replica_state(uint64_t node, uint64_t applied, uint64_t commit) {
  if (applied > commit)
    fail("node " + str(node) + ": applied index " + str(applied) + " > commit index " +
         str(commit));
}

void Checker::on_applied(uint64_t node, const AppliedTransaction& tx) {
  auto it = canonical_.find(tx.index);
  if (it == canonical_.end()) {
    insert_canonical(node, tx);
    return;
  }
  const Canon& c = it->second;
  if (c.term != tx.term || c.txid != tx.transaction_id || c.pid != tx.partition_id ||
      !same_events(c.events, tx.events))
    fail("node " + str(node) + " applied at index " + str(tx.index) + " term " + str(tx.term) +
         " transaction " + describe(tx.transaction_id) + ", but node " + str(c.first_node) +
         " applied term " + str(c.term) + " transaction " + describe(c.txid) + " there");
}

void Checker::check_range(Ranges& ranges, uint64_t index, uint64_t first, uint64_t last,
                          const std::string& what) {
  auto next = ranges.lower_bound(index);
  if (next != ranges.begin()) {
    auto prev = std::prev(next);
    if (prev->second.second + 1 != first)
      fail(what + ": index " + str(index) + " starts at " + str(first) + " but index " +
           str(prev->first) + " ended at " + str(prev->second.second));
  } else if (first != 0) {
    fail(what + ": index " + str(index) + " starts at " + str(first) + " with nothing before");
  }
  if (next != ranges.end() && next->second.first != last + 1)
    fail(what + ": index " + str(index) + " ends at " + str(last) + " but index " +
         str(next->first) + " starts at " + str(next->second.first));
  ranges.emplace(index, std::make_pair(first, last));
}

void Checker::insert_canonical(uint64_t node, const AppliedTransaction& tx) {
  if (tx.events.empty()) {
    fail("node " + str(node) + " applied an empty transaction at " + str(tx.index));
    return;
  }
  canonical_.emplace(tx.index, Canon{tx.term, tx.partition_id, tx.transaction_id, tx.events, node});
  auto [tit, tfresh] = index_of_tx_.emplace(tx.transaction_id, tx.index);
  if (!tfresh)
    fail("transaction " + describe(tx.transaction_id) + " committed twice: at " + str(tit->second) +
         " and " + str(tx.index));
  if (failed_.contains(tx.transaction_id))
    fail("definitely failed transaction " + describe(tx.transaction_id) + " committed at " +
         str(tx.index));
  // Per partition: consecutive sequences inside the entry, gapless with its neighbours.
  for (size_t i = 0; i < tx.events.size(); i++)
    if (tx.events[i].sequence != tx.events[0].sequence + i)
      fail("index " + str(tx.index) + ": non-consecutive sequences inside the transaction");
  check_range(seq_ranges_[tx.partition_id], tx.index, tx.events.front().sequence,
              tx.events.back().sequence, "partition " + str(tx.partition_id) + " sequences");
  // Per stream: the versions of its events inside the entry, consecutive.
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_stream;
  for (const AppliedEvent& e : tx.events) {
    auto [it, fresh] = per_stream.emplace(e.stream_id, std::make_pair(e.version, e.version));
    if (!fresh) {
      if (e.version != it->second.second + 1)
        fail("index " + str(tx.index) + ": non-consecutive versions of stream " + e.stream_id);
      it->second.second = e.version;
    }
    auto [eit, efresh] = index_of_event_.emplace(e.event_id, tx.index);
    if (!efresh)
      fail("event " + describe(e.event_id) + " present twice: at " + str(eit->second) + " and " +
           str(tx.index));
  }
  for (const auto& [stream, range] : per_stream)
    check_range(version_ranges_[stream], tx.index, range.first, range.second,
                "stream " + stream + " versions");
  // The expected-version rule, for every committed client transaction (acknowledged or not).
  auto sit = submitted_.find(tx.transaction_id);
  if (sit == submitted_.end()) {
    fail("index " + str(tx.index) + ": transaction " + describe(tx.transaction_id) +
         " was never submitted by a client");
    return;
  }
  const Submitted& s = sit->second;
  if (s.pid != tx.partition_id)
    fail("index " + str(tx.index) + ": partition " + str(tx.partition_id) + ", submitted to " +
         str(s.pid));
  if (s.event_ids.size() != tx.events.size()) {
    fail("index " + str(tx.index) + ": event count differs from the submitted transaction");
    return;
  }
  for (size_t i = 0; i < tx.events.size(); i++) {
    const AppliedEvent& e = tx.events[i];
    if (e.event_id != s.event_ids[i] || e.stream_id != s.streams[i])
      fail("index " + str(tx.index) + ": event " + str(i) + " differs from the submitted one");
    const ExpectedVersion& x = s.expected[i];
    if (x.kind == ExpectedVersion::Kind::Exact && e.version != x.value + 1)
      fail("index " + str(tx.index) + ": stream " + e.stream_id + " expected " + str(x.value) +
           " but got version " + str(e.version));
    if (x.kind == ExpectedVersion::Kind::Empty && e.version != 0)
      fail("index " + str(tx.index) + ": stream " + e.stream_id + " expected empty but got " +
           str(e.version));
  }
}

void Checker::on_submit(PartitionId pid, const Transaction& tx) {
  Submitted s;
  s.pid = pid;
  for (const NewEvent& e : tx.events()) {
    s.event_ids.push_back(e.event_id);
    s.streams.push_back(e.stream_id);
    s.expected.push_back(e.expected_version);
  }
  submitted_.emplace(tx.id(), std::move(s));
}

void Checker::on_ack(const Uuid& txid, const AppendResult& result) {
  pending_acks_.emplace_back(txid, result);
}

void Checker::on_definite_failure(const Uuid& txid, Errc code) {
  if (acked_.contains(txid))
    fail("transaction " + describe(txid) + " acknowledged, then answered " +
         std::string(errc_name(code)));
  failed_.emplace(txid, code);
  if (auto it = index_of_tx_.find(txid); it != index_of_tx_.end())
    fail("transaction " + describe(txid) + " answered " + std::string(errc_name(code)) +
         " but committed at " + str(it->second));
}

void Checker::check_ack(const Uuid& txid, const AppendResult& r) {
  if (r.transaction_id != txid) {
    fail("ack for " + describe(txid) + " names transaction " + describe(r.transaction_id));
    return;
  }
  if (failed_.contains(txid)) fail("transaction " + describe(txid) + " failed, then acknowledged");
  auto [ait, fresh] = acked_.emplace(txid, r);
  if (!fresh && !same_result(ait->second, r)) {
    fail("transaction " + describe(txid) + " acknowledged twice with different results " +
         "(positions " + str(ait->second.log_position) + " and " + str(r.log_position) + ")");
    return;
  }
  auto cit = canonical_.find(r.log_position);
  if (cit == canonical_.end()) {
    fail("transaction " + describe(txid) + " acknowledged at " + str(r.log_position) +
         " which no replica has applied");
    return;
  }
  const Canon& c = cit->second;
  if (c.txid != txid) {
    fail("transaction " + describe(txid) + " acknowledged at " + str(r.log_position) +
         " where transaction " + describe(c.txid) + " committed");
    return;
  }
  if (c.pid != r.partition_id) fail("ack for " + describe(txid) + ": wrong partition");
  if (r.first_partition_sequence != c.events.front().sequence ||
      r.last_partition_sequence != c.events.back().sequence)
    fail("ack for " + describe(txid) + ": sequences " + str(r.first_partition_sequence) + ".." +
         str(r.last_partition_sequence) + ", committed " + str(c.events.front().sequence) + ".." +
         str(c.events.back().sequence));
  if (r.stream_versions.size() != c.events.size()) {
    fail("ack for " + describe(txid) + ": wrong number of versions");
    return;
  }
  for (size_t i = 0; i < c.events.size(); i++)
    if (r.stream_versions[i] != c.events[i].version)
      fail("ack for " + describe(txid) + ": version " + str(r.stream_versions[i]) + ", committed " +
           str(c.events[i].version));
  auto sit = submitted_.find(txid);
  if (sit != submitted_.end())
    for (size_t i = 0; i < sit->second.expected.size() && i < r.stream_versions.size(); i++) {
      const ExpectedVersion& x = sit->second.expected[i];
      if (x.kind == ExpectedVersion::Kind::Exact && r.stream_versions[i] != x.value + 1)
        fail("ack for " + describe(txid) + ": expected " + str(x.value) + ", acknowledged " +
             str(r.stream_versions[i]));
    }
}

void Checker::check() {
  if (pending_acks_.empty()) return;
  std::vector<std::pair<Uuid, AppendResult>> acks;
  acks.swap(pending_acks_);
  for (const auto& [txid, r] : acks) check_ack(txid, r);
}

uint64_t Checker::next_sequence(PartitionId pid) const {
  auto it = seq_ranges_.find(pid);
  if (it == seq_ranges_.end() || it->second.empty()) return 0;
  return it->second.rbegin()->second.second + 1;
}

void Checker::final_check() {
  check();
  for (const auto& [txid, r] : acked_) {
    auto it = canonical_.find(r.log_position);
    if (it == canonical_.end() || it->second.txid != txid)
      fail("acknowledged transaction " + describe(txid) + " missing at " + str(r.log_position));
  }
  for (const auto& [txid, code] : failed_)
    if (index_of_tx_.contains(txid))
      fail("failed transaction " + describe(txid) + " (" + std::string(errc_name(code)) +
           ") present");
}

}  // namespace sierra::test::sim
