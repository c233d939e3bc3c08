// The offline verifier: check_directory and the printing of its report.
#include "engine/check/check.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/bucket/closed_segment.hpp"
#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "engine/index/index_files.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/interrupted_creation.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_writer.hpp"

namespace sierra {

std::string segment_location(BucketId b, SegmentId s) {
  return "bucket " + std::to_string(b) + " segment " + std::to_string(s);
}
std::string segment_location(BucketId b, SegmentId s, uint64_t offset) {
  return segment_location(b, s) + " offset " + std::to_string(offset);
}

namespace {

namespace fs = std::filesystem;
namespace sf = segment_format;

// Index mismatches reported individually per file before the rest are only counted.
constexpr uint64_t kMaxMismatchLines = 5;

std::string where(BucketId b, SegmentId s) {
  return segment_location(b, s);
}
std::string where(BucketId b, SegmentId s, uint64_t offset) {
  return segment_location(b, s, offset);
}

class Checker {
 public:
  explicit Checker(fs::path dir) : dir_(std::move(dir)) {}

  CheckReport run() && {
    check_meta();
    check_buckets();
    return std::move(r_);
  }

 private:
  void problem(const std::string& loc, const std::string& what, bool repairable = false) {
    r_.findings.push_back({CheckFinding::Kind::Problem, loc, what, repairable});
    ++r_.problems;
    if (!repairable) ++r_.unrepairable;
  }
  void note(const std::string& loc, const std::string& what) {
    r_.findings.push_back({CheckFinding::Kind::Note, loc, what, false});
  }

  // ---------------------------------------------------------------------------- meta.json
  void check_meta() {
    std::error_code ec;
    if (!fs::is_regular_file(dir_ / kMetaFileName, ec)) {
      problem("meta.json", "missing");
      return;
    }
    auto stored = read_meta(dir_);
    if (!stored || !*stored) {
      problem("meta.json", "not a valid JSON object");
      return;
    }
    for (const std::string& what : meta_problems(**stored)) problem("meta.json", what);
    r_.meta = valid_meta(**stored);
  }

  // ---------------------------------------------------------------------------- buckets
  void check_buckets() {
    const fs::path root = dir_ / "buckets";
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return;  // a directory without any bucket yet
    std::vector<BucketId> ids;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_directory(ec) || name.empty() ||
          !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          name.size() > 5) {
        continue;
      }
      const unsigned long id = std::stoul(name);
      if (id > UINT16_MAX) continue;
      ids.push_back(static_cast<BucketId>(id));
    }
    if (ec) problem(root.string(), "cannot list: " + ec.message());
    std::sort(ids.begin(), ids.end());
    for (BucketId b : ids) check_bucket(b);
  }

  void check_bucket(BucketId b) {
    const std::string loc = "bucket " + std::to_string(b);
    if (r_.meta && b >= r_.meta->total_buckets) {
      problem(loc,
              "bucket id is not below total_buckets " + std::to_string(r_.meta->total_buckets));
    }
    auto ids = list_segment_ids(dir_, b);
    if (!ids) {
      problem(loc, "cannot list segments: " + ids.error().to_string());
      return;
    }
    if (ids->empty()) return;
    for (size_t i = 0; i < ids->size(); ++i) {
      if ((*ids)[i] != i) {
        problem(loc, "segment ids are not consecutive from 0 (segment " + std::to_string(i) +
                         " is missing)");
        break;
      }
    }
    bucket_ = b;
    expected_log_position_ = 1;
    // A highest segment whose creation never completed is what the database's open removes
    // (the segment below it stays the live one): the same here, as a note and a repair.
    size_t count = ids->size();
    while (count > 0) {
      const SegmentId s = (*ids)[count - 1];
      uintmax_t size = 0;
      if (!is_interrupted_creation(get_path(dir_, b, s, SegmentKind::Events), b, s, &size)) break;
      note(where(b, s), "data.evts of " + std::to_string(size) +
                            " bytes without a valid header: an interrupted segment creation "
                            "(rollover), never written to; opening the database or --repair "
                            "removes it");
      r_.creation_leftovers.emplace_back(b, s);
      --count;
    }
    for (size_t i = 0; i < count; ++i) check_segment((*ids)[i], i + 1 == count);
  }

