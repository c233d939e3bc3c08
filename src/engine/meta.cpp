// meta.json: reading, validation, writing.
#include "engine/meta.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <span>
#include <sstream>

#include "engine/file.hpp"
#include "engine/segment/format.hpp"

namespace sierra {

namespace fs = std::filesystem;

Result<std::optional<StoredMeta>> read_meta(const fs::path& dir) {
  const fs::path path = dir / kMetaFileName;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<StoredMeta>{};
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(Errc::CorruptHeader, "meta.json is not valid JSON: " + path.string());
  }
  auto get = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
  };
  return std::optional<StoredMeta>(StoredMeta{get("version"), get("partition_count"),
                                              get("total_buckets"), get("segment_size")});
}

std::vector<std::string> meta_problems(const StoredMeta& m) {
  namespace sf = segment_format;
  std::vector<std::string> out;
  if (m.version != kMetaFormatVersion) {
    out.push_back("unsupported or missing version " + std::to_string(m.version));
  }
  if (m.partition_count < 1 || m.partition_count > UINT16_MAX) {
    out.push_back("invalid partition_count " + std::to_string(m.partition_count));
  }
  if (m.total_buckets < 1 || m.total_buckets > UINT16_MAX ||
      (m.partition_count >= 1 && m.total_buckets > m.partition_count)) {
    out.push_back("invalid total_buckets " + std::to_string(m.total_buckets));
  }
  if (m.segment_size <= static_cast<int64_t>(sf::kHeaderSize + sf::kMinRecordSize)) {
    out.push_back("invalid segment_size " + std::to_string(m.segment_size));
  }
  return out;
}

std::optional<Meta> valid_meta(const StoredMeta& m) {
  if (!meta_problems(m).empty()) return std::nullopt;
  return Meta{static_cast<uint16_t>(m.partition_count), static_cast<uint16_t>(m.total_buckets),
              static_cast<uint64_t>(m.segment_size)};
}

Status write_meta(const fs::path& dir, const Meta& meta, const std::shared_ptr<Env>& env) {
  const nlohmann::json j = {{"version", kMetaFormatVersion},
                            {"partition_count", meta.partition_count},
                            {"total_buckets", meta.total_buckets},
                            {"segment_size", meta.segment_size}};
  const std::string text = j.dump(2) + "\n";
  return write_file_atomically(
      dir / kMetaFileName, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
      env);
}

Status load_or_create_meta(const fs::path& dir, const Meta& wanted,
                           const std::shared_ptr<Env>& env) {
  auto stored = read_meta(dir);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return write_meta(dir, wanted, env);
  const StoredMeta& m = **stored;
  if (m.version != kMetaFormatVersion) {
    return make_error(Errc::UnsupportedVersion, "meta.json: unsupported version");
  }
  auto mismatch = [](const char* key, int64_t have, uint64_t want) -> Status {
    if (have != static_cast<int64_t>(want)) {
      return make_error(Errc::ConfigMismatch,
                        std::string("data directory was created with ") + key + " = " +
                            std::to_string(have) + ", but " + std::to_string(want) +
                            " was requested (it cannot change for the life of the directory)");
    }
    return {};
  };
  if (auto s = mismatch("partition_count", m.partition_count, wanted.partition_count); !s) {
    return s;
  }
  if (auto s = mismatch("total_buckets", m.total_buckets, wanted.total_buckets); !s) return s;
  return mismatch("segment_size", m.segment_size, wanted.segment_size);
}

}  // namespace sierra
