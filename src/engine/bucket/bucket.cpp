#include "engine/bucket/bucket.hpp"

#include <algorithm>
#include <chrono>
#include <system_error>

#include "engine/segment/format.hpp"
#include "engine/segment/interrupted_creation.hpp"
#include "engine/segment/paths.hpp"

namespace sierra {

namespace fs = std::filesystem;

namespace {

constexpr size_t kStreamCacheLimit = 1'000'000;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The log position of the last indexed transaction of a closed segment (a verified header-only
// read of its last event), nullopt if it has none.
Result<std::optional<uint64_t>> last_log_position(const ClosedSegment& seg) {
  uint64_t max_off = 0;
  for (const PartitionSummary& p : seg.partition_summaries()) {
    auto offs = seg.partition_offsets(p.partition_id);
    if (!offs) return std::unexpected(offs.error());
    if (!offs->empty()) max_off = std::max(max_off, offs->back().offset);
  }
  if (max_off == 0) return std::optional<uint64_t>();
  auto rec = seg.reader()->read_record(max_off, true);
  if (!rec) return std::unexpected(rec.error());
  return std::optional<uint64_t>(std::visit([](const auto& r) { return r.tx.log_position; }, *rec));
}

}  // namespace

Bucket::Bucket(Config config) : cfg_(std::move(config)) {
  index_retry_ = std::make_unique<IndexWriteRetry>(
      cfg_.id,
      [this](const IndexWriteRetry::Job& job) -> Status {
        if (auto s = write_index_files(cfg_.base, cfg_.id, job.segment, *job.mem, cfg_.env); !s)
          return s;
        auto seg = open_closed_segment_files(cfg_.base, cfg_.id, job.reader, cfg_.env);
        if (!seg) return std::unexpected(seg.error());
        replace_closed(std::move(*seg));
        return {};
      },
      cfg_.log);
}
Bucket::~Bucket() = default;

void Bucket::log(LogLevel level, const std::string& msg) const {
  if (cfg_.log) cfg_.log(level, msg);
}

Result<std::unique_ptr<Bucket>> Bucket::open(Config config) {
  auto b = std::make_unique<Bucket>(std::move(config));
  if (auto s = b->recover(); !s) return std::unexpected(s.error());
  b->upgrade_event_indexes();
  return b;
}

// Opens every segment of the bucket: closed ones through their index files (rebuilt from the
// segment when missing or damaged), the live one through SegmentWriter::open (which truncates a
// torn or uncommitted tail), then hydrates the live indexes and the watermarks.
Status Bucket::recover() {
  const fs::path& base = cfg_.base;
  const BucketId bid = cfg_.id;
  auto ids = list_segment_ids(base, bid);
  if (!ids) return std::unexpected(ids.error());

  std::vector<SegmentId> with_data;
  for (SegmentId s : *ids) {
    std::error_code ec;
    if (fs::exists(get_path(base, bid, s, SegmentKind::Events), ec)) with_data.push_back(s);
  }
  // A highest segment file shorter than a header, or header-sized with a header that does not
  // verify (torn: zeros or garbage), is a segment creation (rollover) interrupted by a crash
  // before its header was durable. The header is fdatasynced before any record is written, so
  // such a file never held a record: drop it.
  while (!with_data.empty()) {
    std::error_code ec;
    const fs::path path = get_path(base, bid, with_data.back(), SegmentKind::Events);
    uintmax_t size = 0;
    if (!is_interrupted_creation(path, bid, with_data.back(), &size, cfg_.env)) break;
    log(LogLevel::Warn, "bucket " + std::to_string(bid) + " segment " +
                            std::to_string(with_data.back()) + ": removing a segment whose " +
                            "creation was interrupted (" + std::to_string(size) + " bytes)");
    fs::remove_all(segment_dir(base, bid, with_data.back()), ec);
    with_data.pop_back();
  }
  // Directories above the live segment without data.evts are leftovers of a crash between
  // mkdir and file creation (STORAGE B20): remove them so they are never mistaken for segments.
  const SegmentId live = with_data.empty() ? 0 : with_data.back();
  for (SegmentId s : *ids) {
    if (s > live || (with_data.empty() && s == 0)) {
      std::error_code ec;
      if (!fs::exists(get_path(base, bid, s, SegmentKind::Events), ec)) {
        fs::remove_all(segment_dir(base, bid, s), ec);
      }
    }
  }

  auto closed = std::make_shared<ClosedList>();
  std::vector<std::pair<IndexWriteRetry::Job, Error>> retry_later;
  auto quarantine = std::make_shared<Quarantine>(bid);
  std::vector<size_t> rebuilt;  // indexes into *closed of segments rebuilt from their data
  // One damaged closed segment must not stop the bucket: it is quarantined (quarantine.hpp).
  const auto quarantine_add = [&](SegmentId s, std::string reason, bool lossy) {
    quarantine->add({s, std::move(reason), lossy});
  };
  for (SegmentId s : with_data) {
    if (s == live) break;
    const fs::path path = get_path(base, bid, s, SegmentKind::Events);
    auto reader = SegmentReader::open(path, bid, s, nullptr, cfg_.env);
    if (!reader && reader.error().code == Errc::CorruptHeader) {
      const Error why = reader.error();
      reader = open_reader_ignoring_header(path, bid, s, cfg_.env);
      if (reader) quarantine_add(s, "segment header damaged (" + why.message + ")", false);
    }
    if (!reader) return std::unexpected(reader.error());
    auto seg = open_closed_segment_files(base, bid, *reader, cfg_.env);
    if (!seg) {
      log(LogLevel::Warn, "bucket " + std::to_string(bid) + " segment " + std::to_string(s) +
                              ": index files unusable (" + seg.error().to_string() +
                              "); rebuilding them from the segment");
      auto idx = build_indexes_from_segment(*reader);
      if (!idx && idx.error().code != Errc::Io && idx.error().code != Errc::NoSpace) {
        // Damaged records: index what verifies before and after them, serve that from memory
        // (no index files: they would hide the damage from the next open) and quarantine.
        auto salvaged = salvage_indexes(*reader);
        if (!salvaged) return std::unexpected(salvaged.error());
        std::string ranges;
        for (const DamagedRange& r : salvaged->damaged) {
          ranges += (ranges.empty() ? "" : ", ") + std::string("[") + std::to_string(r.from) +
                    ", " + std::to_string(r.to) + ")";
        }
        quarantine_add(s,
                       "damaged records (" + idx.error().to_string() + "); unreadable bytes " +
                           ranges +
                           (salvaged->lossy ? ", committed transactions may be lost there"
                                            : ", no committed transaction lost"),
                       salvaged->lossy);
        rebuilt.push_back(closed->size());
        closed->push_back(std::make_shared<const ClosedSegment>(
            *reader, std::make_shared<const LiveIndexes>(std::move(salvaged->indexes))));
        continue;
      }
      if (!idx) return std::unexpected(idx.error());
      rebuilt.push_back(closed->size());
      auto mem = std::make_shared<const LiveIndexes>(std::move(*idx));
      if (auto w = write_index_files(base, bid, s, *mem, cfg_.env); !w) {
        // A full (or failing) disk must not stop the open: serve the segment from the rebuilt
        // in-memory indexes and write its files once the disk takes them again.
        closed->push_back(std::make_shared<const ClosedSegment>(*reader, mem));
        retry_later.push_back({IndexWriteRetry::Job{s, std::move(mem), *reader}, w.error()});
        continue;
      }
      seg = open_closed_segment_files(base, bid, *reader, cfg_.env);
      if (!seg) return std::unexpected(seg.error());
    }
    closed->push_back(std::move(*seg));
  }

  // The live segment.
  std::unique_ptr<SegmentWriter> writer;
  RecoveryReport report;
  if (with_data.empty()) {
    if (auto d = ensure_segment_dir(base, bid, 0); !d) return std::unexpected(d.error());
    auto w = SegmentWriter::create(base, bid, 0, cfg_.segment_size, cfg_.env);
    if (!w) return std::unexpected(w.error());
    writer = std::move(*w);
  } else {
    auto w = SegmentWriter::open(base, bid, live, cfg_.segment_size, &report,
                                 OnAcknowledgedDamage::Refuse, cfg_.env);
    if (!w) {
      // The live segment decides where the next append goes: damage in it keeps the refusal,
      // with what to run.
      Error e = w.error();
      if (e.code == Errc::CorruptHeader || e.code == Errc::Crc32cMismatch ||
          e.code == Errc::CorruptRecord || e.code == Errc::ConfirmationCrc32cMismatch) {
        e.message += " (live segment " + std::to_string(live) + " of bucket " +
                     std::to_string(bid) +
                     ": the database cannot append to this bucket; run `sierradb check <dir>` to "
                     "see the damage, then `sierradb check --repair <dir>`)";
      }
      return std::unexpected(std::move(e));
    }
    writer = std::move(*w);
    if (report.zero_tail) {
      log(LogLevel::Debug, "bucket " + std::to_string(bid) + " segment " + std::to_string(live) +
                               ": released " + std::to_string(report.bytes_dropped) +
                               " bytes of preallocated space");
    } else if (report.bytes_dropped > 0) {
      log(LogLevel::Warn, "bucket " + std::to_string(bid) + " segment " + std::to_string(live) +
                              ": recovered, dropped " + std::to_string(report.bytes_dropped) +
                              " bytes of torn or uncommitted tail (" + report.reason + ")");
    }
  }
  auto reader = SegmentReader::open(get_path(base, bid, live, SegmentKind::Events), bid, live,
                                    writer->flushed_offset_handle(), cfg_.env);
  if (!reader) return std::unexpected(reader.error());
  auto idx = build_indexes_from_segment(*reader);
  if (!idx) return std::unexpected(idx.error());

  // Watermarks: closed segments oldest to newest, then the live indexes.
  std::unordered_map<PartitionId, uint64_t> wm;
  for (const auto& seg : *closed) {
    for (const PartitionSummary& p : seg->partition_summaries()) {
      wm[p.partition_id] = std::max(wm[p.partition_id], p.sequence_max + 1);
    }
  }
  for (const auto& [pid, e] : idx->partitions.entries()) {
    wm[pid] = std::max(wm[pid], e.sequence_max + 1);
  }

  // Log position: continue after the last committed transaction of the bucket.
  uint64_t last_pos = 0;
  if (report.has_transactions) {
    last_pos = report.last_log_position;
  } else if (!closed->empty()) {
    auto lp = last_log_position(*closed->back());
    if (!lp) return std::unexpected(lp.error());
    last_pos = lp->value_or(0);
  }

  // A segment rebuilt from its data may have lost its end (a truncated file ending at a record
  // boundary verifies): its last log position must be followed by the next segment's first.
  for (size_t i : rebuilt) {
    const auto& seg = (*closed)[i];
    const SegmentReader& next = i + 1 < closed->size() ? *(*closed)[i + 1]->reader() : **reader;
    auto last = last_log_position(*seg);
    if (!last || !*last || next.visible_end() <= segment_format::kHeaderSize) continue;
    auto first = next.read_record(segment_format::kHeaderSize, true);
    if (!first) continue;  // the next segment's own damage is its own finding
    const uint64_t lp = std::visit([](const auto& r) { return r.tx.log_position; }, *first);
    if (lp != **last + 1) {
      quarantine->add({seg->id(),
                       "the segment ends at log position " + std::to_string(**last) +
                           " but the next one starts at " + std::to_string(lp) +
                           ": transactions at its end are lost (truncated file?)",
                       true});
    }
  }

  if (!quarantine->empty()) {
    quarantine->settle(*closed, *idx);
    for (const QuarantinedSegment& q : quarantine->segments()) {
      log(LogLevel::Error, "bucket " + std::to_string(bid) + " segment " +
                               std::to_string(q.segment) + " QUARANTINED: " + q.reason +
                               (q.lossy ? "; reads and appends that may need its lost records "
                                          "fail with QuarantinedSegment"
                                        : "; its records are served") +
                               ". Run `sierradb check <dir>` (see docs/FORMAT.md \"Damaged "
                               "closed segments\")");
    }
    quarantine_ = std::move(quarantine);
  }

  std::unique_lock lock(mu_);
  live_id_ = live;
  live_reader_ = std::move(*reader);
  live_ = std::make_shared<LiveIndexes>(std::move(*idx));
  closed_ = std::move(closed);
  watermarks_ = wm;
  writer_ = std::move(writer);
  next_seq_ = std::move(wm);
  durable_log_position_ = last_pos;
  next_log_position_ = last_pos + 1;
  lock.unlock();
  for (auto& [job, why] : retry_later) index_retry_->add(std::move(job), why);
  return {};
}

uint64_t Bucket::watermark(PartitionId pid) const {
  std::shared_lock lock(mu_);
  auto it = watermarks_.find(pid);
  return it == watermarks_.end() ? 0 : it->second;
}

uint64_t Bucket::next_sequence(PartitionId pid) {
  auto it = next_seq_.find(pid);
  return it == next_seq_.end() ? 0 : it->second;
}

Result<Bucket::CachedStream*> Bucket::lookup_stream(PartitionId pid, const std::string& sid) {
  if (auto it = streams_.find(StreamKeyRef{pid, sid}); it != streams_.end()) return &*it;
  StreamState st;  // no event yet, unless an index knows the stream
  // The writer thread is the only mutator of live_, so it may read it without the lock.
  if (StreamEntry* e = live_->streams.find(pid, sid)) {
    st = StreamState{e->partition_key, e->version_max, true, e};
  } else {
    // closed_ is swapped by the background index job (replace_closed): take a snapshot.
    std::shared_ptr<const ClosedList> closed;
    {
      std::shared_lock lock(mu_);
      closed = closed_;
    }
    for (auto it = closed->rbegin(); it != closed->rend(); ++it) {
      auto s = query_closed_healing(
          *it, [&](const ClosedSegment& c) { return c.stream_summary(pid, sid); });
      if (!s) return std::unexpected(s.error());
      if (*s) {
        st = StreamState{(*s)->partition_key, (*s)->version_max, true};
        break;
      }
    }
  }
  return &*streams_.emplace(StreamKey{pid, sid}, st).first;
}

void Bucket::stage_append(PartitionId pid, Transaction tx, Database::AppendCallback done) {
  auto fail = [&](std::unexpected<Error> e) { done(std::move(e)); };
  if (writer_->broken()) {
    if (auto s = reopen_writer(); !s) return fail(std::unexpected(s.error()));
  }
  if (quarantine_ && quarantine_->uncertain(pid)) {
    return fail(std::unexpected(quarantine_->error(pid, "append refused")));
  }
  const auto& events = tx.events();
  const size_t n = events.size();
  const PartitionId key_pid = partition_id_for_key(tx.partition_key(), cfg_.partition_count);
  if (key_pid != pid) {
    return fail(make_error(
        Errc::InvalidArgument,
        "partition id " + std::to_string(pid) + " does not match the partition key " +
            tx.partition_key().to_string() + " (partition " + std::to_string(key_pid) + ")"));
  }
  // hold(): a rejection that may rest on the staged batch is sent once that batch is durable.
  auto hold = [&](std::unexpected<Error> e) {
    answer_when_durable(pid, std::move(tx), std::move(done), std::move(e));
  };
  // Client-supplied event ids: a retry gets its original result, a reuse is an error.
  auto verdict = check_event_ids(tx);
  if (!verdict) return fail(std::unexpected(verdict.error()));
  if (verdict->kind != EventIdVerdict::Kind::Fresh) {
    if (!verdict->tentative) return done(std::move(verdict->outcome));
    return answer_when_durable(pid, std::move(tx), std::move(done), std::move(verdict->outcome));
  }

  for (int attempt = 0; attempt < 3; ++attempt) {
    // Expected partition sequence.
    const uint64_t next = next_sequence(pid);
    const CurrentVersion cur_seq =
        next == 0 ? CurrentVersion::empty() : CurrentVersion::current(next - 1);
    if (!cur_seq.satisfies(tx.expected_sequence())) {
      return hold(make_error(Errc::WrongExpectedSequence,
                             "current partition sequence is " + cur_seq.to_string() +
                                 " but expected " + tx.expected_sequence().to_string() +
                                 " for partition " + std::to_string(pid)));
    }

    // Stream versions, with the in-transaction rules of STORAGE §6.5.1 (corrected). Nothing
    // is changed until the whole transaction is accepted: a stream seen earlier in this
    // transaction continues from the version given to its last event so far (tx_streams_ holds
    // that event's index), not from the cache.
    std::vector<uint64_t> versions(n);
    tx_states_.clear();
    tx_streams_.clear();
    for (size_t i = 0; i < n; ++i) {
      const NewEvent& e = events[i];
      CurrentVersion cur;
      auto found = std::find_if(tx_streams_.begin(), tx_streams_.end(),
                                [&](const auto& p) { return p.first == e.stream_id; });
      CachedStream* cached = nullptr;
      if (found != tx_streams_.end()) {
        cached = tx_states_[found->second];
        cur = CurrentVersion::current(versions[found->second]);
        found->second = i;
      } else {
        auto looked = lookup_stream(pid, e.stream_id);
        if (!looked) return fail(std::unexpected(looked.error()));
        cached = *looked;
        const StreamState* st = &cached->second;
        if (st->exists) {
          if (st->partition_key != e.partition_key) {
            return hold(make_error(Errc::PartitionKeyMismatch,
                                   "partition key must be the same for all events in a stream: "
                                   "expected " +
                                       st->partition_key.to_string() + ", got " +
                                       e.partition_key.to_string()));
          }
          cur = CurrentVersion::current(st->version);
        }
        tx_streams_.emplace_back(e.stream_id, i);
      }
      if (!cur.satisfies(e.expected_version)) {
        return hold(make_error(Errc::WrongExpectedVersion,
                               "current stream version is " + cur.to_string() + " but expected " +
                                   e.expected_version.to_string() + " for partition key " +
                                   e.partition_key.to_string() + " and stream id " + e.stream_id));
      }
      versions[i] = cur.next();
      tx_states_.push_back(cached);
    }

    to_write_.clear();
    for (size_t i = 0; i < n; ++i) {
      const NewEvent& e = events[i];
      to_write_.push_back(EventToWrite{e.event_id, e.partition_key, pid, next + i, versions[i],
                                       e.timestamp_ns, e.stream_id, e.event_name, e.metadata,
                                       e.payload});
    }
    const size_t size = segment_format::encoded_transaction_size(to_write_);
    if (size + segment_format::kHeaderSize > cfg_.segment_size) {
      return fail(make_error(Errc::EventsExceedSegmentSize,
                             "events exceed the size of a single segment (" + std::to_string(size) +
                                 " bytes, segment size " + std::to_string(cfg_.segment_size) +
                                 ")"));
    }
    if (!writer_->fits(size)) {
      // A transaction never spans two segments: make what is staged durable, then roll over,
      // then validate again (the staged work may have failed and been rolled back).
      auto moved = commit_staged();
      carried_changes_.insert(carried_changes_.end(), moved.begin(), moved.end());
      if (auto s = rollover(); !s) return fail(std::unexpected(s.error()));
      continue;
    }

    encode_buf_.clear();
    rel_offsets_.clear();  // encode_transaction appends to it
    const TransactionHeader header{next_log_position_, 0, tx.id()};
    // The first transaction appended to an empty writer buffer starts a write batch (the next
    // flush writes it at the previous flushed offset): flag it, so that recovery can tell damage
    // of acknowledged data from a torn tail (docs/FORMAT.md "Recovery"). The buffer is empty
    // after every flush (commit_staged, including the one just before a rollover), after a
    // failed flush, and in a freshly created or reopened writer.
    if (auto s = segment_format::encode_transaction(encode_buf_, header, now_ns(), to_write_,
                                                    &rel_offsets_, writer_->at_batch_start());
        !s) {
      return fail(std::unexpected(s.error()));
    }
    const uint64_t start = writer_->append(encode_buf_);

    AppendResult result;
    result.transaction_id = tx.id();
    result.partition_id = pid;
    result.segment_id = live_id_;
    result.offsets.reserve(n);
    for (uint32_t rel : rel_offsets_) result.offsets.push_back(start + rel);
    result.first_partition_sequence = next;
    result.last_partition_sequence = next + n - 1;
    result.log_position = next_log_position_;

    ++next_log_position_;
    next_seq_[pid] = next + n;
    for (size_t i = 0; i < n; ++i) {
      const NewEvent& e = events[i];
      StreamState& st = tx_states_[i]->second;  // in order: the last event of a stream wins
      st.partition_key = e.partition_key;
      st.version = versions[i];
      st.exists = true;
      pending_.push_back(PendingEvent{e.event_id, pid, next + i, tx_states_[i], e.partition_key,
                                      versions[i], result.offsets[i]});
    }
    result.stream_versions = std::move(versions);
    result.timestamps_ns.reserve(n);
    for (const NewEvent& e : events) result.timestamps_ns.push_back(e.timestamp_ns);
    staged_events_ += n;
    staged_.push_back(Staged{std::move(done), std::move(result), {}});
    remember_staged_ids(tx);
    return;
  }
  fail(make_error(Errc::Io, "could not place the transaction in a new segment"));
}

std::vector<std::pair<PartitionId, uint64_t>> Bucket::commit_staged() {
  std::vector<std::pair<PartitionId, uint64_t>> changed = std::move(carried_changes_);
  carried_changes_.clear();
  if (staged_.empty()) return changed;
  if (auto s = writer_->flush(); !s) {
    log(LogLevel::Error, "bucket " + std::to_string(cfg_.id) + ": write failed, " +
                             std::to_string(staged_.size()) +
                             " transactions rejected: " + s.error().to_string());
    std::vector<Staged> failed = std::move(staged_);
    staged_.clear();
    staged_ids_.clear();
    std::vector<Deferred> deferred = std::move(deferred_);
    deferred_.clear();
    pending_.clear();
    staged_events_ = 0;
    reset_tentative_state();
    if (writer_->broken()) {
      if (auto r = reopen_writer(); !r) {
        log(LogLevel::Error, "bucket " + std::to_string(cfg_.id) +
                                 ": reopening the segment failed: " + r.error().to_string());
      }
    }
    for (Staged& st : failed) st.done(std::unexpected(s.error()));
    auto rechecked = recheck_deferred(std::move(deferred), s.error());
    changed.insert(changed.end(), rechecked.begin(), rechecked.end());
    return changed;
  }

  {
    std::unique_lock lock(mu_);
    for (const PendingEvent& p : pending_) {
      live_->events.insert(p.event_id, p.offset);
      live_->partitions.insert(p.pid, p.sequence, p.offset);
      auto& [key, st] = *p.stream;
      Status s;
      if (st.live_entry != nullptr) {
        s = LiveStreamIndex::insert_into(*st.live_entry, p.pid, key.stream_id, p.partition_key,
                                         p.version, p.offset);
      } else if (auto e = live_->streams.insert(p.pid, key.stream_id, p.partition_key, p.version,
                                                p.offset)) {
        st.live_entry = *e;
      } else {
        s = std::unexpected(e.error());
      }
      if (!s) log(LogLevel::Error, "stream index insert failed: " + s.error().to_string());
      watermarks_[p.pid] = p.sequence + 1;
    }
  }
  for (const PendingEvent& p : pending_) {
    auto it = std::find_if(changed.begin(), changed.end(),
                           [&](const auto& c) { return c.first == p.pid; });
    if (it == changed.end()) {
      changed.emplace_back(p.pid, p.sequence);
    } else {
      it->second = p.sequence;
    }
  }
  durable_log_position_ = next_log_position_ - 1;
  pending_.clear();
  staged_events_ = 0;
  std::vector<Staged> done = std::move(staged_);
  staged_.clear();
  if (!staged_ids_.empty()) staged_ids_.clear();  // clear() walks every bucket: skip when empty
  std::vector<Deferred> deferred = std::move(deferred_);
  deferred_.clear();
  if (streams_.size() > kStreamCacheLimit) streams_.clear();
  index_retry_->poke();  // the disk took a write: index files waiting for space may fit now
  for (Staged& st : done) st.done(std::move(st.result));
  // What the deferred answers rested on is durable and visible now.
  for (Deferred& d : deferred) d.done(std::move(d.outcome));
  return changed;
}

void Bucket::reset_tentative_state() {
  {
    std::shared_lock lock(mu_);
    next_seq_ = watermarks_;
  }
  streams_.clear();
  next_log_position_ = durable_log_position_ + 1;
}

// After a failed fdatasync the file's contents past the last acknowledged byte are unknown:
// cut them off and re-verify the segment by reopening it (never treat the failed sync as done).
// The broken writer is replaced only once the new one is ready: if reopening fails too (the
// disk still fails), the next append finds it broken and tries again instead of finding none.
Status Bucket::reopen_writer() {
  const uint64_t durable_end = writer_->flushed_offset();
  const fs::path path = get_path(cfg_.base, cfg_.id, live_id_, SegmentKind::Events);
  {
    auto f = File::open(path, File::Mode::ReadWrite, cfg_.env);
    if (!f) return std::unexpected(f.error());
    if (auto s = f->truncate(durable_end); !s) return s;
    if (auto s = f->sync(); !s) return s;
  }
  RecoveryReport report;
  auto w = SegmentWriter::open(cfg_.base, cfg_.id, live_id_, cfg_.segment_size, &report,
                               OnAcknowledgedDamage::Refuse, cfg_.env);
  if (!w) return std::unexpected(w.error());
  auto r = SegmentReader::open(path, cfg_.id, live_id_, (*w)->flushed_offset_handle(), cfg_.env);
  if (!r) return std::unexpected(r.error());
  writer_ = std::move(*w);
  std::unique_lock lock(mu_);
  live_reader_ = std::move(*r);
  return {};
}

Status Bucket::rollover() {
  const SegmentId old_id = live_id_;
  const SegmentId new_id = old_id + 1;
  const fs::path& base = cfg_.base;
  {
    // Leftover index files of an interrupted earlier attempt must not survive.
    std::error_code ec;
    fs::remove_all(segment_dir(base, cfg_.id, new_id), ec);
  }
  // The old segment must end at its last record before it can become a closed one (closed
  // segments are read to their file size): cut its preallocated zeros, durably, before the next
  // segment exists.
  if (auto s = writer_->release_unused_space(); !s) return s;
  // A creation that fails (disk full while writing the header) leaves no segment behind: a
  // 0-byte or header-less data.evts would otherwise wait for the next open (and for `check`).
  const auto drop_new = [&](const Error& e) {
    std::error_code ec;
    fs::remove_all(segment_dir(base, cfg_.id, new_id), ec);
    return std::unexpected(e);
  };
  if (auto d = ensure_segment_dir(base, cfg_.id, new_id); !d) return drop_new(d.error());
  auto w = SegmentWriter::create(base, cfg_.id, new_id, cfg_.segment_size, cfg_.env);
  if (!w) return drop_new(w.error());
  auto r = SegmentReader::open(get_path(base, cfg_.id, new_id, SegmentKind::Events), cfg_.id,
                               new_id, (*w)->flushed_offset_handle(), cfg_.env);
  if (!r) return drop_new(r.error());
  if (auto s = writer_->close(); !s) {
    log(LogLevel::Warn, "closing segment failed: " + s.error().to_string());
  }
  writer_ = std::move(*w);

  std::shared_ptr<const LiveIndexes> mem = live_;
  std::shared_ptr<SegmentReader> old_reader = live_reader_;
  auto closed_seg = std::make_shared<ClosedSegment>(old_reader, mem);
  {
    // Copy closed_ under the lock: the background job may be swapping an entry right now.
    std::unique_lock lock(mu_);
    auto closed = std::make_shared<ClosedList>(*closed_);
    closed->push_back(std::move(closed_seg));
    live_id_ = new_id;
    live_reader_ = std::move(*r);
    live_ = std::make_shared<LiveIndexes>();
    closed_ = std::move(closed);
  }
  streams_.clear();  // cached entries stay valid, but keep the cache small across segments

  schedule_index_write(old_id, std::move(mem), std::move(old_reader));
  return {};
}

// Writes a closed segment's index files on the background thread, then serves the segment from
// them. On failure the in-memory indexes keep serving and IndexWriteRetry tries again.
void Bucket::schedule_index_write(SegmentId seg_id, std::shared_ptr<const LiveIndexes> mem,
                                  std::shared_ptr<SegmentReader> reader) {
  const fs::path base = cfg_.base;
  const BucketId bid = cfg_.id;
  std::shared_ptr<Env> env = cfg_.env;
  cfg_.index_jobs([this, base, bid, seg_id, mem, reader, env]() {
    if (auto s = write_index_files(base, bid, seg_id, *mem, env); !s) {
      index_retry_->add(IndexWriteRetry::Job{seg_id, mem, reader}, s.error());
      return;
    }
    auto seg = open_closed_segment_files(base, bid, reader, env);
    if (!seg) {
      index_retry_->add(IndexWriteRetry::Job{seg_id, mem, reader}, seg.error());
      return;
    }
    replace_closed(std::move(*seg));
  });
}

// A damaged index body is only noticed by the lookup that reads it (open checks headers and
// MPHFs, not whole files, to stay fast). Heal it: rebuild the segment's indexes from its data,
// serve them from memory at once, and rewrite the files in the background.
Result<std::shared_ptr<const ClosedSegment>> Bucket::heal_closed(
    const std::shared_ptr<const ClosedSegment>& damaged, const Error& why) {
  std::lock_guard heal_lock(heal_mu_);
  {
    std::shared_lock lock(mu_);
    for (const auto& s : *closed_) {
      if (s->id() == damaged->id() && s != damaged) return s;  // healed meanwhile
    }
  }
  log(LogLevel::Warn, "bucket " + std::to_string(cfg_.id) + " segment " +
                          std::to_string(damaged->id()) + ": damaged index file (" +
                          why.to_string() + "); rebuilding it from the segment");
  auto idx = build_indexes_from_segment(damaged->reader());
  if (!idx) return std::unexpected(idx.error());
  auto mem = std::make_shared<const LiveIndexes>(std::move(*idx));
  auto seg = std::make_shared<const ClosedSegment>(damaged->reader(), mem);
  replace_closed(seg);
  schedule_index_write(damaged->id(), std::move(mem), damaged->reader());
  return seg;
}

void Bucket::replace_closed(std::shared_ptr<const ClosedSegment> seg) {
  std::unique_lock lock(mu_);
  auto list = std::make_shared<ClosedList>(*closed_);
  for (auto& s : *list) {
    if (s->id() == seg->id()) s = seg;
  }
  closed_ = std::move(list);
}

Status Bucket::set_confirmations(SegmentId segment, std::span<const uint64_t> offsets,
                                 const Uuid& txid, uint8_t count) {
  if (count > kMaxReplicationFactor) {
    return make_error(Errc::InvalidArgument, "confirmation count above the replication maximum");
  }
  if (offsets.empty()) return {};
  std::shared_ptr<SegmentReader> reader;
  {
    std::shared_lock lock(mu_);
    if (segment == live_id_) {
      reader = live_reader_;
    } else {
      for (const auto& s : *closed_) {
        if (s->id() == segment) reader = s->reader();
      }
    }
  }
  if (!reader) {
    return make_error(Errc::SegmentNotFound, "segment " + std::to_string(segment) +
                                                 " not found in bucket " + std::to_string(cfg_.id));
  }
  // The commit record of a multi-event transaction carries a count too.
  std::vector<uint64_t> targets(offsets.begin(), offsets.end());
  if (!transaction_id_is_single(txid)) {
    auto tx = reader->read_transaction(offsets.front(), true);
    if (!tx) return std::unexpected(tx.error());
    if (*tx && (*tx)->commit) targets.push_back((*tx)->commit->offset);
  }
  if (segment == live_id_) {
    for (uint64_t off : targets) {
      if (auto s = writer_->set_confirmations(off, txid, count); !s) return s;
    }
    return {};
  }
  auto file = File::open(get_path(cfg_.base, cfg_.id, segment, SegmentKind::Events),
                         File::Mode::ReadWrite, cfg_.env);
  if (!file) return std::unexpected(file.error());
  for (uint64_t off : targets) {
    auto rec = reader->read_record(off, true);
    if (!rec) return std::unexpected(rec.error());
    const Uuid found = std::visit([](const auto& r) { return r.tx.transaction_id; }, *rec);
    if (found != txid) {
      return make_error(Errc::WrongTransactionId,
                        "record belongs to transaction " + found.to_string(), off);
    }
    const auto bytes = segment_format::encode_confirmation(txid, count);
    if (auto s =
            file->pwrite_all(bytes.data(), bytes.size(), off + segment_format::kConfirmationOffset);
        !s) {
      return s;
    }
  }
  return file->datasync();
}

void Bucket::close() {
  commit_staged();
  if (writer_) {
    if (auto s = writer_->close(); !s) {
      log(LogLevel::Warn, "closing segment failed: " + s.error().to_string());
    }
  }
}

}  // namespace sierra
