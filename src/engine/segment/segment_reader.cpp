// Positional and sequential reads of segment files. Every length read from disk is bounded by
// the visible end before any buffer is sized from it (STORAGE.md §10 B14).
#include "engine/segment/segment_reader.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace sierra {

namespace sf = segment_format;

namespace {

constexpr size_t kWindowSize = 64 * 1024;
constexpr size_t kWindowAlign = 4096;
// Largest prefix read to learn a record's length and fixed fields.
constexpr size_t kPrefixSize = sf::kEventFixedSize;
// A whole-record read starts with this many bytes (bounded by the visible end): most events fit,
// so one pread serves them instead of a prefix read followed by a body read.
constexpr size_t kFirstReadSize = 2048;
// Scratch buffers above this size are not kept between reads.
constexpr size_t kMaxKeptScratch = 1024 * 1024;

Status check_length(uint32_t len, uint64_t offset, uint64_t end) {
  if (len < sf::kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record length " + std::to_string(len) + " too small",
                      offset);
  }
  if (len > end - offset) {
    return make_error(
        Errc::CorruptRecord,
        "record length " + std::to_string(len) + " runs past visible end " + std::to_string(end),
        offset);
  }
  return {};
}

bool is_single(const EventRecord& e) {
  return transaction_id_is_single(e.tx.transaction_id);
}

bool same_tx(const TransactionHeader& a, const TransactionHeader& b) {
  return a.transaction_id == b.transaction_id && a.log_position == b.log_position &&
         a.term == b.term;
}

}  // namespace

SegmentReader::SegmentReader(File file, sf::SegmentHeader header,
                             std::shared_ptr<std::atomic<uint64_t>> flushed)
    : file_(std::move(file)), header_(header), flushed_(std::move(flushed)) {}

Result<std::shared_ptr<SegmentReader>> SegmentReader::open(
    const std::filesystem::path& path, BucketId expected_bucket, SegmentId expected_segment,
    std::shared_ptr<std::atomic<uint64_t>> flushed_offset, std::shared_ptr<Env> env,
    bool trust_path_ids) {
  auto file = File::open(path, File::Mode::ReadOnly, std::move(env));
  if (!file) return std::unexpected(std::move(file.error()));
  auto size = file->size();
  if (!size) return std::unexpected(std::move(size.error()));
  if (*size < sf::kHeaderSize) {
    return make_error(Errc::CorruptHeader, "segment file " + path.string() +
                                               " shorter than its header (" +
                                               std::to_string(*size) + " bytes)");
  }
  std::array<uint8_t, sf::kHeaderSize> buf{};
  if (auto st = file->pread_exact(buf.data(), buf.size(), 0); !st) {
    return std::unexpected(std::move(st.error()));
  }
  auto header = sf::decode_header(buf);
  if (!header && trust_path_ids && header.error().code == Errc::CorruptHeader) {
    header = sf::SegmentHeader{sf::kFormatVersion, expected_bucket, expected_segment, 0};
  }
  if (!header) {
    auto e = std::move(header.error());
    e.message += " in " + path.string();
    return std::unexpected(std::move(e));
  }
  if (header->bucket_id != expected_bucket || header->segment_id != expected_segment) {
    return make_error(Errc::BucketMismatch,
                      path.string() + ": header says bucket " + std::to_string(header->bucket_id) +
                          " segment " + std::to_string(header->segment_id) + ", expected bucket " +
                          std::to_string(expected_bucket) + " segment " +
                          std::to_string(expected_segment));
  }
  const bool live = flushed_offset != nullptr;
  std::shared_ptr<SegmentReader> r(
      new SegmentReader(std::move(*file), *header, std::move(flushed_offset)));
  if (!live) r->fixed_end_ = *size;
  return r;
}

uint64_t SegmentReader::visible_end() const {
  return flushed_ ? flushed_->load(std::memory_order_acquire) : fixed_end_;
}

