// Encoding and decoding of segment headers and records. Layout: format.hpp and docs/FORMAT.md.
#include "engine/segment/format.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "engine/crc32c.hpp"

namespace sierra::segment_format {

namespace {

template <class T>
inline void put(uint8_t* p, T v) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) v = std::byteswap(v);
  std::memcpy(p, &v, sizeof(T));
}

template <class T>
inline T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) v = std::byteswap(v);
  return v;
}

inline Uuid get_uuid(const uint8_t* p) {
  Uuid u;
  std::memcpy(u.bytes.data(), p, 16);
  return u;
}

constexpr uint64_t kMaxTimestamp = uint64_t{1} << 63;
constexpr size_t kHeaderCrcOffset = 60;

// CRC over [0,4) ++ [kConfirmationEnd, len).
inline uint32_t record_crc(const uint8_t* p, size_t len) {
  uint32_t c = crc32c::extend(0, p, kCrcOffset);
  return crc32c::extend(c, p + kConfirmationEnd, len - kConfirmationEnd);
}

// Header CRC of an event record: over [0,4) ++ [kConfirmationEnd, kRecordHeaderCrcOffset).
inline uint32_t record_header_crc(const uint8_t* p) {
  uint32_t c = crc32c::extend(0, p, kCrcOffset);
  return crc32c::extend(c, p + kConfirmationEnd, kRecordHeaderCrcOffset - kConfirmationEnd);
}

inline uint32_t confirmation_crc(const uint8_t* txid, uint8_t count) {
  uint32_t c = crc32c::extend(0, txid, 16);
  return crc32c::extend(c, &count, 1);
}

// Writes the common prefix except the main CRC (stored last, once the record is complete).
inline void put_common(uint8_t* p, uint32_t len, uint8_t kind, const TransactionHeader& tx,
                       uint32_t conf_crc, uint64_t timestamp_ns, uint16_t flags = 0) {
  put<uint32_t>(p + kLengthOffset, len);
  put<uint32_t>(p + kCrcOffset, 0);
  p[kConfirmationOffset] = 0;
  put<uint32_t>(p + kConfirmationCrcOffset, conf_crc);
  p[kKindOffset] = kind;
  put<uint16_t>(p + kReservedOffset, flags);
  put<uint64_t>(p + kLogPositionOffset, tx.log_position);
  put<uint64_t>(p + kTermOffset, tx.term);
  std::memcpy(p + kTxidOffset, tx.transaction_id.bytes.data(), 16);
  put<uint64_t>(p + kTimestampOffset, timestamp_ns);
}

inline void put_bytes(uint8_t*& p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  p += s.size();
}

template <class R>
inline void get_common(const uint8_t* p, uint64_t offset, R& r) {
  r.offset = offset;
  r.length = get<uint32_t>(p + kLengthOffset);
  r.confirmation_count = p[kConfirmationOffset];
  r.tx.log_position = get<uint64_t>(p + kLogPositionOffset);
  r.tx.term = get<uint64_t>(p + kTermOffset);
  r.tx.transaction_id = get_uuid(p + kTxidOffset);
  r.timestamp_ns = get<uint64_t>(p + kTimestampOffset);
}

}  // namespace

std::array<uint8_t, kHeaderSize> encode_header(const SegmentHeader& h) {
  std::array<uint8_t, kHeaderSize> out{};
  uint8_t* p = out.data();
  put<uint32_t>(p + 0, kMagic);
  put<uint16_t>(p + 4, h.version);
  put<uint16_t>(p + 6, h.bucket_id);
  put<uint32_t>(p + 8, h.segment_id);
  put<uint32_t>(p + 12, 0);
  put<uint64_t>(p + 16, h.created_at_ns);
  put<uint32_t>(p + kHeaderCrcOffset, crc32c::value(p, kHeaderCrcOffset));
  return out;
}

