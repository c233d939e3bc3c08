// The live segment writer: buffered appends, write + fdatasync + publish, recovery on open.
#include "engine/segment/segment_writer.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

namespace sf = segment_format;

namespace {

// A buffer grown beyond this by one big transaction is released after it is flushed.
constexpr size_t kMaxKeptBuffer = 16 * 1024 * 1024;

// Zeros for preallocation, shared by every writer (only ever read).
const std::vector<uint8_t>& zero_block() {
  static const std::vector<uint8_t> zeros(SegmentWriter::kPreallocateBytes, 0);
  return zeros;
}

// True if every byte of [from, end) of `file` is zero.
Result<bool> is_zero_range(const File& file, uint64_t from, uint64_t end) {
  std::vector<uint8_t> buf(std::min<uint64_t>(end - from, 1024 * 1024));
  for (uint64_t at = from; at < end;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
    if (auto st = file.pread_exact(buf.data(), n, at); !st) return std::unexpected(st.error());
    if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n),
                    [](uint8_t b) { return b != 0; })) {
      return false;
    }
    at += n;
  }
  return true;
}

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Result of scanning committed transactions from the header up to some end.
struct ScanResult {
  uint64_t valid_end = sf::kHeaderSize;  // end of the last committed transaction accepted
  uint64_t transactions = 0;
  uint64_t last_log_position = 0;
  bool has_transactions = false;
  std::string stop_reason;  // empty when the scan reached `end` cleanly
  Errc stop_code = Errc::CorruptRecord;
  uint64_t stop_offset = 0;
};

// Scans records from the first one, grouping them into transactions. Stops at the first torn,
// invalid or out-of-place record, or at a multi-event run left without its commit.
// `keep(log_position)` decides whether a committed transaction is accepted; the scan stops at
// the first one it rejects (used by truncate_after).
template <class Keep>
Result<ScanResult> scan_transactions(const std::shared_ptr<SegmentReader>& reader,
                                     uint64_t segment_size, Keep keep) {
  ScanResult r;
  auto it = reader->iter(sf::kHeaderSize);
  size_t pending = 0;
  TransactionHeader pending_tx;
  auto stop = [&](std::string reason, Errc code, uint64_t at) {
    r.stop_reason = std::move(reason);
    r.stop_code = code;
    r.stop_offset = at;
    return r;
  };
  for (;;) {
    const uint64_t at = it.position();
    auto rec = it.next_record(/*header_only=*/false);
    if (!rec) {
      const Error& e = rec.error();
      if (e.code == Errc::Io || e.code == Errc::NoSpace) return std::unexpected(e);
      std::string why = e.code == Errc::Crc32cMismatch               ? "crc mismatch"
                        : e.code == Errc::ConfirmationCrc32cMismatch ? "confirmation crc mismatch"
                        : e.message.find("past visible end") != std::string::npos
                            ? "torn record"
                            : "corrupt record: " + e.message;
      return stop(std::move(why), e.code, at);
    }
    if (!*rec) {
      if (pending != 0) return stop("uncommitted transaction", Errc::CorruptRecord, at);
      return r;
    }
    const Record& record = **rec;
    if (record_end(record) > segment_size) {
      return stop("record beyond segment size", Errc::CorruptRecord, at);
    }
    if (const auto* e = std::get_if<EventRecord>(&record)) {
      if (transaction_id_is_single(e->tx.transaction_id)) {
        if (pending != 0) return stop("uncommitted transaction", Errc::CorruptRecord, at);
        if (!keep(e->tx.log_position)) return stop("after log position", Errc::CorruptRecord, at);
        r.valid_end = e->end_offset();
        r.transactions++;
        r.last_log_position = e->tx.log_position;
        r.has_transactions = true;
        continue;
      }
      if (pending == 0) {
        pending_tx = e->tx;
      } else if (e->tx.transaction_id != pending_tx.transaction_id ||
                 e->tx.log_position != pending_tx.log_position || e->tx.term != pending_tx.term) {
        return stop("uncommitted transaction", Errc::CorruptRecord, at);
      }
      pending++;
      continue;
    }
    const auto& c = std::get<CommitRecord>(record);
    if (pending == 0) return stop("orphan commit record", Errc::CorruptRecord, at);
    if (c.tx.transaction_id != pending_tx.transaction_id ||
        c.tx.log_position != pending_tx.log_position || c.tx.term != pending_tx.term) {
      return stop("uncommitted transaction", Errc::CorruptRecord, at);
    }
    if (c.event_count != pending)
      return stop("commit event count mismatch", Errc::CorruptRecord, at);
    if (!keep(c.tx.log_position)) return stop("after log position", Errc::CorruptRecord, at);
    pending = 0;
    r.valid_end = c.end_offset();
    r.transactions++;
    r.last_log_position = c.tx.log_position;
    r.has_transactions = true;
  }
}

}  // namespace

