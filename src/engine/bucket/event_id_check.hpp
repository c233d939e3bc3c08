// The uniqueness check of client-supplied event ids (issue 14): a transaction whose ids all
// belong to one committed transaction with the same content is a retry and gets that
// transaction's original result; any other reuse of an existing id is a DuplicateEventId
// error. The Bucket runs the check on its writer thread against the staged (tentative) batch,
// the live segment's event index and every closed segment's event index (Bloom filter first).
// This header holds the verdict type and the pure helpers; the Bucket members that run the check
// are defined in event_id_check.cpp.
#pragma once

#include <cstdint>
#include <span>

#include "engine/error.hpp"
#include "engine/segment/record.hpp"
#include "engine/transaction.hpp"

namespace sierra {

struct EventIdVerdict {
  enum class Kind : uint8_t { Fresh, Retry, Conflict };
  Kind kind = Kind::Fresh;
  // The verdict rests on the staged batch: it may be answered only once the batch is durable.
  bool tentative = false;
  // Retry: the original result; Conflict: the DuplicateEventId error; Fresh: unused.
  Result<AppendResult> outcome = AppendResult{};
};

// "event id <uuid> already exists".
std::unexpected<Error> duplicate_event_id(const Uuid& id);

// Whether `found`, read from the event of `events.front().event_id`, is a whole committed
// transaction holding exactly `events` (same ids in the same order, same content).
bool is_same_transaction(std::span<const NewEvent> events, const CommittedTransaction& found);

// The result the original append of `tx` (stored in `segment`) reported, marked as a retry.
AppendResult original_result(const CommittedTransaction& tx, SegmentId segment);

}  // namespace sierra
