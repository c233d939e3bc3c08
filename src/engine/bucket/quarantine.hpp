// Damaged closed segments of one bucket, kept out of the way instead of failing the open
// ("quarantined"), and what the bucket can still answer truthfully.
//
// A closed segment is quarantined when its header does not verify (its records are still read:
// the path says which bucket and segment it is) or when its index files are missing or damaged
// and its data holds records that do not verify: the indexes are rebuilt from every transaction
// that verifies before and after the damaged ranges. Such a segment is *lossy* when committed
// transactions may be lost in those ranges. Partition sequences are consecutive from 0, so a
// partition whose known events count max+1 and which appears after the last lossy segment lost
// nothing and is *certain*; every other partition of the bucket is uncertain: appends to it are
// refused (its next sequence and its streams' versions are unknown) and reads whose answer could
// depend on the lost records fail with a QuarantinedSegment error naming the segment.
// Fixed when the bucket opens; immutable afterwards (shared by readers without a lock).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/index/live_index.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

class ClosedSegment;

// Bytes [from, to) of a segment that hold no verifying record.
struct DamagedRange {
  uint64_t from = 0;
  uint64_t to = 0;
};

struct SalvagedIndexes {
  LiveIndexes indexes;
  std::vector<DamagedRange> damaged;
  // Committed transactions may be lost in `damaged` (log positions around a range are not
  // consecutive, or a range reaches the end of the file).
  bool lossy = false;
  uint64_t transactions = 0;
};

// Indexes of every committed transaction that verifies; after a record that does not, the scan
// resumes at the next offset holding a record that verifies completely. Io errors are returned.
Result<SalvagedIndexes> salvage_indexes(const std::shared_ptr<SegmentReader>& reader);

// A segment reader for a file whose header does not verify: the ids come from its path.
Result<std::shared_ptr<SegmentReader>> open_reader_ignoring_header(
    const std::filesystem::path& path, BucketId bucket, SegmentId segment,
    std::shared_ptr<Env> env = Env::real());

struct QuarantinedSegment {
  SegmentId segment = 0;
  std::string reason;
  bool lossy = false;
};

class Quarantine {
 public:
  explicit Quarantine(BucketId bucket) : bucket_(bucket) {}

  // A second finding about the same segment is merged into its entry.
  void add(QuarantinedSegment q);
  // Decides which partitions are certain, from the closed segments (ascending) and the live
  // indexes, once all are known.
  void settle(const std::vector<std::shared_ptr<const ClosedSegment>>& closed,
              const LiveIndexes& live);

  bool empty() const { return segments_.empty(); }
  const std::vector<QuarantinedSegment>& segments() const { return segments_; }
  // The highest lossy segment, if any.
  std::optional<SegmentId> last_lossy() const { return last_lossy_; }
  // True if events of `pid` may be lost in a lossy segment (or its latest sequence is unknown).
  bool uncertain(PartitionId pid) const {
    return last_lossy_.has_value() && !certain_.contains(pid);
  }
  // The error for a request about `pid` whose answer may depend on lost records.
  Error error(PartitionId pid, std::string_view what) const;

 private:
  BucketId bucket_;
  std::vector<QuarantinedSegment> segments_;
  std::optional<SegmentId> last_lossy_;
  std::set<PartitionId> certain_;
};

}  // namespace sierra