Result<SegmentHeader> decode_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return make_error(Errc::CorruptHeader, "segment header truncated (" +
                                               std::to_string(bytes.size()) + " of 64 bytes)");
  }
  const uint8_t* p = bytes.data();
  if (get<uint32_t>(p) != kMagic) {
    return make_error(Errc::CorruptHeader, "bad segment magic (expected \"EVTS\")");
  }
  if (get<uint32_t>(p + kHeaderCrcOffset) != crc32c::value(p, kHeaderCrcOffset)) {
    return make_error(Errc::CorruptHeader, "segment header checksum mismatch");
  }
  SegmentHeader h;
  h.version = get<uint16_t>(p + 4);
  if (h.version != kFormatVersion) {
    return make_error(Errc::UnsupportedVersion,
                      "segment format version " + std::to_string(h.version) +
                          " (supported: " + std::to_string(kFormatVersion) + ")" +
                          (h.version == 1 ? ": written by a build before record header checksums; "
                                            "this build cannot read it (see docs/FORMAT.md "
                                            "\"Versions\")"
                                          : ""));
  }
  h.bucket_id = get<uint16_t>(p + 6);
  h.segment_id = get<uint32_t>(p + 8);
  h.created_at_ns = get<uint64_t>(p + 16);
  return h;
}

size_t encoded_event_size(const EventToWrite& e) {
  return kEventFixedSize + e.stream_id.size() + e.event_name.size() + e.metadata.size() +
         e.payload.size();
}

size_t encoded_transaction_size(std::span<const EventToWrite> events) {
  size_t n = 0;
  for (const auto& e : events) n += encoded_event_size(e);
  if (events.size() >= 2) n += kCommitSize;
  return n;
}

Status validate_events(std::span<const EventToWrite> events) {
  if (events.empty()) return make_error(Errc::EmptyTransaction, "transaction has no events");
  constexpr size_t kU32Max = std::numeric_limits<uint32_t>::max();
  for (const auto& e : events) {
    if (e.stream_id.empty() || e.stream_id.size() > kStreamIdMaxBytes) {
      return make_error(Errc::InvalidLength, "stream id must be 1..=64 bytes (got " +
                                                 std::to_string(e.stream_id.size()) + ")");
    }
    if (e.event_name.size() > 255) {
      return make_error(Errc::InvalidArgument, "event name longer than 255 bytes (" +
                                                   std::to_string(e.event_name.size()) + ")");
    }
    if (e.metadata.size() > kU32Max) {
      return make_error(Errc::InvalidArgument, "metadata larger than 4 GiB");
    }
    if (e.payload.size() > kU32Max) {
      return make_error(Errc::InvalidArgument, "payload larger than 4 GiB");
    }
    if (encoded_event_size(e) > kU32Max) {
      return make_error(Errc::InvalidArgument, "encoded event larger than 4 GiB");
    }
    if (e.timestamp_ns >= kMaxTimestamp) {
      return make_error(Errc::InvalidArgument, "timestamp must be less than 2^63");
    }
  }
  if (encoded_transaction_size(events) > kU32Max) {
    return make_error(Errc::InvalidArgument, "encoded transaction larger than 4 GiB");
  }
  return {};
}

