// Splits the bytes of one of a replicated bucket's segment files into log entries (BucketLog's
// recovery): transaction entries (a transaction's event records and commit record) and control
// entries (one kind-3 record), each verified, at consecutive indexes with non-decreasing terms.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/error.hpp"
#include "engine/replicated_log.hpp"

namespace sierra {

// Where an entry lies in its segment file.
struct ScannedEntry {
  uint64_t index = 0;
  uint64_t term = 0;
  LogEntryType type = LogEntryType::Transaction;
  uint64_t offset = 0;  // of its first record
  uint32_t length = 0;  // of all its records
};

struct EntryScan {
  std::vector<ScannedEntry> entries;
  uint64_t end = 0;           // file offset just past the last good entry
  uint64_t zero_tail = 0;     // bytes after `end`, all zero (preallocated space): a clean end
  std::optional<Error> stop;  // why the scan stopped before the end of `file` (nullopt: it did not,
                              // or only zeros follow)
};

// Scans `file` (a whole segment file) from `start` (just past its header). The first entry must
// be at `first_index` and have a term >= `min_term`; each next one at the next index, with a term
// >= its predecessor's. The scan stops at the first entry that is torn, damaged, or breaks those
// rules, and says why; when every byte from there on is zero (space the writer preallocated, or
// pages a power loss left unwritten), it is a clean end instead.
EntryScan scan_entries(std::span<const uint8_t> file, uint64_t start, uint64_t first_index,
                       uint64_t min_term);

}  // namespace sierra
