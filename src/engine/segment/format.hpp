// The segment file format, every byte offset in one place (docs/FORMAT.md explains it).
// Encoding and decoding of the file header and of records live here; I/O does not.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/segment/event_view.hpp"
#include "engine/segment/record.hpp"

namespace sierra::segment_format {

inline constexpr uint32_t kMagic = 0x53545645;  // bytes "EVTS"
// 2: event records carry a header checksum of their own (kRecordHeaderCrcOffset). Files of
// version 1 are refused (UnsupportedVersion), see docs/FORMAT.md "Versions".
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr size_t kHeaderSize = 64;

// Record kinds (byte at kKindOffset).
inline constexpr uint8_t kKindEvent = 1;
inline constexpr uint8_t kKindCommit = 2;
// A replicated bucket's control entry (BucketLog, docs/FORMAT.md "Control records"): a barrier
// or a configuration of the replication layer. Single-node buckets never write one.
inline constexpr uint8_t kKindControl = 3;

// Common record prefix (see docs/FORMAT.md for the table).
inline constexpr size_t kLengthOffset = 0;  // u32 total record length
inline constexpr size_t kCrcOffset = 4;     // u32 CRC-32C over [0,4) ++ [kConfirmationEnd, len)
inline constexpr size_t kConfirmationOffset = 8;     // u8 confirmation count
inline constexpr size_t kConfirmationCrcOffset = 9;  // u32 CRC-32C(txid ++ count)
inline constexpr size_t kConfirmationEnd = 13;
inline constexpr size_t kKindOffset = 13;         // u8
inline constexpr size_t kReservedOffset = 14;     // u16 flags, see kBatchStartFlag
inline constexpr size_t kLogPositionOffset = 16;  // u64
inline constexpr size_t kTermOffset = 24;         // u64
inline constexpr size_t kTxidOffset = 32;         // 16 bytes
inline constexpr size_t kTimestampOffset = 48;    // u64 ns
inline constexpr size_t kCommonSize = 56;

// Bit 0 of the u16 at kReservedOffset: this record is the first record of the first transaction
// of a write batch (the bytes one flush() wrote at the previous flushed offset). Only ever set on
// an event record; every other bit of the field must be zero. Recovery relies on it to tell a
// torn tail from damaged acknowledged data (docs/FORMAT.md "Recovery").
inline constexpr uint16_t kBatchStartFlag = 0x0001;

// Event record fixed part, after the common prefix.
inline constexpr size_t kEventIdOffset = 56;        // 16
inline constexpr size_t kPartitionKeyOffset = 72;   // 16
inline constexpr size_t kPartitionIdOffset = 88;    // u16
inline constexpr size_t kSequenceOffset = 90;       // u64
inline constexpr size_t kVersionOffset = 98;        // u64
inline constexpr size_t kStreamIdLenOffset = 106;   // u8
inline constexpr size_t kEventNameLenOffset = 107;  // u8
inline constexpr size_t kMetadataLenOffset = 108;   // u32
inline constexpr size_t kPayloadLenOffset = 112;    // u32
// u32 CRC-32C of [0,4) ++ [kConfirmationEnd, kRecordHeaderCrcOffset): verifies a header-only
// read of an event record without reading its body.
inline constexpr size_t kRecordHeaderCrcOffset = 116;
inline constexpr size_t kEventFixedSize = 120;  // body follows: stream id, name, metadata, payload

// Commit record.
inline constexpr size_t kEventCountOffset = 56;  // u32
inline constexpr size_t kCommitSize = 60;

// Control record (kind 3): the common prefix with a zero transaction id, then its entry type
// (2 barrier, 3 configuration: the LogEntryType codes), three zero bytes, and its payload.
inline constexpr size_t kControlTypeOffset = 56;        // u8
inline constexpr size_t kControlPayloadLenOffset = 60;  // u32
inline constexpr size_t kControlFixedSize = 64;         // payload follows
inline constexpr uint8_t kControlBarrier = 2;
inline constexpr uint8_t kControlConfiguration = 3;

// Smallest prefix that tells a record's length and kind.
inline constexpr size_t kMinRecordSize = kCommitSize;

struct SegmentHeader {
  uint16_t version = kFormatVersion;
  BucketId bucket_id = 0;
  SegmentId segment_id = 0;
  uint64_t created_at_ns = 0;
};

// 64 bytes: magic, version, bucket, segment, created_at, zero padding, CRC-32C of bytes [0,60).
std::array<uint8_t, kHeaderSize> encode_header(const SegmentHeader& h);
// CorruptHeader (magic/crc), UnsupportedVersion.
Result<SegmentHeader> decode_header(std::span<const uint8_t> bytes);

size_t encoded_event_size(const EventToWrite& e);
// Size of a whole transaction: its events plus a commit record when there are >= 2 events.
size_t encoded_transaction_size(std::span<const EventToWrite> events);

// Checks what the encoder cannot represent before any byte is produced: event name > 255
// bytes, stream id empty or > 64 bytes, metadata/payload > u32 max, timestamp >= 2^63,
// empty transaction. InvalidArgument / InvalidLength / EmptyTransaction.
Status validate_events(std::span<const EventToWrite> events);

// Appends the encoded transaction to `out`. For each event, its offset relative to the start
// of the appended bytes is pushed to `event_offsets` (if non-null). `commit_timestamp_ns` stamps
// the commit record (multi-event only). The transaction id's single flag must match the count.
// `batch_start`: the transaction is the first one of a write batch (nothing is buffered in the
// segment writer before it); kBatchStartFlag is set on its first record.
Status encode_transaction(std::vector<uint8_t>& out, const TransactionHeader& tx,
                          uint64_t commit_timestamp_ns, std::span<const EventToWrite> events,
                          std::vector<uint32_t>* event_offsets, bool batch_start = false);

// Decodes one record from `bytes` (which must start at the record and hold it entirely;
// `offset` is its file offset, used for errors). Verifies both checksums.
// With header_only, `bytes` may hold only the fixed part; the body is not decoded, and instead
// of the main CRC an event record's header CRC is checked (a commit record is always whole:
// its main CRC is checked), so a header-only read is verified too.
Result<Record> decode_record(std::span<const uint8_t> bytes, uint64_t offset, bool header_only);

// Same checks as decode_record, without copying: an event record fills `out` with views into
// `bytes` and returns true; a valid commit record returns false and leaves `out` unchanged.
Result<bool> decode_event_view(std::span<const uint8_t> bytes, uint64_t offset, bool header_only,
                               EventView& out);

// A decoded control record; `payload` points into the bytes it was decoded from.
struct ControlRecord {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint64_t log_position = 0;
  uint64_t term = 0;
  uint8_t type = 0;
  std::span<const uint8_t> payload;
};

// Appends a control record (type kControlBarrier or kControlConfiguration) to `out`.
// InvalidArgument for another type or a payload over 1 GiB.
Status encode_control_record(std::vector<uint8_t>& out, uint64_t log_position, uint64_t term,
                             uint8_t type, std::span<const uint8_t> payload);
// Decodes and verifies (length, both checksums, zero transaction id and reserved bytes, known
// type) the control record at the start of `bytes`, which must hold it whole.
Result<ControlRecord> decode_control_record(std::span<const uint8_t> bytes, uint64_t offset);

// Reads the u32 length field of a record prefix (no validation).
uint32_t peek_record_length(std::span<const uint8_t> prefix);

// The 5 bytes rewritten by set_confirmations: [count][crc32c(txid ++ count) LE].
std::array<uint8_t, 5> encode_confirmation(const Uuid& txid, uint8_t count);

}  // namespace sierra::segment_format
