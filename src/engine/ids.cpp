#include "engine/ids.hpp"

#include <uuid/uuid.h>
#include <xxhash.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>

namespace sierra {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Parses 32 hex digits (hyphens already removed / positions checked by the caller).
std::optional<Uuid> parse_hex32(std::string_view hex) {
  Uuid u;
  for (size_t i = 0; i < 16; ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return u;
}

std::optional<Uuid> parse_hyphenated(std::string_view s) {
  if (s.size() != 36) return std::nullopt;
  if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return std::nullopt;
  char hex[32];
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    hex[n++] = s[i];
  }
  return parse_hex32(std::string_view(hex, 32));
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  return gen;
}

uint64_t unix_ms_now() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  return ms < 0 ? 0 : static_cast<uint64_t>(ms);
}

}  // namespace

bool Uuid::is_nil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  switch (text.size()) {
    case 32:
      return parse_hex32(text);
    case 36:
      return parse_hyphenated(text);
    case 38:
      if (text.front() != '{' || text.back() != '}') return std::nullopt;
      return parse_hyphenated(text.substr(1, 36));
    case 45:
      if (!iequals_prefix(text, "urn:uuid:")) return std::nullopt;
      return parse_hyphenated(text.substr(9));
    default:
      return std::nullopt;
  }
}

void Uuid::format_to(char* out) const {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *out++ = '-';
    *out++ = kHex[bytes[i] >> 4];
    *out++ = kHex[bytes[i] & 0xF];
  }
}

std::string Uuid::to_string() const {
  std::string s(kTextSize, '\0');
  format_to(s.data());
  return s;
}

size_t UuidHash::operator()(const Uuid& u) const noexcept {
  uint64_t hi, lo;
  std::memcpy(&hi, u.bytes.data(), 8);
  std::memcpy(&lo, u.bytes.data() + 8, 8);
  uint64_t x = hi ^ (lo * 0x9E3779B97F4A7C15ull);
  x ^= x >> 32;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return static_cast<size_t>(x);
}

Uuid uuid_v5(const Uuid& ns, std::string_view name) {
  Uuid out;
  uuid_generate_sha1(out.bytes.data(), ns.bytes.data(), name.data(), name.size());
  return out;
}