SegmentWriter::SegmentWriter(File file, BucketId bucket, SegmentId segment, uint64_t segment_size,
                             uint64_t flushed)
    : file_(std::move(file)),
      bucket_(bucket),
      segment_(segment),
      segment_size_(segment_size),
      flushed_(flushed),
      allocated_end_(flushed),
      published_(std::make_shared<std::atomic<uint64_t>>(flushed)) {}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::create(const std::filesystem::path& base,
                                                             BucketId bucket, SegmentId segment,
                                                             uint64_t segment_size,
                                                             std::shared_ptr<Env> env) {
  if (segment_size <= sf::kHeaderSize + sf::kMinRecordSize) {
    return make_error(Errc::InvalidArgument,
                      "segment size " + std::to_string(segment_size) + " too small");
  }
  auto dir = ensure_segment_dir(base, bucket, segment);
  if (!dir) return std::unexpected(std::move(dir.error()));
  const auto path = get_path(base, bucket, segment, SegmentKind::Events);
  auto file = File::open(path, File::Mode::CreateNew, env);
  if (!file) return std::unexpected(std::move(file.error()));
  sf::SegmentHeader h;
  h.bucket_id = bucket;
  h.segment_id = segment;
  h.created_at_ns = now_ns();
  const auto header = sf::encode_header(h);
  if (auto st = file->pwrite_all(header.data(), header.size(), 0); !st) {
    return std::unexpected(std::move(st.error()));
  }
  if (auto st = file->datasync(); !st) return std::unexpected(std::move(st.error()));
  // The file's directory entry, and the segment directory's entry in its parent.
  if (auto st = sync_directory(*dir, *env); !st) return std::unexpected(std::move(st.error()));
  if (auto st = sync_directory(dir->parent_path(), *env); !st) {
    return std::unexpected(std::move(st.error()));
  }
  // A bucket's first segment also created the bucket's own directories
  // (buckets/<bucket>/segments): their entries must be durable too, or a power loss could take
  // the whole bucket, acknowledged appends included, with it.
  if (segment == 0) {
    const std::filesystem::path bdir = bucket_dir(base, bucket);
    for (const auto& d : {bdir, bdir.parent_path()}) {
      if (auto st = sync_directory(d, *env); !st) return std::unexpected(std::move(st.error()));
    }
  }
  return std::unique_ptr<SegmentWriter>(
      new SegmentWriter(std::move(*file), bucket, segment, segment_size, sf::kHeaderSize));
}

