// Reads records and committed transactions from one segment file. Thread-safe: positional
// reads (pread) only; sequential scans use a SegmentIterator, which owns its read-ahead buffer.
// Only bytes below the visible end (the writer's published flushed offset for the live
// segment, the file length for closed ones) are ever read, and every length is checked against
// that end before anything is allocated.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "engine/error.hpp"
#include "engine/file.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/record.hpp"

namespace sierra {

class SegmentIterator;

class SegmentReader : public std::enable_shared_from_this<SegmentReader> {
 public:
  // Opens and validates the header (CorruptHeader, UnsupportedVersion, BucketMismatch when the
  // bucket or segment id in the header differs from the expected ones). With a null
  // `flushed_offset`, the visible end is the file length at open time. `env` opens the file.
  // With `trust_path_ids`, a header that does not verify (CorruptHeader) is replaced by the
  // expected ids (quarantine of a closed segment with a damaged header: its records are still
  // verified one by one).
  static Result<std::shared_ptr<SegmentReader>> open(
      const std::filesystem::path& path, BucketId expected_bucket, SegmentId expected_segment,
      std::shared_ptr<std::atomic<uint64_t>> flushed_offset = nullptr,
      std::shared_ptr<Env> env = Env::real(), bool trust_path_ids = false);

  BucketId bucket() const { return header_.bucket_id; }
  SegmentId segment() const { return header_.segment_id; }
  const segment_format::SegmentHeader& header() const { return header_; }
  uint64_t visible_end() const;

  // Reads the record at `offset`. Errors: CorruptRecord (length out of bounds / past the visible
  // end / bad kind), Crc32cMismatch, ConfirmationCrc32cMismatch — each with the offset.
  Result<Record> read_record(uint64_t offset, bool header_only = false) const;

  // Reads the committed transaction that contains the event at `offset`, from that event to the
  // end of the transaction (the whole transaction when `offset` is its first event). nullopt if
  // the transaction is not committed (no commit record before the visible end).
  Result<std::optional<CommittedTransaction>> read_transaction(uint64_t offset,
                                                               bool header_only = false) const;

  // Sequential iteration from `from` (default: first record).
  SegmentIterator iter(uint64_t from = segment_format::kHeaderSize) const;

  void prefetch(uint64_t offset, uint64_t len = 4096) const { file_.advise_willneed(offset, len); }
  const File& file() const { return file_; }

 private:
  SegmentReader(File file, segment_format::SegmentHeader header,
                std::shared_ptr<std::atomic<uint64_t>> flushed);
  File file_;
  segment_format::SegmentHeader header_;
  std::shared_ptr<std::atomic<uint64_t>> flushed_;  // null: fixed_end_
  uint64_t fixed_end_ = 0;
  friend class SegmentIterator;
};

// Forward iterator over a segment with a read-ahead window (64 KiB or larger). Holds a
// shared_ptr to its reader.
class SegmentIterator {
 public:
  SegmentIterator(std::shared_ptr<const SegmentReader> reader, uint64_t from);

  uint64_t position() const { return pos_; }
  // Next record, or nullopt at the visible end. On error the position does not move.
  Result<std::optional<Record>> next_record(bool header_only = false);
  // Next committed transaction, skipping uncommitted/orphan records, or nullopt at the end.
  Result<std::optional<CommittedTransaction>> next_transaction(bool header_only = false);

 private:
  Result<std::span<const uint8_t>> window(uint64_t offset, size_t n);
  std::shared_ptr<const SegmentReader> reader_;
  uint64_t pos_;
  std::vector<uint8_t> buf_;
  uint64_t buf_start_ = 0;
  size_t buf_len_ = 0;
};

}  // namespace sierra
