// MemDisk and MemLog: the ReplicatedLog contract in memory, with crashes, power losses and
// failing syncs and vote saves for the cluster tests.
#include "cluster/mem_log.hpp"

#include <algorithm>
#include <cerrno>

#include "engine/bucket/event_id_check.hpp"

namespace sierra::test {

namespace {

constexpr uint64_t kMaxTimestamp = uint64_t{1} << 63;

std::unexpected<Error> disk_error(Errc code, std::string what) {
  return std::unexpected(Error{code, std::move(what), 0, code == Errc::NoSpace ? ENOSPC : EIO});
}

std::unexpected<Error> invariant(uint64_t index, std::string what) {
  return make_error(Errc::InvariantViolation,
                    "entry " + std::to_string(index) + ": " + std::move(what));
}

}  // namespace

// ------------------------------------------------------------------------------------ MemDisk

void MemDisk::crash() {
  ++generation;
}

void MemDisk::power_loss() {
  written = durable;
  synced_prefix = durable.size();
  ++generation;
}

// ------------------------------------------------------------------------------------- MemLog

MemLog::MemLog(PassKey, MemDisk& disk, uint16_t partition_count)
    : disk_(disk), generation_(disk.generation), partition_count_(partition_count) {}

MemLog::~MemLog() = default;

std::unique_ptr<MemLog> MemLog::open(MemDisk& disk, uint16_t partition_count) {
  auto log = std::make_unique<MemLog>(PassKey{}, disk, partition_count);
  const uint64_t upto = std::min<uint64_t>(disk.applied_index, disk.written.size());
  Ready ready;
  std::vector<AppliedTransaction> applied;
  for (uint64_t i = 1; i <= upto; ++i) {
    if (auto s = log->apply_one(i, applied, ready); !s) {
      log->open_error_ = s.error();
      break;
    }
  }
  return log;
}

Status MemLog::check_live() const {
  if (disk_.generation != generation_) {
    return make_error(Errc::Io, "the node crashed since this log was opened");
  }
  return {};
}

VoteState MemLog::vote_state() const {
  return disk_.vote;
}

Status MemLog::save_vote_state(VoteState state) {
  if (auto s = check_live(); !s) return s;
  if (disk_.fail_vote_saves > 0) {
    --disk_.fail_vote_saves;
    return disk_error(Errc::Io, "saving the vote state failed (injected)");
  }
  disk_.vote = state;
  ++disk_.vote_saves;
  return {};
}

uint64_t MemLog::last_index() const {
  return disk_.written.size();
}

uint64_t MemLog::durable_index() const {
  return disk_.synced_prefix;
}

Result<uint64_t> MemLog::term_at(uint64_t index) const {
  if (index == 0) return uint64_t{0};
  if (index > last_index()) {
    return make_error(Errc::InvalidArgument, "term_at(" + std::to_string(index) +
                                                 "): past the last index " +
                                                 std::to_string(last_index()));
  }
  return disk_.written[index - 1].term;
}

Result<std::vector<LogEntry>> MemLog::read_entries(uint64_t from, size_t max_count,
                                                   size_t max_bytes) const {
  if (from < 1 || from > last_index()) {
    return make_error(Errc::InvalidArgument, "read_entries from " + std::to_string(from) +
                                                 ": the log holds 1.." +
                                                 std::to_string(last_index()));
  }
  std::vector<LogEntry> out;
  size_t bytes = 0;
  for (uint64_t i = from; i <= last_index() && out.size() < max_count; ++i) {
    out.push_back(disk_.written[i - 1]);
    bytes += out.back().payload.size();
    if (bytes >= max_bytes) break;
  }
  return out;
}

Status MemLog::append(uint64_t first_index, std::span<const LogEntryRef> entries) {
  if (auto s = check_live(); !s) return s;
  if (first_index < 1 || first_index > last_index() + 1) {
    return make_error(Errc::InvalidArgument, "append at " + std::to_string(first_index) +
                                                 ": the last index is " +
                                                 std::to_string(last_index()));
  }
  if (first_index <= last_index() && first_index <= applied_index_) {
    return make_error(Errc::InvalidArgument, "append at " + std::to_string(first_index) +
                                                 " would remove applied entries (applied index " +
                                                 std::to_string(applied_index_) + ")");
  }
  for (size_t k = 0; k < entries.size(); ++k) {
    const LogEntryRef& e = entries[k];
    const uint64_t index = first_index + k;
    if (e.type == LogEntryType::Transaction) {
      auto tx = decode_transaction_entry(e.payload);
      if (!tx) {
        return make_error(Errc::CorruptRecord,
                          "entry " + std::to_string(index) +
                              " is not a valid transaction: " + tx.error().to_string());
      }
      if (tx->index != index || tx->term != e.term) {
        return make_error(Errc::CorruptRecord,
                          "entry " + std::to_string(index) + " (term " + std::to_string(e.term) +
                              ") holds a transaction of log position " + std::to_string(tx->index) +
                              ", term " + std::to_string(tx->term));
      }
    } else if (e.type != LogEntryType::Barrier && e.type != LogEntryType::Configuration) {
      return make_error(Errc::CorruptRecord, "entry " + std::to_string(index) +
                                                 " has an unknown type " +
                                                 std::to_string(static_cast<unsigned>(e.type)));
    }
  }
  disk_.written.resize(first_index - 1);
  disk_.synced_prefix = std::min<uint64_t>(disk_.synced_prefix, first_index - 1);
  for (const LogEntryRef& e : entries) {
    disk_.written.push_back(
        LogEntry{e.term, e.type, std::vector<uint8_t>(e.payload.begin(), e.payload.end())});
  }
  return {};
}

Status MemLog::sync() {
  if (auto s = check_live(); !s) return s;
  if (disk_.fail_syncs > 0) {
    --disk_.fail_syncs;
    return disk_error(disk_.sync_error, "fdatasync of the log failed (injected)");
  }
  disk_.durable = disk_.written;
  disk_.synced_prefix = disk_.written.size();
  disk_.applied_index = applied_index_;
  ++disk_.syncs;
  return {};
}

uint64_t MemLog::applied_index() const {
  return applied_index_;
}

Status MemLog::apply(uint64_t index, const AppliedSink& sink) {
  if (auto s = check_live(); !s) return s;
  if (index > durable_index()) {
    return make_error(Errc::InvalidArgument, "apply(" + std::to_string(index) +
                                                 "): past the durable index " +
                                                 std::to_string(durable_index()));
  }
  Ready ready;
  std::vector<AppliedTransaction> applied;
  Status status;
  const uint64_t before = applied_index_;
  while (applied_index_ < index) {
    if (auto s = apply_one(applied_index_ + 1, applied, ready); !s) {
      status = s;
      break;
    }
  }
  if (applied_index_ != before) rebuild_spec();
  // State is final: now the outside world may look (and re-enter).
  if (sink) {
    for (const AppliedTransaction& t : applied) sink(t);
  }
  run(ready);
  return status;
}

Status MemLog::apply_one(uint64_t index, std::vector<AppliedTransaction>& applied, Ready& ready) {
  const LogEntry& entry = disk_.written[index - 1];
  std::optional<Uuid> txid;
  if (entry.type == LogEntryType::Transaction) {
    auto records = decode_transaction_records(entry.payload);
    if (!records) return std::unexpected(records.error());
    const size_t n = records->size();
    const EventRecord& first = records->front();
    if (first.tx.log_position != index) {
      return make_error(Errc::CorruptRecord, "entry " + std::to_string(index) +
                                                 " holds log position " +
                                                 std::to_string(first.tx.log_position));
    }
    const PartitionId pid = first.partition_id;
    const uint64_t next = next_sequence(pid);
    // The streams of this transaction as its events leave them (later events see earlier ones).
    std::vector<std::pair<StreamKey, StreamState>> touched;
    for (size_t j = 0; j < n; ++j) {
      const EventRecord& e = (*records)[j];
      if (e.partition_sequence != next + j) {
        return invariant(index, "event " + std::to_string(j) + " has partition sequence " +
                                    std::to_string(e.partition_sequence) + ", partition " +
                                    std::to_string(pid) + " continues at " +
                                    std::to_string(next + j));
      }
      StreamKey key{pid, e.stream_id};
      auto t = std::find_if(touched.begin(), touched.end(),
                            [&](const auto& p) { return p.first == key; });
      const StreamState* st = nullptr;
      if (t != touched.end()) {
        st = &t->second;
      } else if (auto it = streams_.find(key); it != streams_.end()) {
        st = &it->second;
      }
      const uint64_t want = st ? st->version + 1 : 0;
      if (e.stream_version != want) {
        return invariant(index, "event " + std::to_string(j) + " of stream " + e.stream_id +
                                    " has version " + std::to_string(e.stream_version) +
                                    ", the stream continues at " + std::to_string(want));
      }
      if (st && st->partition_key != e.partition_key) {
        return invariant(index, "stream " + e.stream_id + " changes its partition key");
      }
      if (t != touched.end()) {
        t->second.version = e.stream_version;
      } else {
        touched.emplace_back(std::move(key), StreamState{e.stream_version, e.partition_key});
      }
    }

    next_seq_[pid] = next + n;
    for (auto& [key, st] : touched) streams_[key] = st;
    TxRecord rec;
    rec.result.transaction_id = first.tx.transaction_id;
    rec.result.partition_id = pid;
    rec.result.offsets.assign(n, 0);
    rec.result.first_partition_sequence = next;
    rec.result.last_partition_sequence = next + n - 1;
    rec.result.log_position = index;
    AppliedTransaction out{index, first.tx.term, pid, first.tx.transaction_id, {}};
    for (size_t j = 0; j < n; ++j) {
      const EventRecord& e = (*records)[j];
      ids_[e.event_id] = IdRef{index, static_cast<uint32_t>(j)};
      rec.ids.push_back(e.event_id);
      rec.result.stream_versions.push_back(e.stream_version);
      rec.result.timestamps_ns.push_back(e.timestamp_ns);
      clock_ns_ = std::max(clock_ns_, e.timestamp_ns);
      out.events.push_back(
          AppliedEvent{e.event_id, e.stream_id, e.partition_sequence, e.stream_version});
    }
    rec.digest = transaction_digest(std::span<const EventRecord>(*records));
    txs_[index] = std::move(rec);
    ++applied_tx_count_;
    txid = first.tx.transaction_id;
    applied.push_back(std::move(out));
  }
  applied_index_ = index;

  if (auto it = pending_.find(index); it != pending_.end()) {
    if (txid && *txid == it->second.tx.result.transaction_id) {
      ready.emplace_back(std::move(it->second.done), it->second.tx.result);
    } else {
      const std::string why =
          "the entry at index " + std::to_string(index) + " is not the proposed transaction";
      ready.emplace_back(std::move(it->second.done), make_error(Errc::OutcomeUnknown, why));
      drop_deferred_from(index, why, ready);
    }
    pending_.erase(it);
  }
  auto due = std::stable_partition(deferred_.begin(), deferred_.end(),
                                   [&](const Deferred& d) { return d.rests_on > index; });
  for (auto it = due; it != deferred_.end(); ++it) {
    ready.emplace_back(std::move(it->done), std::move(it->answer));
  }
  deferred_.erase(due, deferred_.end());
  return {};
}

std::optional<Proposal> MemLog::propose(PartitionId pid, Transaction tx, uint64_t index,
                                        uint64_t term, AppendCallback done) {
  // An answer now (it rests on applied state only), or once `rests_on` is applied.
  auto answer_now = [&](Result<AppendResult> r) -> std::optional<Proposal> {
    if (done) done(std::move(r));
    return std::nullopt;
  };
  std::optional<uint64_t> rests_on;  // the highest pending index of the partition
  if (auto it = spec_last_index_.find(pid); it != spec_last_index_.end()) rests_on = it->second;
  auto answer = [&](Result<AppendResult> r, std::optional<uint64_t> on) {
    if (!on) return answer_now(std::move(r));
    deferred_.push_back(Deferred{*on, std::move(r), std::move(done)});
    return std::optional<Proposal>{};
  };

  if (auto s = check_live(); !s) return answer_now(std::unexpected(s.error()));
  const PartitionId key_pid = partition_id_for_key(tx.partition_key(), partition_count_);
  if (key_pid != pid) {
    return answer_now(make_error(
        Errc::InvalidArgument,
        "partition id " + std::to_string(pid) + " does not match the partition key " +
            tx.partition_key().to_string() + " (partition " + std::to_string(key_pid) + ")"));
  }
  const uint64_t floor = std::max(applied_index_, pending_.empty() ? 0 : pending_.rbegin()->first);
  if (index <= floor) {
    return answer_now(make_error(Errc::InvalidArgument,
                                 "proposal at index " + std::to_string(index) +
                                     ": applied or proposed up to " + std::to_string(floor)));
  }

  const auto& events = tx.events();
  const size_t n = events.size();
  std::vector<Uuid> ids;
  ids.reserve(n);
  for (const NewEvent& e : events) ids.push_back(e.event_id);
  const TransactionDigest digest = transaction_digest(std::span<const NewEvent>(events));

  // 1. Client-supplied event ids: a retry gets its original result, any other reuse is an error.
  const bool any_client =
      std::any_of(events.begin(), events.end(), [](const NewEvent& e) { return !e.fresh_id; });
  const bool all_client =
      std::none_of(events.begin(), events.end(), [](const NewEvent& e) { return e.fresh_id; });
  if (any_client) {
    // Pending proposals first: such a verdict waits for them.
    for (size_t i = 0; i < n; ++i) {
      if (events[i].fresh_id) continue;
      auto it = spec_ids_.find(events[i].event_id);
      if (it == spec_ids_.end()) continue;
      const Pending& p = pending_.at(it->second.index);
      const uint64_t on = std::max(it->second.index, rests_on.value_or(0));
      if (i == 0 && it->second.pos == 0 && all_client && p.tx.ids == ids && p.tx.digest == digest) {
        AppendResult original = p.tx.result;
        original.retry = true;
        return answer(std::move(original), on);
      }
      return answer(duplicate_event_id(events[i].event_id), on);
    }
    // Applied transactions: definite.
    for (size_t i = 0; i < n; ++i) {
      if (events[i].fresh_id) continue;
      auto it = ids_.find(events[i].event_id);
      if (it == ids_.end()) continue;
      const TxRecord& rec = txs_.at(it->second.index);
      if (i == 0 && it->second.pos == 0 && all_client && rec.ids == ids && rec.digest == digest) {
        AppendResult original = rec.result;
        original.retry = true;
        return answer_now(std::move(original));
      }
      return answer_now(duplicate_event_id(events[i].event_id));
    }
  }

  // 2. The expected partition sequence.
  const uint64_t next = spec_next_sequence(pid);
  const CurrentVersion cur_seq =
      next == 0 ? CurrentVersion::empty() : CurrentVersion::current(next - 1);
  if (!cur_seq.satisfies(tx.expected_sequence())) {
    return answer(make_error(Errc::WrongExpectedSequence,
                             "current partition sequence is " + cur_seq.to_string() +
                                 " but expected " + tx.expected_sequence().to_string() +
                                 " for partition " + std::to_string(pid)),
                  rests_on);
  }

  // 3. Expected stream versions (a stream seen earlier in the transaction continues from it).
  std::vector<uint64_t> versions(n);
  std::vector<std::pair<std::string_view, uint64_t>> seen;  // stream -> its last version so far
  for (size_t i = 0; i < n; ++i) {
    const NewEvent& e = events[i];
    CurrentVersion cur;
    auto s = std::find_if(seen.begin(), seen.end(),
                          [&](const auto& p) { return p.first == e.stream_id; });
    if (s != seen.end()) {
      cur = CurrentVersion::current(s->second);
    } else if (const StreamState* st = spec_stream(StreamKey{pid, e.stream_id})) {
      if (st->partition_key != e.partition_key) {
        return answer(
            make_error(Errc::PartitionKeyMismatch,
                       "partition key must be the same for all events in a stream: "
                       "expected " +
                           st->partition_key.to_string() + ", got " + e.partition_key.to_string()),
            rests_on);
      }
      cur = CurrentVersion::current(st->version);
    }
    if (!cur.satisfies(e.expected_version)) {
      return answer(make_error(Errc::WrongExpectedVersion,
                               "current stream version is " + cur.to_string() + " but expected " +
                                   e.expected_version.to_string() + " for partition key " +
                                   e.partition_key.to_string() + " and stream id " + e.stream_id),
                    rests_on);
    }
    versions[i] = cur.next();
    if (s != seen.end()) {
      s->second = versions[i];
    } else {
      seen.emplace_back(e.stream_id, versions[i]);
    }
  }

  // Accepted: timestamps, the entry, the pending record.
  AppendResult result;
  result.transaction_id = tx.id();
  result.partition_id = pid;
  result.offsets.assign(n, 0);
  result.first_partition_sequence = next;
  result.last_partition_sequence = next + n - 1;
  result.stream_versions = versions;
  result.log_position = index;
  std::vector<EventToWrite> to_write;
  to_write.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const NewEvent& e = events[i];
    uint64_t ts = e.timestamp_ns;
    if (ts == 0) ts = clock_ns_ + 1 < kMaxTimestamp ? clock_ns_ + 1 : clock_ns_;
    clock_ns_ = std::max(clock_ns_, ts);
    result.timestamps_ns.push_back(ts);
    to_write.push_back(EventToWrite{e.event_id, e.partition_key, pid, next + i, versions[i], ts,
                                    e.stream_id, e.event_name, e.metadata, e.payload});
  }
  auto payload =
      encode_transaction_entry(TransactionHeader{index, term, tx.id()}, clock_ns_, to_write);
  if (!payload) return answer_now(std::unexpected(payload.error()));

