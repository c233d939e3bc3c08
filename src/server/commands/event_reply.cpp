#include "server/commands/event_reply.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sierra::server {

namespace {

// Simple-string keys are pre-encoded: "+key\r\n" is the same in RESP2 and RESP3, and writing the
// constant costs a fraction of encoding it (scans write 11 keys per event).
constexpr std::string_view kEventId = "+event_id\r\n";
constexpr std::string_view kPartitionKey = "+partition_key\r\n";
constexpr std::string_view kPartitionId = "+partition_id\r\n";
constexpr std::string_view kTransactionId = "+transaction_id\r\n";
constexpr std::string_view kPartitionSequence = "+partition_sequence\r\n";
constexpr std::string_view kStreamVersion = "+stream_version\r\n";
constexpr std::string_view kTimestamp = "+timestamp\r\n";
constexpr std::string_view kStreamId = "+stream_id\r\n";
constexpr std::string_view kEventName = "+event_name\r\n";
constexpr std::string_view kMetadata = "+metadata\r\n";
constexpr std::string_view kPayload = "+payload\r\n";
// The map header of 11 entries: RESP3 %11, RESP2 a flat array of 22.
constexpr std::string_view kMap3 = "%11\r\n";
constexpr std::string_view kMap2 = "*22\r\n";

constexpr std::size_t kUuidItem = 1 + Uuid::kTextSize + 2;  // +<36 chars>\r\n
constexpr std::size_t kMaxNumberItem = 1 + 20 + 2;          // :<int64>\r\n, $<len>\r\n

// Keys, three UUIDs, four integers, four bulk headers and their CRLFs, and the map header.
constexpr std::size_t kEventFixedBytes =
    kMap3.size() + kEventId.size() + kPartitionKey.size() + kPartitionId.size() +
    kTransactionId.size() + kPartitionSequence.size() + kStreamVersion.size() + kTimestamp.size() +
    kStreamId.size() + kEventName.size() + kMetadata.size() + kPayload.size() + 3 * kUuidItem +
    4 * kMaxNumberItem + 4 * (kMaxNumberItem + 2);

// "00" .. "ff": two hex digits per byte.
constexpr std::array<char, 512> make_hex_pairs() {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (std::size_t i = 0; i < 256; ++i) {
    t[2 * i] = kHex[i >> 4];
    t[2 * i + 1] = kHex[i & 15];
  }
  return t;
}
constexpr std::array<char, 512> kHexPairs = make_hex_pairs();

// "00" .. "99".
constexpr std::array<char, 200> make_decimal_pairs() {
  std::array<char, 200> t{};
  for (std::size_t i = 0; i < 100; ++i) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}
constexpr std::array<char, 200> kDecimalPairs = make_decimal_pairs();

inline char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline char* put_crlf(char* p) {
  p[0] = '\r';
  p[1] = '\n';
  return p + 2;
}

// Lower-case hyphenated text (8-4-4-4-12), as Uuid::format_to: 36 bytes at p.
inline char* put_uuid_text(char* p, const Uuid& id) {
#if defined(__SSE2__)
  // All 32 nibbles at once: n + '0', plus 39 more for a..f.
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(id.bytes.data()));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
  const __m128i lo = _mm_and_si128(bytes, low4);
  const auto to_hex = [](__m128i n) {
    const __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(39));
    return _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8('0')), letters);
  };
  char t[32];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(t), to_hex(_mm_unpacklo_epi8(hi, lo)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(t + 16), to_hex(_mm_unpackhi_epi8(hi, lo)));
  std::memcpy(p, t, 8);
  p[8] = '-';
  std::memcpy(p + 9, t + 8, 4);
  p[13] = '-';
  std::memcpy(p + 14, t + 12, 4);
  p[18] = '-';
  std::memcpy(p + 19, t + 16, 4);
  p[23] = '-';
  std::memcpy(p + 24, t + 20, 12);
  return p + Uuid::kTextSize;
#else
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    std::memcpy(p, &kHexPairs[2 * static_cast<std::size_t>(id.bytes[i])], 2);
    p += 2;
  }
  return p;
#endif
}

// Number of decimal digits of v (1 for 0).
inline unsigned decimal_digits(uint64_t v) {
  static constexpr std::array<uint64_t, 20> kPow10 = [] {
    std::array<uint64_t, 20> t{};
    uint64_t p = 1;
    for (auto& x : t) {
      x = p;
      p *= 10;
    }
    return t;
  }();
  // bit_width * log10(2), then one correction.
  const unsigned t = (static_cast<unsigned>(std::bit_width(v | 1)) * 1233) >> 12;
  return t + ((v | 1) >= kPow10[t] ? 1 : 0);
}

// Writes the two digits of n < 100 ending at `end`.
inline void put_pair(char* end, uint32_t n) {
  std::memcpy(end - 2, &kDecimalPairs[2 * n], 2);
}