Status encode_transaction(std::vector<uint8_t>& out, const TransactionHeader& tx,
                          uint64_t commit_timestamp_ns, std::span<const EventToWrite> events,
                          std::vector<uint32_t>* event_offsets, bool batch_start) {
  if (auto st = validate_events(events); !st) return st;
  const bool single = events.size() == 1;
  if (transaction_id_is_single(tx.transaction_id) != single) {
    return make_error(Errc::InvalidArgument,
                      single ? "single-event transaction id without the single flag"
                             : "multi-event transaction id with the single flag set");
  }
  if (!single && commit_timestamp_ns >= kMaxTimestamp) {
    return make_error(Errc::InvalidArgument, "commit timestamp must be less than 2^63");
  }

  const size_t total = encoded_transaction_size(events);
  const size_t base = out.size();
  out.resize(base + total);  // one allocation at most; fields are memcpy'd in place
  const uint32_t conf_crc = confirmation_crc(tx.transaction_id.bytes.data(), 0);
  if (event_offsets) event_offsets->reserve(event_offsets->size() + events.size());

  uint8_t* p = out.data() + base;
  // The batch-start flag goes on the first record only: recovery looks for it strictly after
  // the start of the damaged transaction, where the other records of that same transaction
  // (part of the last, unsynced batch when the damage is a torn tail) must not match.
  uint16_t flags = batch_start ? kBatchStartFlag : 0;
  for (const auto& e : events) {
    const auto len = static_cast<uint32_t>(encoded_event_size(e));
    if (event_offsets) event_offsets->push_back(static_cast<uint32_t>(p - (out.data() + base)));
    put_common(p, len, kKindEvent, tx, conf_crc, e.timestamp_ns, flags);
    flags = 0;
    std::memcpy(p + kEventIdOffset, e.event_id.bytes.data(), 16);
    std::memcpy(p + kPartitionKeyOffset, e.partition_key.bytes.data(), 16);
    put<uint16_t>(p + kPartitionIdOffset, e.partition_id);
    put<uint64_t>(p + kSequenceOffset, e.partition_sequence);
    put<uint64_t>(p + kVersionOffset, e.stream_version);
    p[kStreamIdLenOffset] = static_cast<uint8_t>(e.stream_id.size());
    p[kEventNameLenOffset] = static_cast<uint8_t>(e.event_name.size());
    put<uint32_t>(p + kMetadataLenOffset, static_cast<uint32_t>(e.metadata.size()));
    put<uint32_t>(p + kPayloadLenOffset, static_cast<uint32_t>(e.payload.size()));
    put<uint32_t>(p + kRecordHeaderCrcOffset, record_header_crc(p));
    uint8_t* body = p + kEventFixedSize;
    put_bytes(body, e.stream_id);
    put_bytes(body, e.event_name);
    put_bytes(body, e.metadata);
    put_bytes(body, e.payload);
    put<uint32_t>(p + kCrcOffset, record_crc(p, len));
    p += len;
  }
  if (!single) {
    put_common(p, kCommitSize, kKindCommit, tx, conf_crc, commit_timestamp_ns);
    put<uint32_t>(p + kEventCountOffset, static_cast<uint32_t>(events.size()));
    put<uint32_t>(p + kCrcOffset, record_crc(p, kCommitSize));
  }
  return {};
}

namespace {

// Checks every record kind shares: the length, the confirmation CRC, the main CRC (unless
// header_only for an event record), an event record's header CRC, and the reserved flag bits.
// Returns the flags.
Result<uint16_t> check_record(std::span<const uint8_t> bytes, uint64_t offset, bool header_only) {
  if (bytes.size() < kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record truncated", offset);
  }
  const uint8_t* p = bytes.data();
  const uint32_t len = get<uint32_t>(p + kLengthOffset);
  if (len < kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record length " + std::to_string(len) + " too small",
                      offset);
  }
  if (confirmation_crc(p + kTxidOffset, p[kConfirmationOffset]) !=
      get<uint32_t>(p + kConfirmationCrcOffset)) {
    return make_error(Errc::ConfirmationCrc32cMismatch, "confirmation checksum mismatch", offset);
  }
  const uint8_t kind = p[kKindOffset];
  // A header-only read of a commit record reads all of it: check it whole.
  const bool whole = !header_only || kind == kKindCommit;
  if (whole) {
    if (len > bytes.size()) {
      return make_error(Errc::CorruptRecord,
                        "record length " + std::to_string(len) + " exceeds available bytes",
                        offset);
    }
    if (record_crc(p, len) != get<uint32_t>(p + kCrcOffset)) {
      return make_error(Errc::Crc32cMismatch, "record checksum mismatch", offset);
    }
  }
  if (kind == kKindEvent) {
    // Covered by the main CRC too; checked on full reads as well so both paths agree.
    if (bytes.size() < kEventFixedSize || len < kEventFixedSize) {
      return make_error(Errc::CorruptRecord, "event record truncated", offset);
    }
    if (record_header_crc(p) != get<uint32_t>(p + kRecordHeaderCrcOffset)) {
      return make_error(Errc::Crc32cMismatch, "record header checksum mismatch", offset);
    }
  }
  const uint16_t flags = get<uint16_t>(p + kReservedOffset);
  if ((flags & ~kBatchStartFlag) != 0) {
    return make_error(Errc::CorruptRecord, "reserved record flag bits are not zero", offset);
  }
  return flags;
}

