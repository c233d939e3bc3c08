#include "engine/segment/format.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "engine/crc32c.hpp"
#include "engine/segment/segment_test_util.hpp"

namespace sierra {
namespace {

namespace sf = segment_format;
using segtest::encode;
using segtest::make_event;
using segtest::make_tx;
using segtest::OwnedEvent;

// ---- header ----

TEST(SegmentFormat, HeaderRoundtrip) {
  sf::SegmentHeader h;
  h.bucket_id = 62;
  h.segment_id = 123456;
  h.created_at_ns = 1'700'000'000'123'456'789ull;
  auto bytes = sf::encode_header(h);
  EXPECT_EQ(bytes[0], 'E');
  EXPECT_EQ(bytes[1], 'V');
  EXPECT_EQ(bytes[2], 'T');
  EXPECT_EQ(bytes[3], 'S');
  auto d = sf::decode_header(bytes);
  ASSERT_TRUE(d) << d.error().to_string();
  EXPECT_EQ(d->version, sf::kFormatVersion);
  EXPECT_EQ(d->bucket_id, 62);
  EXPECT_EQ(d->segment_id, 123456u);
  EXPECT_EQ(d->created_at_ns, h.created_at_ns);
  for (size_t i = 24; i < 60; ++i) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(SegmentFormat, HeaderBadMagic) {
  auto bytes = sf::encode_header({});
  bytes[0] ^= 1;
  auto d = sf::decode_header(bytes);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::CorruptHeader);
}

TEST(SegmentFormat, HeaderBadCrcAnyByte) {
  const auto good = sf::encode_header({1, 3, 7, 99});
  for (size_t i = 4; i < sf::kHeaderSize; ++i) {
    auto bytes = good;
    bytes[i] ^= 0x10;
    auto d = sf::decode_header(bytes);
    ASSERT_FALSE(d) << "byte " << i;
    EXPECT_EQ(d.error().code, Errc::CorruptHeader) << "byte " << i;
  }
}

TEST(SegmentFormat, HeaderUnsupportedVersion) {
  for (uint8_t v : {uint8_t{1}, uint8_t{3}}) {
    auto bytes = sf::encode_header({});
    bytes[4] = v;
    const uint32_t crc = crc32c::value(bytes.data(), 60);
    std::memcpy(bytes.data() + 60, &crc, 4);  // little-endian host
    auto d = sf::decode_header(bytes);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, Errc::UnsupportedVersion);
    // Version 1 (before record header checksums) is refused with a message saying so.
    if (v == 1) {
      EXPECT_NE(d.error().message.find("header checksums"), std::string::npos);
    }
  }
}

TEST(SegmentFormat, HeaderTruncated) {
  auto bytes = sf::encode_header({});
  auto d = sf::decode_header(std::span<const uint8_t>(bytes.data(), 63));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::CorruptHeader);
}

// ---- records ----

// Decodes every record of an encoded transaction.
std::vector<Record> decode_all(const std::vector<uint8_t>& bytes, bool header_only = false) {
  std::vector<Record> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto r =
        sf::decode_record(std::span<const uint8_t>(bytes).subspan(pos), 1000 + pos, header_only);
    EXPECT_TRUE(r) << r.error().to_string();
    if (!r) break;
    pos += std::visit([](const auto& x) { return x.length; }, *r);
    out.push_back(std::move(*r));
  }
  EXPECT_EQ(pos, bytes.size());
  return out;
}

void roundtrip_single(const OwnedEvent& e) {
  auto tx = make_tx(17, 1, 3);
  std::vector<uint32_t> offsets;
  auto bytes = encode(tx, {e}, &offsets);
  ASSERT_EQ(bytes.size(), sf::encoded_event_size(e.view()));
  ASSERT_EQ(offsets, std::vector<uint32_t>{0});
  auto recs = decode_all(bytes);
  ASSERT_EQ(recs.size(), 1u);
  const auto& r = std::get<EventRecord>(recs[0]);
  segtest::expect_event_eq(r, e);
  EXPECT_EQ(r.offset, 1000u);
  EXPECT_EQ(r.tx.log_position, 17u);
  EXPECT_EQ(r.tx.term, 3u);
  EXPECT_EQ(r.tx.transaction_id, tx.transaction_id);
  EXPECT_EQ(r.confirmation_count, 0);
}