  // After damage that hides events, expectations are resynchronised on the next value seen.
  void lose_track() {
    expected_log_position_.reset();
    if (!r_.meta) {
      next_seq_.clear();
      next_version_.clear();
      return;
    }
    for (auto it = next_seq_.begin(); it != next_seq_.end();) {
      it = bucket_for_partition(it->first, r_.meta->total_buckets) == bucket_ ? next_seq_.erase(it)
                                                                              : std::next(it);
    }
    for (auto it = next_version_.begin(); it != next_version_.end();) {
      it = bucket_for_partition(it->first.first, r_.meta->total_buckets) == bucket_
               ? next_version_.erase(it)
               : std::next(it);
    }
    unsure_buckets_.insert(bucket_);
  }

  // ---------------------------------------------------------------------------- segments
  void check_segment(SegmentId s, bool live) {
    ++r_.segments;
    const BucketId b = bucket_;
    const fs::path path = get_path(dir_, b, s, SegmentKind::Events);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      problem(where(b, s), "data.evts is missing");
      r_.damaged_data.insert({b, s});
      lose_track();
      return;
    }
    auto reader = SegmentReader::open(path, b, s);
    if (!reader && reader.error().code == Errc::CorruptHeader) {
      // The header is derived from the path (magic, version, bucket, segment): its records are
      // still checked, as the database does for a quarantined closed segment.
      problem(where(b, s),
              "invalid segment header: " + reader.error().to_string() +
                  (live ? "; the database refuses to open the bucket (live segment)"
                        : "; the database quarantines the segment and still reads its records") +
                  "; --repair rewrites the header (saving the old bytes)",
              /*repairable=*/true);
      r_.header_repairs.emplace_back(b, s);
      reader = SegmentReader::open(path, b, s, nullptr, Env::real(), /*trust_path_ids=*/true);
    }
    if (!reader) {
      problem(where(b, s), "invalid segment header: " + reader.error().to_string());
      r_.damaged_data.insert({b, s});
      lose_track();
      return;
    }
    const bool data_ok = scan_segment(*reader, s, live);
    if (!data_ok) r_.damaged_data.insert({b, s});
    if (!live) check_indexes(*reader, s, data_ok);
  }

  // Verifies every record and transaction; feeds committed events to the cross-segment checks.
  // Returns true if the data holds no damage (a live segment's torn tail is not damage).
  bool scan_segment(const std::shared_ptr<SegmentReader>& reader, SegmentId s, bool live) {
    const BucketId b = bucket_;
    const uint64_t end = reader->visible_end();
    bool ok = true;
    uint64_t valid_end = sf::kHeaderSize;  // end of the last committed transaction
    std::vector<EventRecord> pending;
    auto it = reader->iter(sf::kHeaderSize);

    // Something wrong at `at`. In a live segment everything from the last committed transaction
    // on is a recoverable tail; in a closed one it is damage. Returns false to stop the scan.
    // `lost`: events may be hidden, so expectations resynchronise on the next values seen.
    auto stop = [&](uint64_t at, const std::string& why, bool lost = true) {
      if (live) {
        // Torn tail (the last, unsynced write batch) or damaged acknowledged data? Decided
        // exactly as the database's open does (SegmentWriter::open).
        const fs::path path = get_path(dir_, b, s, SegmentKind::Events);
        auto found = inspect_live_segment(path, b, s, r_.meta ? r_.meta->segment_size : UINT64_MAX);
        if (found && found->zero_tail) {
          // Space the writer preallocated (SegmentWriter): not damage, and opening the
          // database releases it. Nothing to repair.
          note(where(b, s, valid_end), std::to_string(end - valid_end) +
                                           " bytes of preallocated (zero) space after the last "
                                           "transaction");
          return;
        }
        if (found && found->later_batch_offset) {
          const uint64_t x = found->valid_end;
          problem(where(b, s, x),
                  "damaged record at offset " + std::to_string(x) +
                      " in the live segment with acknowledged transactions after it (" +
                      found->reason + "; a later write batch starts at offset " +
                      std::to_string(*found->later_batch_offset) +
                      "): the database refuses to open this bucket; --repair truncates the "
                      "segment at offset " +
                      std::to_string(x) + ", dropping " + std::to_string(found->bytes_dropped) +
                      " bytes, after saving them to " + path.string() + ".damaged-" +
                      std::to_string(x),
                  /*repairable=*/true);
        } else {
          problem(where(b, s, valid_end),
                  "recoverable tail of " + std::to_string(end - valid_end) + " bytes (" + why +
                      " at offset " + std::to_string(at) + "); --repair truncates it",
                  /*repairable=*/true);
        }
        r_.tail_repairs.emplace_back(b, s);
      } else {
        problem(where(b, s, at), why);
        ok = false;
        if (lost) lose_track();
      }
    };

    for (;;) {
      const uint64_t at = it.position();
      auto rec = it.next_record(/*header_only=*/false);
      if (!rec) {
        const Error& e = rec.error();
        std::string why = e.code == Errc::Crc32cMismatch ? "record checksum mismatch"
                          : e.code == Errc::ConfirmationCrc32cMismatch
                              ? "confirmation checksum mismatch"
                          : e.message.find("past visible end") != std::string::npos
                              ? "torn record"
                              : "corrupt record: " + e.to_string();
        if (live || e.code != Errc::Crc32cMismatch) {
          stop(at, why);
          return ok;
        }
        // A closed segment whose record length is intact: report it and go on after it.
        auto hdr = reader->read_record(at, /*header_only=*/true);
        if (!hdr || record_end(*hdr) <= at || record_end(*hdr) > end) {
          stop(at, why);
          return ok;
        }
        // The events lost with it are known to be gone: they show up as gaps below.
        stop(at, why + " (events in this transaction are unreadable)", /*lost=*/false);
        pending.clear();
        it = reader->iter(record_end(*hdr));
        continue;
      }
      if (!*rec) break;
      const Record& record = **rec;
      if (r_.meta && record_end(record) > r_.meta->segment_size) {
        stop(at, "record extends beyond the segment size");
        return ok;
      }
      if (const auto* e = std::get_if<EventRecord>(&record)) {
        if (transaction_id_is_single(e->tx.transaction_id)) {
          if (!pending.empty()) {
            stop(pending.front().offset, "multi-event transaction without its commit record");
            if (live) return ok;
            pending.clear();
          }
          commit(s, std::span(e, 1));
          valid_end = e->end_offset();
          continue;
        }
        if (!pending.empty() && (e->tx.transaction_id != pending.front().tx.transaction_id ||
                                 e->tx.log_position != pending.front().tx.log_position)) {
          stop(pending.front().offset, "multi-event transaction without its commit record");
          if (live) return ok;
          pending.clear();
        }
        EventRecord header = *e;
        header.payload.clear();
        header.metadata.clear();
        pending.push_back(std::move(header));
        continue;
      }
      const auto& c = std::get<CommitRecord>(record);
      if (pending.empty()) {
        stop(at, "commit record without events");
        if (live) return ok;
        continue;
      }
      if (c.tx.transaction_id != pending.front().tx.transaction_id ||
          c.tx.log_position != pending.front().tx.log_position) {
        stop(at, "commit record of another transaction");
        if (live) return ok;
        pending.clear();
        continue;
      }
      if (c.event_count != pending.size()) {
        stop(at, "commit record counts " + std::to_string(c.event_count) + " events, " +
                     std::to_string(pending.size()) + " found");
        if (live) return ok;
        pending.clear();
        continue;
      }
      commit(s, pending);
      pending.clear();
      valid_end = c.end_offset();
    }
    if (!pending.empty()) {
      stop(pending.front().offset, "transaction of " + std::to_string(pending.size()) +
                                       " event(s) without its commit record");
    }
    return ok;
  }

  // One committed transaction: log position, partition sequences, stream versions.
  void commit(SegmentId s, std::span<const EventRecord> events) {
    const BucketId b = bucket_;
    const uint64_t lp = events.front().tx.log_position;
    if (expected_log_position_ && lp != *expected_log_position_) {
      problem(where(b, s, events.front().offset), "log position " + std::to_string(lp) +
                                                      ", expected " +
                                                      std::to_string(*expected_log_position_));
    }
    expected_log_position_ = lp + 1;
    const bool unsure = unsure_buckets_.contains(b);
    for (const EventRecord& e : events) {
      ++r_.events;
      const std::string loc = where(b, s, e.offset);
      if (r_.meta) {
        if (e.partition_id >= r_.meta->partition_count) {
          problem(loc, "partition id " + std::to_string(e.partition_id) +
                           " is not below partition_count");
        } else if (bucket_for_partition(e.partition_id, r_.meta->total_buckets) != b) {
          problem(loc, "partition " + std::to_string(e.partition_id) +
                           " does not belong to this bucket");
        }
      }
      auto seq = next_seq_.find(e.partition_id);
      const uint64_t want_seq =
          seq != next_seq_.end() ? seq->second : (unsure ? e.partition_sequence : 0);
      if (e.partition_sequence != want_seq) {
        problem(loc, "partition " + std::to_string(e.partition_id) + " sequence " +
                         std::to_string(e.partition_sequence) + ", expected " +
                         std::to_string(want_seq) +
                         (e.partition_sequence < want_seq ? " (not increasing)" : " (gap)"));
      }
      next_seq_[e.partition_id] = e.partition_sequence + 1;

      auto key = std::make_pair(e.partition_id, e.stream_id);
      auto ver = next_version_.find(key);
      const uint64_t want_ver =
          ver != next_version_.end() ? ver->second : (unsure ? e.stream_version : 0);
      if (e.stream_version != want_ver) {
        problem(loc, "stream '" + e.stream_id + "' version " + std::to_string(e.stream_version) +
                         ", expected " + std::to_string(want_ver) +
                         (e.stream_version < want_ver ? " (not increasing)" : " (gap)"));
      }
      next_version_[std::move(key)] = e.stream_version + 1;
    }
  }

  // ---------------------------------------------------------------------------- index files
  void check_indexes(const std::shared_ptr<SegmentReader>& reader, SegmentId s, bool data_ok) {
    const BucketId b = bucket_;
    std::optional<LiveIndexes> built;
    if (data_ok) {
      auto r = build_indexes_from_segment(reader);
      if (r) {
        built = std::move(*r);
      } else {
        problem(where(b, s), "cannot build indexes from the segment: " + r.error().to_string());
      }
    }
    bool damaged = false;
    damaged |= !check_event_index(s, built ? &built->events : nullptr);
    damaged |= !check_partition_index(s, built ? &built->partitions : nullptr);
    damaged |= !check_stream_index(s, built ? &built->streams : nullptr);
    if (damaged) r_.index_repairs.emplace_back(b, s);
  }

  // Opens and verifies one index file; reports and returns null on failure.
  template <class File>
  std::unique_ptr<File> open_index(SegmentId s, SegmentKind kind) {
    const fs::path path = get_path(dir_, bucket_, s, kind);
    const std::string loc = where(bucket_, s) + " " + std::string(file_name(kind));
    const bool fixable = !r_.damaged_data.contains({bucket_, s});
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      problem(loc, "missing", fixable);
      return nullptr;
    }
    auto f = File::open(path);
    if (!f) {
      problem(loc, f.error().to_string(), fixable);
      return nullptr;
    }
    if (auto st = (*f)->verify(); !st) {
      problem(loc, "whole-file checksum: " + st.error().to_string(), fixable);
      return nullptr;
    }
    return std::move(*f);
  }

  // Reports index/segment disagreements, the first few individually.
  struct Mismatches {
    Checker& c;
    std::string loc;
    uint64_t count = 0;
    void add(const std::string& what) {
      if (++count <= kMaxMismatchLines) c.problem(loc, what, /*repairable=*/true);
    }
    ~Mismatches() {
      if (count > kMaxMismatchLines) {
        c.problem(loc, std::to_string(count - kMaxMismatchLines) + " more mismatches",
                  /*repairable=*/true);
      }
    }
  };

  bool check_event_index(SegmentId s, const LiveEventIndex* built) {
    auto f = open_index<EventIndexFile>(s, SegmentKind::EventIndex);
    if (!f) return false;
    if (!built) return true;
    Mismatches m{*this, where(bucket_, s) + " index.eidx"};
    if (f->key_count() != built->size()) {
      m.add("holds " + std::to_string(f->key_count()) + " events, the segment " +
            std::to_string(built->size()));
    }
    for (const auto& [id, offset] : built->entries()) {
      auto got = f->get(id);
      if (!got) {
        m.add("event " + id.to_string() + ": " + got.error().to_string());
      } else if (!*got || **got != offset) {
        m.add("event " + id.to_string() + " at offset " + std::to_string(offset) + ": index says " +
              (*got ? "offset " + std::to_string(**got) : std::string("absent")));
      }
    }
    return m.count == 0;
  }

  bool check_partition_index(SegmentId s, const LivePartitionIndex* built) {
    auto f = open_index<PartitionIndexFile>(s, SegmentKind::PartitionIndex);
    if (!f) return false;
    if (!built) return true;
    Mismatches m{*this, where(bucket_, s) + " partition.pidx"};
    if (f->summaries().size() != built->size()) {
      m.add("holds " + std::to_string(f->summaries().size()) + " partitions, the segment " +
            std::to_string(built->size()));
    }
    for (const auto& [pid, entry] : built->entries()) {
      const std::string p = "partition " + std::to_string(pid);
      auto sum = f->summary(pid);
      if (!sum) {
        m.add(p + " is absent");
        continue;
      }
      if (sum->sequence_min != entry.sequence_min || sum->sequence_max != entry.sequence_max ||
          sum->count != entry.offsets.size()) {
        m.add(p + " summary [" + std::to_string(sum->sequence_min) + ", " +
              std::to_string(sum->sequence_max) + "] x" + std::to_string(sum->count) +
              ", the segment [" + std::to_string(entry.sequence_min) + ", " +
              std::to_string(entry.sequence_max) + "] x" + std::to_string(entry.offsets.size()));
      }
      auto offs = f->offsets(pid);
      if (!offs) {
        m.add(p + ": " + offs.error().to_string());
      } else if (*offs != entry.offsets) {
        m.add(p + ": (sequence, offset) list differs from the segment");
      }
    }
    return m.count == 0;
  }

  bool check_stream_index(SegmentId s, const LiveStreamIndex* built) {
    auto f = open_index<StreamIndexFile>(s, SegmentKind::StreamIndex);
    if (!f) return false;
    if (!built) return true;
    Mismatches m{*this, where(bucket_, s) + " stream.sidx"};
    if (f->key_count() != built->size()) {
      m.add("holds " + std::to_string(f->key_count()) + " streams, the segment " +
            std::to_string(built->size()));
    }
    for (const auto& [key, entry] : built->entries()) {
      const std::string st =
          "stream '" + key.stream_id + "' (partition " + std::to_string(key.partition_id) + ")";
      auto sum = f->get(key.partition_id, key.stream_id);
      if (!sum) {
        m.add(st + ": " + sum.error().to_string());
        continue;
      }
      if (!*sum) {
        m.add(st + " is absent");
        continue;
      }
      if ((*sum)->partition_key != entry.partition_key ||
          (*sum)->version_min != entry.version_min || (*sum)->version_max != entry.version_max ||
          (*sum)->count != entry.offsets.size()) {
        m.add(st + ": summary differs from the segment");
      }
      auto offs = f->offsets(key.partition_id, key.stream_id);
      if (!offs) {
        m.add(st + ": " + offs.error().to_string());
      } else if (!*offs || **offs != entry.offsets) {
        m.add(st + ": (version, offset) list differs from the segment");
      }
    }
    return m.count == 0;
  }

  fs::path dir_;
  CheckReport r_;

  // Current bucket and cross-segment expectations.
  BucketId bucket_ = 0;
  std::optional<uint64_t> expected_log_position_;
  std::map<PartitionId, uint64_t> next_seq_;
  std::map<std::pair<PartitionId, std::string>, uint64_t> next_version_;
  std::set<BucketId> unsure_buckets_;
};

}  // namespace

CheckReport check_directory(const fs::path& dir) {
  return Checker(dir).run();
}

void print(const CheckReport& report, std::ostream& out) {
  for (const CheckFinding& f : report.findings) {
    out << (f.kind == CheckFinding::Kind::Problem ? "problem: " : "note: ") << f.location << ": "
        << f.what << "\n";
  }
  out << report.segments << " segments, " << report.events << " events, " << report.problems
      << " problems\n";
}

}  // namespace sierra
