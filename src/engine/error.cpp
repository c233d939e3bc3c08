#include "engine/error.hpp"

#include <cerrno>
#include <cstring>

namespace sierra {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::InvalidLength:
      return "InvalidLength";
    case Errc::ContainsNullByte:
      return "ContainsNullByte";
    case Errc::InvalidEventId:
      return "InvalidEventId";
    case Errc::PartitionKeyMismatch:
      return "PartitionKeyMismatch";
    case Errc::EmptyTransaction:
      return "EmptyTransaction";
    case Errc::InvalidArgument:
      return "InvalidArgument";
    case Errc::InvalidSegmentKind:
      return "InvalidSegmentKind";
    case Errc::WrongExpectedVersion:
      return "WrongExpectedVersion";
    case Errc::WrongExpectedSequence:
      return "WrongExpectedSequence";
    case Errc::DuplicateEventId:
      return "DuplicateEventId";
    case Errc::EventsExceedSegmentSize:
      return "EventsExceedSegmentSize";
    case Errc::OffsetExceedsFileSize:
      return "OffsetExceedsFileSize";
    case Errc::WrongTransactionId:
      return "WrongTransactionId";
    case Errc::WrongEventId:
      return "WrongEventId";
    case Errc::BucketNotOwned:
      return "BucketNotOwned";
    case Errc::ShuttingDown:
      return "ShuttingDown";
    case Errc::BadSystemTime:
      return "BadSystemTime";
    case Errc::Crc32cMismatch:
      return "Crc32cMismatch";
    case Errc::ConfirmationCrc32cMismatch:
      return "ConfirmationCrc32cMismatch";
    case Errc::CorruptRecord:
      return "CorruptRecord";
    case Errc::CorruptHeader:
      return "CorruptHeader";
    case Errc::UnsupportedVersion:
      return "UnsupportedVersion";
    case Errc::BucketMismatch:
      return "BucketMismatch";
    case Errc::CorruptIndex:
      return "CorruptIndex";
    case Errc::SegmentNotFound:
      return "SegmentNotFound";
    case Errc::Io:
      return "Io";
    case Errc::NoSpace:
      return "NoSpace";
    case Errc::InvalidConfig:
      return "InvalidConfig";
    case Errc::DamagedLiveSegment:
      return "DamagedLiveSegment";
    case Errc::QuarantinedSegment:
      return "QuarantinedSegment";
    case Errc::ConfigMismatch:
      return "ConfigMismatch";
    case Errc::NotLeader:
      return "NotLeader";
    case Errc::OutcomeUnknown:
      return "OutcomeUnknown";
    case Errc::InvariantViolation:
      return "InvariantViolation";
    case Errc::Busy:
      return "Busy";
  }
  return "Unknown";
}

std::string Error::to_string() const {
  std::string s(errc_name(code));
  if (!message.empty()) {
    s += ": ";
    s += message;
  }
  if (offset != 0) {
    s += " at offset ";
    s += std::to_string(offset);
  }
  return s;
}

std::unexpected<Error> errno_error(int err, std::string_view what) {
  Error e{err == ENOSPC ? Errc::NoSpace : Errc::Io, std::string(what), 0, err};
  e.message += ": ";
  e.message += std::strerror(err);
  return std::unexpected(std::move(e));
}

}  // namespace sierra
