// Appends encoded transactions to the live segment file of one bucket. Owned by exactly one
// writer thread. Bytes are buffered in memory by append() and reach the file in flush(),
// which writes them, fdatasyncs, and only then publishes the new flushed offset to readers.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "engine/error.hpp"
#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "engine/segment/format.hpp"

namespace sierra {

// What opening a live segment found and did.
struct RecoveryReport {
  uint64_t valid_end = 0;          // end of the last committed transaction
  uint64_t file_size_before = 0;   // file length found on disk
  uint64_t bytes_dropped = 0;      // file_size_before - valid_end
  uint64_t transactions = 0;       // committed transactions found
  uint64_t last_log_position = 0;  // of the last committed transaction (0 if none)
  bool has_transactions = false;
  std::string reason;  // why the tail was dropped ("torn record", "crc mismatch", ...)
};

class SegmentWriter {
 public:
  // Creates a new segment file (fails if it exists), writes and syncs the header, syncs the dir.
  static Result<std::unique_ptr<SegmentWriter>> create(const std::filesystem::path& base,
                                                       BucketId bucket, SegmentId segment,
                                                       uint64_t segment_size);
  // Opens an existing live segment: validates the header (magic, version, bucket, segment),
  // scans every record, truncates at the first torn/invalid/uncommitted record, fsyncs.
  static Result<std::unique_ptr<SegmentWriter>> open(const std::filesystem::path& base,
                                                     BucketId bucket, SegmentId segment,
                                                     uint64_t segment_size, RecoveryReport* report);

  BucketId bucket() const { return bucket_; }
  SegmentId segment() const { return segment_; }
  const std::filesystem::path& path() const { return file_.path(); }
  uint64_t segment_size() const { return segment_size_; }

  // Logical end: flushed bytes plus bytes appended since the last flush.
  uint64_t end_offset() const { return flushed_ + buffer_.size(); }
  uint64_t flushed_offset() const { return flushed_; }
  // Shared with readers of this segment; stored (release) only after fdatasync.
  std::shared_ptr<std::atomic<uint64_t>> flushed_offset_handle() const { return published_; }

  // True if `n` more bytes fit in this segment.
  bool fits(size_t n) const { return end_offset() + n <= segment_size_; }

  // Buffers an encoded transaction (from segment_format::encode_transaction). Returns the file
  // offset at which it will start. Never writes to the file.
  uint64_t append(std::span<const uint8_t> encoded);
  // Drops everything appended since the last flush.
  void discard_unflushed();
  // Writes the buffered bytes, fdatasyncs, publishes. On failure the file is truncated back to
  // the last flushed offset (best effort) and the buffered bytes are discarded; the caller must
  // fail every transaction that was in the buffer. After a failed sync, the writer is `broken()`
  // and must be reopened (open() re-verifies the file).
  Status flush();
  bool broken() const { return broken_; }

  // Rewrites the confirmation count of the record at `offset` (must be fully flushed) after
  // checking it belongs to `txid`; syncs. WrongTransactionId / OffsetExceedsFileSize / CRC errors.
  Status set_confirmations(uint64_t offset, const Uuid& txid, uint8_t count);

  // Drops every transaction whose log position is > `log_position` (a tail never committed by
  // the replication layer); truncates the file and syncs. Only flushed data is considered; any
  // unflushed bytes are discarded.
  Status truncate_after(uint64_t log_position);

  // Flushes (if needed) and closes the file.
  Status close();

 private:
  SegmentWriter(File file, BucketId bucket, SegmentId segment, uint64_t segment_size,
                uint64_t flushed);
  File file_;
  BucketId bucket_;
  SegmentId segment_;
  uint64_t segment_size_;
  uint64_t flushed_;
  std::vector<uint8_t> buffer_;
  std::shared_ptr<std::atomic<uint64_t>> published_;
  bool broken_ = false;
};

}  // namespace sierra
