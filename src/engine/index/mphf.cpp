#include "engine/index/mphf.hpp"

#include <cmph.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

namespace sierra {

static_assert(std::endian::native == std::endian::little, "index files are little-endian");

namespace {

struct AdapterDeleter {
  void operator()(cmph_io_adapter_t* a) const { cmph_io_byte_vector_adapter_destroy(a); }
};
struct ConfigDeleter {
  void operator()(cmph_config_t* c) const { cmph_config_destroy(c); }
};
struct CmphDeleter {
  void operator()(cmph_t* m) const { cmph_destroy(m); }
};

// CMPH draws its hash seeds from rand() and has no documented thread-safety guarantees for
// building; builds are rare (one per closed segment), so serialise them.
std::mutex& cmph_build_mutex() {
  static std::mutex m;
  return m;
}

constexpr int kBdzAttempts = 4;  // each attempt draws new seeds

uint64_t table_hash(uint64_t seed, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

}  // namespace

Result<Mphf> Mphf::build(std::span<const std::string_view> keys, bool force_table) {
  if (keys.size() > UINT32_MAX) {
    return make_error(Errc::InvalidArgument,
                      "MPHF: too many keys (" + std::to_string(keys.size()) + ")");
  }
  if (!force_table && keys.size() > kSmallKeySet) {
    if (auto m = build_bdz(keys)) return std::move(*m);
    // CMPH failed (or the result was not perfect, e.g. duplicate keys): the table form either
    // works or reports the duplicates.
  }
  return build_table(keys);
}

std::optional<Mphf> Mphf::build_bdz(std::span<const std::string_view> keys) {
  const auto n = static_cast<uint32_t>(keys.size());
  // The byte-vector adapter reads each key as [u32 length, native order][bytes].
  size_t total = 0;
  for (auto k : keys) total += sizeof(uint32_t) + k.size();
  std::vector<uint8_t> buf(total);
  std::vector<uint8_t*> ptrs(n);
  size_t pos = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const auto len = static_cast<uint32_t>(keys[i].size());
    ptrs[i] = buf.data() + pos;
    std::memcpy(buf.data() + pos, &len, sizeof len);
    if (len != 0) std::memcpy(buf.data() + pos + sizeof len, keys[i].data(), len);
    pos += sizeof len + len;
  }

