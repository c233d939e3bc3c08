#include "engine/bucket/closed_segment.hpp"

#include <algorithm>

#include "engine/segment/paths.hpp"

namespace sierra {

ClosedSegment::ClosedSegment(std::shared_ptr<SegmentReader> reader,
                             std::shared_ptr<const LiveIndexes> mem)
    : reader_(std::move(reader)), mem_(std::move(mem)) {}

ClosedSegment::ClosedSegment(std::shared_ptr<SegmentReader> reader,
                             std::unique_ptr<EventIndexFile> eidx,
                             std::unique_ptr<PartitionIndexFile> pidx,
                             std::unique_ptr<StreamIndexFile> sidx)
    : reader_(std::move(reader)),
      eidx_(std::move(eidx)),
      pidx_(std::move(pidx)),
      sidx_(std::move(sidx)) {}

Result<std::optional<uint64_t>> ClosedSegment::find_event(const Uuid& id) const {
  if (mem_) return mem_->events.get(id);
  return eidx_->get(id);
}

std::optional<PartitionSummary> ClosedSegment::partition_summary(PartitionId pid) const {
  if (mem_) {
    const PartitionEntry* e = mem_->partitions.get(pid);
    if (!e) return std::nullopt;
    return PartitionSummary{pid, e->sequence_min, e->sequence_max, e->offsets.size()};
  }
  return pidx_->summary(pid);
}

std::vector<PartitionSummary> ClosedSegment::partition_summaries() const {
  if (!mem_) return pidx_->summaries();
  std::vector<PartitionSummary> out;
  for (const auto& [pid, e] : mem_->partitions.entries()) {
    out.push_back(PartitionSummary{pid, e.sequence_min, e.sequence_max, e.offsets.size()});
  }
  return out;
}

Result<std::vector<SeqOffset>> ClosedSegment::partition_offsets(PartitionId pid) const {
  if (mem_) {
    const PartitionEntry* e = mem_->partitions.get(pid);
    if (!e) return std::vector<SeqOffset>{};
    return e->offsets;
  }
  return pidx_->offsets(pid);
}

Result<std::optional<StreamSummary>> ClosedSegment::stream_summary(PartitionId pid,
                                                                   std::string_view sid) const {
  if (mem_) {
    const StreamEntry* e = mem_->streams.get(pid, sid);
    if (!e) return std::optional<StreamSummary>{};
    return std::optional<StreamSummary>(
        StreamSummary{e->partition_key, e->version_min, e->version_max, e->offsets.size()});
  }
  return sidx_->get(pid, sid);
}

Result<std::optional<std::vector<SeqOffset>>> ClosedSegment::stream_offsets(
    PartitionId pid, std::string_view sid) const {
  if (mem_) {
    const StreamEntry* e = mem_->streams.get(pid, sid);
    if (!e) return std::optional<std::vector<SeqOffset>>{};
    return std::optional<std::vector<SeqOffset>>(e->offsets);
  }
  return sidx_->offsets(pid, sid);
}

Result<LiveIndexes> build_indexes_from_segment(const std::shared_ptr<SegmentReader>& reader) {
  LiveIndexes idx;
  SegmentIterator it = reader->iter();
  while (true) {
    auto tx = it.next_transaction(false);
    if (!tx) return std::unexpected(tx.error());
    if (!*tx) break;
    for (const EventRecord& e : (*tx)->events) {
      idx.events.insert(e.event_id, e.offset);
      idx.partitions.insert(e.partition_id, e.partition_sequence, e.offset);
      if (auto s = idx.streams.insert(e.partition_id, e.stream_id, e.partition_key,
                                      e.stream_version, e.offset);
          !s) {
        return std::unexpected(s.error());
      }
    }
  }
  return idx;
}

Status write_index_files(const std::filesystem::path& base, BucketId bucket, SegmentId segment,
                         const LiveIndexes& indexes, const std::shared_ptr<Env>& env) {
  if (auto s = EventIndexFile::write(get_path(base, bucket, segment, SegmentKind::EventIndex),
                                     indexes.events, env);
      !s) {
    return s;
  }
  if (auto s = PartitionIndexFile::write(
          get_path(base, bucket, segment, SegmentKind::PartitionIndex), indexes.partitions, env);
      !s) {
    return s;
  }
  return StreamIndexFile::write(get_path(base, bucket, segment, SegmentKind::StreamIndex),
                                indexes.streams, env);
}

Result<std::shared_ptr<ClosedSegment>> open_closed_segment_files(
    const std::filesystem::path& base, BucketId bucket, std::shared_ptr<SegmentReader> reader,
    const std::shared_ptr<Env>& env) {
  const SegmentId seg = reader->segment();
  auto eidx = EventIndexFile::open(get_path(base, bucket, seg, SegmentKind::EventIndex), env);
  if (!eidx) return std::unexpected(eidx.error());
  auto pidx =
      PartitionIndexFile::open(get_path(base, bucket, seg, SegmentKind::PartitionIndex), env);
  if (!pidx) return std::unexpected(pidx.error());
  auto sidx = StreamIndexFile::open(get_path(base, bucket, seg, SegmentKind::StreamIndex), env);
  if (!sidx) return std::unexpected(sidx.error());
  return std::make_shared<ClosedSegment>(std::move(reader), std::move(*eidx), std::move(*pidx),
                                         std::move(*sidx));
}

}  // namespace sierra
