#include "engine/database.hpp"

#include <algorithm>
#include <cstdio>
#include <future>
#include <set>
#include <span>

#include "engine/background_worker.hpp"
#include "engine/bucket/bucket.hpp"
#include "engine/file.hpp"
#include "engine/meta.hpp"
#include "engine/segment/record_window.hpp"
#include "engine/writer_pool.hpp"

namespace sierra {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------ builder

DatabaseBuilder& DatabaseBuilder::segment_size(uint64_t bytes) {
  options_.segment_size = bytes;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::partition_count(uint16_t n) {
  options_.partition_count = n;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::total_buckets(uint16_t n) {
  options_.total_buckets = n;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::bucket_ids(std::vector<BucketId> ids) {
  options_.bucket_ids = std::move(ids);
  range_error_ = false;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::bucket_ids_from_range(BucketId first, BucketId last) {
  options_.bucket_ids.clear();
  range_error_ = first >= last;
  for (uint32_t b = first; b < last; ++b) options_.bucket_ids.push_back(static_cast<BucketId>(b));
  return *this;
}
DatabaseBuilder& DatabaseBuilder::writer_threads(uint16_t n) {
  options_.writer_threads = n;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::flush_interval_duration(std::chrono::microseconds d) {
  options_.flush_interval_duration = d;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::flush_interval_events(uint32_t n) {
  options_.flush_interval_events = n;
  return *this;
}
DatabaseBuilder& DatabaseBuilder::log_sink(LogSink sink) {
  options_.log = std::move(sink);
  return *this;
}
DatabaseBuilder& DatabaseBuilder::on_commit(CommitListener listener) {
  options_.on_commit = std::move(listener);
  return *this;
}
DatabaseBuilder& DatabaseBuilder::env(std::shared_ptr<Env> env) {
  options_.env = std::move(env);
  return *this;
}

namespace {

constexpr uint64_t kMinSegmentSize = 4096;

std::unexpected<Error> config_error(std::string msg) {
  return make_error(Errc::InvalidConfig, std::move(msg));
}

Status validate(DatabaseOptions& o, bool range_error) {
  if (range_error) return config_error("bucket_ids_from_range: empty range");
  if (o.segment_size < kMinSegmentSize) {
    return config_error("segment_size must be at least " + std::to_string(kMinSegmentSize) +
                        " bytes");
  }
  if (o.segment_size > (uint64_t{1} << 40)) return config_error("segment_size is above 1 TiB");
  if (o.partition_count == 0) return config_error("partition_count must be at least 1");
  if (o.total_buckets == 0) return config_error("total_buckets must be at least 1");
  if (o.total_buckets > o.partition_count) {
    return config_error("total_buckets (" + std::to_string(o.total_buckets) +
                        ") must not exceed partition_count (" + std::to_string(o.partition_count) +
                        ")");
  }
  if (o.bucket_ids.empty()) {
    for (uint32_t b = 0; b < o.total_buckets; ++b) o.bucket_ids.push_back(static_cast<BucketId>(b));
  }
  std::set<BucketId> seen;
  for (BucketId b : o.bucket_ids) {
    if (b >= o.total_buckets) {
      return config_error("bucket id " + std::to_string(b) + " is not below total_buckets (" +
                          std::to_string(o.total_buckets) + ")");
    }
    if (!seen.insert(b).second) return config_error("bucket id " + std::to_string(b) + " repeated");
  }
  if (o.writer_threads == 0) {
    // One per bucket: a writer thread spends most of its time waiting in fdatasync, and a thread
    // owning two buckets syncs them one after the other (2 writer threads for 4 buckets gave
    // 10.4k appends/s where 4 gave 14.6k, 50 connections, same run).
    o.writer_threads = static_cast<uint16_t>(o.bucket_ids.size());
  }
  if (o.writer_threads > o.bucket_ids.size()) {
    return config_error("writer_threads (" + std::to_string(o.writer_threads) +
                        ") exceeds the number of owned buckets (" +
                        std::to_string(o.bucket_ids.size()) + ")");
  }
  if (o.flush_interval_events == 0) return config_error("flush_interval_events must be at least 1");
  if (o.flush_interval_duration.count() < 0) {
    return config_error("flush_interval_duration must not be negative");
  }
  return {};
}

void default_log(LogLevel level, std::string_view msg) {
  if (level < LogLevel::Warn) return;
  std::fprintf(stderr, "sierradb engine %s: %.*s\n", level == LogLevel::Warn ? "warn" : "error",
               static_cast<int>(msg.size()), msg.data());
}

}  // namespace

// ------------------------------------------------------------------------------------ impl

class DatabaseImpl {
 public:
  fs::path dir;
  DatabaseOptions opts;
  std::vector<std::unique_ptr<Bucket>> buckets;  // owned, in bucket id order
  std::vector<Bucket*> by_id;                    // indexed by bucket id; null if not owned
  std::unique_ptr<BackgroundWorker> background;
  std::unique_ptr<WriterPool> writers;
  std::mutex close_mu;
  bool closed = false;

  Bucket* bucket_for(PartitionId pid) const {
    const BucketId b = bucket_for_partition(pid, opts.total_buckets);
    return b < by_id.size() ? by_id[b] : nullptr;
  }

  Result<PartitionIterator> read_partition(PartitionId pid, uint64_t from, uint64_t limit) const;
  Result<StreamIterator> read_stream(PartitionId pid, std::string_view sid, uint64_t from,
                                     bool reverse, uint64_t limit) const;
  Result<std::optional<std::pair<std::shared_ptr<SegmentReader>, uint64_t>>> locate_event(
      PartitionId pid, const Uuid& id) const;
};

namespace {

// A read error with where it happened, so that the client's error names the segment (closed
// segments are the ones that can be damaged without stopping the database).
Error in_segment(Error e, const SegmentReader& r) {
  e.message = "bucket " + std::to_string(r.bucket()) + " segment " + std::to_string(r.segment()) +
              ": " + e.message;
  return e;
}

// The quarantine of the bucket when `pid` is uncertain in it (quarantine.hpp), else null.
const Quarantine* uncertain_in(const Bucket* b, PartitionId pid) {
  if (b == nullptr || !b->quarantine() || !b->quarantine()->uncertain(pid)) return nullptr;
  return b->quarantine().get();
}

// The segment of a source lies after the bucket's last lossy segment (so it is complete).
bool after_lossy(const Quarantine& q, const std::shared_ptr<const ClosedSegment>& closed) {
  return closed == nullptr || closed->id() > q.last_lossy().value_or(0);
}

}  // namespace

// Iterates a list of "sources" (segments) each with a list of offsets, reading one event record
// per offset and checking it is the expected one.
struct SourceList {
  struct Source {
    std::shared_ptr<SegmentReader> reader;
    std::shared_ptr<const ClosedSegment> closed;  // null for the live segment
    std::vector<SeqOffset> offsets;               // loaded lazily for closed segments
    bool loaded = false;
  };
  std::vector<Source> sources;
  size_t src = 0;
  size_t pos = 0;
  Bucket* bucket = nullptr;  // heals closed segments whose index files are damaged
  RecordWindow window;       // read-ahead: scans read many neighbouring records

  // The offsets after the one just taken (pos already advanced) that the iterator may still read
  // in the current source, at most `limit` - 1 of them: the read window's plan.
  std::span<const SeqOffset> upcoming(uint64_t limit) const {
    const auto& v = sources[src].offsets;
    const size_t left = v.size() - pos;
    return {v.data() + pos, static_cast<size_t>(std::min<uint64_t>(left, limit - 1))};
  }
};

class PartitionIteratorImpl {
 public:
  PartitionId pid;
  uint64_t from;
  uint64_t end;                 // watermark at creation (exclusive)
  uint64_t limit = UINT64_MAX;  // events left to return
  SourceList list;
  bool failed = false;
  // Set when the partition may have lost events in a quarantined segment: sequences are then
  // checked to be consecutive from `from`, and the end of the readable data is an error.
  const Quarantine* quarantine = nullptr;
  uint64_t expect = 0;

  // nullptr at the end; the view is valid until the next call.
  Result<const EventView*> next(bool header_only) {
    if (failed || limit == 0) return nullptr;
    while (list.src < list.sources.size()) {
      auto& s = list.sources[list.src];
      if (!s.loaded) {
        auto offs = list.bucket->query_closed_healing(
            s.closed, [&](const ClosedSegment& c) { return c.partition_offsets(pid); });
        if (!offs) return fail(offs.error());
        s.offsets = std::move(*offs);
        auto it = std::lower_bound(s.offsets.begin(), s.offsets.end(), from,
                                   [](const SeqOffset& a, uint64_t v) { return a.position < v; });
        list.pos = static_cast<size_t>(it - s.offsets.begin());
        s.loaded = true;
      }
      if (list.pos < s.offsets.size() && s.offsets[list.pos].position < end) {
        const SeqOffset so = s.offsets[list.pos++];
        auto ev = list.window.read_event(s.reader, so.offset, header_only, list.upcoming(limit));
        if (!ev) return fail(in_segment(ev.error(), *s.reader));
        if (*ev == nullptr || (*ev)->partition_id != pid ||
            (*ev)->partition_sequence != so.position) {
          return fail(Error{Errc::CorruptIndex,
                            "partition index points at a record that is not sequence " +
                                std::to_string(so.position) + " of partition " +
                                std::to_string(pid),
                            so.offset, 0});
        }
        if (quarantine) {
          if (so.position != expect) {
            return fail(quarantine->error(
                pid, "partition scan: sequences " + std::to_string(expect) + ".." +
                         std::to_string(so.position - 1) + " are unreadable"));
          }
          ++expect;
        }
        --limit;
        return *ev;
      }
      ++list.src;
      list.pos = 0;
    }
    if (quarantine) {
      return fail(
          quarantine->error(pid, "partition scan: the rest of the partition after sequence " +
                                     std::to_string(expect) + " is unknown"));
    }
    return nullptr;
  }

  uint64_t remaining_hint() const {
    if (failed || list.src >= list.sources.size()) return 0;
    const auto& s = list.sources[list.src];
    if (!s.loaded) return 0;
    auto it =
        std::lower_bound(s.offsets.begin() + static_cast<std::ptrdiff_t>(list.pos), s.offsets.end(),
                         end, [](const SeqOffset& a, uint64_t v) { return a.position < v; });
    return std::min(limit, static_cast<uint64_t>(it - s.offsets.begin()) - list.pos);
  }

  Result<const EventView*> fail(Error e) {
    failed = true;
    return std::unexpected(std::move(e));
  }
};

class StreamIteratorImpl {
 public:
  PartitionId pid;
  std::string sid;
  uint64_t from;
  bool reverse;
  uint64_t limit = UINT64_MAX;  // events left to return
  SourceList list;              // in iteration order (reversed for reverse iteration)
  bool failed = false;
  bool have_last = false;
  uint64_t last_version = 0;
  // Set when the stream's partition may have lost events in a quarantined segment: versions
  // are then checked to be consecutive, and an end not proven complete is an error.
  const Quarantine* quarantine = nullptr;
  std::optional<uint64_t> q_last;  // version of the last event returned
  bool q_last_after = false;       // ... and it came from a segment after the last lossy one

  // nullptr at the end; the view is valid until the next call.
  Result<const EventView*> next(bool header_only) {
    if (failed || limit == 0) return nullptr;
    while (list.src < list.sources.size()) {
      auto& s = list.sources[list.src];
      if (!s.loaded) {
        auto offs = list.bucket->query_closed_healing(
            s.closed, [&](const ClosedSegment& c) { return c.stream_offsets(pid, sid); });
        if (!offs) return fail(offs.error());
        if (*offs) s.offsets = std::move(**offs);
        prepare(s);
        s.loaded = true;
      }
      if (list.pos < s.offsets.size()) {
        const SeqOffset so = s.offsets[list.pos++];
        auto ev = list.window.read_event(s.reader, so.offset, header_only, list.upcoming(limit));
        if (!ev) return fail(in_segment(ev.error(), *s.reader));
        if (*ev == nullptr || (*ev)->partition_id != pid || (*ev)->stream_version != so.position ||
            (!header_only && (*ev)->stream_id != sid)) {
          return fail(Error{Errc::CorruptIndex,
                            "stream index points at a record that is not version " +
                                std::to_string(so.position) + " of stream " + sid,
                            so.offset, 0});
        }
        if (quarantine) {
          if (auto gap = check_version(so.position, after_lossy(*quarantine, s.closed))) {
            return fail(std::move(*gap));
          }
        }
        --limit;
        return *ev;
      }
      ++list.src;
      list.pos = 0;
    }
    if (quarantine) {
      // Forward: complete only if the last event is the stream's latest (from a segment after
      // the lost records). Reverse: only if it went down to version 0.
      const bool complete = q_last && (reverse ? *q_last == 0 : q_last_after);
      if (!complete) {
        return fail(quarantine->error(pid, "stream '" + sid + "' scan: its events " +
                                               (reverse ? "below" : "after") + " version " +
                                               (q_last ? std::to_string(*q_last) : "(none read)") +
                                               " are unknown"));
      }
    }
    return nullptr;
  }

  // Versions returned from an uncertain partition must be consecutive, starting at `from`
  // (forward) or at `from` / the stream's proven latest (reverse).
  std::optional<Error> check_version(uint64_t v, bool from_complete_segment) {
    bool ok;
    if (!q_last) {
      ok = v == from || (reverse && v < from && from_complete_segment);
    } else {
      ok = reverse ? v + 1 == *q_last : v == *q_last + 1;
    }
    if (!ok) {
      return quarantine->error(pid, "stream '" + sid + "' scan: versions between " +
                                        (q_last ? std::to_string(*q_last) : std::to_string(from)) +
                                        " and " + std::to_string(v) + " are unreadable");
    }
    q_last = v;
    q_last_after = from_complete_segment;
    return std::nullopt;
  }

  uint64_t remaining_hint() const {
    if (failed || list.src >= list.sources.size()) return 0;
    const auto& s = list.sources[list.src];
    return s.loaded ? std::min<uint64_t>(limit, s.offsets.size() - list.pos) : 0;
  }

  // Filters a segment's (version, offset) list to the requested range and direction.
  void prepare(SourceList::Source& s) {
    auto& v = s.offsets;
    if (!reverse) {
      v.erase(v.begin(),
              std::lower_bound(v.begin(), v.end(), from,
                               [](const SeqOffset& a, uint64_t x) { return a.position < x; }));
    } else {
      v.erase(std::upper_bound(v.begin(), v.end(), from,
                               [](uint64_t x, const SeqOffset& a) { return x < a.position; }),
              v.end());
      std::reverse(v.begin(), v.end());
    }
    list.pos = 0;
  }

  Result<const EventView*> fail(Error e) {
    failed = true;
    return std::unexpected(std::move(e));
  }
};

namespace {

Result<std::optional<EventRecord>> owned(Result<const EventView*> v) {
  if (!v) return std::unexpected(std::move(v.error()));
  if (*v == nullptr) return std::optional<EventRecord>{};
  return std::optional<EventRecord>((*v)->to_record());
}

}  // namespace

PartitionIterator::PartitionIterator(std::unique_ptr<PartitionIteratorImpl> impl)
    : impl_(std::move(impl)) {}
PartitionIterator::PartitionIterator(PartitionIterator&&) noexcept = default;
PartitionIterator& PartitionIterator::operator=(PartitionIterator&&) noexcept = default;
PartitionIterator::~PartitionIterator() = default;
Result<std::optional<EventRecord>> PartitionIterator::next(bool header_only) {
  return owned(impl_->next(header_only));
}
Result<const EventView*> PartitionIterator::next_view(bool header_only) {
  return impl_->next(header_only);
}
uint64_t PartitionIterator::remaining_hint() const {
  return impl_->remaining_hint();
}

StreamIterator::StreamIterator(std::unique_ptr<StreamIteratorImpl> impl) : impl_(std::move(impl)) {}
StreamIterator::StreamIterator(StreamIterator&&) noexcept = default;
StreamIterator& StreamIterator::operator=(StreamIterator&&) noexcept = default;
StreamIterator::~StreamIterator() = default;
Result<std::optional<EventRecord>> StreamIterator::next(bool header_only) {
  return owned(impl_->next(header_only));
}
Result<const EventView*> StreamIterator::next_view(bool header_only) {
  return impl_->next(header_only);
}
uint64_t StreamIterator::remaining_hint() const {
  return impl_->remaining_hint();
}

Result<PartitionIterator> DatabaseImpl::read_partition(PartitionId pid, uint64_t from,
                                                       uint64_t limit) const {
  auto impl = std::make_unique<PartitionIteratorImpl>();
  impl->pid = pid;
  impl->from = from;
  impl->end = 0;
  impl->limit = limit;
  Bucket* b = bucket_for(pid);
  impl->list.bucket = b;
  impl->quarantine = uncertain_in(b, pid);
  impl->expect = from;
  if (b) {
    b->with_live([&](const Bucket::View& v, const LiveIndexes& live) {
      const PartitionEntry* e = live.partitions.get(pid);
      // Closed segments that may hold sequences >= from (oldest first).
      if (!e || e->sequence_min > from) {
        for (const auto& seg : *v.closed) {
          auto sum = seg->partition_summary(pid);
          if (!sum || sum->sequence_max < from) continue;
          impl->list.sources.push_back({seg->reader(), seg, {}, false});
        }
      }
      SourceList::Source live_src{v.live_reader, nullptr, {}, true};
      if (e) {
        auto it = std::lower_bound(e->offsets.begin(), e->offsets.end(), from,
                                   [](const SeqOffset& a, uint64_t x) { return a.position < x; });
        // At most `limit` entries: the rest would never be read.
        const auto n = std::min<uint64_t>(limit, static_cast<uint64_t>(e->offsets.end() - it));
        live_src.offsets.assign(it, it + static_cast<std::ptrdiff_t>(n));
        impl->end = e->sequence_max + 1;
      }
      impl->list.sources.push_back(std::move(live_src));
      if (!e) {
        for (const auto& seg : *v.closed) {
          if (auto sum = seg->partition_summary(pid)) impl->end = sum->sequence_max + 1;
        }
      }
    });
  }
  return PartitionIterator(std::move(impl));
}

Result<StreamIterator> DatabaseImpl::read_stream(PartitionId pid, std::string_view sid,
                                                 uint64_t from, bool reverse,
                                                 uint64_t limit) const {
  auto impl = std::make_unique<StreamIteratorImpl>();
  impl->pid = pid;
  impl->sid = std::string(sid);
  impl->from = from;
  impl->reverse = reverse;
  impl->limit = limit;
  Bucket* b = bucket_for(pid);
  impl->list.bucket = b;
  impl->quarantine = uncertain_in(b, pid);
  if (b) {
    std::vector<SourceList::Source> sources;
    b->with_live([&](const Bucket::View& v, const LiveIndexes& live) {
      const StreamEntry* e = live.streams.get(pid, sid);
      const bool live_only = e && !reverse && e->version_min <= from;
      if (!live_only) {
        for (const auto& seg : *v.closed) sources.push_back({seg->reader(), seg, {}, false});
      }
      SourceList::Source live_src{v.live_reader, nullptr, {}, true};
      if (e) {
        // Only the entries the iterator can return (prepare() filters the same range again):
        // from `from` on (forward) or up to it (reverse), at most `limit` of them.
        const auto& all = e->offsets;
        if (!reverse) {
          auto it = std::lower_bound(all.begin(), all.end(), from,
                                     [](const SeqOffset& a, uint64_t x) { return a.position < x; });
          const auto n = std::min<uint64_t>(limit, static_cast<uint64_t>(all.end() - it));
          live_src.offsets.assign(it, it + static_cast<std::ptrdiff_t>(n));
        } else {
          auto it = std::upper_bound(all.begin(), all.end(), from,
                                     [](uint64_t x, const SeqOffset& a) { return x < a.position; });
          const auto n = std::min<uint64_t>(limit, static_cast<uint64_t>(it - all.begin()));
          live_src.offsets.assign(it - static_cast<std::ptrdiff_t>(n), it);
        }
      }
      sources.push_back(std::move(live_src));
    });
    if (reverse) std::reverse(sources.begin(), sources.end());
    impl->list.sources = std::move(sources);
    // The live source is already loaded; filter it now (closed ones are filtered when reached).
    for (auto& s : impl->list.sources) {
      if (s.loaded) impl->prepare(s);
    }
    impl->list.pos = 0;
  }
  return StreamIterator(std::move(impl));
}

Result<std::optional<std::pair<std::shared_ptr<SegmentReader>, uint64_t>>>
DatabaseImpl::locate_event(PartitionId pid, const Uuid& id) const {
  using Found = std::optional<std::pair<std::shared_ptr<SegmentReader>, uint64_t>>;
  Bucket* b = bucket_for(pid);
  if (!b) return Found{};
  std::shared_ptr<const ClosedList> closed_segments;
  Found live_hit = b->with_live([&](const Bucket::View& v, const LiveIndexes& live) -> Found {
    closed_segments = v.closed;
    if (auto off = live.events.get(id)) return std::make_pair(v.live_reader, *off);
    return std::nullopt;
  });
  if (live_hit) return live_hit;
  for (auto it = closed_segments->rbegin(); it != closed_segments->rend(); ++it) {
    auto off =
        b->query_closed_healing(*it, [&](const ClosedSegment& c) { return c.find_event(id); });
    if (!off) return std::unexpected(off.error());
    if (*off) return Found(std::make_pair((*it)->reader(), **off));
  }
  if (const Quarantine* q = uncertain_in(b, pid)) {
    return std::unexpected(q->error(pid, "event " + id.to_string() + " not found"));
  }
  return Found{};
}

// ------------------------------------------------------------------------------------ open

Result<std::shared_ptr<Database>> DatabaseBuilder::open(const fs::path& dir) const {
  DatabaseOptions o = options_;
  if (auto s = validate(o, range_error_); !s) return std::unexpected(s.error());
  if (!o.log) o.log = default_log;
  if (!o.env) o.env = Env::real();
  std::error_code ec;
  const bool dir_existed = fs::exists(dir, ec);
  fs::create_directories(dir / "buckets", ec);
  if (ec) return errno_error(ec.value(), "creating " + (dir / "buckets").string());
  if (!dir_existed) {
    // We created the data directory: make its entry in its parent (and the entry of "buckets"
    // in it) durable, or a power loss could take the new directory, and every acknowledged
    // append in it, away. (meta.json's atomic write syncs the directory itself too.)
    fs::path abs = fs::absolute(dir, ec).lexically_normal();
    if (!abs.has_filename()) abs = abs.parent_path();  // "data/" -> "data"
    for (const fs::path& d : {abs, abs.parent_path()}) {
      if (d.empty()) continue;
      if (auto s = sync_directory(d, *o.env); !s) return std::unexpected(s.error());
    }
  }
  if (auto s =
          load_or_create_meta(dir, Meta{o.partition_count, o.total_buckets, o.segment_size}, o.env);
      !s) {
    return std::unexpected(s.error());
  }

  auto impl = std::make_unique<DatabaseImpl>();
  impl->dir = dir;
  impl->background = std::make_unique<BackgroundWorker>();
  BackgroundWorker* bg = impl->background.get();
  std::vector<BucketId> owned = o.bucket_ids;
  std::sort(owned.begin(), owned.end());
  impl->by_id.assign(o.total_buckets, nullptr);
  for (BucketId id : owned) {
    Bucket::Config cfg{
        dir, id, o.segment_size, o.partition_count, o.log, [bg](std::function<void()> job) {
          bg->post(std::move(job));
        }};
    cfg.env = o.env;
    auto b = Bucket::open(std::move(cfg));
    if (!b) return std::unexpected(b.error());
    impl->by_id[id] = b->get();
    impl->buckets.push_back(std::move(*b));
  }
  // Contiguous, as even as possible groups of buckets per writer thread.
  std::vector<std::vector<Bucket*>> groups(o.writer_threads);
  for (size_t i = 0; i < impl->buckets.size(); ++i) {
    groups[i * o.writer_threads / impl->buckets.size()].push_back(impl->buckets[i].get());
  }
  impl->writers = std::make_unique<WriterPool>(std::move(groups), o.flush_interval_events,
                                               o.flush_interval_duration, o.on_commit);
  impl->opts = std::move(o);
  return std::make_shared<Database>(std::move(impl));
}

// ------------------------------------------------------------------------------------ Database

Database::Database(std::unique_ptr<DatabaseImpl> impl) : impl_(std::move(impl)) {}
Database::~Database() {
  close();
}

const fs::path& Database::dir() const {
  return impl_->dir;
}
const DatabaseOptions& Database::options() const {
  return impl_->opts;
}
uint16_t Database::partition_count() const {
  return impl_->opts.partition_count;
}
uint16_t Database::total_buckets() const {
  return impl_->opts.total_buckets;
}
bool Database::owns_partition(PartitionId pid) const {
  return impl_->bucket_for(pid) != nullptr;
}

void Database::close() {
  std::lock_guard lock(impl_->close_mu);
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->writers->stop();
  impl_->background->stop();
}

void Database::append_events_async(PartitionId pid, Transaction tx, AppendCallback done) {
  Bucket* b = impl_->bucket_for(pid);
  if (!b) {
    done(make_error(Errc::BucketNotOwned, "partition " + std::to_string(pid) +
                                              " belongs to a bucket this database does not own"));
    return;
  }
  impl_->writers->submit(WriterPool::AppendRequest{b, pid, std::move(tx), std::move(done)});
}

Result<AppendResult> Database::append_events(PartitionId pid, Transaction tx) {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  append_events_async(pid, std::move(tx),
                      [&promise](Result<AppendResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Status Database::set_confirmations(PartitionId pid, SegmentId segment,
                                   std::span<const uint64_t> offsets, const Uuid& txid,
                                   uint8_t count) {
  Bucket* b = impl_->bucket_for(pid);
  if (!b) return make_error(Errc::BucketNotOwned, "partition not owned");
  std::promise<Status> promise;
  auto future = promise.get_future();
  std::vector<uint64_t> offs(offsets.begin(), offsets.end());
  {
    // The pool runs tasks submitted after stop() inline, on this thread, against a writer that
    // is being (or was) closed; so check and submit under close_mu: a task queued before
    // stop() still runs on the writer thread, which drains its queue before closing.
    std::lock_guard lock(impl_->close_mu);
    if (impl_->closed) return make_error(Errc::ShuttingDown, "the database is closed");
    impl_->writers->submit(WriterPool::TaskRequest{b, [&, b, offs = std::move(offs)] {
                                                     promise.set_value(b->set_confirmations(
                                                         segment, offs, txid, count));
                                                   }});
  }
  return future.get();
}

Result<std::optional<EventRecord>> Database::read_event(PartitionId pid, const Uuid& id,
                                                        bool header_only) const {
  auto loc = impl_->locate_event(pid, id);
  if (!loc) return std::unexpected(loc.error());
  if (!*loc) return std::optional<EventRecord>{};
  auto rec = (*loc)->first->read_record((*loc)->second, header_only);
  if (!rec) return std::unexpected(in_segment(rec.error(), *(*loc)->first));
  auto* ev = std::get_if<EventRecord>(&*rec);
  if (!ev || ev->event_id != id) {
    return make_error(Errc::CorruptIndex, "event index points at another record", (*loc)->second);
  }
  if (ev->partition_id != pid) return std::optional<EventRecord>{};
  return std::optional<EventRecord>(std::move(*ev));
}

Result<std::optional<CommittedTransaction>> Database::read_transaction(PartitionId pid,
                                                                       const Uuid& id,
                                                                       bool header_only) const {
  auto loc = impl_->locate_event(pid, id);
  if (!loc) return std::unexpected(loc.error());
  if (!*loc) return std::optional<CommittedTransaction>{};
  auto tx = (*loc)->first->read_transaction((*loc)->second, header_only);
  if (!tx) return std::unexpected(in_segment(tx.error(), *(*loc)->first));
  if (*tx && ((*tx)->events.empty() || (*tx)->events.front().event_id != id)) {
    return make_error(Errc::CorruptIndex, "event index points at another record", (*loc)->second);
  }
  if (*tx && (*tx)->events.front().partition_id != pid) {
    return std::optional<CommittedTransaction>{};
  }
  return tx;
}

Result<PartitionIterator> Database::read_partition(PartitionId pid, uint64_t from,
                                                   uint64_t limit) const {
  return impl_->read_partition(pid, from, limit);
}

Result<std::optional<uint64_t>> Database::get_partition_sequence(PartitionId pid) const {
  Bucket* b = impl_->bucket_for(pid);
  if (!b) return std::optional<uint64_t>{};
  if (const Quarantine* q = uncertain_in(b, pid)) {
    return std::unexpected(q->error(pid, "latest partition sequence unknown"));
  }
  const uint64_t wm = b->watermark(pid);
  if (wm == 0) return std::optional<uint64_t>{};
  return std::optional<uint64_t>(wm - 1);
}

Result<StreamIterator> Database::read_stream(PartitionId pid, std::string_view sid, uint64_t from,
                                             bool reverse, uint64_t limit) const {
  return impl_->read_stream(pid, sid, from, reverse, limit);
}

Result<std::optional<StreamVersionInfo>> Database::get_stream_version(PartitionId pid,
                                                                      std::string_view sid) const {
  using Out = std::optional<StreamVersionInfo>;
  Bucket* b = impl_->bucket_for(pid);
  if (!b) return Out{};
  std::shared_ptr<const ClosedList> closed_segments;
  Out live_hit = b->with_live([&](const Bucket::View& v, const LiveIndexes& live) -> Out {
    closed_segments = v.closed;
    if (const StreamEntry* e = live.streams.get(pid, sid)) {
      return StreamVersionInfo{e->partition_key, e->version_max};
    }
    return std::nullopt;
  });
  if (live_hit) return live_hit;
  const Quarantine* q = uncertain_in(b, pid);
  for (auto it = closed_segments->rbegin(); it != closed_segments->rend(); ++it) {
    // Below the last lossy segment, a later version may have been lost.
    if (q && !after_lossy(*q, *it)) break;
    auto s = b->query_closed_healing(
        *it, [&](const ClosedSegment& c) { return c.stream_summary(pid, sid); });
    if (!s) return std::unexpected(s.error());
    if (*s) return Out(StreamVersionInfo{(*s)->partition_key, (*s)->version_max});
  }
  if (q)
    return std::unexpected(
        q->error(pid, "latest version of stream '" + std::string(sid) + "' unknown"));
  return Out{};
}

DatabaseHealth Database::health() const {
  DatabaseHealth h;
  for (const auto& b : impl_->buckets) {
    for (SegmentId s : b->index_writes_waiting())
      h.index_writes_waiting.push_back({b->id(), s, ""});
    if (const auto& q = b->quarantine()) {
      for (const QuarantinedSegment& seg : q->segments()) {
        h.quarantined.push_back({b->id(), seg.segment, seg.reason});
      }
    }
  }
  return h;
}

}  // namespace sierra
