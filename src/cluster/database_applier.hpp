// Feeds a replicated bucket's committed transactions into the node's Database, the store every
// read command and subscription of the server runs on (issue 16: any node serves reads). Each
// committed transaction becomes the Database transaction that reproduces it exactly: the
// leader's event ids, transaction id, timestamps, names, metadata and payloads, with the
// expected partition sequence pinned to where the leader put it, so the Database assigns the
// same sequences and versions (checked; a mismatch is InvariantViolation). Feeding an entry the
// Database already holds is a retry of it there (same ids, same content): it changes nothing, so
// a restarted node may replay its applied log from any earlier point.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/database.hpp"
#include "engine/error.hpp"
#include "engine/segment/record.hpp"
#include "engine/transaction.hpp"

namespace sierra::cluster {

class DatabaseApplier {
 public:
  explicit DatabaseApplier(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  // The Database transaction that reproduces a committed transaction's records (in order, as
  // decode_transaction_records returns them), and its partition.
  static Result<std::pair<PartitionId, Transaction>> to_transaction(
      std::span<const EventRecord> records);

  // Appends it to the Database; `done` (on the Database's writer thread) gets Ok once it is
  // durable there with the leader's sequences and versions (or was already), else the error.
  void apply(std::vector<EventRecord> records, std::function<void(Status)> done);

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace sierra::cluster
