// Identifiers of the data model, bit-exact with the SierraDB clients (PROTOCOL.md §2,
// STORAGE.md §5): UUIDs, stream ids, partition keys/hashes/ids, buckets, event ids and
// transaction ids.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/error.hpp"

namespace sierra {

using BucketId = uint16_t;
using SegmentId = uint32_t;
using PartitionId = uint16_t;
using PartitionHash = uint16_t;

inline constexpr size_t kStreamIdMaxBytes = 64;
inline constexpr uint8_t kMaxReplicationFactor = 12;

// A 128-bit UUID stored as its 16 bytes in RFC 4122 (big-endian, text) order.
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  static Uuid nil() { return Uuid{}; }
  bool is_nil() const;
  // Accepts hyphenated, 32 hex digits, {braced} and urn:uuid: forms, case-insensitive,
  // surrounding whitespace trimmed (PROTOCOL.md §3).
  static std::optional<Uuid> parse(std::string_view text);
  // Lower-case hyphenated form.
  std::string to_string() const;
  // Writes the same 36 characters to out[0..36) (no terminator); no allocation.
  static constexpr size_t kTextSize = 36;
  void format_to(char* out) const;

  auto operator<=>(const Uuid&) const = default;
  bool operator==(const Uuid&) const = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const noexcept;
};

// Namespace of the default partition key: UUIDv5(DNS, "sierradb.tqwewe.com").
inline constexpr Uuid kPartitionKeyNamespace{{0x21, 0x9b, 0xd6, 0x37, 0xe2, 0x79, 0x53, 0xe9, 0x9e,
                                              0x2b, 0xea, 0xbe, 0x5d, 0x91, 0x20, 0xcc}};

// RFC 4122 name-based SHA-1 UUID (v5).
Uuid uuid_v5(const Uuid& ns, std::string_view name);
// Random v4 UUID (122 random bits from a per-thread generator seeded by the OS; unique, not
// secret: ids here are identifiers, never credentials).
Uuid uuid_v4();

// A validated stream id: 1..=64 bytes of UTF-8 with no NUL byte.
class StreamId {
 public:
  static Result<StreamId> make(std::string_view s);  // InvalidLength / ContainsNullByte
  static StreamId unchecked(std::string_view s) { return StreamId(std::string(s)); }
  const std::string& str() const { return value_; }
  std::string_view view() const { return value_; }
  auto operator<=>(const StreamId&) const = default;
  bool operator==(const StreamId&) const = default;

 private:
  explicit StreamId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// Default partition key of a stream: UUIDv5(kPartitionKeyNamespace, stream id bytes).
Uuid partition_key_for_stream(std::string_view stream_id);

// Bits 61..46 of the UUID as a big-endian 128-bit value.
PartitionHash partition_hash(const Uuid& u);

// hash % partition_count.
PartitionId partition_id_for_hash(PartitionHash h, uint16_t partition_count);
PartitionId partition_id_for_key(const Uuid& key, uint16_t partition_count);

// partition_id % bucket_count (0 when bucket_count == 1).
BucketId bucket_for_partition(PartitionId p, uint16_t bucket_count);

// Event id: 48-bit Unix ms, 12 random bits, version nibble 7, variant 10, the partition hash
// (bits 61..46) and 46 random bits (STORAGE.md §5.3).
Uuid new_event_id(PartitionHash h);
// Deterministic form used by tests: builds the id from its parts.
Uuid event_id_from_parts(uint64_t unix_ms, uint16_t rand12, PartitionHash h, uint64_t rand46);
bool validate_event_id(const Uuid& event_id, PartitionHash h);

// Transaction ids: random v4 with bit 7 of byte 8 set for a single-event transaction and
// cleared for a multi-event one (STORAGE.md §2.6).
Uuid new_transaction_id(bool single_event);
bool transaction_id_is_single(const Uuid& txid);
Uuid with_single_flag(Uuid txid, bool single_event);

}  // namespace sierra

template <>
struct std::hash<sierra::Uuid> {
  size_t operator()(const sierra::Uuid& u) const noexcept { return sierra::UuidHash{}(u); }
};
template <>
struct std::hash<sierra::StreamId> {
  size_t operator()(const sierra::StreamId& s) const noexcept {
    return std::hash<std::string>{}(s.str());
  }
};
