// Where segment and index files live in a data directory (STORAGE.md §1.2):
//   <base>/buckets/<bucket:05>/segments/<segment:010>/{data.evts,index.eidx,partition.pidx,stream.sidx}
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"

namespace sierra {

enum class SegmentKind { Events, EventIndex, PartitionIndex, StreamIndex };

// data.evts / index.eidx / partition.pidx / stream.sidx
std::string_view file_name(SegmentKind kind);
// evts / eidx / pidx / sidx
std::string_view short_name(SegmentKind kind);
// Inverse of short_name; InvalidSegmentKind otherwise.
Result<SegmentKind> parse_segment_kind(std::string_view short_name);

std::filesystem::path bucket_dir(const std::filesystem::path& base, BucketId bucket);
std::filesystem::path segment_dir(const std::filesystem::path& base, BucketId bucket,
                                  SegmentId segment);
std::filesystem::path get_path(const std::filesystem::path& base, BucketId bucket,
                               SegmentId segment, SegmentKind kind);

struct ParsedSegmentPath {
  BucketId bucket;
  SegmentId segment;
  SegmentKind kind;
  bool operator==(const ParsedSegmentPath&) const = default;
};
// Parses .../<bucket>/segments/<segment>/<file name>; nullopt if any part does not parse.
std::optional<ParsedSegmentPath> parse_path(const std::filesystem::path& path);

// Creates the segment directory (and parents) if missing; returns its path.
Result<std::filesystem::path> ensure_segment_dir(const std::filesystem::path& base, BucketId bucket,
                                                 SegmentId segment);

// Segment ids present for a bucket (directories whose name parses as u32), ascending.
Result<std::vector<SegmentId>> list_segment_ids(const std::filesystem::path& base, BucketId bucket);

}  // namespace sierra