Uuid uuid_v4() {
  // libuuid's uuid_generate_random re-seeds and cranks libc's random() on every call (util-linux
  // randutils), which showed up at ~6 % of the server's CPU under append load; two draws from
  // the thread's 64-bit generator give the same uniqueness.
  Uuid out;
  const uint64_t hi = rng()();
  const uint64_t lo = rng()();
  std::memcpy(out.bytes.data(), &hi, 8);
  std::memcpy(out.bytes.data() + 8, &lo, 8);
  out.bytes[6] = static_cast<uint8_t>((out.bytes[6] & 0x0F) | 0x40);  // version 4
  out.bytes[8] = static_cast<uint8_t>((out.bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return out;
}

Result<StreamId> StreamId::make(std::string_view s) {
  if (s.empty() || s.size() > kStreamIdMaxBytes) {
    return make_error(Errc::InvalidLength,
                      "stream id must be between 1 and 64 characters in length, but got " +
                          std::to_string(s.size()));
  }
  if (s.find('\0') != std::string_view::npos) {
    return make_error(Errc::ContainsNullByte, "stream id cannot contain null bytes");
  }
  return StreamId(std::string(s));
}

// Every append computes the default partition key of each event's stream, a SHA-1 (libuuid's
// portable one): 3.8 % of the server's CPU under pipelined appends. Streams are written again and
// again, so each thread keeps the keys of recent stream ids in a direct-mapped cache. A slot holds
// the id's bytes, so a hit is exact, never a hash match alone; a miss costs one XXH3 of the id
// more than computing the key directly. Per thread, so no locking: 4096 slots, 384 KiB.
Uuid partition_key_for_stream(std::string_view stream_id) {
  if (stream_id.size() > kStreamIdMaxBytes) return uuid_v5(kPartitionKeyNamespace, stream_id);
  struct Slot {
    uint64_t hash = 0;
    Uuid key;
    uint8_t size = 0xFF;  // 0xFF: empty (ids are at most kStreamIdMaxBytes long)
    std::array<char, kStreamIdMaxBytes> id;
  };
  static_assert(kStreamIdMaxBytes < 0xFF);
  constexpr size_t kSlots = 4096;
  thread_local const auto cache = std::make_unique<std::array<Slot, kSlots>>();
  const uint64_t h = XXH3_64bits(stream_id.data(), stream_id.size());
  Slot& slot = (*cache)[h & (kSlots - 1)];
  if (slot.hash == h && slot.size == stream_id.size() &&
      std::memcmp(slot.id.data(), stream_id.data(), stream_id.size()) == 0) {
    return slot.key;
  }
  slot.key = uuid_v5(kPartitionKeyNamespace, stream_id);
  slot.hash = h;
  slot.size = static_cast<uint8_t>(stream_id.size());
  std::memcpy(slot.id.data(), stream_id.data(), stream_id.size());
  return slot.key;
}

PartitionHash partition_hash(const Uuid& u) {
  const auto& b = u.bytes;
  return static_cast<PartitionHash>(((b[8] & 0x3F) << 10) | (b[9] << 2) | (b[10] >> 6));
}

PartitionId partition_id_for_hash(PartitionHash h, uint16_t partition_count) {
  if (partition_count == 0) return 0;  // callers validate counts; never divide by zero
  return static_cast<PartitionId>(h % partition_count);
}

PartitionId partition_id_for_key(const Uuid& key, uint16_t partition_count) {
  return partition_id_for_hash(partition_hash(key), partition_count);
}

BucketId bucket_for_partition(PartitionId p, uint16_t bucket_count) {
  if (bucket_count <= 1) return 0;
  return static_cast<BucketId>(p % bucket_count);
}

Uuid event_id_from_parts(uint64_t unix_ms, uint16_t rand12, PartitionHash h, uint64_t rand46) {
  Uuid u;
  auto& b = u.bytes;
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(unix_ms >> (8 * (5 - i)));
  rand12 &= 0x0FFF;
  b[6] = static_cast<uint8_t>(rand12 >> 4);
  b[7] = static_cast<uint8_t>(((rand12 & 0xF) << 4) | 0x7);
  b[8] = static_cast<uint8_t>(0x80 | ((h >> 10) & 0x3F));
  b[9] = static_cast<uint8_t>(h >> 2);
  b[10] = static_cast<uint8_t>(((h & 0x3) << 6) | ((rand46 >> 40) & 0x3F));
  for (int i = 11; i < 16; ++i) b[i] = static_cast<uint8_t>(rand46 >> (8 * (15 - i)));
  return u;
}

Uuid new_event_id(PartitionHash h) {
  const uint64_t r = rng()();
  const auto rand12 = static_cast<uint16_t>(r & 0x0FFF);
  const uint64_t rand46 = (r >> 12) & ((uint64_t{1} << 46) - 1);
  return event_id_from_parts(unix_ms_now(), rand12, h, rand46);
}

bool validate_event_id(const Uuid& event_id, PartitionHash h) {
  return partition_hash(event_id) == h;
}

Uuid with_single_flag(Uuid txid, bool single_event) {
  if (single_event) {
    txid.bytes[8] |= 0x80;
  } else {
    txid.bytes[8] &= 0x7F;
  }
  return txid;
}

Uuid new_transaction_id(bool single_event) {
  return with_single_flag(uuid_v4(), single_event);
}

bool transaction_id_is_single(const Uuid& txid) {
  return (txid.bytes[8] & 0x80) != 0;
}

}  // namespace sierra
