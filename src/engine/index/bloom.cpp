#include "engine/index/bloom.hpp"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

namespace sierra {

static_assert(std::endian::native == std::endian::little, "index files are little-endian");

Bloom Bloom::with_capacity(uint64_t expected_items, double fp_rate) {
  const double n = static_cast<double>(std::max<uint64_t>(expected_items, 1));
  const double p = (fp_rate > 0.0 && fp_rate < 1.0) ? fp_rate : 0.01;
  const double ln2 = std::log(2.0);
  double bits = std::ceil(-n * std::log(p) / (ln2 * ln2));
  uint64_t bit_count = static_cast<uint64_t>(bits);
  bit_count = std::max<uint64_t>(64, (bit_count + 63) / 64 * 64);
  const double k = std::round(static_cast<double>(bit_count) / n * ln2);
  Bloom b;
  b.bits_.assign(bit_count / 8, 0);
  b.hashes_ = static_cast<uint32_t>(std::clamp(k, 1.0, static_cast<double>(kMaxHashes)));
  return b;
}

void Bloom::add(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  const uint64_t bits = bit_count();
  const uint64_t h2 = h.high64 | 1;
  uint64_t x = h.low64;
  for (uint32_t j = 0; j < hashes_; ++j, x += h2) {
    const uint64_t b = x % bits;
    bits_[b / 8] |= static_cast<uint8_t>(1u << (b % 8));
  }
}

bool Bloom::may_contain(std::span<const uint8_t> bitmap, uint32_t hash_count,
                        std::string_view key) {
  if (bitmap.empty()) return true;  // no filter: cannot rule anything out
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  const uint64_t bits = uint64_t{bitmap.size()} * 8;
  const uint64_t h2 = h.high64 | 1;
  uint64_t x = h.low64;
  for (uint32_t j = 0; j < hash_count; ++j, x += h2) {
    const uint64_t b = x % bits;
    if ((bitmap[b / 8] & (1u << (b % 8))) == 0) return false;
  }
  return true;
}

std::vector<uint8_t> Bloom::serialize() const {
  std::vector<uint8_t> out(kHeaderSize + bits_.size());
  const uint64_t bits = bit_count();
  std::memcpy(out.data(), &bits, 8);
  std::memcpy(out.data() + 8, &hashes_, 4);
  std::copy(bits_.begin(), bits_.end(), out.begin() + kHeaderSize);
  return out;
}

Result<Bloom> Bloom::deserialize(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return make_error(Errc::CorruptIndex, "Bloom filter: " + std::to_string(bytes.size()) +
                                              " bytes, shorter than its header");
  }
  uint64_t bits = 0;
  uint32_t k = 0;
  uint32_t reserved = 0;
  std::memcpy(&bits, bytes.data(), 8);
  std::memcpy(&k, bytes.data() + 8, 4);
  std::memcpy(&reserved, bytes.data() + 12, 4);
  if (bits == 0 || bits % 64 != 0 || bits / 8 != bytes.size() - kHeaderSize) {
    return make_error(Errc::CorruptIndex,
                      "Bloom filter: bit count " + std::to_string(bits) + " does not match its " +
                          std::to_string(bytes.size() - kHeaderSize) + "-byte bitmap");
  }
  if (k == 0 || k > kMaxHashes || reserved != 0) {
    return make_error(Errc::CorruptIndex, "Bloom filter: bad hash count " + std::to_string(k));
  }
  Bloom b;
  b.bits_.assign(bytes.begin() + kHeaderSize, bytes.end());
  b.hashes_ = k;
  return b;
}

}  // namespace sierra
