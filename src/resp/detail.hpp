// Internal helpers shared by the RESP parsers (not part of the public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sierra::resp::detail {

// Strict signed 64-bit decimal: optional '-', digits, no leading zeros (except "0"), no '+'.
inline std::optional<int64_t> parse_i64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  std::size_t i = 0;
  if (s[0] == '-') {
    neg = true;
    i = 1;
    if (s.size() == 1) return std::nullopt;
  }
  if (s[i] == '0' && s.size() > i + 1) return std::nullopt;
  uint64_t v = 0;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (limit - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (neg) return v == (uint64_t{1} << 63) ? INT64_MIN : -static_cast<int64_t>(v);
  return static_cast<int64_t>(v);
}

// Optional sign then one or more digits (RESP3 big number body).
inline bool is_big_number(std::string_view s) {
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// Result of looking for a "\r\n"-terminated line starting at `from`.
struct Line {
  enum Kind : uint8_t { Ok, Incomplete, TooLong, BadTerminator } kind;
  std::size_t end = 0;  // index of '\r'
};

// Looks for '\n' in s[from, from + max_len + 2) and requires a preceding '\r' inside the line.
inline Line find_line(std::string_view s, std::size_t from, std::size_t max_len) {
  const std::size_t avail = s.size() - from;
  const std::size_t scan = avail < max_len + 2 ? avail : max_len + 2;
  if (scan == 0) return {Line::Incomplete, 0};
  const void* nl = std::memchr(s.data() + from, '\n', scan);
  if (nl == nullptr) {
    return {avail >= max_len + 2 ? Line::TooLong : Line::Incomplete, 0};
  }
  const auto idx = static_cast<std::size_t>(static_cast<const char*>(nl) - s.data());
  if (idx == from || s[idx - 1] != '\r') return {Line::BadTerminator, 0};
  return {Line::Ok, idx - 1};
}

// Printable rendering of one byte for error messages ('x' or \xHH).
inline std::string show_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{'\\', 'x', kHex[u >> 4], kHex[u & 15]};
}

}  // namespace sierra::resp::detail
