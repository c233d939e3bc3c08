// Bloom filter over byte-string keys (the stream index's (partition id, stream id) keys).
// Double hashing (Kirsch–Mitzenmacher) from one XXH3-128 of the key: h1 = low 64 bits,
// h2 = high 64 bits | 1; probe j sets bit (h1 + j*h2) mod bit_count. Sized for a target false
// positive rate (default 1 %): bits = ceil(-n ln p / ln² 2) rounded up to a multiple of 64,
// k = round(bits/n · ln 2) clamped to [1, 30].
//
// Serialised form (docs/INDEX_FORMAT.md §Bloom), little-endian:
//   [bit_count u64][hash_count u32][reserved u32 = 0][bitmap: bit_count/8 bytes, bit b in byte
//   b/8 at position b%8]
// The static `may_contain(bitmap, k, key)` queries a bare bitmap so that holders can keep just
// the bytes (bit_count = 8 x bitmap size).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/error.hpp"

namespace sierra {

class Bloom {
 public:
  static constexpr size_t kHeaderSize = 16;
  static constexpr uint32_t kMaxHashes = 30;

  // An empty filter sized for `expected_items` keys (at least 1) at `fp_rate` (0 < p < 1).
  static Bloom with_capacity(uint64_t expected_items, double fp_rate = 0.01);
  // Parses the serialised form; malformed -> CorruptIndex.
  static Result<Bloom> deserialize(std::span<const uint8_t> bytes);

  void add(std::string_view key);
  bool may_contain(std::string_view key) const { return may_contain(bits_, hashes_, key); }
  static bool may_contain(std::span<const uint8_t> bitmap, uint32_t hash_count,
                          std::string_view key);

  std::vector<uint8_t> serialize() const;
  uint64_t bit_count() const { return uint64_t{bits_.size()} * 8; }
  uint32_t hash_count() const { return hashes_; }
  const std::vector<uint8_t>& bitmap() const { return bits_; }
  std::vector<uint8_t> take_bitmap() && { return std::move(bits_); }

 private:
  std::vector<uint8_t> bits_;
  uint32_t hashes_ = 1;
};

}  // namespace sierra
