// DatabaseApplier: committed transactions into the node's Database (database_applier.hpp).
#include "cluster/database_applier.hpp"

#include <string>
#include <utility>

namespace sierra::cluster {

Result<std::pair<PartitionId, Transaction>> DatabaseApplier::to_transaction(
    std::span<const EventRecord> records) {
  if (records.empty())
    return make_error(Errc::EmptyTransaction, "a committed entry without events");
  std::vector<NewEvent> events;
  events.reserve(records.size());
  for (const EventRecord& r : records) {
    NewEvent e;
    e.event_id = r.event_id;
    e.partition_key = r.partition_key;
    e.stream_id = r.stream_id;
    e.expected_version = ExpectedVersion::any();  // the pinned partition sequence orders it
    e.event_name = r.event_name;
    e.timestamp_ns = r.timestamp_ns;
    e.metadata = r.metadata;
    e.payload = r.payload;
    e.fresh_id = false;  // a replay must be recognised as the same transaction
    events.push_back(std::move(e));
  }
  auto tx = Transaction::make(std::move(events));
  if (!tx) return std::unexpected(tx.error());
  tx->transaction_id(records.front().tx.transaction_id);
  const uint64_t first = records.front().partition_sequence;
  tx->expected_partition_sequence(first == 0 ? ExpectedVersion::empty()
                                             : ExpectedVersion::exact(first - 1));
  return std::pair<PartitionId, Transaction>{records.front().partition_id, std::move(*tx)};
}

void DatabaseApplier::apply(std::vector<EventRecord> records, std::function<void(Status)> done) {
  auto made = to_transaction(records);
  if (!made) {
    done(std::unexpected(made.error()));
    return;
  }
  auto [pid, tx] = std::move(*made);
  db_->append_events_async(
      pid, std::move(tx),
      [records = std::move(records), done = std::move(done)](Result<AppendResult> r) {
        if (!r) {
          done(std::unexpected(r.error()));
          return;
        }
        bool same = r->first_partition_sequence == records.front().partition_sequence &&
                    r->stream_versions.size() == records.size();
        for (size_t i = 0; same && i < records.size(); ++i) {
          same = r->stream_versions[i] == records[i].stream_version;
        }
        if (!same) {
          done(make_error(Errc::InvariantViolation,
                          "the Database put committed transaction " +
                              records.front().tx.transaction_id.to_string() +
                              " at other sequences or versions than its leader did: the node's "
                              "Database and its replicated log disagree"));
          return;
        }
        done({});
      });
}

}  // namespace sierra::cluster
