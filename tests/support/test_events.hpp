// Events and transactions for the tests of the replicated log's state machine (engine and
// cluster tests): one partition key, ids fresh unless given.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/ids.hpp"
#include "engine/transaction.hpp"

namespace sierra::test {

// An event of `stream` under `key`: a generated (fresh) id unless `id` is given (then the id is
// the client's and takes part in the retry/uniqueness check).
inline NewEvent make_event(const Uuid& key, const std::string& stream, ExpectedVersion expected,
                           std::optional<Uuid> id, std::string payload = "data") {
  NewEvent e;
  e.event_id = id ? *id : new_event_id(partition_hash(key));
  e.partition_key = key;
  e.stream_id = stream;
  e.expected_version = expected;
  e.event_name = "Happened";
  e.payload = std::move(payload);
  e.fresh_id = !id.has_value();
  return e;
}

// Transaction::make, failing the test on an error.
inline Transaction tx_of(std::vector<NewEvent> events) {
  auto tx = Transaction::make(std::move(events));
  EXPECT_TRUE(tx) << tx.error().to_string();
  return std::move(*tx);
}

}  // namespace sierra::test
