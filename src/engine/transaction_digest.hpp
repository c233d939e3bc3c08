// A 128-bit digest of what a transaction writes (per event, in order: event id, partition key,
// stream id, event name, metadata, payload; not versions, sequences or timestamps, which the
// database assigns or the client may leave to the server). Two appends with equal digests carry
// the same events: a retry is recognised by comparing the digest of the new transaction with
// that of the committed one holding its ids.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "engine/ids.hpp"
#include "engine/segment/record.hpp"
#include "engine/transaction.hpp"

namespace sierra {

struct TransactionDigest {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const TransactionDigest&) const = default;
};

TransactionDigest transaction_digest(std::span<const NewEvent> events);
TransactionDigest transaction_digest(std::span<const EventRecord> events);

}  // namespace sierra
