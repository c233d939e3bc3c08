#include "engine/segment/paths.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>
#include <system_error>

namespace sierra {
namespace {

namespace fs = std::filesystem;

// Plain decimal digits only (no sign, no whitespace), value must fit in T.
template <class T>
std::optional<T> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  T value{};
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 10);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string zero_padded(uint64_t value, int width) {
  char buf[32];
  const int n =
      std::snprintf(buf, sizeof buf, "%0*llu", width, static_cast<unsigned long long>(value));
  return std::string(buf, static_cast<size_t>(n));
}

fs::path segments_dir(const fs::path& base, BucketId bucket) {
  return bucket_dir(base, bucket) / "segments";
}

std::optional<SegmentKind> kind_from_file_name(std::string_view name) {
  for (SegmentKind k : {SegmentKind::Events, SegmentKind::EventIndex, SegmentKind::PartitionIndex,
                        SegmentKind::StreamIndex}) {
    if (file_name(k) == name) return k;
  }
  return std::nullopt;
}

}  // namespace

std::string_view file_name(SegmentKind kind) {
  switch (kind) {
    case SegmentKind::Events:
      return "data.evts";
    case SegmentKind::EventIndex:
      return "index.eidx";
    case SegmentKind::PartitionIndex:
      return "partition.pidx";
    case SegmentKind::StreamIndex:
      return "stream.sidx";
  }
  return "";
}

std::string_view short_name(SegmentKind kind) {
  switch (kind) {
    case SegmentKind::Events:
      return "evts";
    case SegmentKind::EventIndex:
      return "eidx";
    case SegmentKind::PartitionIndex:
      return "pidx";
    case SegmentKind::StreamIndex:
      return "sidx";
  }
  return "";
}

Result<SegmentKind> parse_segment_kind(std::string_view name) {
  if (name == "evts") return SegmentKind::Events;
  if (name == "eidx") return SegmentKind::EventIndex;
  if (name == "pidx") return SegmentKind::PartitionIndex;
  if (name == "sidx") return SegmentKind::StreamIndex;
  return make_error(Errc::InvalidSegmentKind, "invalid segment kind");
}

fs::path bucket_dir(const fs::path& base, BucketId bucket) {
  return base / "buckets" / zero_padded(bucket, 5);
}

fs::path segment_dir(const fs::path& base, BucketId bucket, SegmentId segment) {
  return segments_dir(base, bucket) / zero_padded(segment, 10);
}

fs::path get_path(const fs::path& base, BucketId bucket, SegmentId segment, SegmentKind kind) {
  return segment_dir(base, bucket, segment) / file_name(kind);
}

std::optional<ParsedSegmentPath> parse_path(const fs::path& path) {
  const auto kind = kind_from_file_name(path.filename().native());
  if (!kind) return std::nullopt;
  const fs::path seg_dir = path.parent_path();
  const auto segment = parse_decimal<SegmentId>(seg_dir.filename().native());
  if (!segment) return std::nullopt;
  const fs::path segments_level = seg_dir.parent_path();  // name not checked
  if (segments_level.filename().empty()) return std::nullopt;
  const auto bucket = parse_decimal<BucketId>(segments_level.parent_path().filename().native());
  if (!bucket) return std::nullopt;
  return ParsedSegmentPath{*bucket, *segment, *kind};
}

Result<fs::path> ensure_segment_dir(const fs::path& base, BucketId bucket, SegmentId segment) {
  fs::path dir = segment_dir(base, bucket, segment);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return errno_error(ec.value(), "create directory " + dir.string());
  return dir;
}

Result<std::vector<SegmentId>> list_segment_ids(const fs::path& base, BucketId bucket) {
  const fs::path dir = segments_dir(base, bucket);
  std::vector<SegmentId> ids;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return ids;
    return errno_error(ec.value(), "list directory " + dir.string());
  }
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    if (auto id = parse_decimal<SegmentId>(it->path().filename().native())) ids.push_back(*id);
  }
  if (ec) return errno_error(ec.value(), "list directory " + dir.string());
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace sierra
