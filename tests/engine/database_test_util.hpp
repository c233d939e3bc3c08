// Helpers shared by the Database API tests (database, model, crash and index recovery tests).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/database.hpp"
#include "engine/ids.hpp"
#include "engine/transaction.hpp"
#include "support/temp_dir.hpp"

namespace sierra::dbtest {

inline constexpr uint16_t kPartitions = 32;

// The tests' scratch directory (tests/support/temp_dir.hpp).
using TempDir = test_support::TempDir;

inline PartitionId pid_of(const Uuid& key, uint16_t partitions = kPartitions) {
  return partition_id_for_key(key, partitions);
}

// An event of `stream` under partition key `key` (default: the stream's own key).
inline NewEvent make_event(std::string stream, ExpectedVersion expected = ExpectedVersion::any(),
                           std::optional<Uuid> key = std::nullopt,
                           std::string payload = "test payload", std::string name = "test_event") {
  NewEvent e;
  e.partition_key = key ? *key : partition_key_for_stream(stream);
  e.event_id = new_event_id(partition_hash(e.partition_key));
  e.stream_id = std::move(stream);
  e.expected_version = expected;
  e.event_name = std::move(name);
  e.timestamp_ns = 12345678;
  e.metadata = std::string("\x01\x02\x03", 3);
  e.payload = std::move(payload);
  return e;
}

inline Transaction make_tx(std::vector<NewEvent> events,
                           ExpectedVersion seq = ExpectedVersion::any()) {
  auto tx = Transaction::make(std::move(events));
  if (!tx) throw std::runtime_error("Transaction::make failed: " + tx.error().to_string());
  tx->expected_partition_sequence(seq);
  return std::move(*tx);
}

// Appends a single-event transaction; the partition id is derived from the key.
inline Result<AppendResult> append_one(Database& db, const NewEvent& e,
                                       ExpectedVersion seq = ExpectedVersion::any()) {
  return db.append_events(pid_of(e.partition_key, db.partition_count()), make_tx({e}, seq));
}

inline Result<AppendResult> append_many(Database& db, std::vector<NewEvent> events,
                                        ExpectedVersion seq = ExpectedVersion::any()) {
  const PartitionId pid = pid_of(events.front().partition_key, db.partition_count());
  return db.append_events(pid, make_tx(std::move(events), seq));
}

inline std::vector<EventRecord> collect(PartitionIterator it, bool header_only = false) {
  std::vector<EventRecord> out;
  while (true) {
    auto r = it.next(header_only);
    if (!r) {
      ADD_FAILURE() << "partition iterator error: " << r.error().to_string();
      break;
    }
    if (!*r) break;
    out.push_back(std::move(**r));
  }
  return out;
}

inline std::vector<EventRecord> collect(StreamIterator it, bool header_only = false) {
  std::vector<EventRecord> out;
  while (true) {
    auto r = it.next(header_only);
    if (!r) {
      ADD_FAILURE() << "stream iterator error: " << r.error().to_string();
      break;
    }
    if (!*r) break;
    out.push_back(std::move(**r));
  }
  return out;
}

inline std::vector<EventRecord> scan_partition(const Database& db, PartitionId pid,
                                               uint64_t from = 0, bool header_only = false) {
  auto it = db.read_partition(pid, from);
  if (!it) {
    ADD_FAILURE() << "read_partition: " << it.error().to_string();
    return {};
  }
  return collect(std::move(*it), header_only);
}

inline std::vector<EventRecord> scan_stream(const Database& db, PartitionId pid,
                                            std::string_view stream, uint64_t from = 0,
                                            bool reverse = false, bool header_only = false) {
  auto it = db.read_stream(pid, stream, from, reverse);
  if (!it) {
    ADD_FAILURE() << "read_stream: " << it.error().to_string();
    return {};
  }
  return collect(std::move(*it), header_only);
}

inline std::vector<uint64_t> sequences(const std::vector<EventRecord>& v) {
  std::vector<uint64_t> out;
  for (const auto& e : v) out.push_back(e.partition_sequence);
  return out;
}

inline std::vector<uint64_t> versions(const std::vector<EventRecord>& v) {
  std::vector<uint64_t> out;
  for (const auto& e : v) out.push_back(e.stream_version);
  return out;
}

inline std::vector<uint64_t> iota_vec(uint64_t from, uint64_t to_exclusive) {
  std::vector<uint64_t> out;
  for (uint64_t i = from; i < to_exclusive; ++i) out.push_back(i);
  return out;
}

// Stops the engine's default warnings (expected in recovery tests) from cluttering the output.
inline void quiet_log(LogLevel, std::string_view) {}

}  // namespace sierra::dbtest
