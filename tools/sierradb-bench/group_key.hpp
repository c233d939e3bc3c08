// The partition key of an EMAPPEND group in sierradb-bench: a version-4-shaped UUID derived from
// the group number, as a client would pick a random key per group. Its bits 61..46 (the engine's
// partition hash) vary with the group, so groups spread over every partition and bucket.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace sierra::bench {

// splitmix64's output function: a bijective mix, so distinct groups give distinct keys.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Same group, same key (every transaction of a group shares its partition). Text form
// xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx: the version nibble is 4, the variant bits are 10.
inline std::string group_partition_key(uint64_t group) {
  const uint64_t hi = (mix64(2 * group + 0x9e3779b97f4a7c15ULL) & ~0xf000ULL) | 0x4000ULL;
  const uint64_t lo = (mix64(2 * group + 1 + 0x9e3779b97f4a7c15ULL) & ~(3ULL << 62)) | (2ULL << 62);
  char text[37];
  std::snprintf(text, sizeof text, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return text;
}

}  // namespace sierra::bench
