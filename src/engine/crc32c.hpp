// CRC-32C (Castagnoli, reflected poly 0x82F63B78): the checksum of every record and file the
// engine writes. Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sierra::crc32c {

// Extends `crc` (the value returned for the preceding bytes, 0 to start) over data[0..n).
// crc32c::extend(0, "123456789", 9) == 0xE3069283.
uint32_t extend(uint32_t crc, const void* data, size_t n);
inline uint32_t value(const void* data, size_t n) {
  return extend(0, data, n);
}
inline uint32_t value(std::span<const uint8_t> s) {
  return extend(0, s.data(), s.size());
}

// The two implementations, exposed so tests can check both.
uint32_t extend_portable(uint32_t crc, const void* data, size_t n);
uint32_t extend_hardware(uint32_t crc, const void* data, size_t n);  // only if hardware_available()
bool hardware_available();

}  // namespace sierra::crc32c
