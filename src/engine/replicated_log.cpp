// Transaction entries of the replicated log: one transaction in the segment record format
// (segment/format.hpp), encoded for a proposal and decoded and verified for append and apply.
#include "engine/replicated_log.hpp"

#include <string>
#include <variant>

#include "engine/segment/format.hpp"

namespace sierra {

namespace {

std::unexpected<Error> corrupt(std::string message, uint64_t offset) {
  return make_error(Errc::CorruptRecord, "transaction entry: " + std::move(message), offset);
}

bool same_header(const TransactionHeader& a, const TransactionHeader& b) {
  return a.log_position == b.log_position && a.term == b.term &&
         a.transaction_id == b.transaction_id;
}

}  // namespace

Result<std::vector<EventRecord>> decode_transaction_records(std::span<const uint8_t> payload) {
  if (payload.empty()) return corrupt("empty payload", 0);
  std::vector<EventRecord> events;
  TransactionHeader header;
  bool complete = false;
  size_t pos = 0;
  while (pos < payload.size()) {
    if (complete) return corrupt("bytes after the transaction's last record", pos);
    auto rec = segment_format::decode_record(payload.subspan(pos), pos, false);
    if (!rec) return std::unexpected(std::move(rec.error()));
    const uint64_t length = record_end(*rec) - record_offset(*rec);
    if (length == 0) return corrupt("record of length 0", pos);  // decode_record refuses it too
    if (auto* ev = std::get_if<EventRecord>(&*rec)) {
      if (events.empty()) {
        header = ev->tx;
      } else if (!same_header(header, ev->tx)) {
        return corrupt("event records of different transactions", pos);
      } else if (ev->partition_id != events.front().partition_id) {
        return corrupt("event records of different partitions", pos);
      }
      events.push_back(std::move(*ev));
      // A single-event transaction has no commit record.
      if (transaction_id_is_single(header.transaction_id)) complete = true;
    } else {
      const auto& commit = std::get<CommitRecord>(*rec);
      if (events.size() < 2) return corrupt("commit record after fewer than 2 events", pos);
      if (!same_header(header, commit.tx)) {
        return corrupt("commit record of another transaction", pos);
      }
      if (commit.event_count != events.size()) {
        return corrupt("commit record counts " + std::to_string(commit.event_count) +
                           " events, the entry holds " + std::to_string(events.size()),
                       pos);
      }
      complete = true;
    }
    pos += length;
  }
  if (!complete) return corrupt("no commit record after its events", pos);
  return events;
}

Result<AppliedTransaction> decode_transaction_entry(std::span<const uint8_t> payload) {
  auto records = decode_transaction_records(payload);
  if (!records) return std::unexpected(std::move(records.error()));
  const EventRecord& first = records->front();
  AppliedTransaction out;
  out.index = first.tx.log_position;
  out.term = first.tx.term;
  out.partition_id = first.partition_id;
  out.transaction_id = first.tx.transaction_id;
  out.events.reserve(records->size());
  for (EventRecord& e : *records) {
    out.events.push_back(
        AppliedEvent{e.event_id, std::move(e.stream_id), e.partition_sequence, e.stream_version});
  }
  return out;
}

Result<std::vector<uint8_t>> encode_transaction_entry(const TransactionHeader& tx,
                                                      uint64_t commit_timestamp_ns,
                                                      std::span<const EventToWrite> events) {
  std::vector<uint8_t> out;
  if (auto s = segment_format::encode_transaction(out, tx, commit_timestamp_ns, events, nullptr,
                                                  /*batch_start=*/false);
      !s) {
    return std::unexpected(std::move(s.error()));
  }
  return out;
}

Status verify_log_entry(uint64_t index, const LogEntryRef& e) {
  const std::string at = "entry " + std::to_string(index);
  if (e.type == LogEntryType::Transaction) {
    auto tx = decode_transaction_entry(e.payload);
    if (!tx) {
      return make_error(Errc::CorruptRecord,
                        at + " is not a valid transaction: " + tx.error().to_string());
    }
    if (tx->index != index || tx->term != e.term) {
      return make_error(Errc::CorruptRecord, at + " (term " + std::to_string(e.term) +
                                                 ") holds a transaction of log position " +
                                                 std::to_string(tx->index) + ", term " +
                                                 std::to_string(tx->term));
    }
    return {};
  }
  if (e.type != LogEntryType::Barrier && e.type != LogEntryType::Configuration) {
    return make_error(Errc::CorruptRecord,
                      at + " has an unknown type " + std::to_string(static_cast<unsigned>(e.type)));
  }
  return {};
}

}  // namespace sierra
