#include "engine/segment/interrupted_creation.hpp"

#include <system_error>

#include "engine/segment/format.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

bool is_interrupted_creation(const std::filesystem::path& path, BucketId bucket, SegmentId segment,
                             uintmax_t* size_out, std::shared_ptr<Env> env) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (size_out) *size_out = ec ? 0 : size;
  if (ec || size > segment_format::kHeaderSize) return false;
  if (size < segment_format::kHeaderSize) return true;
  auto header = SegmentReader::open(path, bucket, segment, nullptr, std::move(env));
  return !header && header.error().code == Errc::CorruptHeader;
}

}  // namespace sierra