  Pending p;
  p.tx.result = result;
  p.tx.digest = digest;
  p.tx.ids = std::move(ids);
  p.streams.reserve(n);
  for (const NewEvent& e : events) p.streams.push_back(e.stream_id);
  p.partition_key = tx.partition_key();
  p.done = std::move(done);
  add_spec(index, pending_.emplace(index, std::move(p)).first->second);
  return Proposal{std::move(*payload), std::move(result)};
}

void MemLog::abandon_proposals(uint64_t from_index, const Error& why) {
  Ready ready;
  for (auto it = pending_.lower_bound(from_index); it != pending_.end();) {
    ready.emplace_back(std::move(it->second.done), std::unexpected(why));
    it = pending_.erase(it);
  }
  drop_deferred_from(from_index, why.message, ready);
  rebuild_spec();
  run(ready);
}

void MemLog::drop_deferred_from(uint64_t from, const std::string& why, Ready& ready) {
  auto gone = std::stable_partition(deferred_.begin(), deferred_.end(),
                                    [&](const Deferred& d) { return d.rests_on < from; });
  for (auto it = gone; it != deferred_.end(); ++it) {
    ready.emplace_back(std::move(it->done),
                       make_error(Errc::OutcomeUnknown,
                                  "the proposals this answer rested on were abandoned: " + why));
  }
  deferred_.erase(gone, deferred_.end());
}

