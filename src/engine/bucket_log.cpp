// BucketLog: a bucket's segment files as a replicated log (bucket_log.hpp). Recovery, the
// index -> file position map, suffix truncation, group-commit sync, slot files, and the
// ReplicatedState fed from the files.
#include "engine/bucket_log.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <system_error>

#include "engine/bucket_log_scan.hpp"
#include "engine/file.hpp"
#include "engine/replicated_state.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "engine/slot_pair.hpp"

namespace sierra {

namespace fs = std::filesystem;
namespace fmt = segment_format;

namespace {

constexpr uint32_t kVoteMagic = 0x45544f56;     // "VOTE"
constexpr uint32_t kAppliedMagic = 0x4c505041;  // "APPL"
// The applied index is fdatasynced once it has moved this far since its last synced value
// (in between it is written without a sync: a power loss may take it back, which only delays
// visibility after a restart until the replica applies again).
constexpr uint64_t kAppliedSyncEvery = 1024;
// apply() reads the log in chunks of this many entries / bytes.
constexpr size_t kApplyChunkEntries = 256;
constexpr size_t kApplyChunkBytes = 4u << 20;

void put_u64(uint8_t* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string str(uint64_t v) {
  return std::to_string(v);
}

}  // namespace

class BucketLog::Impl {
 public:
  struct Segment {
    SegmentId id = 0;
    fs::path path;
    File file;
    uint64_t size = 0;       // bytes written (header + entries)
    uint64_t allocated = 0;  // file size: size plus preallocated zeros
  };
  struct Loc {
    uint32_t segment = 0;  // index into segments_
    uint32_t length = 0;
    uint64_t offset = 0;
    uint64_t term = 0;
    LogEntryType type = LogEntryType::Transaction;
  };

  explicit Impl(Options o) : state_(o.partition_count), opts_(std::move(o)) {
    if (!opts_.env) opts_.env = Env::real();
  }

  Status open();

  VoteState vote_state() const { return vote_; }
  Status save_vote_state(VoteState v);
  uint64_t last_index() const { return locs_.size(); }
  uint64_t durable_index() const { return durable_; }
  Result<uint64_t> term_at(uint64_t index) const;
  Result<std::vector<LogEntry>> read_entries(uint64_t from, size_t max_count,
                                             size_t max_bytes) const;
  Status append(uint64_t first_index, std::span<const LogEntryRef> entries);
  Status sync();
  Status apply(uint64_t index, const AppliedSink& sink);

  ReplicatedState state_;
  uint64_t log_syncs_ = 0;
  uint64_t cut_bytes_ = 0;

 private:
  void warn(const std::string& msg) const {
    if (opts_.log) opts_.log(LogLevel::Warn, msg);
  }
  // Fail-stop: after a failed write or sync the file contents are unknown (fsyncgate), so every
  // later change is refused with the first error.
  Status failed(Error e) {
    if (!failed_) failed_ = e;
    return std::unexpected(std::move(e));
  }
  Status check_usable() const {
    if (failed_) {
      return make_error(failed_->code,
                        "the bucket log stopped after an earlier failure: " + failed_->to_string());
    }
    return {};
  }
  Result<Segment> create_segment(SegmentId id);
  Status recover_segments();
  // Recovery's cut: segment `seg` ends at `size` from now on (durably), with a warning.
  Status cut_on_open(Segment& seg, uint64_t size, const std::string& why);
  // Applies the entries up to `index`, read from the files, into state_ (answers collected).
  Status apply_from_log(uint64_t index, ReplicatedState::Answers& answers);
  // Cuts segment `k` to `size` bytes and empties every later one (they stay as files of zero
  // bytes, reused by the next roll). Marks them for a durable sync.
  Status cut(size_t k, uint64_t size);
  // Writes zeros after the segment's end (best effort: on failure, a full disk, the space is
  // given back and the segment grows with its writes from then on).
  void preallocate(Segment& seg);

