// Errors are values: every fallible engine call returns Result<T> = std::expected<T, Error>.
// An Error is a code (what went wrong, for programs) plus context (for humans): a message and,
// for corruption, the file offset where it was found.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace sierra {

enum class Errc : uint16_t {
  // Identifier and input validation.
  InvalidLength,         // stream id not 1..=64 bytes
  ContainsNullByte,      // stream id contains NUL
  InvalidEventId,        // event id does not embed the partition hash
  PartitionKeyMismatch,  // events of one transaction / one stream with different partition keys
  EmptyTransaction,      // transaction with no events
  InvalidArgument,       // any other bad argument (name too long, timestamp >= 2^63, ...)
  InvalidSegmentKind,    // unknown segment file kind
  // Writes.
  WrongExpectedVersion,   // optimistic concurrency on a stream failed
  WrongExpectedSequence,  // optimistic concurrency on a partition failed
  DuplicateEventId,       // an event id already exists (not a retry of its transaction)
  EventsExceedSegmentSize,
  OffsetExceedsFileSize,
  WrongTransactionId,  // set_confirmations: record belongs to another transaction
  WrongEventId,
  BucketNotOwned,  // partition maps to a bucket this database does not own
  ShuttingDown,    // database is closing; request not executed
  BadSystemTime,
  // Reads and files.
  Crc32cMismatch,
  ConfirmationCrc32cMismatch,
  CorruptRecord,       // bad length, kind or field inside a record
  CorruptHeader,       // bad magic / header checksum
  UnsupportedVersion,  // file format version we do not know
  BucketMismatch,      // file belongs to another bucket/segment than its path says
  CorruptIndex,        // index file damaged (rebuilt from the segment on open)
  DamagedLiveSegment,  // acknowledged records of a live segment are damaged: open refused, file
                       // untouched (`sierradb check --repair` truncates, saving the tail)
  QuarantinedSegment,  // the answer may depend on records lost in a damaged closed segment
  SegmentNotFound,
  Io,       // system call failed; Error::sys_errno has errno
  NoSpace,  // ENOSPC
  // Configuration.
  InvalidConfig,
  ConfigMismatch,  // data dir was created with other partition/bucket/segment settings
  // Replication (src/cluster over engine/replicated_log.hpp).
  NotLeader,           // this replica does not lead the bucket: nothing was proposed
  OutcomeUnknown,      // leadership was lost with the append pending: it may or may not commit;
                       // a retry with the same event ids is safe
  InvariantViolation,  // applying an entry would break gapless sequences or versions
  Busy,                // too many appends queued; nothing was proposed
};

// Stable upper-case-free name of a code, e.g. "WrongExpectedVersion".
std::string_view errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;
  uint64_t offset = 0;  // file offset for corruption errors (0 when not applicable)
  int sys_errno = 0;    // errno for Io / NoSpace

  // "<name>: <message>" (and " at offset N" where relevant).
  std::string to_string() const;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> make_error(Errc code, std::string message, uint64_t offset = 0) {
  return std::unexpected(Error{code, std::move(message), offset, 0});
}

// Builds an Io (or NoSpace for ENOSPC) error from errno and a description of the operation.
std::unexpected<Error> errno_error(int err, std::string_view what);

}  // namespace sierra
