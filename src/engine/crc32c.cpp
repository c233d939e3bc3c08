#include "engine/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define SIERRA_CRC32C_X86 1
#endif

namespace sierra::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// Slicing-by-8 tables: kTables[0] is the classic byte table; kTables[k][b] is the crc of byte b
// followed by k zero bytes.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

inline uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

#ifdef SIERRA_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t extend_sse42(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t l = crc ^ 0xFFFFFFFFu;
  // Align to 8 bytes so the 64-bit loads in the main loop are aligned.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    l = _mm_crc32_u8(l, *p++);
    --n;
  }
#if defined(__x86_64__)
  uint64_t l64 = l;
  while (n >= 32) {
    uint64_t a, b, c, d;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    std::memcpy(&c, p + 16, 8);
    std::memcpy(&d, p + 24, 8);
    l64 = _mm_crc32_u64(l64, a);
    l64 = _mm_crc32_u64(l64, b);
    l64 = _mm_crc32_u64(l64, c);
    l64 = _mm_crc32_u64(l64, d);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t a;
    std::memcpy(&a, p, 8);
    l64 = _mm_crc32_u64(l64, a);
    p += 8;
    n -= 8;
  }
  l = static_cast<uint32_t>(l64);
#endif
  while (n >= 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    l = _mm_crc32_u32(l, a);
    p += 4;
    n -= 4;
  }
  while (n > 0) {
    l = _mm_crc32_u8(l, *p++);
    --n;
  }
  return l ^ 0xFFFFFFFFu;
}
#endif

bool detect_hardware() {
#ifdef SIERRA_CRC32C_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn choose() {
#ifdef SIERRA_CRC32C_X86
  if (detect_hardware()) return &extend_sse42;
#endif
  return &extend_portable;
}

}  // namespace

uint32_t extend_portable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t l = crc ^ 0xFFFFFFFFu;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 3) != 0) {
    l = kTables[0][(l ^ *p++) & 0xFF] ^ (l >> 8);
    --n;
  }
  while (n >= 8) {
    const uint32_t lo = load_le32(p) ^ l;
    const uint32_t hi = load_le32(p + 4);
    l = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
        kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = kTables[0][(l ^ *p++) & 0xFF] ^ (l >> 8);
    --n;
  }
  return l ^ 0xFFFFFFFFu;
}

bool hardware_available() {
  static const bool available = detect_hardware();
  return available;
}

uint32_t extend_hardware(uint32_t crc, const void* data, size_t n) {
#ifdef SIERRA_CRC32C_X86
  if (hardware_available()) return extend_sse42(crc, data, n);
#endif
  return extend_portable(crc, data, n);  // no hardware support: same result, table-driven
}

uint32_t extend(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn fn = choose();
  return fn(crc, data, n);
}

}  // namespace sierra::crc32c