  Options opts_;
  fs::path bucket_dir_;
  fs::path raft_dir_;
  std::vector<Segment> segments_;  // in id order; the last one is written
  std::vector<Loc> locs_;          // locs_[i - 1]: entry i
  uint64_t durable_ = 0;
  std::set<size_t> dirty_;      // segments written since the last sync
  std::set<size_t> truncated_;  // segments cut since the last sync (need an fsync)
  std::optional<SlotPair> vote_file_;
  std::optional<SlotPair> applied_file_;
  VoteState vote_;
  uint64_t applied_saved_ = 0;   // last applied index written to the slot files
  uint64_t applied_synced_ = 0;  // last one fdatasynced there
  std::optional<Error> failed_;
  bool preallocate_off_ = false;
};

// ------------------------------------------------------------------------------------ open

Result<BucketLog::Impl::Segment> BucketLog::Impl::create_segment(SegmentId id) {
  auto dir = ensure_segment_dir(opts_.dir, opts_.bucket_id, id);
  if (!dir) return std::unexpected(std::move(dir.error()));
  Segment seg;
  seg.id = id;
  seg.path = get_path(opts_.dir, opts_.bucket_id, id, SegmentKind::Events);
  std::error_code ec;
  const bool exists = fs::exists(seg.path, ec);
  auto f = File::open(seg.path, exists ? File::Mode::ReadWrite : File::Mode::CreateNew, opts_.env);
  if (!f) return std::unexpected(std::move(f.error()));
  seg.file = std::move(*f);
  if (exists) {
    if (auto s = seg.file.truncate(0); !s) return std::unexpected(std::move(s.error()));
  }
  // created_at stays 0: replicas that rolled at the same index hold byte-identical files.
  fmt::SegmentHeader h;
  h.bucket_id = opts_.bucket_id;
  h.segment_id = id;
  const auto header = fmt::encode_header(h);
  if (auto s = seg.file.pwrite_all(header.data(), header.size(), 0); !s) {
    return std::unexpected(std::move(s.error()));
  }
  seg.size = seg.allocated = header.size();
  if (!exists) {
    // The file's entry, and the directories ensure_segment_dir may have just made (the
    // segment's, and the bucket's "segments" for the first one).
    for (const fs::path& d : {*dir, dir->parent_path(), dir->parent_path().parent_path()}) {
      if (auto s = sync_directory(d, *opts_.env); !s) return std::unexpected(std::move(s.error()));
    }
  }
  return seg;
}

Status BucketLog::Impl::cut(size_t k, uint64_t size) {
  Segment& seg = segments_[k];
  if (seg.allocated != size) {
    if (auto s = seg.file.truncate(size); !s) return failed(s.error());
    seg.size = seg.allocated = size;
    truncated_.insert(k);
  }
  for (size_t j = k + 1; j < segments_.size(); ++j) {
    if (auto s = segments_[j].file.truncate(0); !s) return failed(s.error());
    if (auto s = segments_[j].file.sync(); !s) return failed(s.error());
  }
  if (segments_.size() > k + 1) {
    std::set<size_t> keep_dirty;
    for (size_t d : dirty_)
      if (d <= k) keep_dirty.insert(d);
    dirty_ = std::move(keep_dirty);
    std::set<size_t> keep_cut;
    for (size_t d : truncated_)
      if (d <= k) keep_cut.insert(d);
    truncated_ = std::move(keep_cut);
    segments_.resize(k + 1);
  }
  return {};
}

Status BucketLog::Impl::cut_on_open(Segment& seg, uint64_t size, const std::string& why) {
  warn("bucket log " + seg.path.string() + ": " + why);
  cut_bytes_ += seg.allocated - size;
  if (auto s = seg.file.truncate(size); !s) return s;
  if (auto s = seg.file.sync(); !s) return s;
  seg.size = seg.allocated = size;
  return {};
}

Status BucketLog::Impl::recover_segments() {
  auto ids = list_segment_ids(opts_.dir, opts_.bucket_id);
  if (!ids) return std::unexpected(std::move(ids.error()));
  bool ended = false;  // the log ended in an earlier segment: later files are emptied
  for (SegmentId id : *ids) {
    const fs::path path = get_path(opts_.dir, opts_.bucket_id, id, SegmentKind::Events);
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    auto f = File::open(path, File::Mode::ReadWrite, opts_.env);
    if (!f) return std::unexpected(std::move(f.error()));
    auto size = f->size();
    if (!size) return std::unexpected(std::move(size.error()));
    Segment seg;
    seg.id = id;
    seg.path = path;
    seg.file = std::move(*f);
    seg.size = seg.allocated = *size;
    if (ended) {
      if (*size > 0) {
        if (auto s = cut_on_open(seg, 0,
                                 str(*size) + " bytes after the end of the log removed "
                                              "(a stale or torn tail)");
            !s) {
          return s;
        }
      }
      continue;
    }
    std::vector<uint8_t> bytes(*size);
    if (*size > 0) {
      if (auto s = seg.file.pread_exact(bytes.data(), bytes.size(), 0); !s) return s;
    }
    auto header = fmt::decode_header(bytes);
    if (!header || header->bucket_id != opts_.bucket_id || header->segment_id != id) {
      // A segment whose creation did not reach the disk (or emptied by a cut): the log ends
      // before it. Anything else past this point is stale.
      if (*size > 0) {
        const std::string why =
            header ? std::string("bucket/segment mismatch") : header.error().to_string();
        if (auto s = cut_on_open(seg, 0, "no valid header (" + why + "); the log ends before it");
            !s) {
          return s;
        }
      }
      ended = true;
      continue;
    }
    const uint64_t first = last_index() + 1;
    const uint64_t min_term = locs_.empty() ? 0 : locs_.back().term;
    EntryScan scan = scan_entries(bytes, fmt::kHeaderSize, first, min_term);
    const auto k = static_cast<uint32_t>(segments_.size());
    for (const ScannedEntry& e : scan.entries) {
      locs_.push_back(Loc{k, e.length, e.offset, e.term, e.type});
    }
    if (scan.stop) {
      if (auto s =
              cut_on_open(seg, scan.end,
                          "the log ends at entry " + str(last_index()) + ", " +
                              str(*size - scan.end) + " bytes cut off: " + scan.stop->to_string());
          !s) {
        return s;
      }
      ended = true;
    } else if (scan.zero_tail > 0) {
      // Preallocated zeros: kept as they are (the writer continues at scan.end).
      seg.size = scan.end;
    }
    segments_.push_back(std::move(seg));
  }
  // A leading run of empty segments (all cut) is written from the last one that has a header.
  if (segments_.empty()) {
    auto seg = create_segment(ids->empty() ? 0 : ids->front());
    if (!seg) return std::unexpected(std::move(seg.error()));
    if (auto s = seg->file.datasync(); !s) return s;
    segments_.push_back(std::move(*seg));
  }
  return {};
}

Status BucketLog::Impl::open() {
  bucket_dir_ = bucket_dir(opts_.dir, opts_.bucket_id);
  raft_dir_ = bucket_dir_ / "raft";
  std::error_code ec;
  const bool fresh = !fs::exists(raft_dir_, ec);
  fs::create_directories(raft_dir_, ec);
  if (ec) return errno_error(ec.value(), "create directory " + raft_dir_.string());
  if (fresh) {
    // Every directory entry on the way down may be new: make them durable, or a power loss could
    // take the whole bucket with it.
    for (fs::path d = raft_dir_.parent_path();; d = d.parent_path()) {
      if (auto s = sync_directory(d, *opts_.env); !s) return s;
      if (d == opts_.dir || d == d.parent_path() || !d.has_relative_path()) break;
      if (d.lexically_normal() == opts_.dir.lexically_normal()) break;
    }
  }

  auto vote =
      SlotPair::open(raft_dir_, "vote", kVoteMagic, 16, SlotPair::Saves::Durable, opts_.env);
  if (!vote) return std::unexpected(std::move(vote.error()));
  vote_file_.emplace(std::move(*vote));
  if (const auto& cur = vote_file_->current()) {
    vote_.term = get_u64(cur->data());
    vote_.voted_for = get_u64(cur->data() + 8);
  }
  auto applied =
      SlotPair::open(raft_dir_, "applied", kAppliedMagic, 8, SlotPair::Saves::Lazy, opts_.env);
  if (!applied) return std::unexpected(std::move(applied.error()));
  applied_file_.emplace(std::move(*applied));
  uint64_t persisted_applied = 0;
  if (const auto& cur = applied_file_->current()) persisted_applied = get_u64(cur->data());
  applied_saved_ = applied_synced_ = persisted_applied;

  if (auto s = recover_segments(); !s) return s;
  if (persisted_applied > last_index()) {
    return make_error(Errc::CorruptRecord,
                      "bucket log " + bucket_dir_.string() + " ends at entry " + str(last_index()) +
                          " but entries up to " + str(persisted_applied) +
                          " were applied: acknowledged data is missing or damaged");
  }
  // What survived a crash may still sit in the page cache only: make it durable before it is
  // reported so.
  for (Segment& seg : segments_) {
    if (auto s = seg.file.datasync(); !s) return s;
  }
  durable_ = last_index();

  // Rebuild the applied state (no proposals yet: the replay has no callbacks to run).
  ReplicatedState::Answers answers;
  return apply_from_log(persisted_applied, answers);
}

Status BucketLog::Impl::apply_from_log(uint64_t index, ReplicatedState::Answers& answers) {
  while (state_.applied_index() < index) {
    const uint64_t from = state_.applied_index() + 1;
    auto entries = read_entries(from, std::min<uint64_t>(kApplyChunkEntries, index - from + 1),
                                kApplyChunkBytes);
    if (!entries) return std::unexpected(std::move(entries.error()));
    for (size_t i = 0; i < entries->size(); ++i) {
      if (auto s = state_.apply(from + i, (*entries)[i], answers); !s) return s;
    }
  }
  return {};
}

// ----------------------------------------------------------------------------- term and vote

Status BucketLog::Impl::save_vote_state(VoteState v) {
  if (auto s = check_usable(); !s) return s;
  uint8_t payload[16];
  put_u64(payload, v.term);
  put_u64(payload + 8, v.voted_for);
  if (auto s = vote_file_->save(payload, /*durable=*/true); !s) return failed(s.error());
  vote_ = v;
  return {};
}

// -------------------------------------------------------------------------------------- log

Result<uint64_t> BucketLog::Impl::term_at(uint64_t index) const {
  if (index == 0) return uint64_t{0};
  if (index > last_index()) {
    return make_error(Errc::InvalidArgument,
                      "term_at(" + str(index) + "): past the last index " + str(last_index()));
  }
  return locs_[index - 1].term;
}

Result<std::vector<LogEntry>> BucketLog::Impl::read_entries(uint64_t from, size_t max_count,
                                                            size_t max_bytes) const {
  if (from < 1 || from > last_index()) {
    return make_error(Errc::InvalidArgument,
                      "read_entries from " + str(from) + ": the log holds 1.." + str(last_index()));
  }
  // Which entries: up to max_count, stopping after the one that reaches max_bytes.
  uint64_t to = from;  // exclusive
  size_t bytes = 0;
  while (to <= last_index() && to - from < max_count) {
    bytes += locs_[to - 1].length;
    ++to;
    if (bytes >= max_bytes) break;
  }
  std::vector<LogEntry> out;
  out.reserve(to - from);
  std::vector<uint8_t> buf;
  // One read per segment run.
  uint64_t i = from;
  while (i < to) {
    const Loc& first = locs_[i - 1];
    uint64_t j = i;
    while (j < to && locs_[j - 1].segment == first.segment) ++j;
    const Loc& last = locs_[j - 2];
    const uint64_t begin = first.offset;
    const uint64_t end = last.offset + last.length;
    buf.resize(end - begin);
    if (auto s = segments_[first.segment].file.pread_exact(buf.data(), buf.size(), begin); !s) {
      return std::unexpected(std::move(s.error()));
    }
    for (uint64_t k = i; k < j; ++k) {
      const Loc& loc = locs_[k - 1];
      std::span<const uint8_t> rec(buf.data() + (loc.offset - begin), loc.length);
      LogEntry e;
      e.term = loc.term;
      e.type = loc.type;
      if (loc.type == LogEntryType::Transaction) {
        e.payload.assign(rec.begin(), rec.end());
      } else {
        auto c = fmt::decode_control_record(rec, loc.offset);
        if (!c) return std::unexpected(std::move(c.error()));
        e.payload.assign(c->payload.begin(), c->payload.end());
      }
      out.push_back(std::move(e));
    }
    i = j;
  }
  return out;
}

void BucketLog::Impl::preallocate(Segment& seg) {
  if (opts_.preallocate_bytes == 0 || preallocate_off_) return;
  const uint64_t want = std::min(opts_.segment_size, seg.size + opts_.preallocate_bytes);
  if (want <= seg.allocated) return;
  const std::vector<uint8_t> zeros(want - seg.allocated, 0);
  if (seg.file.pwrite_all(zeros.data(), zeros.size(), seg.allocated)) {
    seg.allocated = want;
    return;
  }
  (void)seg.file.truncate(seg.allocated);
  preallocate_off_ = true;
  warn("bucket log " + seg.path.string() + ": preallocating failed; segments grow as written");
}

Status BucketLog::Impl::append(uint64_t first_index, std::span<const LogEntryRef> entries) {
  if (auto s = check_usable(); !s) return s;
  if (first_index < 1 || first_index > last_index() + 1) {
    return make_error(Errc::InvalidArgument,
                      "append at " + str(first_index) + ": the last index is " + str(last_index()));
  }
  if (first_index <= last_index() && first_index <= state_.applied_index()) {
    return make_error(Errc::InvalidArgument, "append at " + str(first_index) +
                                                 " would remove applied entries (applied index " +
                                                 str(state_.applied_index()) + ")");
  }
  const uint64_t prev_term = first_index > 1 ? locs_[first_index - 2].term : 0;
  for (size_t k = 0; k < entries.size(); ++k) {
    if (auto s = verify_log_entry(first_index + k, entries[k]); !s) return s;
    const uint64_t before = k == 0 ? prev_term : entries[k - 1].term;
    if (entries[k].term < before) {
      return make_error(Errc::InvalidArgument, "entry " + str(first_index + k) + " of term " +
                                                   str(entries[k].term) + " after one of term " +
                                                   str(before));
    }
  }
  if (first_index <= last_index()) {
    const Loc& loc = locs_[first_index - 1];
    if (auto s = cut(loc.segment, loc.offset); !s) return s;
    locs_.resize(first_index - 1);
    durable_ = std::min(durable_, first_index - 1);
  }
  // Bytes of the entries in `pending`, written to the active segment by flush(); an entry is
  // part of the log once its bytes were handed to the file.
  std::vector<uint8_t> buf;
  std::vector<Loc> pending;
  auto flush = [&]() -> Status {
    if (buf.empty()) return {};
    Segment& seg = segments_.back();
    if (auto s = seg.file.pwrite_all(buf.data(), buf.size(), seg.size); !s) {
      return failed(s.error());
    }
    seg.size += buf.size();
    dirty_.insert(segments_.size() - 1);
    locs_.insert(locs_.end(), pending.begin(), pending.end());
    if (seg.size > seg.allocated) {
      seg.allocated = seg.size;
      preallocate(seg);
    }
    buf.clear();
    pending.clear();
    return {};
  };
  for (size_t k = 0; k < entries.size(); ++k) {
    const LogEntryRef& e = entries[k];
    const size_t len = e.type == LogEntryType::Transaction
                           ? e.payload.size()
                           : fmt::kControlFixedSize + e.payload.size();
    const uint64_t end = segments_.back().size + buf.size();
    // Roll when the entry does not fit, unless the segment is empty (an entry larger than a
    // segment gets one of its own).
    if (end > fmt::kHeaderSize && end + len > opts_.segment_size) {
      if (auto s = flush(); !s) return s;
      // A closed segment ends at its last entry: its zeros go, durably, before the next segment
      // exists (so only the last segment ever has a zero tail).
      Segment& old = segments_.back();
      if (old.allocated > old.size) {
        if (auto s = old.file.truncate(old.size); !s) return failed(s.error());
        old.allocated = old.size;
      }
      if (auto s = old.file.sync(); !s) return failed(s.error());
      ++log_syncs_;
      dirty_.erase(segments_.size() - 1);
      truncated_.erase(segments_.size() - 1);
      auto next = create_segment(segments_.back().id + 1);
      if (!next) return failed(next.error());
      segments_.push_back(std::move(*next));
      dirty_.insert(segments_.size() - 1);
    }
    Loc loc;
    loc.segment = static_cast<uint32_t>(segments_.size() - 1);
    loc.offset = segments_.back().size + buf.size();
    loc.length = static_cast<uint32_t>(len);
    loc.term = e.term;
    loc.type = e.type;
    if (e.type == LogEntryType::Transaction) {
      buf.insert(buf.end(), e.payload.begin(), e.payload.end());
    } else {
      const uint8_t type =
          e.type == LogEntryType::Barrier ? fmt::kControlBarrier : fmt::kControlConfiguration;
      if (auto s = fmt::encode_control_record(buf, first_index + k, e.term, type, e.payload); !s) {
        return s;
      }
    }
    pending.push_back(loc);
    if (buf.size() >= (1u << 20)) {
      if (auto s = flush(); !s) return s;
    }
  }
  return flush();
}

Status BucketLog::Impl::sync() {
  if (auto s = check_usable(); !s) return s;
  // The applied index first: it is <= the old durable index, so writing it before the log sync
  // keeps "on failure nothing more is durable than before".
  const uint64_t applied = state_.applied_index();
  if (applied > applied_saved_) {
    uint8_t payload[8];
    put_u64(payload, applied);
    const bool durable = applied - applied_synced_ >= kAppliedSyncEvery;
    if (auto s = applied_file_->save(payload, durable); !s) return failed(s.error());
    applied_saved_ = applied;
    if (durable) applied_synced_ = applied;
  }
  for (size_t k : truncated_) {
    if (auto s = segments_[k].file.sync(); !s) return failed(s.error());
    ++log_syncs_;
  }
  for (size_t k : dirty_) {
    if (truncated_.contains(k)) continue;
    if (auto s = segments_[k].file.datasync(); !s) return failed(s.error());
    ++log_syncs_;
  }
  truncated_.clear();
  dirty_.clear();
  durable_ = last_index();
  return {};
}

Status BucketLog::Impl::apply(uint64_t index, const AppliedSink& sink) {
  if (index > durable_) {
    return make_error(Errc::InvalidArgument,
                      "apply(" + str(index) + "): past the durable index " + str(durable_));
  }
  ReplicatedState::Answers answers;
  const Status status = apply_from_log(index, answers);
  // State is final: now the outside world may look (and re-enter).
  answers.run(sink);
  return status;
}

// --------------------------------------------------------------------------------- BucketLog

Result<std::unique_ptr<BucketLog>> BucketLog::open(Options options) {
  if (options.partition_count == 0) {
    return make_error(Errc::InvalidArgument, "partition_count must be at least 1");
  }
  if (options.segment_size < fmt::kHeaderSize + fmt::kMinRecordSize) {
    return make_error(Errc::InvalidArgument, "segment_size too small");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto s = impl->open(); !s) return std::unexpected(std::move(s.error()));
  return std::make_unique<BucketLog>(PassKey{}, std::move(impl));
}

BucketLog::BucketLog(PassKey, std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BucketLog::~BucketLog() = default;

VoteState BucketLog::vote_state() const {
  return impl_->vote_state();
}
Status BucketLog::save_vote_state(VoteState state) {
  return impl_->save_vote_state(state);
}
uint64_t BucketLog::last_index() const {
  return impl_->last_index();
}
uint64_t BucketLog::durable_index() const {
  return impl_->durable_index();
}
Result<uint64_t> BucketLog::term_at(uint64_t index) const {
  return impl_->term_at(index);
}
Result<std::vector<LogEntry>> BucketLog::read_entries(uint64_t from, size_t max_count,
                                                      size_t max_bytes) const {
  return impl_->read_entries(from, max_count, max_bytes);
}
Status BucketLog::append(uint64_t first_index, std::span<const LogEntryRef> entries) {
  return impl_->append(first_index, entries);
}
Status BucketLog::sync() {
  return impl_->sync();
}
uint64_t BucketLog::applied_index() const {
  return impl_->state_.applied_index();
}
Status BucketLog::apply(uint64_t index, const AppliedSink& sink) {
  return impl_->apply(index, sink);
}
std::optional<Proposal> BucketLog::propose(PartitionId pid, Transaction tx, uint64_t index,
                                           uint64_t term, AppendCallback done) {
  return impl_->state_.propose(pid, std::move(tx), index, term, std::move(done));
}
void BucketLog::abandon_proposals(uint64_t from_index, const Error& why) {
  impl_->state_.abandon(from_index, why);
}
uint64_t BucketLog::next_sequence(PartitionId pid) const {
  return impl_->state_.next_sequence(pid);
}
CurrentVersion BucketLog::stream_version(PartitionId pid, const std::string& stream_id) const {
  return impl_->state_.stream_version(pid, stream_id);
}
uint64_t BucketLog::applied_transactions() const {
  return impl_->state_.applied_transactions();
}
size_t BucketLog::pending_proposals() const {
  return impl_->state_.pending_proposals();
}
size_t BucketLog::deferred_answers() const {
  return impl_->state_.deferred_answers();
}
uint64_t BucketLog::log_syncs() const {
  return impl_->log_syncs_;
}
uint64_t BucketLog::recovered_cut_bytes() const {
  return impl_->cut_bytes_;
}

}  // namespace sierra