void MemLog::rebuild_spec() {
  spec_seq_.clear();
  spec_streams_.clear();
  spec_ids_.clear();
  spec_last_index_.clear();
  for (const auto& [index, p] : pending_) add_spec(index, p);
}

void MemLog::add_spec(uint64_t index, const Pending& p) {
  const AppendResult& r = p.tx.result;
  spec_seq_[r.partition_id] = r.last_partition_sequence + 1;
  spec_last_index_[r.partition_id] = index;
  for (size_t j = 0; j < p.tx.ids.size(); ++j) {
    spec_streams_[StreamKey{r.partition_id, p.streams[j]}] =
        StreamState{r.stream_versions[j], p.partition_key};
    spec_ids_[p.tx.ids[j]] = IdRef{index, static_cast<uint32_t>(j)};
  }
}

uint64_t MemLog::spec_next_sequence(PartitionId pid) const {
  if (auto it = spec_seq_.find(pid); it != spec_seq_.end()) return it->second;
  return next_sequence(pid);
}

const MemLog::StreamState* MemLog::spec_stream(const StreamKey& key) const {
  if (auto it = spec_streams_.find(key); it != spec_streams_.end()) return &it->second;
  if (auto it = streams_.find(key); it != streams_.end()) return &it->second;
  return nullptr;
}

uint64_t MemLog::next_sequence(PartitionId pid) const {
  auto it = next_seq_.find(pid);
  return it == next_seq_.end() ? 0 : it->second;
}

CurrentVersion MemLog::stream_version(PartitionId pid, const std::string& stream_id) const {
  auto it = streams_.find(StreamKey{pid, stream_id});
  return it == streams_.end() ? CurrentVersion::empty()
                              : CurrentVersion::current(it->second.version);
}

void MemLog::run(Ready& ready) {
  for (auto& [done, result] : ready) {
    if (done) done(std::move(result));
  }
}

}  // namespace sierra::test
