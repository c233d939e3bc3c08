// scan_entries: a replicated bucket's segment bytes as log entries (bucket_log_scan.hpp).
#include "engine/bucket_log_scan.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/segment/format.hpp"

namespace sierra {

namespace fmt = segment_format;

namespace {

// The length of the transaction whose first record starts at `at`: its records up to the
// commit record (or the one record of a single-event transaction). Structure only; the caller
// verifies the bytes. nullopt if it does not end inside `file`.
std::optional<size_t> transaction_extent(std::span<const uint8_t> file, size_t at) {
  Uuid txid;
  std::memcpy(txid.bytes.data(), file.data() + at + fmt::kTxidOffset, 16);
  const bool single = transaction_id_is_single(txid);
  size_t pos = at;
  for (;;) {
    if (file.size() - pos < fmt::kMinRecordSize) return std::nullopt;
    const uint32_t len = fmt::peek_record_length(file.subspan(pos));
    if (len < fmt::kMinRecordSize || len > file.size() - pos) return std::nullopt;
    const uint8_t kind = file[pos + fmt::kKindOffset];
    if (kind != fmt::kKindEvent && kind != fmt::kKindCommit) return std::nullopt;
    pos += len;
    if (kind == fmt::kKindCommit || single) return pos - at;
  }
}

}  // namespace

EntryScan scan_entries(std::span<const uint8_t> file, uint64_t start, uint64_t first_index,
                       uint64_t min_term) {
  EntryScan scan;
  scan.end = start;
  uint64_t next = first_index;
  uint64_t term_floor = min_term;
  auto stop = [&](Errc code, const std::string& why) {
    const auto rest = file.subspan(scan.end);
    if (std::all_of(rest.begin(), rest.end(), [](uint8_t b) { return b == 0; })) {
      scan.zero_tail = rest.size();
      return scan;
    }
    scan.stop = Error{code, why + " (entry " + std::to_string(next) + ")", scan.end, 0};
    return scan;
  };
  while (scan.end < file.size()) {
    const size_t at = scan.end;
    if (file.size() - at < fmt::kMinRecordSize) {
      return stop(Errc::CorruptRecord, "torn record at the end of the file");
    }
    const uint32_t len = fmt::peek_record_length(file.subspan(at));
    if (len < fmt::kMinRecordSize || len > file.size() - at) {
      return stop(Errc::CorruptRecord, "record length " + std::to_string(len) + " out of bounds");
    }
    const uint8_t kind = file[at + fmt::kKindOffset];
    ScannedEntry e;
    e.offset = at;
    if (kind == fmt::kKindControl) {
      auto r = fmt::decode_control_record(file.subspan(at, len), at);
      if (!r) return stop(r.error().code, r.error().message);
      e.index = r->log_position;
      e.term = r->term;
      e.type =
          r->type == fmt::kControlBarrier ? LogEntryType::Barrier : LogEntryType::Configuration;
      e.length = len;
    } else if (kind == fmt::kKindEvent) {
      auto extent = transaction_extent(file, at);
      if (!extent) return stop(Errc::CorruptRecord, "torn or malformed transaction");
      auto tx = decode_transaction_entry(file.subspan(at, *extent));
      if (!tx) return stop(tx.error().code, tx.error().message);
      e.index = tx->index;
      e.term = tx->term;
      e.type = LogEntryType::Transaction;
      e.length = static_cast<uint32_t>(*extent);
    } else {
      return stop(Errc::CorruptRecord,
                  "record kind " + std::to_string(kind) + " cannot start an entry");
    }
    if (e.index != next) {
      return stop(Errc::CorruptRecord,
                  "log position " + std::to_string(e.index) + " where the next index is expected");
    }
    if (e.term < term_floor) {
      return stop(Errc::CorruptRecord, "term " + std::to_string(e.term) +
                                           " below its predecessor's " +
                                           std::to_string(term_floor));
    }
    scan.entries.push_back(e);
    scan.end = at + e.length;
    term_floor = e.term;
    ++next;
  }
  return scan;
}

}  // namespace sierra