TEST(SegmentFormat, SingleEventRoundtrip) {
  roundtrip_single(make_event(1));
}

TEST(SegmentFormat, EmptyMetadataAndPayload) {
  auto e = make_event(2, "");
  e.metadata.clear();
  e.event_name.clear();
  roundtrip_single(e);
  EXPECT_EQ(sf::encoded_event_size(e.view()), sf::kEventFixedSize + e.stream_id.size());
}

TEST(SegmentFormat, LargePayload1MiB) {
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 31 + 7);
  roundtrip_single(make_event(3, payload));
}

TEST(SegmentFormat, BinaryPayloadAllByteValues) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  auto e = make_event(4, payload);
  e.metadata = payload;
  roundtrip_single(e);
}

TEST(SegmentFormat, EventName255AcceptedAnd256Rejected) {
  auto e = make_event(5);
  e.event_name = std::string(255, 'n');
  roundtrip_single(e);
  e.event_name.push_back('n');
  std::vector<uint8_t> out{1, 2, 3};
  auto v = e.view();
  auto st = sf::encode_transaction(out, make_tx(1, 1), 0, {&v, 1}, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  EXPECT_EQ(out, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(SegmentFormat, StreamIdLengths) {
  auto e = make_event(6);
  e.stream_id = std::string(64, 's');
  roundtrip_single(e);
  for (std::string bad : {std::string(), std::string(65, 's')}) {
    e.stream_id = bad;
    std::vector<uint8_t> out;
    auto v = e.view();
    auto st = sf::encode_transaction(out, make_tx(1, 1), 0, {&v, 1}, nullptr);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::InvalidLength);
    EXPECT_TRUE(out.empty());
  }
}

TEST(SegmentFormat, ValidationErrors) {
  auto e = make_event(7);
  std::vector<uint8_t> out;
  // Empty transaction.
  auto st = sf::encode_transaction(out, make_tx(1, 1), 0, {}, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::EmptyTransaction);
  // Timestamp >= 2^63.
  e.timestamp_ns = uint64_t{1} << 63;
  auto v = e.view();
  st = sf::encode_transaction(out, make_tx(1, 1), 0, {&v, 1}, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  e.timestamp_ns = (uint64_t{1} << 63) - 1;
  v = e.view();
  EXPECT_TRUE(sf::encode_transaction(out, make_tx(1, 1), 0, {&v, 1}, nullptr));
  out.clear();
  // Single flag must match the count.
  st = sf::encode_transaction(out, make_tx(1, 2), 0, {&v, 1}, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  std::vector<EventToWrite> two{v, v};
  st = sf::encode_transaction(out, make_tx(1, 1), 0, two, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  // Second event invalid: nothing of the first is emitted.
  std::string long_name(300, 'x');
  two[1].event_name = long_name;
  st = sf::encode_transaction(out, make_tx(1, 2), 0, two, nullptr);
  ASSERT_FALSE(st);
  EXPECT_TRUE(out.empty());
  // Payload / metadata over 4 GiB (sizes only; the bytes are never touched).
  static const char dummy[1] = {0};
  EventToWrite huge = v;
  huge.payload = std::string_view(dummy, uint64_t{1} << 32);
  st = sf::validate_events({&huge, 1});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  huge = v;
  huge.metadata = std::string_view(dummy, uint64_t{1} << 32);
  st = sf::encode_transaction(out, make_tx(1, 1), 0, {&huge, 1}, nullptr);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::InvalidArgument);
  EXPECT_TRUE(out.empty());
}

TEST(SegmentFormat, MultiEventTransaction) {
  std::vector<OwnedEvent> events{make_event(10), make_event(11, ""), make_event(12, "xyz")};
  auto tx = make_tx(99, events.size(), 5);
  std::vector<uint32_t> offsets;
  std::vector<uint8_t> bytes{0xAA};  // appended after existing bytes
  auto v = segtest::views(events);
  ASSERT_TRUE(sf::encode_transaction(bytes, tx, 777, v, &offsets));
  EXPECT_EQ(bytes.size(), 1 + sf::encoded_transaction_size(v));
  bytes.erase(bytes.begin());
  auto recs = decode_all(bytes);
  ASSERT_EQ(recs.size(), 4u);
  ASSERT_EQ(offsets.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& r = std::get<EventRecord>(recs[i]);
    segtest::expect_event_eq(r, events[i]);
    EXPECT_EQ(r.offset, 1000 + offsets[i]);
    EXPECT_EQ(r.tx.transaction_id, tx.transaction_id);
    EXPECT_EQ(r.tx.log_position, 99u);
    EXPECT_EQ(r.tx.term, 5u);
  }
  const auto& c = std::get<CommitRecord>(recs[3]);
  EXPECT_EQ(c.event_count, 3u);
  EXPECT_EQ(c.length, sf::kCommitSize);
  EXPECT_EQ(c.timestamp_ns, 777u);
  EXPECT_EQ(c.tx.transaction_id, tx.transaction_id);
  EXPECT_EQ(c.tx.log_position, 99u);
  EXPECT_EQ(c.tx.term, 5u);
  EXPECT_EQ(c.end_offset(), 1000 + bytes.size());
}

TEST(SegmentFormat, HeaderOnlyGivesTrueLengths) {
  std::vector<OwnedEvent> events{make_event(20, std::string(5000, 'p')), make_event(21)};
  auto bytes = encode(make_tx(1, 2), events);
  auto full = decode_all(bytes);
  auto header_only = decode_all(bytes, true);
  ASSERT_EQ(full.size(), header_only.size());
  for (size_t i = 0; i < 2; ++i) {
    segtest::expect_event_eq(std::get<EventRecord>(header_only[i]), events[i], true);
  }
  // Only the fixed part is needed.
  auto r = sf::decode_record(std::span<const uint8_t>(bytes.data(), sf::kEventFixedSize), 64, true);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(std::get<EventRecord>(*r).length, sf::encoded_event_size(events[0].view()));
  // But a full decode of a prefix fails.
  r = sf::decode_record(std::span<const uint8_t>(bytes.data(), sf::kEventFixedSize), 64, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptRecord);
}

TEST(SegmentFormat, ConfirmationRewrite) {
  auto tx = make_tx(1, 1);
  auto bytes = encode(tx, {make_event(30)});
  auto conf = sf::encode_confirmation(tx.transaction_id, 3);
  std::memcpy(bytes.data() + sf::kConfirmationOffset, conf.data(), conf.size());
  auto r = sf::decode_record(bytes, 64, false);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(std::get<EventRecord>(*r).confirmation_count, 3);
  // The confirmation bytes of another txid do not verify.
  conf = sf::encode_confirmation(uuid_v4(), 3);
  std::memcpy(bytes.data() + sf::kConfirmationOffset, conf.data(), conf.size());
  r = sf::decode_record(bytes, 64, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::ConfirmationCrc32cMismatch);
  EXPECT_EQ(r.error().offset, 64u);
}

TEST(SegmentFormat, PeekLength) {
  auto bytes = encode(make_tx(1, 1), {make_event(31)});
  EXPECT_EQ(sf::peek_record_length(bytes), bytes.size());
}

TEST(SegmentFormat, UnknownKindIsCorrupt) {
  auto bytes = encode(make_tx(1, 1), {make_event(32)});
  bytes[sf::kKindOffset] = 7;
  // Fix the main crc so the kind check itself is what fails.
  uint32_t c = crc32c::extend(0, bytes.data(), 4);
  c = crc32c::extend(c, bytes.data() + 13, bytes.size() - 13);
  std::memcpy(bytes.data() + sf::kCrcOffset, &c, 4);
  auto r = sf::decode_record(bytes, 100, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptRecord);
  EXPECT_EQ(r.error().offset, 100u);
}

// Every single-byte corruption of a record is detected: the decoder returns an error, never a
// (wrong) value. Bytes 8..12 and the txid are covered by the confirmation CRC, which is checked
// first; everything else by the main CRC or the length checks.
TEST(SegmentFormat, EveryByteFlipIsDetected) {
  std::vector<std::vector<uint8_t>> records;
  {
    std::string bin;
    for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
    auto b = encode(make_tx(7, 1), {make_event(40, bin)});
    records.push_back(b);
  }
  {
    auto e = make_event(41, "");
    e.metadata.clear();
    records.push_back(encode(make_tx(8, 1), {e}));
  }
  {
    auto b = encode(make_tx(9, 2), {make_event(42), make_event(43)});
    // Split into its three records.
    size_t pos = 0;
    while (pos < b.size()) {
      const uint32_t len = sf::peek_record_length(std::span<const uint8_t>(b).subspan(pos));
      records.emplace_back(b.begin() + pos, b.begin() + pos + len);
      pos += len;
    }
  }
  size_t checked = 0;
  for (const auto& rec : records) {
    ASSERT_TRUE(sf::decode_record(rec, 64, false));
    for (size_t i = 0; i < rec.size(); ++i) {
      for (uint8_t mask : {0x01, 0x80, 0xFF}) {
        auto bad = rec;
        bad[i] ^= mask;
        auto r = sf::decode_record(bad, 64, false);
        ASSERT_FALSE(r) << "byte " << i << " mask " << int(mask) << " of a " << rec.size()
                        << "-byte record decoded";
        if (i >= sf::kConfirmationOffset && i < sf::kConfirmationEnd) {
          EXPECT_EQ(r.error().code, Errc::ConfirmationCrc32cMismatch) << i;
        }
        EXPECT_EQ(r.error().offset, 64u);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 1000u);
}

// A header-only read is verified too (header CRC; a commit record whole): every flip of a byte
// it decodes is an error, whether the read gets the fixed part only or the whole record.
TEST(SegmentFormat, HeaderOnlyReadDetectsEveryFlipOfWhatItReturns) {
  auto b = encode(make_tx(9, 2), {make_event(42, std::string(300, 'x')), make_event(43)});
  size_t checked = 0;
  for (size_t pos = 0; pos < b.size();) {
    const uint32_t len = sf::peek_record_length(std::span<const uint8_t>(b).subspan(pos));
    const std::vector<uint8_t> rec(b.begin() + pos, b.begin() + pos + len);
    pos += len;
    const bool event = rec[sf::kKindOffset] == sf::kKindEvent;
    const size_t fixed = event ? sf::kEventFixedSize : sf::kCommitSize;
    ASSERT_TRUE(sf::decode_record(std::span(rec).first(fixed), 64, true));
    for (size_t i = 0; i < fixed; ++i) {
      // An event's main CRC is not what a header-only read uses (nor returns).
      if (event && i >= sf::kCrcOffset && i < sf::kCrcOffset + 4) continue;
      for (uint8_t mask : {0x01, 0x80, 0xFF}) {
        auto bad = rec;
        bad[i] ^= mask;
        for (size_t n : {fixed, rec.size()}) {
          auto r = sf::decode_record(std::span(bad).first(n), 64, true);
          ASSERT_FALSE(r) << "header-only read of a record with byte " << i << " ^ " << int(mask)
                          << " decoded (" << n << " bytes given)";
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 1000u);
}

// ---- views (decode_event_view: the scans' decoder) ----

// Every field of an owned record and of a view decoded from the same bytes.
void expect_same(const EventRecord& r, const EventView& v) {
  EXPECT_EQ(v.offset, r.offset);
  EXPECT_EQ(v.length, r.length);
  EXPECT_EQ(v.tx.log_position, r.tx.log_position);
  EXPECT_EQ(v.tx.term, r.tx.term);
  EXPECT_EQ(v.tx.transaction_id, r.tx.transaction_id);
  EXPECT_EQ(v.timestamp_ns, r.timestamp_ns);
  EXPECT_EQ(v.confirmation_count, r.confirmation_count);
  EXPECT_EQ(v.event_id, r.event_id);
  EXPECT_EQ(v.partition_key, r.partition_key);
  EXPECT_EQ(v.partition_id, r.partition_id);
  EXPECT_EQ(v.partition_sequence, r.partition_sequence);
  EXPECT_EQ(v.stream_version, r.stream_version);
  EXPECT_EQ(v.batch_start, r.batch_start);
  EXPECT_EQ(v.stream_id, r.stream_id);
  EXPECT_EQ(v.event_name, r.event_name);
  EXPECT_EQ(v.metadata, r.metadata);
  EXPECT_EQ(v.payload, r.payload);
}

TEST(SegmentFormat, EventViewMatchesDecodeRecord) {
  std::string bin;
  for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
  std::vector<OwnedEvent> events{make_event(50, bin), make_event(51, ""), make_event(52, "xyz")};
  std::vector<uint8_t> bytes;
  auto v = segtest::views(events);
  ASSERT_TRUE(sf::encode_transaction(bytes, make_tx(5, 3, 2), 777, v, nullptr, true));
  for (bool header_only : {false, true}) {
    size_t pos = 0;
    int events_seen = 0;
    while (pos < bytes.size()) {
      const auto rec = std::span<const uint8_t>(bytes).subspan(pos);
      auto owned = sf::decode_record(rec, 1000 + pos, header_only);
      ASSERT_TRUE(owned) << owned.error().to_string();
      EventView view;
      view.payload = "untouched";
      auto is_event = sf::decode_event_view(rec, 1000 + pos, header_only, view);
      ASSERT_TRUE(is_event) << is_event.error().to_string();
      if (auto* e = std::get_if<EventRecord>(&*owned)) {
        ASSERT_TRUE(*is_event);
        expect_same(*e, view);
        // The body fields point into the decoded bytes, not into a copy.
        if (!header_only) {
          EXPECT_GE(reinterpret_cast<const uint8_t*>(view.stream_id.data()), rec.data());
          EXPECT_LT(reinterpret_cast<const uint8_t*>(view.stream_id.data()),
                    rec.data() + e->length);
        }
        EXPECT_EQ(view.to_record().payload, e->payload);
        ++events_seen;
      } else {
        EXPECT_FALSE(*is_event);               // a commit record
        EXPECT_EQ(view.payload, "untouched");  // left as it was
      }
      pos += sf::peek_record_length(rec);
    }
    EXPECT_EQ(events_seen, 3);
  }
}

// The view decoder makes the same checks as decode_record: every single-byte corruption is an
// error, with the same code.
TEST(SegmentFormat, EventViewDetectsEveryByteFlip) {
  std::string bin;
  for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
  auto b = encode(make_tx(7, 2), {make_event(60, bin), make_event(61)});
  size_t checked = 0;
  size_t pos = 0;
  while (pos < b.size()) {
    const uint32_t len = sf::peek_record_length(std::span<const uint8_t>(b).subspan(pos));
    const std::vector<uint8_t> rec(b.begin() + pos, b.begin() + pos + len);
    pos += len;
    EventView view;
    ASSERT_TRUE(sf::decode_event_view(rec, 64, false, view));
    for (size_t i = 0; i < rec.size(); ++i) {
      for (uint8_t mask : {0x01, 0x80, 0xFF}) {
        auto bad = rec;
        bad[i] ^= mask;
        auto r = sf::decode_event_view(bad, 64, false, view);
        ASSERT_FALSE(r) << "byte " << i << " mask " << int(mask) << " decoded";
        auto owned = sf::decode_record(bad, 64, false);
        ASSERT_FALSE(owned);
        EXPECT_EQ(r.error().code, owned.error().code) << i;
        EXPECT_EQ(r.error().offset, 64u);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 1000u);
  // A record cut short is an error too.
  EventView view;
  auto r = sf::decode_event_view(std::span<const uint8_t>(b.data(), sf::kEventFixedSize + 3), 64,
                                 false, view);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::CorruptRecord);
}

}  // namespace
}  // namespace sierra
