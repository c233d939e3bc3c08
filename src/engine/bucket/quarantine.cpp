#include "engine/bucket/quarantine.hpp"

#include <algorithm>
#include <map>

#include "engine/bucket/closed_segment.hpp"
#include "engine/segment/format.hpp"

namespace sierra {

namespace sf = segment_format;

namespace {

bool is_io(const Error& e) {
  return e.code == Errc::Io || e.code == Errc::NoSpace;
}

// The next offset >= `from` holding a record that verifies completely (both CRCs, header CRC,
// structure), or nullopt. Cheap filters (length, kind, flags) reject most positions without a
// checksum; bytes are read in windows.
Result<std::optional<uint64_t>> next_verifying_record(const SegmentReader& reader, uint64_t from) {
  constexpr uint64_t kWindow = 1 << 20;
  const uint64_t end = reader.visible_end();
  std::vector<uint8_t> window;
  uint64_t wstart = 0, wend = 0;
  for (uint64_t q = from; q + sf::kMinRecordSize <= end; ++q) {
    if (q < wstart || q + sf::kMinRecordSize > wend) {
      wstart = q;
      wend = q + std::min(kWindow, end - q);
      window.resize(wend - wstart);
      if (auto st = reader.file().pread_exact(window.data(), window.size(), wstart); !st) {
        return std::unexpected(st.error());
      }
    }
    const uint8_t* r = window.data() + (q - wstart);
    const uint32_t len = sf::peek_record_length(std::span(r, sf::kMinRecordSize));
    const uint8_t kind = r[sf::kKindOffset];
    const bool plausible =
        len >= sf::kMinRecordSize && len <= end - q && r[sf::kReservedOffset + 1] == 0 &&
        ((kind == sf::kKindEvent && len >= sf::kEventFixedSize &&
          (r[sf::kReservedOffset] & ~sf::kBatchStartFlag) == 0) ||
         (kind == sf::kKindCommit && len == sf::kCommitSize && r[sf::kReservedOffset] == 0));
    if (!plausible) continue;
    if (q + len <= wend) {
      if (sf::decode_record(std::span(r, len), q, false)) return std::optional<uint64_t>(q);
      continue;
    }
    auto rec = reader.read_record(q, false);
    if (rec) return std::optional<uint64_t>(q);
    if (is_io(rec.error())) return std::unexpected(rec.error());
  }
  return std::optional<uint64_t>();
}

}  // namespace

Result<SalvagedIndexes> salvage_indexes(const std::shared_ptr<SegmentReader>& reader) {
  SalvagedIndexes out;
  std::optional<uint64_t> last_lp;
  bool after_gap = false;
  SegmentIterator it = reader->iter();
  while (true) {
    const uint64_t at = it.position();
    auto tx = it.next_transaction(false);
    if (!tx) {
      if (is_io(tx.error())) return std::unexpected(tx.error());
      // Damage at `at` (or inside the transaction starting there): skip to the next record
      // that verifies.
      auto next = next_verifying_record(*reader, std::max(at, tx.error().offset) + 1);
      if (!next) return std::unexpected(next.error());
      const uint64_t to = next->value_or(reader->visible_end());
      out.damaged.push_back({at, to});
      if (!*next) {
        out.lossy = true;  // the rest of the file: whatever was there is unknown
        break;
      }
      after_gap = true;
      it = reader->iter(**next);
      continue;
    }
    if (!*tx) break;
    const uint64_t lp = (*tx)->events.front().tx.log_position;
    if (after_gap && (!last_lp || lp != *last_lp + 1)) out.lossy = true;
    after_gap = false;
    last_lp = lp;
    ++out.transactions;
    for (const EventRecord& e : (*tx)->events) {
      out.indexes.events.insert(e.event_id, e.offset);
      out.indexes.partitions.insert(e.partition_id, e.partition_sequence, e.offset);
      if (auto s = out.indexes.streams.insert(e.partition_id, e.stream_id, e.partition_key,
                                              e.stream_version, e.offset);
          !s) {
        return std::unexpected(s.error());
      }
    }
  }
  return out;
}

Result<std::shared_ptr<SegmentReader>> open_reader_ignoring_header(
    const std::filesystem::path& path, BucketId bucket, SegmentId segment,
    std::shared_ptr<Env> env) {
  return SegmentReader::open(path, bucket, segment, nullptr, std::move(env),
                             /*trust_path_ids=*/true);
}

void Quarantine::add(QuarantinedSegment q) {
  for (QuarantinedSegment& have : segments_) {
    if (have.segment != q.segment) continue;
    have.reason += "; " + q.reason;
    have.lossy = have.lossy || q.lossy;
    return;
  }
  segments_.push_back(std::move(q));
}

void Quarantine::settle(const std::vector<std::shared_ptr<const ClosedSegment>>& closed,
                        const LiveIndexes& live) {
  last_lossy_.reset();
  for (const QuarantinedSegment& q : segments_) {
    if (q.lossy && (!last_lossy_ || q.segment > *last_lossy_)) last_lossy_ = q.segment;
  }
  certain_.clear();
  if (!last_lossy_) return;
  struct Seen {
    uint64_t count = 0;
    uint64_t max = 0;
    bool after = false;
  };
  std::map<PartitionId, Seen> seen;
  for (const auto& seg : closed) {
    for (const PartitionSummary& p : seg->partition_summaries()) {
      Seen& s = seen[p.partition_id];
      s.count += p.count;
      s.max = std::max(s.max, p.sequence_max);
      if (seg->id() > *last_lossy_) s.after = true;
    }
  }
  for (const auto& [pid, e] : live.partitions.entries()) {
    Seen& s = seen[pid];
    s.count += e.offsets.size();
    s.max = std::max(s.max, e.sequence_max);
    s.after = true;
  }
  for (const auto& [pid, s] : seen) {
    if (s.after && s.count == s.max + 1) certain_.insert(pid);
  }
}

Error Quarantine::error(PartitionId pid, std::string_view what) const {
  std::string segs;
  for (const QuarantinedSegment& q : segments_) {
    if (!q.lossy) continue;
    segs += (segs.empty() ? "" : ", ") + std::string("bucket ") + std::to_string(bucket_) +
            " segment " + std::to_string(q.segment);
  }
  return Error{Errc::QuarantinedSegment,
               std::string(what) + ": partition " + std::to_string(pid) +
                   " may have events in damaged records of quarantined " + segs +
                   " (see the server log; run `sierradb check <dir>`)",
               0, 0};
}

}  // namespace sierra