  std::lock_guard lock(cmph_build_mutex());
  for (int attempt = 0; attempt < kBdzAttempts; ++attempt) {
    std::unique_ptr<cmph_io_adapter_t, AdapterDeleter> source(
        cmph_io_byte_vector_adapter(ptrs.data(), n));
    if (!source) return std::nullopt;
    std::unique_ptr<cmph_config_t, ConfigDeleter> config(cmph_config_new(source.get()));
    if (!config) return std::nullopt;
    cmph_config_set_algo(config.get(), CMPH_BDZ);
    cmph_config_set_verbosity(config.get(), 0);
    std::unique_ptr<cmph_t, CmphDeleter> fn(cmph_new(config.get()));
    if (!fn) continue;
    const cmph_uint32 packed = cmph_packed_size(fn.get());
    if (packed == 0) continue;

    Mphf m;
    m.kind_ = Kind::Bdz;
    m.count_ = n;
    m.size_ = kHeaderSize + packed;
    m.storage_.assign((m.size_ + 7) / 8, 0);
    auto* bytes = reinterpret_cast<uint8_t*>(m.storage_.data());
    const uint32_t kind = static_cast<uint32_t>(Kind::Bdz);
    std::memcpy(bytes, &kind, 4);
    std::memcpy(bytes + 4, &n, 4);
    cmph_pack(fn.get(), bytes + kHeaderSize);

    // Trust but verify: the packed function must map the keys one-to-one onto [0, n).
    std::vector<bool> seen(n, false);
    bool perfect = true;
    for (uint32_t i = 0; i < n && perfect; ++i) {
      auto s = m.slot(keys[i]);
      if (!s || seen[*s]) {
        perfect = false;
      } else {
        seen[*s] = true;
      }
    }
    if (perfect) return m;
  }
  return std::nullopt;
}

Result<Mphf> Mphf::build_table(std::span<const std::string_view> keys) {
  const auto n = static_cast<uint32_t>(keys.size());
  std::vector<uint64_t> hashes(n);
  // A 64-bit hash collision between distinct keys is astronomically unlikely; a new seed fixes
  // it. Persistent collisions mean duplicate keys.
  for (uint64_t seed = 0; seed < 8; ++seed) {
    for (uint32_t i = 0; i < n; ++i) hashes[i] = table_hash(seed, keys[i]);
    std::sort(hashes.begin(), hashes.end());
    if (std::adjacent_find(hashes.begin(), hashes.end()) != hashes.end()) continue;

    Mphf m;
    m.kind_ = Kind::Table;
    m.count_ = n;
    m.seed_ = seed;
    m.size_ = kHeaderSize + 8 + size_t{8} * n;
    m.storage_.assign(2 + size_t{n}, 0);
    m.storage_[0] = uint64_t{static_cast<uint32_t>(Kind::Table)} | (uint64_t{n} << 32);
    m.storage_[1] = seed;
    std::copy(hashes.begin(), hashes.end(), m.storage_.begin() + 2);
    return m;
  }
  return make_error(Errc::InvalidArgument, "MPHF: duplicate keys");
}

Result<Mphf> Mphf::deserialize(std::span<const uint8_t> bytes, uint64_t expected_keys) {
  if (bytes.size() < kHeaderSize) {
    return make_error(Errc::CorruptIndex,
                      "MPHF: " + std::to_string(bytes.size()) + " bytes, shorter than its header");
  }
  uint32_t kind = 0;
  uint32_t n = 0;
  std::memcpy(&kind, bytes.data(), 4);
  std::memcpy(&n, bytes.data() + 4, 4);
  if (n != expected_keys) {
    return make_error(Errc::CorruptIndex, "MPHF: key count " + std::to_string(n) +
                                              " differs from the file's " +
                                              std::to_string(expected_keys));
  }
  Mphf m;
  m.count_ = n;
  m.size_ = bytes.size();
  m.storage_.assign((bytes.size() + 7) / 8, 0);
  std::memcpy(m.storage_.data(), bytes.data(), bytes.size());

  if (kind == static_cast<uint32_t>(Kind::Table)) {
    if (bytes.size() != kHeaderSize + 8 + size_t{8} * n) {
      return make_error(Errc::CorruptIndex, "MPHF: table length " + std::to_string(bytes.size()) +
                                                " does not match " + std::to_string(n) + " keys");
    }
    m.kind_ = Kind::Table;
    m.seed_ = m.storage_[1];
    if (!std::is_sorted(m.table(), m.table() + n) ||
        std::adjacent_find(m.table(), m.table() + n) != m.table() + n) {
      return make_error(Errc::CorruptIndex, "MPHF: table not strictly ascending");
    }
    return m;
  }
  if (kind == static_cast<uint32_t>(Kind::Bdz)) {
    // cmph_search_packed dispatches on the algorithm id at the start of the packed bytes.
    uint32_t algo = 0;
    if (bytes.size() < kHeaderSize + 4 + 8 || n == 0) {
      return make_error(Errc::CorruptIndex, "MPHF: BDZ blob too short");
    }
    std::memcpy(&algo, bytes.data() + kHeaderSize, 4);
    if (algo != static_cast<uint32_t>(CMPH_BDZ)) {
      return make_error(Errc::CorruptIndex,
                        "MPHF: packed algorithm " + std::to_string(algo) + " is not BDZ");
    }
    m.kind_ = Kind::Bdz;
    return m;
  }
  return make_error(Errc::CorruptIndex, "MPHF: unknown kind " + std::to_string(kind));
}

std::optional<uint32_t> Mphf::slot(std::string_view key) const {
  if (count_ == 0) return std::nullopt;
  if (kind_ == Kind::Table) {
    const uint64_t h = table_hash(seed_, key);
    const uint64_t* begin = table();
    const uint64_t* end = begin + count_;
    const uint64_t* it = std::lower_bound(begin, end, h);
    if (it == end || *it != h) return std::nullopt;
    return static_cast<uint32_t>(it - begin);
  }
  // cmph_search_packed only reads the blob; its signature just lacks the const.
  auto* packed =
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(storage_.data())) + kHeaderSize;
  const cmph_uint32 s =
      cmph_search_packed(packed, key.data(), static_cast<cmph_uint32>(key.size()));
  if (s >= count_) return std::nullopt;
  return s;
}

}  // namespace sierra