Result<Record> SegmentReader::read_record(uint64_t offset, bool header_only) const {
  const uint64_t end = visible_end();
  if (offset < sf::kHeaderSize) {
    return make_error(Errc::CorruptRecord, "record offset inside the segment header", offset);
  }
  if (offset >= end || end - offset < sf::kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record header past visible end", offset);
  }
  if (header_only) {
    std::array<uint8_t, kPrefixSize> prefix;
    const size_t prefix_len = static_cast<size_t>(std::min<uint64_t>(kPrefixSize, end - offset));
    if (auto st = file_.pread_exact(prefix.data(), prefix_len, offset); !st) {
      return std::unexpected(std::move(st.error()));
    }
    const uint32_t len = sf::peek_record_length(prefix);
    if (auto st = check_length(len, offset, end); !st) {
      return std::unexpected(std::move(st.error()));
    }
    return sf::decode_record(
        std::span<const uint8_t>(prefix.data(), std::min<size_t>(len, prefix_len)), offset, true);
  }
  // The whole record: read a first block that holds most records entirely; read the rest only
  // if the length found in it asks for more.
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < kFirstReadSize) scratch.resize(kFirstReadSize);
  const size_t first_len = static_cast<size_t>(std::min<uint64_t>(kFirstReadSize, end - offset));
  if (auto st = file_.pread_exact(scratch.data(), first_len, offset); !st) {
    return std::unexpected(std::move(st.error()));
  }
  const uint32_t len = sf::peek_record_length(std::span<const uint8_t>(scratch.data(), first_len));
  if (auto st = check_length(len, offset, end); !st) return std::unexpected(std::move(st.error()));
  if (len <= first_len) {
    return sf::decode_record(std::span<const uint8_t>(scratch.data(), len), offset, false);
  }
  // len is bounded by the visible end, so this allocation is sane.
  std::vector<uint8_t> big;
  std::vector<uint8_t>& buf = len > kMaxKeptScratch ? big : scratch;
  if (&buf == &big) buf.assign(scratch.begin(), scratch.begin() + first_len);
  if (buf.size() < len) buf.resize(len);
  if (auto st = file_.pread_exact(buf.data() + first_len, len - first_len, offset + first_len);
      !st) {
    return std::unexpected(std::move(st.error()));
  }
  return sf::decode_record(std::span<const uint8_t>(buf.data(), len), offset, false);
}

Result<std::optional<CommittedTransaction>> SegmentReader::read_transaction(
    uint64_t offset, bool header_only) const {
  auto first = read_record(offset, header_only);
  if (!first) return std::unexpected(std::move(first.error()));
  auto* ev = std::get_if<EventRecord>(&*first);
  if (!ev) {
    return make_error(Errc::CorruptRecord, "expected an event record, found a commit record",
                      offset);
  }
  CommittedTransaction tx;
  if (is_single(*ev)) {
    tx.end_offset = ev->end_offset();
    tx.events.push_back(std::move(*ev));
    return tx;
  }
  const TransactionHeader header = ev->tx;
  uint64_t pos = ev->end_offset();
  tx.events.push_back(std::move(*ev));
  for (;;) {
    const uint64_t end = visible_end();
    if (pos >= end || end - pos < sf::kMinRecordSize) return std::nullopt;  // not committed (yet)
    auto rec = read_record(pos, header_only);
    if (!rec) return std::unexpected(std::move(rec.error()));
    if (auto* e = std::get_if<EventRecord>(&*rec)) {
      if (is_single(*e) || !same_tx(e->tx, header)) {
        return make_error(Errc::CorruptRecord,
                          "transaction interrupted by a record of another transaction", pos);
      }
      pos = e->end_offset();
      tx.events.push_back(std::move(*e));
      continue;
    }
    auto& c = std::get<CommitRecord>(*rec);
    if (!same_tx(c.tx, header)) {
      return make_error(Errc::CorruptRecord,
                        "transaction interrupted by a commit of another transaction", pos);
    }
    // Starting mid-transaction we cannot know how many events precede `offset`, only that the
    // count cannot be smaller than what we read.
    if (c.event_count < tx.events.size()) {
      return make_error(Errc::CorruptRecord,
                        "commit event count " + std::to_string(c.event_count) + " but " +
                            std::to_string(tx.events.size()) + " events read",
                        pos);
    }
    tx.end_offset = c.end_offset();
    tx.commit = std::move(c);
    return tx;
  }
}

SegmentIterator SegmentReader::iter(uint64_t from) const {
  return SegmentIterator(shared_from_this(), from);
}

SegmentIterator::SegmentIterator(std::shared_ptr<const SegmentReader> reader, uint64_t from)
    : reader_(std::move(reader)), pos_(std::max<uint64_t>(from, sf::kHeaderSize)) {}