// Decimal text of v at p (as std::to_chars). Groups of 8 digits are split off with one 64-bit
// division and written with 32-bit arithmetic.
inline char* put_u64(char* p, uint64_t v) {
  const unsigned n = decimal_digits(v);
  char* end = p + n;
  char* q = end;
  while (v >= 100000000) {
    auto low = static_cast<uint32_t>(v % 100000000);
    v /= 100000000;
    for (int i = 0; i < 4; ++i) {
      put_pair(q, low % 100);
      low /= 100;
      q -= 2;
    }
  }
  auto x = static_cast<uint32_t>(v);
  while (x >= 100) {
    put_pair(q, x % 100);
    x /= 100;
    q -= 2;
  }
  if (x >= 10) {
    put_pair(q, x);
  } else {
    q[-1] = static_cast<char>('0' + x);
  }
  return end;
}

inline char* put_uuid(char* p, const Uuid& id) {
  *p++ = '+';
  return put_crlf(put_uuid_text(p, id));
}

inline char* put_integer(char* p, int64_t v) {
  *p++ = ':';
  auto magnitude = static_cast<uint64_t>(v);
  if (v < 0) {
    *p++ = '-';
    magnitude = ~magnitude + 1;
  }
  return put_crlf(put_u64(p, magnitude));
}

inline char* put_bulk(char* p, std::string_view bytes) {
  *p++ = '$';
  p = put_u64(p, bytes.size());
  p = put_crlf(p);
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return put_crlf(p + bytes.size());
}

char* encode_event(char* p, int protocol, const EventView& e) {
  p = put(p, protocol == 2 ? kMap2 : kMap3);
  p = put(p, kEventId);
  p = put_uuid(p, e.event_id);
  p = put(p, kPartitionKey);
  p = put_uuid(p, e.partition_key);
  p = put(p, kPartitionId);
  p = put_integer(p, e.partition_id);
  p = put(p, kTransactionId);
  p = put_uuid(p, e.tx.transaction_id);
  p = put(p, kPartitionSequence);
  p = put_integer(p, static_cast<int64_t>(e.partition_sequence));
  p = put(p, kStreamVersion);
  p = put_integer(p, static_cast<int64_t>(e.stream_version));
  p = put(p, kTimestamp);
  p = put_integer(p, timestamp_ms(e.timestamp_ns));
  p = put(p, kStreamId);
  p = put_bulk(p, e.stream_id);
  p = put(p, kEventName);
  p = put_bulk(p, e.event_name);
  p = put(p, kMetadata);
  p = put_bulk(p, e.metadata);
  p = put(p, kPayload);
  return put_bulk(p, e.payload);
}

// The header of a batch reply: {has_more: bool, events: [count ...]} up to the array header.
std::string batch_header(int protocol, bool has_more, uint64_t count) {
  std::string out;
  resp::ReplyWriter w(out, protocol);
  w.map(2);
  w.simple("has_more");
  w.boolean(has_more);
  w.simple("events");
  w.array(count);
  return out;
}

}  // namespace

void write_uuid(resp::ReplyWriter& w, const Uuid& id) {
  char buf[kUuidItem];
  put_uuid(buf, id);
  w.raw(std::string_view(buf, sizeof buf));
}

std::size_t encoded_event_size(const EventView& e) {
  return kEventFixedBytes + e.stream_id.size() + e.event_name.size() + e.metadata.size() +
         e.payload.size();
}

void write_event(resp::ReplyWriter& w, const EventView& e) {
  std::string& out = w.buffer();
  const std::size_t old = out.size();
  const int protocol = w.protocol();
  // Grows geometrically (libstdc++ doubles the capacity when it must grow).
  out.resize_and_overwrite(old + encoded_event_size(e), [&](char* d, std::size_t) {
    return static_cast<std::size_t>(encode_event(d + old, protocol, e) - d);
  });
}

void write_event(resp::ReplyWriter& w, const EventRecord& e) {
  write_event(w, EventView::of(e));
}

EventBatchWriter::EventBatchWriter(resp::ReplyWriter& w, uint64_t max_events)
    : w_(w), base_(w.buffer().size()) {
  gap_ = batch_header(w.protocol(), true, max_events).size();
  w.buffer().append(gap_, '\0');
}

void EventBatchWriter::add(const EventView& e) {
  const std::size_t before = w_.buffer().size();
  write_event(w_, e);
  last_size_ = w_.buffer().size() - before;
  ++count_;
}

void EventBatchWriter::expect(uint64_t events) {
  std::string& out = w_.buffer();
  // A little more than `events` of the last one's size; capped, the hint is only a hint.
  constexpr uint64_t kMaxReserve = 64ull << 20;
  const uint64_t bytes = events * (last_size_ + last_size_ / 16 + 16);
  if (bytes > kMaxReserve) return;
  out.reserve(out.size() + static_cast<std::size_t>(bytes));
}

void EventBatchWriter::finish(bool has_more) {
  const std::string header = batch_header(w_.protocol(), has_more, count_);
  std::string& out = w_.buffer();
  if (header.size() == gap_) {
    std::memcpy(out.data() + base_, header.data(), header.size());
  } else {
    // Fewer digits in the count than in max_events (or more, if add() was called more often).
    out.replace(base_, gap_, header);
  }
  gap_ = header.size();
}

void EventBatchWriter::abandon() {
  w_.buffer().resize(base_);
  count_ = 0;
}

}  // namespace sierra::server
