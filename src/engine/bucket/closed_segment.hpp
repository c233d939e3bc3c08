// An immutable, closed segment of a bucket: its reader plus its indexes, served either from the
// in-memory indexes it had while live (until the background job wrote the index files) or from
// the index files. Immutable after construction; the bucket swaps whole objects.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/error.hpp"
#include "engine/index/index_files.hpp"
#include "engine/index/live_index.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

class ClosedSegment {
 public:
  // Served from memory (right after rollover).
  ClosedSegment(std::shared_ptr<SegmentReader> reader, std::shared_ptr<const LiveIndexes> mem);
  // Served from index files.
  ClosedSegment(std::shared_ptr<SegmentReader> reader, std::unique_ptr<EventIndexFile> eidx,
                std::unique_ptr<PartitionIndexFile> pidx, std::unique_ptr<StreamIndexFile> sidx);

  SegmentId id() const { return reader_->segment(); }
  const std::shared_ptr<SegmentReader>& reader() const { return reader_; }
  bool in_memory() const { return mem_ != nullptr; }
  const std::shared_ptr<const LiveIndexes>& memory_indexes() const { return mem_; }

  Result<std::optional<uint64_t>> find_event(const Uuid& id) const;
  std::optional<PartitionSummary> partition_summary(PartitionId pid) const;
  std::vector<PartitionSummary> partition_summaries() const;
  Result<std::vector<SeqOffset>> partition_offsets(PartitionId pid) const;
  Result<std::optional<StreamSummary>> stream_summary(PartitionId pid, std::string_view sid) const;
  Result<std::optional<std::vector<SeqOffset>>> stream_offsets(PartitionId pid,
                                                               std::string_view sid) const;

 private:
  std::shared_ptr<SegmentReader> reader_;
  std::shared_ptr<const LiveIndexes> mem_;
  std::unique_ptr<EventIndexFile> eidx_;
  std::unique_ptr<PartitionIndexFile> pidx_;
  std::unique_ptr<StreamIndexFile> sidx_;
};

// Builds the three indexes of a segment by scanning its committed transactions.
Result<LiveIndexes> build_indexes_from_segment(const std::shared_ptr<SegmentReader>& reader);

// Writes the three index files of a segment (each atomically).
Status write_index_files(const std::filesystem::path& base, BucketId bucket, SegmentId segment,
                         const LiveIndexes& indexes, const std::shared_ptr<Env>& env = Env::real());

// Opens the index files of a closed segment; any missing or damaged one is an error.
Result<std::shared_ptr<ClosedSegment>> open_closed_segment_files(
    const std::filesystem::path& base, BucketId bucket, std::shared_ptr<SegmentReader> reader,
    const std::shared_ptr<Env>& env = Env::real());

}  // namespace sierra
