// Whether a bucket's highest segment file is the leftover of a segment creation (rollover) that
// never completed: shorter than a header, or header-sized with a header that does not verify.
// The header is fdatasynced before any record is written, so such a file never held a record;
// the database removes it at open and `sierradb check` reports it the same way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "engine/env.hpp"

#include "engine/ids.hpp"

namespace sierra {

// `path` is the data.evts of (bucket, segment); `size` receives the file size found.
bool is_interrupted_creation(const std::filesystem::path& path, BucketId bucket, SegmentId segment,
                             uintmax_t* size = nullptr, std::shared_ptr<Env> env = Env::real());

}  // namespace sierra