Result<CommitRecord> decode_commit(const uint8_t* p, uint64_t offset, uint16_t flags) {
  if (flags != 0) {
    return make_error(Errc::CorruptRecord, "commit record with the batch-start flag", offset);
  }
  const uint32_t len = get<uint32_t>(p + kLengthOffset);
  if (len != kCommitSize) {
    return make_error(Errc::CorruptRecord, "commit record length " + std::to_string(len), offset);
  }
  CommitRecord c;
  get_common(p, offset, c);
  c.event_count = get<uint32_t>(p + kEventCountOffset);
  return c;
}

// The fields of an event record (check_record passed, kind is kKindEvent); the body fields are
// views into `bytes`.
Status decode_event(std::span<const uint8_t> bytes, uint64_t offset, bool header_only,
                    uint16_t flags, EventView& e) {
  const uint8_t* p = bytes.data();
  const uint32_t len = get<uint32_t>(p + kLengthOffset);
  if (bytes.size() < kEventFixedSize || len < kEventFixedSize) {
    return make_error(Errc::CorruptRecord, "event record truncated", offset);
  }
  const size_t sid_len = p[kStreamIdLenOffset];
  const size_t name_len = p[kEventNameLenOffset];
  const size_t meta_len = get<uint32_t>(p + kMetadataLenOffset);
  const size_t payload_len = get<uint32_t>(p + kPayloadLenOffset);
  if (kEventFixedSize + sid_len + name_len + meta_len + payload_len != len) {
    return make_error(Errc::CorruptRecord, "event record length does not match its field lengths",
                      offset);
  }
  if (sid_len == 0 || sid_len > kStreamIdMaxBytes) {
    return make_error(Errc::CorruptRecord, "stream id length " + std::to_string(sid_len), offset);
  }
  get_common(p, offset, e);
  e.batch_start = (flags & kBatchStartFlag) != 0;
  e.event_id = get_uuid(p + kEventIdOffset);
  e.partition_key = get_uuid(p + kPartitionKeyOffset);
  e.partition_id = get<uint16_t>(p + kPartitionIdOffset);
  e.partition_sequence = get<uint64_t>(p + kSequenceOffset);
  e.stream_version = get<uint64_t>(p + kVersionOffset);
  if (header_only) {
    e.stream_id = {};
    e.event_name = {};
    e.metadata = {};
    e.payload = {};
  } else {
    // len <= bytes.size() was checked with the CRC.
    const char* b = reinterpret_cast<const char*>(p + kEventFixedSize);
    e.stream_id = std::string_view(b, sid_len);
    b += sid_len;
    e.event_name = std::string_view(b, name_len);
    b += name_len;
    e.metadata = std::string_view(b, meta_len);
    b += meta_len;
    e.payload = std::string_view(b, payload_len);
  }
  return {};
}

}  // namespace

namespace {

// Verifies the record and decodes it into `event` or `commit`, by kind; returns the kind.
Result<uint8_t> decode_either(std::span<const uint8_t> bytes, uint64_t offset, bool header_only,
                              EventView& event, CommitRecord& commit) {
  auto flags = check_record(bytes, offset, header_only);
  if (!flags) return std::unexpected(std::move(flags.error()));
  const uint8_t kind = bytes[kKindOffset];
  if (kind == kKindCommit) {
    auto c = decode_commit(bytes.data(), offset, *flags);
    if (!c) return std::unexpected(std::move(c.error()));
    commit = *c;
    return kind;
  }
  if (kind != kKindEvent) {
    return make_error(Errc::CorruptRecord, "unknown record kind " + std::to_string(kind), offset);
  }
  if (auto st = decode_event(bytes, offset, header_only, *flags, event); !st) {
    return std::unexpected(std::move(st.error()));
  }
  return kind;
}

}  // namespace

Result<Record> decode_record(std::span<const uint8_t> bytes, uint64_t offset, bool header_only) {
  EventView event;
  CommitRecord commit;
  auto kind = decode_either(bytes, offset, header_only, event, commit);
  if (!kind) return std::unexpected(std::move(kind.error()));
  if (*kind == kKindCommit) return Record{commit};
  return Record{event.to_record()};
}

