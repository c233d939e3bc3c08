// Event-id uniqueness: the pure helpers of event_id_check.hpp and the Bucket members that run
// the check (writer thread) and hold back answers that rest on the staged batch.
#include "engine/bucket/event_id_check.hpp"

#include <algorithm>

#include "engine/bucket/bucket.hpp"

namespace sierra {

std::unexpected<Error> duplicate_event_id(const Uuid& id) {
  return make_error(Errc::DuplicateEventId, "event id " + id.to_string() + " already exists");
}

bool is_same_transaction(std::span<const NewEvent> events, const CommittedTransaction& found) {
  const size_t n = events.size();
  // Read from its first event, a transaction holds all its events; read from a later one, fewer
  // than its commit record counts.
  const size_t total = found.commit ? found.commit->event_count : 1;
  if (found.events.size() != n || total != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (found.events[i].event_id != events[i].event_id) return false;
  }
  return transaction_digest(events) == transaction_digest(std::span(found.events));
}

AppendResult original_result(const CommittedTransaction& tx, SegmentId segment) {
  AppendResult r;
  const EventRecord& first = tx.events.front();
  r.transaction_id = first.tx.transaction_id;
  r.partition_id = first.partition_id;
  r.segment_id = segment;
  r.first_partition_sequence = first.partition_sequence;
  r.last_partition_sequence = tx.events.back().partition_sequence;
  r.log_position = first.tx.log_position;
  for (const EventRecord& e : tx.events) {
    r.offsets.push_back(e.offset);
    r.stream_versions.push_back(e.stream_version);
    r.timestamps_ns.push_back(e.timestamp_ns);
  }
  r.retry = true;
  return r;
}

// The durable copy of an event: the live segment's published index, then the closed segments
// newest first (each behind its Bloom filter, so a miss costs no read).
Result<std::optional<Bucket::LocatedEvent>> Bucket::locate_durable_event(const Uuid& id) {
  // The writer thread is the only mutator of live_ and live_reader_: it reads them unlocked.
  if (auto off = live_->events.get(id)) {
    return std::optional<LocatedEvent>(LocatedEvent{live_reader_, live_id_, *off});
  }
  std::shared_ptr<const ClosedList> closed;
  {
    std::shared_lock lock(mu_);
    closed = closed_;
  }
  for (auto it = closed->rbegin(); it != closed->rend(); ++it) {
    auto off = query_closed_healing(*it, [&](const ClosedSegment& c) { return c.find_event(id); });
    if (!off) return std::unexpected(off.error());
    if (*off) return std::optional<LocatedEvent>(LocatedEvent{(*it)->reader(), (*it)->id(), **off});
  }
  return std::optional<LocatedEvent>{};
}

Result<EventIdVerdict> Bucket::check_event_ids(const Transaction& tx) {
  const auto& events = tx.events();
  const bool any_client_id =
      std::any_of(events.begin(), events.end(), [](const NewEvent& e) { return !e.fresh_id; });
  if (!any_client_id) return EventIdVerdict{};
  const bool all_client_ids =
      std::none_of(events.begin(), events.end(), [](const NewEvent& e) { return e.fresh_id; });
  auto conflict = [](const Uuid& id, bool tentative) {
    return EventIdVerdict{EventIdVerdict::Kind::Conflict, tentative, duplicate_event_id(id)};
  };

  // 1. The staged batch (tentative): a copy of a staged transaction is its retry.
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].fresh_id) continue;
    auto it = staged_ids_.find(events[i].event_id);
    if (it == staged_ids_.end()) continue;
    const StagedId ref = it->second;
    const Staged& st = staged_[ref.staged];
    if (i == 0 && ref.event == 0 && all_client_ids && st.result.offsets.size() == events.size() &&
        st.digest == transaction_digest(events)) {
      bool same_ids = true;
      for (size_t j = 1; j < events.size() && same_ids; ++j) {
        auto o = staged_ids_.find(events[j].event_id);
        same_ids = o != staged_ids_.end() && o->second.staged == ref.staged && o->second.event == j;
      }
      if (same_ids) {
        AppendResult original = st.result;
        original.retry = true;
        return EventIdVerdict{EventIdVerdict::Kind::Retry, true, std::move(original)};
      }
    }
    return conflict(events[i].event_id, true);
  }

  // 2. Durable state: the first id found decides (its transaction is this one, or a conflict).
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].fresh_id) continue;
    auto loc = locate_durable_event(events[i].event_id);
    if (!loc) return std::unexpected(loc.error());
    if (!*loc) continue;
    if (i != 0 || !all_client_ids) return conflict(events[i].event_id, false);
    auto found = (*loc)->reader->read_transaction((*loc)->offset);
    if (!found) return std::unexpected(found.error());
    if (!*found || !is_same_transaction(events, **found)) {
      return conflict(events[i].event_id, false);
    }
    return EventIdVerdict{EventIdVerdict::Kind::Retry, false,
                          original_result(**found, (*loc)->segment)};
  }
  return EventIdVerdict{};
}

