#include "engine/transaction.hpp"

#include <algorithm>
#include <limits>

namespace sierra {

ExpectedVersion ExpectedVersion::from_next_version(uint64_t next) {
  return next == 0 ? empty() : exact(next - 1);
}

std::optional<uint64_t> ExpectedVersion::into_next_version() const {
  switch (kind) {
    case Kind::Empty:
      return 0;
    case Kind::Exact:
      if (value == std::numeric_limits<uint64_t>::max()) return std::nullopt;
      return value + 1;
    default:
      return std::nullopt;
  }
}

std::string ExpectedVersion::to_string() const {
  switch (kind) {
    case Kind::Any:
      return "any";
    case Kind::Exists:
      return "exists";
    case Kind::Empty:
      return "empty";
    case Kind::Exact:
      return std::to_string(value);
  }
  return "?";
}

CurrentVersion& CurrentVersion::operator+=(uint64_t n) {
  if (!is_empty) {
    value += n;
  } else if (n > 0) {
    is_empty = false;
    value = n - 1;
  }
  return *this;
}

std::string CurrentVersion::to_string() const {
  return is_empty ? "empty" : std::to_string(value);
}

bool CurrentVersion::satisfies(const ExpectedVersion& e) const {
  switch (e.kind) {
    case ExpectedVersion::Kind::Any:
      return true;
    case ExpectedVersion::Kind::Exists:
      return !is_empty;
    case ExpectedVersion::Kind::Empty:
      return is_empty;
    case ExpectedVersion::Kind::Exact:
      return !is_empty && value == e.value;
  }
  return false;
}

Transaction::Transaction(std::vector<NewEvent> events) : events_(std::move(events)) {
  transaction_id_ = new_transaction_id(events_.size() == 1);
}

Transaction& Transaction::transaction_id(const Uuid& id) {
  transaction_id_ = with_single_flag(id, events_.size() == 1);
  return *this;
}

namespace {

// An event id may appear once in a transaction (ids are unique in the database).
Status check_ids_distinct(const std::vector<NewEvent>& events) {
  auto duplicate = [](const Uuid& id) {
    return make_error(Errc::DuplicateEventId,
                      "event id " + id.to_string() + " appears more than once in the transaction");
  };
  if (events.size() <= 16) {
    for (size_t i = 1; i < events.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (events[i].event_id == events[j].event_id) return duplicate(events[i].event_id);
      }
    }
    return {};
  }
  std::vector<Uuid> ids;
  ids.reserve(events.size());
  for (const NewEvent& e : events) ids.push_back(e.event_id);
  std::sort(ids.begin(), ids.end());
  auto it = std::adjacent_find(ids.begin(), ids.end());
  if (it != ids.end()) return duplicate(*it);
  return {};
}

}  // namespace

Result<Transaction> Transaction::make(std::vector<NewEvent> events) {
  if (events.empty()) return make_error(Errc::EmptyTransaction, "transaction has no events");
  const Uuid key = events.front().partition_key;
  const PartitionHash hash = sierra::partition_hash(key);
  for (const NewEvent& e : events) {
    if (e.partition_key != key) {
      return make_error(Errc::PartitionKeyMismatch,
                        "partition key must be the same for all events in a transaction: "
                        "expected " +
                            key.to_string() + ", got " + e.partition_key.to_string());
    }
    if (!validate_event_id(e.event_id, hash)) {
      return make_error(
          Errc::InvalidEventId,
          "the event id must embed the partition hash (event id " + e.event_id.to_string() + ")");
    }
    if (auto s = StreamId::make(e.stream_id); !s) return std::unexpected(s.error());
    if (e.event_name.size() > 255) {
      return make_error(Errc::InvalidArgument, "event name longer than 255 bytes");
    }
    if (e.timestamp_ns >= (uint64_t{1} << 63)) {
      return make_error(Errc::InvalidArgument, "timestamp must be less than 2^63 ns");
    }
    if (e.metadata.size() > std::numeric_limits<uint32_t>::max() ||
        e.payload.size() > std::numeric_limits<uint32_t>::max()) {
      return make_error(Errc::InvalidArgument, "metadata and payload are limited to 4 GiB");
    }
  }
  if (auto s = check_ids_distinct(events); !s) return std::unexpected(s.error());
  return Transaction(std::move(events));
}

}  // namespace sierra