Result<std::optional<uint64_t>> find_batch_start(const File& file, uint64_t from, uint64_t end,
                                                 uint64_t segment_size,
                                                 std::optional<uint64_t> after_log_position) {
  constexpr uint64_t kWindow = 1024 * 1024;
  const uint64_t limit = std::min(end, segment_size);  // a record must end at or below it
  std::vector<uint8_t> window;
  uint64_t wstart = 0;
  uint64_t wend = 0;  // window holds [wstart, wend)
  std::vector<uint8_t> whole;
  uint64_t q = std::max<uint64_t>(from, sf::kHeaderSize);
  while (q + sf::kMinRecordSize <= limit) {
    if (q < wstart || q + sf::kMinRecordSize > wend) {
      wstart = q;
      wend = q + std::min(kWindow, limit - q);
      window.resize(wend - wstart);
      if (auto st = file.pread_exact(window.data(), window.size(), wstart); !st) {
        return std::unexpected(std::move(st.error()));
      }
    }
    const uint8_t* r = window.data() + (q - wstart);
    // Cheap filters first (zero-filled or random bytes fail them at once).
    const uint32_t len = sf::peek_record_length(std::span(r, sf::kMinRecordSize));
    const uint8_t kind = r[sf::kKindOffset];
    const uint16_t flags =
        static_cast<uint16_t>(r[sf::kReservedOffset] | (r[sf::kReservedOffset + 1] << 8));
    const bool plausible = len >= sf::kMinRecordSize && len <= limit - q &&
                           ((kind == sf::kKindEvent && len >= sf::kEventFixedSize &&
                             (flags == 0 || flags == sf::kBatchStartFlag)) ||
                            (kind == sf::kKindCommit && len == sf::kCommitSize && flags == 0));
    if (!plausible) {
      ++q;
      continue;
    }
    Uuid txid;
    std::memcpy(txid.bytes.data(), r + sf::kTxidOffset, 16);
    const auto conf = sf::encode_confirmation(txid, r[sf::kConfirmationOffset]);
    if (std::memcmp(conf.data() + 1, r + sf::kConfirmationCrcOffset, 4) != 0) {
      ++q;
      continue;
    }
    std::span<const uint8_t> bytes;
    if (q + len <= wend) {
      bytes = std::span(r, len);
    } else {
      whole.resize(len);
      if (auto st = file.pread_exact(whole.data(), len, q); !st) {
        return std::unexpected(std::move(st.error()));
      }
      bytes = whole;
    }
    auto rec = sf::decode_record(bytes, q, /*header_only=*/false);
    if (!rec) {
      ++q;
      continue;
    }
    const auto* e = std::get_if<EventRecord>(&*rec);
    if (e && e->batch_start && (!after_log_position || e->tx.log_position > *after_log_position)) {
      return std::optional<uint64_t>(q);
    }
    // A verified record that does not start a batch: step over it whole (its body cannot hold
    // the next batch, and this keeps record-shaped bytes inside payloads from matching).
    q += len;
  }
  return std::optional<uint64_t>();
}