// Returns the n bytes at `offset` (offset + n must be <= the visible end), refilling the
// read-ahead window if they are not all inside it. The span is valid until the next call.
Result<std::span<const uint8_t>> SegmentIterator::window(uint64_t offset, size_t n) {
  if (offset >= buf_start_ && offset + n <= buf_start_ + buf_len_) {
    return std::span<const uint8_t>(buf_.data() + (offset - buf_start_), n);
  }
  const uint64_t end = reader_->visible_end();
  if (offset + n > end) {
    return make_error(Errc::CorruptRecord, "read past visible end", offset);
  }
  // Window: from `offset` rounded down to 4 KiB, max(64 KiB, needed) rounded up to 4 KiB,
  // capped at the visible end.
  const uint64_t start = offset - offset % kWindowAlign;
  const uint64_t need = offset + n - start;
  uint64_t want = std::max<uint64_t>(kWindowSize, need);
  want = (want + kWindowAlign - 1) / kWindowAlign * kWindowAlign;
  want = std::min<uint64_t>(want, end - start);
  buf_len_ = 0;
  if (buf_.size() < want) {
    buf_.resize(want);
  } else if (buf_.size() > 4 * kWindowSize && want <= kWindowSize) {
    // Drop a buffer grown for one big record.
    buf_.resize(want);
    buf_.shrink_to_fit();
  }
  if (auto st = reader_->file_.pread_exact(buf_.data(), want, start); !st) {
    return std::unexpected(std::move(st.error()));
  }
  buf_start_ = start;
  buf_len_ = want;
  return std::span<const uint8_t>(buf_.data() + (offset - buf_start_), n);
}

Result<std::optional<Record>> SegmentIterator::next_record(bool header_only) {
  const uint64_t end = reader_->visible_end();
  // The visible end went down (truncate_after): cached bytes past it may be rewritten.
  if (buf_start_ + buf_len_ > end) buf_len_ = 0;
  if (pos_ >= end) return std::optional<Record>();
  if (end - pos_ < sf::kMinRecordSize) {
    return make_error(Errc::CorruptRecord, "record header past visible end", pos_);
  }
  const size_t prefix_len = static_cast<size_t>(std::min<uint64_t>(kPrefixSize, end - pos_));
  auto prefix = window(pos_, prefix_len);
  if (!prefix) return std::unexpected(std::move(prefix.error()));
  const uint32_t len = sf::peek_record_length(*prefix);
  if (auto st = check_length(len, pos_, end); !st) return std::unexpected(std::move(st.error()));
  const size_t n = header_only ? std::min<size_t>(len, prefix_len) : len;
  auto bytes = window(pos_, n);
  if (!bytes) return std::unexpected(std::move(bytes.error()));
  auto rec = sf::decode_record(*bytes, pos_, header_only);
  if (!rec) return std::unexpected(std::move(rec.error()));
  pos_ += len;
  return std::optional<Record>(std::move(*rec));
}

Result<std::optional<CommittedTransaction>> SegmentIterator::next_transaction(bool header_only) {
  CommittedTransaction pending;
  uint64_t pending_start = pos_;
  for (;;) {
    const uint64_t before = pos_;
    auto rec = next_record(header_only);
    if (!rec) {
      // Leave the position at the start of a pending run so that a retry sees it whole.
      if (!pending.events.empty()) pos_ = pending_start;
      return std::unexpected(std::move(rec.error()));
    }
    if (!*rec) {
      // Visible end. A pending run without its commit is not returned; it is re-read if the
      // iterator is called again (its commit may become visible later).
      if (!pending.events.empty()) pos_ = pending_start;
      return std::optional<CommittedTransaction>();
    }
    if (auto* e = std::get_if<EventRecord>(&**rec)) {
      if (is_single(*e)) {
        // A pending multi-event run interrupted by another transaction was never committed.
        CommittedTransaction tx;
        tx.end_offset = e->end_offset();
        tx.events.push_back(std::move(*e));
        return std::optional<CommittedTransaction>(std::move(tx));
      }
      if (pending.events.empty() || !same_tx(e->tx, pending.events.front().tx)) {
        pending.events.clear();
        pending_start = before;
      }
      pending.events.push_back(std::move(*e));
      continue;
    }
    auto& c = std::get<CommitRecord>(**rec);
    if (!pending.events.empty() && same_tx(c.tx, pending.events.front().tx) &&
        c.event_count == pending.events.size()) {
      pending.end_offset = c.end_offset();
      pending.commit = std::move(c);
      return std::optional<CommittedTransaction>(std::move(pending));
    }
    // Orphan commit, or a count that does not match: nothing committed here.
    pending.events.clear();
  }
}

}  // namespace sierra