void Bucket::remember_staged_ids(const Transaction& tx) {
  const auto& events = tx.events();
  const auto staged = static_cast<uint32_t>(staged_.size() - 1);
  bool any = false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].fresh_id) continue;
    staged_ids_.insert_or_assign(events[i].event_id, StagedId{staged, static_cast<uint32_t>(i)});
    any = true;
  }
  if (any) staged_.back().digest = transaction_digest(events);
}

// Event index files of format 1 have no Bloom filter, so every uniqueness check reads a record
// of each of them. They keep serving as they are; a background job rebuilds each one (from its
// segment, as a damaged file is) and swaps in the format-2 files.
void Bucket::upgrade_event_indexes() {
  std::shared_ptr<const ClosedList> closed;
  {
    std::shared_lock lock(mu_);
    closed = closed_;
  }
  for (const auto& seg : *closed) {
    if (!seg->event_index_lacks_bloom()) continue;
    log(LogLevel::Info, "bucket " + std::to_string(cfg_.id) + " segment " +
                            std::to_string(seg->id()) +
                            ": event index without Bloom filter (format 1), rewriting it");
    std::shared_ptr<SegmentReader> reader = seg->reader();
    const SegmentId id = seg->id();
    cfg_.index_jobs([this, reader, id] {
      auto idx = build_indexes_from_segment(reader);
      if (!idx) {
        log(LogLevel::Warn, "rebuilding the indexes of bucket " + std::to_string(cfg_.id) +
                                " segment " + std::to_string(id) +
                                " failed: " + idx.error().to_string());
        return;
      }
      schedule_index_write(id, std::make_shared<const LiveIndexes>(std::move(*idx)), reader);
    });
  }
}

void Bucket::answer_when_durable(PartitionId pid, Transaction tx, Database::AppendCallback done,
                                 Result<AppendResult> outcome) {
  if (staged_.empty()) {
    done(std::move(outcome));
    return;
  }
  deferred_.push_back(Deferred{pid, std::move(tx), std::move(done), std::move(outcome)});
}

// The batch that the deferred answers rested on failed: what they saw never became durable.
// Check each transaction again from scratch against the durable state (stage it anew; the ones
// accepted now are committed at once). A second failure in a row gives them the write error.
std::vector<std::pair<PartitionId, uint64_t>> Bucket::recheck_deferred(
    std::vector<Deferred> deferred, const Error& why) {
  if (deferred.empty()) return {};
  if (recheck_depth_ > 0) {
    for (Deferred& d : deferred) {
      d.done(
          make_error(why.code, "the write this answer depended on failed, retry: " + why.message));
    }
    return {};
  }
  ++recheck_depth_;
  for (Deferred& d : deferred) stage_append(d.pid, std::move(d.tx), std::move(d.done));
  auto changed = commit_staged();
  --recheck_depth_;
  return changed;
}

}  // namespace sierra
