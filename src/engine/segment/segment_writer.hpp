// Appends encoded transactions to the live segment file of one bucket. Owned by exactly one
// writer thread. Bytes are buffered in memory by append() and reach the file in flush(),
// which writes them, fdatasyncs, and only then publishes the new flushed offset to readers.
//
// Preallocation: whenever a write batch reaches past the bytes already in the file, flush() also
// writes zeros for the next kPreallocateBytes (never past the segment size), synced by the same
// fdatasync. Later batches then overwrite blocks that exist and are initialised, so their
// fdatasync writes data only: on ext4 a sync of a growing file also commits the journal (size,
// extents), which costs about twice the system CPU per append (BENCHMARKS.md). The zeros past
// the flushed end are never visible to readers; recovery recognises them (RecoveryReport::
// zero_tail) and truncates them, and release_unused_space() cuts them before the segment is
// closed, so a closed segment ends exactly at its last record.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
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
  // Every byte from valid_end on is zero: space the writer preallocated (or pages a power loss
  // never wrote), not a damaged record. Dropping it loses nothing.
  bool zero_tail = false;
  // Set when the data from valid_end on was *acknowledged* (a verified batch-start record of a
  // later write batch follows it): the offset of that record. open() then refuses (unless
  // told to truncate anyway) and nothing is dropped.
  std::optional<uint64_t> later_batch_offset;
};

// What the records of a live segment file say, without modifying it (docs/FORMAT.md
// "Recovery"): where the committed prefix ends, why, and whether a later write batch follows.
// Fills every field of RecoveryReport as open() would, with bytes_dropped being what a
// truncation at valid_end would drop. Validates the header (CorruptHeader, ...).
Result<RecoveryReport> inspect_live_segment(const std::filesystem::path& path, BucketId bucket,
                                            SegmentId segment, uint64_t segment_size,
                                            const std::shared_ptr<Env>& env = Env::real());

// Looks in [from, end) of `file` for a record that starts a later write batch: an event record
// with kBatchStartFlag whose length fits below `end` and `segment_size`, whose checksums and
// structure verify, and whose log position is greater than `after_log_position` (if given).
// Scans byte by byte (positions whose length field is zero are skipped cheaply); a record that
// verifies without the flag is skipped whole. Returns its offset, or nullopt.
Result<std::optional<uint64_t>> find_batch_start(const File& file, uint64_t from, uint64_t end,
                                                 uint64_t segment_size,
                                                 std::optional<uint64_t> after_log_position);

// What open() does when damage is followed by acknowledged data (a later write batch).
enum class OnAcknowledgedDamage {
  Refuse,    // fail with Errc::DamagedLiveSegment, leave the file untouched (the default)
  Truncate,  // truncate at the damage anyway (`sierradb check --repair`, after saving the tail)
};

class SegmentWriter {
 public:
  // Creates a new segment file (fails if it exists), writes and syncs the header, syncs the dir.
  static Result<std::unique_ptr<SegmentWriter>> create(const std::filesystem::path& base,
                                                       BucketId bucket, SegmentId segment,
                                                       uint64_t segment_size,
                                                       std::shared_ptr<Env> env = Env::real());
  // Opens an existing live segment: validates the header (magic, version, bucket, segment),
  // scans every record, truncates at the first torn/invalid/uncommitted record, fsyncs.
  // If a verified record starting a later write batch follows that first anomaly, the damaged
  // bytes were acknowledged (not a torn tail): fails with Errc::DamagedLiveSegment without
  // touching the file, unless `on_damage` is Truncate. Both use `env` for every file operation.
  static Result<std::unique_ptr<SegmentWriter>> open(
      const std::filesystem::path& base, BucketId bucket, SegmentId segment, uint64_t segment_size,
      RecoveryReport* report, OnAcknowledgedDamage on_damage = OnAcknowledgedDamage::Refuse,
      std::shared_ptr<Env> env = Env::real());

  BucketId bucket() const { return bucket_; }
  SegmentId segment() const { return segment_; }
  const std::filesystem::path& path() const { return file_.path(); }
  uint64_t segment_size() const { return segment_size_; }

  // Logical end: flushed bytes plus bytes appended since the last flush.
  uint64_t end_offset() const { return flushed_ + buffer_.size(); }
  uint64_t flushed_offset() const { return flushed_; }
  // Shared with readers of this segment; stored (release) only after fdatasync.
  std::shared_ptr<std::atomic<uint64_t>> flushed_offset_handle() const { return published_; }

  // True when nothing is buffered: the next append() starts a write batch, and its transaction
  // must be encoded with the batch-start flag (segment_format::encode_transaction).
  bool at_batch_start() const { return buffer_.empty(); }

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

  // Truncates preallocated zeros past the flushed end and syncs (before a rollover makes this
  // segment a closed one). No-op when there are none.
  Status release_unused_space();

  // Bytes in the file: flushed data plus preallocated zeros (tests, diagnostics).
  uint64_t allocated_end() const { return allocated_end_; }

  // Zeros written ahead of the data whenever a batch grows the file.
  static constexpr uint64_t kPreallocateBytes = 1024 * 1024;

  // Flushes (if needed), releases preallocated space and closes the file.
  Status close();

 private:
  SegmentWriter(File file, BucketId bucket, SegmentId segment, uint64_t segment_size,
                uint64_t flushed);
  File file_;
  BucketId bucket_;
  SegmentId segment_;
  uint64_t segment_size_;
  uint64_t flushed_;
  uint64_t allocated_end_;   // file size as this writer left it (>= flushed_)
  bool preallocate_ = true;  // off after a failed zero write (e.g. disk full)
  std::vector<uint8_t> buffer_;
  std::shared_ptr<std::atomic<uint64_t>> published_;
  bool broken_ = false;
};

}  // namespace sierra
