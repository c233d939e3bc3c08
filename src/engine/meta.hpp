// meta.json: what cannot change for the life of a data directory (format version, partition
// count, bucket count, segment size). Read, validated and written here only; the database checks
// it on open (creating it in a new directory) and the offline checker validates it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/env.hpp"
#include "engine/error.hpp"

namespace sierra {

inline constexpr int64_t kMetaFormatVersion = 1;
inline constexpr const char* kMetaFileName = "meta.json";

// The settings meta.json records.
struct Meta {
  uint16_t partition_count = 0;
  uint16_t total_buckets = 0;
  uint64_t segment_size = 0;
};

// meta.json as stored, unvalidated: a field is -1 when it is absent or not an integer.
struct StoredMeta {
  int64_t version = -1;
  int64_t partition_count = -1;
  int64_t total_buckets = -1;
  int64_t segment_size = -1;
};

// Reads <dir>/meta.json: nullopt if there is no such file; CorruptHeader if it is not a JSON
// object.
Result<std::optional<StoredMeta>> read_meta(const std::filesystem::path& dir);

// What is wrong with stored meta, one sentence per field ("invalid partition_count 0", ...);
// empty when it is a valid meta.json of this format version.
std::vector<std::string> meta_problems(const StoredMeta& stored);

// The settings of a stored meta.json without problems; nullopt otherwise.
std::optional<Meta> valid_meta(const StoredMeta& stored);

// Writes <dir>/meta.json (current format version) atomically.
Status write_meta(const std::filesystem::path& dir, const Meta& meta,
                  const std::shared_ptr<Env>& env = Env::real());

// On open: if <dir>/meta.json exists, checks that it is of this format version
// (UnsupportedVersion) and records `wanted` (ConfigMismatch, naming the first differing field);
// if it does not exist, creates it with `wanted`.
Status load_or_create_meta(const std::filesystem::path& dir, const Meta& wanted,
                           const std::shared_ptr<Env>& env = Env::real());

}  // namespace sierra