Result<RecoveryReport> inspect_live_segment(const std::filesystem::path& path, BucketId bucket,
                                            SegmentId segment, uint64_t segment_size,
                                            const std::shared_ptr<Env>& env) {
  auto file = File::open(path, File::Mode::ReadOnly, env);
  if (!file) return std::unexpected(std::move(file.error()));
  auto size = file->size();
  if (!size) return std::unexpected(std::move(size.error()));
  // Validates the header (CorruptHeader / UnsupportedVersion / BucketMismatch); the visible
  // end is the whole file.
  auto reader = SegmentReader::open(path, bucket, segment, nullptr, env);
  if (!reader) return std::unexpected(std::move(reader.error()));
  auto scan = scan_transactions(*reader, segment_size, [](uint64_t) { return true; });
  if (!scan) return std::unexpected(std::move(scan.error()));
  reader->reset();

  RecoveryReport report;
  report.valid_end = scan->valid_end;
  report.file_size_before = *size;
  report.bytes_dropped = *size - scan->valid_end;
  report.transactions = scan->transactions;
  report.last_log_position = scan->last_log_position;
  report.has_transactions = scan->has_transactions;
  if (scan->valid_end < *size) {
    report.reason = scan->stop_reason;
    if (scan->stop_offset != scan->valid_end && !report.reason.empty()) {
      report.reason += " at offset " + std::to_string(scan->stop_offset);
    }
    // Torn tail or damaged acknowledged data? The writer starts write batch k+1 only after
    // batch k's fdatasync returned, and flags the first record of every batch: a verified
    // batch start after the damaged transaction proves that transaction was durable and
    // acknowledged. Start one byte past valid_end, so the damaged transaction's own first
    // record (itself possibly the start of the last, unsynced batch) never counts.
    auto later = find_batch_start(
        *file, scan->valid_end + 1, *size, segment_size,
        scan->has_transactions ? std::optional<uint64_t>(scan->last_log_position) : std::nullopt);
    if (!later) return std::unexpected(std::move(later.error()));
    report.later_batch_offset = *later;
    if (!*later) {
      auto zeros = is_zero_range(*file, scan->valid_end, *size);
      if (!zeros) return std::unexpected(std::move(zeros.error()));
      if (*zeros) {
        report.zero_tail = true;
        report.reason = "zero-filled space after the last transaction (preallocated)";
      }
    }
  }
  return report;
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::open(
    const std::filesystem::path& base, BucketId bucket, SegmentId segment, uint64_t segment_size,
    RecoveryReport* report, OnAcknowledgedDamage on_damage, std::shared_ptr<Env> env) {
  if (segment_size <= sf::kHeaderSize + sf::kMinRecordSize) {
    return make_error(Errc::InvalidArgument,
                      "segment size " + std::to_string(segment_size) + " too small");
  }
  const auto path = get_path(base, bucket, segment, SegmentKind::Events);
  auto file = File::open(path, File::Mode::ReadWrite, env);
  if (!file) return std::unexpected(std::move(file.error()));
  auto found = inspect_live_segment(path, bucket, segment, segment_size, env);
  if (!found) return std::unexpected(std::move(found.error()));

  const uint64_t valid_end = found->valid_end;
  if (found->later_batch_offset && on_damage == OnAcknowledgedDamage::Refuse) {
    const std::string saved = path.string() + ".damaged-" + std::to_string(valid_end);
    return make_error(
        Errc::DamagedLiveSegment,
        "live segment " + path.string() + " (bucket " + std::to_string(bucket) + " segment " +
            std::to_string(segment) + ") has a damaged record at offset " +
            std::to_string(valid_end) + " (" + found->reason +
            ") followed by an acknowledged write batch at offset " +
            std::to_string(*found->later_batch_offset) +
            ": this is not a torn tail, so nothing was truncated and the file is unchanged. Run "
            "`sierradb check " +
            base.string() + "`; `sierradb check --repair " + base.string() +
            "` truncates the segment at offset " + std::to_string(valid_end) + " (dropping " +
            std::to_string(found->bytes_dropped) + " bytes, acknowledged transactions included) " +
            "after saving them to " + saved,
        valid_end);
  }
  if (valid_end < found->file_size_before) {
    if (auto st = file->truncate(valid_end); !st) return std::unexpected(std::move(st.error()));
    if (auto st = file->datasync(); !st) return std::unexpected(std::move(st.error()));
  }
  if (report) {
    *report = std::move(*found);
    if (valid_end == report->file_size_before) report->reason.clear();
  }
  return std::unique_ptr<SegmentWriter>(
      new SegmentWriter(std::move(*file), bucket, segment, segment_size, valid_end));
}

uint64_t SegmentWriter::append(std::span<const uint8_t> encoded) {
  const uint64_t at = end_offset();
  buffer_.insert(buffer_.end(), encoded.begin(), encoded.end());
  return at;
}

void SegmentWriter::discard_unflushed() {
  buffer_.clear();
}

Status SegmentWriter::flush() {
  if (broken_) {
    buffer_.clear();
    return make_error(Errc::Io, "segment writer for " + path().string() +
                                    " is broken after a failed sync; reopen it");
  }
  if (buffer_.empty()) return {};
  const uint64_t end = flushed_ + buffer_.size();
  if (auto st = file_.pwrite_all(buffer_.data(), buffer_.size(), flushed_); !st) {
    (void)file_.truncate(flushed_);  // best effort: the next write overwrites anyway
    allocated_end_ = flushed_;
    discard_unflushed();
    return st;
  }
  if (end > allocated_end_) {
    // The file grows, so this sync commits metadata anyway: let it carry zeros for the next
    // batches too (see the class comment). Best effort: on failure (disk full) give the space
    // back and stop preallocating in this segment.
    allocated_end_ = end;
    const uint64_t want = std::min(segment_size_, end + kPreallocateBytes);
    if (preallocate_ && want > end) {
      if (file_.pwrite_all(zero_block().data(), want - end, end)) {
        allocated_end_ = want;
      } else {
        (void)file_.truncate(end);
        preallocate_ = false;
      }
    }
  }
  if (auto st = file_.datasync(); !st) {
    // Whether the bytes reached the disk is unknown: never publish them, try to remove them,
    // and require a reopen (which re-verifies the file).
    (void)file_.truncate(flushed_);
    allocated_end_ = flushed_;
    discard_unflushed();
    broken_ = true;
    return st;
  }
  flushed_ = end;
  published_->store(flushed_, std::memory_order_release);
  buffer_.clear();
  if (buffer_.capacity() > kMaxKeptBuffer) buffer_.shrink_to_fit();
  return {};
}

Status SegmentWriter::set_confirmations(uint64_t offset, const Uuid& txid, uint8_t count) {
  if (broken_) return make_error(Errc::Io, "segment writer is broken; reopen it");
  if (offset < sf::kHeaderSize || offset >= flushed_ || flushed_ - offset < sf::kMinRecordSize) {
    return make_error(Errc::OffsetExceedsFileSize,
                      "no flushed record at offset (flushed end " + std::to_string(flushed_) + ")",
                      offset);
  }
  std::array<uint8_t, sf::kMinRecordSize> prefix{};
  if (auto st = file_.pread_exact(prefix.data(), prefix.size(), offset); !st) return st;
  const uint32_t len = sf::peek_record_length(prefix);
  if (len < sf::kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record length " + std::to_string(len) + " too small",
                      offset);
  }
  if (len > flushed_ - offset) {
    return make_error(Errc::OffsetExceedsFileSize,
                      "record runs past the flushed end " + std::to_string(flushed_), offset);
  }
  // The current confirmation bytes must be valid for the record's own txid: this also checks
  // that `offset` is the start of a record.
  Uuid stored;
  std::memcpy(stored.bytes.data(), prefix.data() + sf::kTxidOffset, 16);
  const auto current = sf::encode_confirmation(stored, prefix[sf::kConfirmationOffset]);
  if (std::memcmp(current.data() + 1, prefix.data() + sf::kConfirmationCrcOffset, 4) != 0) {
    return make_error(Errc::ConfirmationCrc32cMismatch, "confirmation checksum mismatch", offset);
  }
  if (stored != txid) {
    return make_error(
        Errc::WrongTransactionId,
        "record belongs to transaction " + stored.to_string() + ", not " + txid.to_string(),
        offset);
  }
  const auto bytes = sf::encode_confirmation(txid, count);
  if (auto st = file_.pwrite_all(bytes.data(), bytes.size(), offset + sf::kConfirmationOffset);
      !st) {
    return st;
  }
  if (auto st = file_.datasync(); !st) {
    broken_ = true;
    return st;
  }
  return {};
}

