// Minimal perfect hash function over a set of distinct byte-string keys: key -> slot in [0, n).
// A thin RAII wrapper over CMPH's BDZ algorithm (libcmph). The function is built once, packed into
// a byte blob (`bytes()`, stored verbatim in an index file) and queried from that blob with
// `cmph_search_packed`; nothing of CMPH appears in this header.
//
// Serialised form (docs/INDEX_FORMAT.md §MPHF), little-endian:
//   [kind u32][n u32][payload]
//   kind 1 (Bdz):   payload = the cmph_pack() bytes (they start with CMPH's algorithm id).
//   kind 2 (Table): payload = [seed u64][n x u64 XXH3-64(seed, key) hashes, ascending].
// The table form is used for small key sets (n <= kSmallKeySet, including 0 and 1 keys, where
// BDZ is pointless and CMPH occasionally fails) and as a fallback whenever CMPH fails to build;
// its slot of a key is the index of the key's hash in the sorted array (binary search).
//
// Like every MPHF, `slot()` of a key that was not in the build set may return an arbitrary slot
// (or none): callers store the key in the slot's record and compare it.
//
// Trust: `deserialize` checks the framing (kind, n, lengths, sorted table) but cannot validate
// CMPH's packed internals; index files protect the blob with a CRC-32C checked before it is
// deserialised, so only deliberately forged files could reach CMPH with a bad blob.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/error.hpp"

namespace sierra {

class Mphf {
 public:
  enum class Kind : uint32_t { Bdz = 1, Table = 2 };
  static constexpr size_t kSmallKeySet = 16;  // n <= this: Table form
  static constexpr size_t kHeaderSize = 8;    // kind u32 + n u32

  Mphf() = default;  // empty Table: every lookup -> nullopt
  Mphf(Mphf&&) noexcept = default;
  Mphf& operator=(Mphf&&) noexcept = default;
  Mphf(const Mphf&) = delete;
  Mphf& operator=(const Mphf&) = delete;

  // Keys must be distinct (duplicates -> InvalidArgument); at most 2^32 - 1 keys.
  // `force_table` builds the Table form regardless of size (tests, fallback).
  static Result<Mphf> build(std::span<const std::string_view> keys, bool force_table = false);
  // Parses a serialised function; `expected_keys` is the key count recorded by the caller's file.
  // Framing problems -> CorruptIndex.
  static Result<Mphf> deserialize(std::span<const uint8_t> bytes, uint64_t expected_keys);

  // Slot of `key` in [0, key_count()), or nullopt when the function can tell the key is absent.
  std::optional<uint32_t> slot(std::string_view key) const;
  std::optional<uint32_t> slot(std::span<const uint8_t> key) const {
    return slot(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  }

  Kind kind() const { return kind_; }
  uint32_t key_count() const { return count_; }
  // The serialised form (kHeaderSize + payload bytes).
  std::span<const uint8_t> bytes() const {
    return {reinterpret_cast<const uint8_t*>(storage_.data()), size_};
  }

 private:
  Kind kind_ = Kind::Table;
  uint32_t count_ = 0;
  uint64_t seed_ = 0;              // Table form
  std::vector<uint64_t> storage_;  // serialised bytes, 8-byte aligned for CMPH's packed reads
  size_t size_ = 0;                // byte length of the serialised form within storage_

  static Result<Mphf> build_table(std::span<const std::string_view> keys);
  static std::optional<Mphf> build_bdz(std::span<const std::string_view> keys);
  const uint64_t* table() const { return storage_.data() + 2; }  // after header + seed
};

}  // namespace sierra