Result<bool> decode_event_view(std::span<const uint8_t> bytes, uint64_t offset, bool header_only,
                               EventView& out) {
  CommitRecord commit;
  auto kind = decode_either(bytes, offset, header_only, out, commit);
  if (!kind) return std::unexpected(std::move(kind.error()));
  return *kind == kKindEvent;
}

uint32_t peek_record_length(std::span<const uint8_t> prefix) {
  return prefix.size() < 4 ? 0 : get<uint32_t>(prefix.data());
}

std::array<uint8_t, 5> encode_confirmation(const Uuid& txid, uint8_t count) {
  std::array<uint8_t, 5> out{};
  out[0] = count;
  put<uint32_t>(out.data() + 1, confirmation_crc(txid.bytes.data(), count));
  return out;
}

Status encode_control_record(std::vector<uint8_t>& out, uint64_t log_position, uint64_t term,
                             uint8_t type, std::span<const uint8_t> payload) {
  if (type != kControlBarrier && type != kControlConfiguration) {
    return make_error(Errc::InvalidArgument,
                      "control record type " + std::to_string(type) + " is not 2 or 3");
  }
  if (payload.size() > (size_t{1} << 30)) {
    return make_error(Errc::InvalidArgument, "control record payload larger than 1 GiB");
  }
  const auto len = static_cast<uint32_t>(kControlFixedSize + payload.size());
  const size_t base = out.size();
  out.resize(base + len, 0);
  uint8_t* p = out.data() + base;
  const TransactionHeader tx{log_position, term, Uuid{}};
  put_common(p, len, kKindControl, tx, confirmation_crc(tx.transaction_id.bytes.data(), 0), 0);
  p[kControlTypeOffset] = type;
  put<uint32_t>(p + kControlPayloadLenOffset, static_cast<uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(p + kControlFixedSize, payload.data(), payload.size());
  put<uint32_t>(p + kCrcOffset, record_crc(p, len));
  return {};
}

Result<ControlRecord> decode_control_record(std::span<const uint8_t> bytes, uint64_t offset) {
  auto flags = check_record(bytes, offset, /*header_only=*/false);
  if (!flags) return std::unexpected(std::move(flags.error()));
  const uint8_t* p = bytes.data();
  if (p[kKindOffset] != kKindControl) {
    return make_error(Errc::CorruptRecord,
                      "record kind " + std::to_string(p[kKindOffset]) + " is not a control record",
                      offset);
  }
  const uint32_t len = get<uint32_t>(p + kLengthOffset);
  if (*flags != 0 || len < kControlFixedSize) {
    return make_error(Errc::CorruptRecord, "control record with flags or too short", offset);
  }
  const uint32_t payload_len = get<uint32_t>(p + kControlPayloadLenOffset);
  if (payload_len != len - kControlFixedSize) {
    return make_error(Errc::CorruptRecord,
                      "control record payload length " + std::to_string(payload_len) +
                          " does not match its record length " + std::to_string(len),
                      offset);
  }
  for (size_t i = 0; i < 16; ++i) {
    if (p[kTxidOffset + i] != 0) {
      return make_error(Errc::CorruptRecord, "control record with a transaction id", offset);
    }
  }
  if (p[kConfirmationOffset] != 0 || p[kControlTypeOffset + 1] != 0 ||
      p[kControlTypeOffset + 2] != 0 || p[kControlTypeOffset + 3] != 0) {
    return make_error(Errc::CorruptRecord, "control record reserved bytes are not zero", offset);
  }
  const uint8_t type = p[kControlTypeOffset];
  if (type != kControlBarrier && type != kControlConfiguration) {
    return make_error(Errc::CorruptRecord, "control record type " + std::to_string(type), offset);
  }
  ControlRecord r;
  r.offset = offset;
  r.length = len;
  r.log_position = get<uint64_t>(p + kLogPositionOffset);
  r.term = get<uint64_t>(p + kTermOffset);
  r.type = type;
  r.payload = bytes.subspan(kControlFixedSize, payload_len);
  return r;
}

}  // namespace sierra::segment_format