Status SegmentWriter::truncate_after(uint64_t log_position) {
  discard_unflushed();
  if (broken_) return make_error(Errc::Io, "segment writer is broken; reopen it");
  // Scan only the flushed bytes (the file may hold leftovers of a failed write past them).
  auto handle = std::make_shared<std::atomic<uint64_t>>(flushed_);
  auto reader = SegmentReader::open(path(), bucket_, segment_, handle, file_.env());
  if (!reader) return std::unexpected(std::move(reader.error()));
  auto scan =
      scan_transactions(*reader, segment_size_, [&](uint64_t pos) { return pos <= log_position; });
  if (!scan) return std::unexpected(std::move(scan.error()));
  if (!scan->stop_reason.empty() && scan->stop_reason != "after log position") {
    return make_error(scan->stop_code, "flushed data is corrupt (" + scan->stop_reason + ")",
                      scan->stop_offset);
  }
  const uint64_t new_end = scan->valid_end;
  if (new_end >= flushed_) return {};
  // Lower the visible end first so that no reader starts on bytes about to disappear.
  flushed_ = new_end;
  published_->store(new_end, std::memory_order_release);
  allocated_end_ = new_end;
  if (auto st = file_.truncate(new_end); !st) return st;  // later writes overwrite the tail
  if (auto st = file_.datasync(); !st) {
    broken_ = true;
    return st;
  }
  return {};
}

Status SegmentWriter::release_unused_space() {
  if (broken_ || allocated_end_ <= flushed_) return {};
  if (auto st = file_.truncate(flushed_); !st) return st;
  if (auto st = file_.datasync(); !st) {
    broken_ = true;
    return st;
  }
  allocated_end_ = flushed_;
  return {};
}

Status SegmentWriter::close() {
  if (!file_.is_open()) return {};
  Status st = flush();
  if (st) st = release_unused_space();
  auto closed = file_.close();
  if (!st) return st;
  return closed;
}

}  // namespace sierra
