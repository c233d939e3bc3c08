// libFuzzer target: segment_format::decode_header / decode_record / peek_record_length.
//
// Arbitrary bytes are decoded as a header and as a record (header_only both ways, at an
// arbitrary offset). Checked: never crash; a full decode and a header-only decode agree on
// success and on the common fields; a decoded record's length is within the input; a decoded
// single event re-encodes byte-for-byte (when it is a valid standalone transaction), and a
// decoded header re-encodes to the same 64 bytes.
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include "engine/crc32c.hpp"
#include "engine/segment/format.hpp"
#include "fuzz_util.hpp"

namespace fmt_ = sierra::segment_format;
using sierra::CommitRecord;
using sierra::EventRecord;
using sierra::EventToWrite;

namespace {

int one_input(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);  // exact-size heap copy: ASan catches overreads
  std::span<const uint8_t> all(bytes);

  // Header.
  if (auto h = fmt_::decode_header(all)) {
    FUZZ_CHECK(size >= fmt_::kHeaderSize);
    auto enc = fmt_::encode_header(*h);
    auto again = fmt_::decode_header(std::span<const uint8_t>(enc));
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->bucket_id == h->bucket_id && again->segment_id == h->segment_id &&
               again->created_at_ns == h->created_at_ns && again->version == h->version);
  }

  (void)fmt_::peek_record_length(all);

  const uint64_t offset = size >= 8 ? (static_cast<uint64_t>(data[0]) << 4) : 64;
  auto full = fmt_::decode_record(all, offset, false);
  auto head = fmt_::decode_record(all, offset, true);
  if (full) {
    FUZZ_CHECK(head.has_value());
    FUZZ_CHECK(sierra::record_offset(*full) == offset);
    const uint32_t len = std::visit([](const auto& r) { return r.length; }, *full);
    FUZZ_CHECK(len >= fmt_::kMinRecordSize);
    FUZZ_CHECK(len <= size);
    FUZZ_CHECK(std::visit([](const auto& r) { return r.length; }, *head) == len);
    FUZZ_CHECK(full->index() == head->index());

    if (const auto* ev = std::get_if<EventRecord>(&*full)) {
      EventToWrite w;
      w.event_id = ev->event_id;
      w.partition_key = ev->partition_key;
      w.partition_id = ev->partition_id;
      w.partition_sequence = ev->partition_sequence;
      w.stream_version = ev->stream_version;
      w.timestamp_ns = ev->timestamp_ns;
      w.stream_id = ev->stream_id;
      w.event_name = ev->event_name;
      w.metadata = ev->metadata;
      w.payload = ev->payload;
      FUZZ_CHECK(fmt_::encoded_event_size(w) == len);
      std::vector<EventToWrite> one{w};
      if (fmt_::validate_events(one)) {
        std::vector<uint8_t> out;
        std::vector<uint32_t> offsets;
        // The decoded batch-start flag goes back in, so the re-encoding is byte-identical.
        auto st =
            fmt_::encode_transaction(out, ev->tx, ev->timestamp_ns, one, &offsets, ev->batch_start);
        if (st && out.size() == len) {
          // The confirmation bytes [8,13) are rewritten in place after the write; compare the rest.
          FUZZ_CHECK(std::memcmp(out.data(), bytes.data(), fmt_::kConfirmationOffset) == 0);
          FUZZ_CHECK(std::memcmp(out.data() + fmt_::kConfirmationEnd,
                                 bytes.data() + fmt_::kConfirmationEnd,
                                 len - fmt_::kConfirmationEnd) == 0);
          auto back = fmt_::decode_record(std::span<const uint8_t>(out), offset, false);
          FUZZ_CHECK(back.has_value());
        }
      }
    }
  } else if (head) {
    // Header-only skips the body checksum; a header-only success with a full failure is fine.
  }
  // Trailing-garbage prefix: decoding a strict prefix must not read past it.
  if (size > 1) (void)fmt_::decode_record(all.first(size - 1), offset, data[size - 1] & 1);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  one_input(data, size);
  // Again with the record's body and confirmation CRCs recomputed (when its length field fits),
  // so that mutations reach the field validation behind the checksums.
  if (size < fmt_::kMinRecordSize) return 0;
  std::vector<uint8_t> b(data, data + size);
  const uint32_t len =
      uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  if (len < fmt_::kMinRecordSize || len > size) return 0;
  uint32_t c = sierra::crc32c::extend(0, b.data(), fmt_::kCrcOffset);
  c = sierra::crc32c::extend(c, b.data() + fmt_::kConfirmationEnd, len - fmt_::kConfirmationEnd);
  std::memcpy(b.data() + fmt_::kCrcOffset, &c, 4);
  uint32_t cc = sierra::crc32c::extend(0, b.data() + fmt_::kTxidOffset, 16);
  cc = sierra::crc32c::extend(cc, b.data() + fmt_::kConfirmationOffset, 1);
  std::memcpy(b.data() + fmt_::kConfirmationCrcOffset, &cc, 4);
  one_input(b.data(), b.size());
  return 0;
}
