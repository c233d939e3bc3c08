// The log of one bucket as a replication layer sees it (docs/CLUSTER.md "Engine as log"): entries
// at consecutive indexes (the per-bucket log position of DECISIONS D4), each with a term and a
// type; written, made durable and applied (made visible to readers) in that order; the node's
// durable term and vote; and the leader's proposal step, which resolves a client transaction
// against the applied state plus the proposals not yet applied. The engine knows nothing of the
// protocol that decides which entries commit, nor of the network.
//
// Threading: one thread calls everything (the replica's event loop, or a simulation).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/segment/record.hpp"
#include "engine/transaction.hpp"

namespace sierra {

// Same codes as the consensus library's entry types (RAFT_SHIM_COMMAND/BARRIER/CHANGE).
enum class LogEntryType : uint8_t {
  Transaction = 1,    // payload: the transaction's encoded records (segment/format.hpp)
  Barrier = 2,        // payload: empty; commits everything before it
  Configuration = 3,  // payload: opaque bytes of the replication layer (its group membership)
};

// An entry, owned.
struct LogEntry {
  uint64_t term = 0;
  LogEntryType type = LogEntryType::Transaction;
  std::vector<uint8_t> payload;
};

// An entry, borrowed for the duration of the call it is passed to.
struct LogEntryRef {
  uint64_t term = 0;
  LogEntryType type = LogEntryType::Transaction;
  std::span<const uint8_t> payload;
};

// The durable term and vote of this node in the bucket's group.
struct VoteState {
  uint64_t term = 0;
  uint64_t voted_for = 0;  // 0: no vote in `term`
  bool operator==(const VoteState&) const = default;
};

// One event of an applied transaction entry.
struct AppliedEvent {
  Uuid event_id;
  std::string stream_id;
  uint64_t sequence = 0;  // partition sequence
  uint64_t version = 0;   // stream version
};

// A transaction entry as it became visible (apply) or as it is stored (decode_transaction_entry).
struct AppliedTransaction {
  uint64_t index = 0;
  uint64_t term = 0;
  PartitionId partition_id = 0;
  Uuid transaction_id;
  std::vector<AppliedEvent> events;
};

// Decodes and verifies (checksums, structure, one transaction) a Transaction entry's payload.
// CorruptRecord / Crc32cMismatch on bad bytes.
Result<AppliedTransaction> decode_transaction_entry(std::span<const uint8_t> payload);

// The same checks as decode_transaction_entry, returning the event records themselves (owned
// copies, in order; the commit record, if any, is checked and dropped).
Result<std::vector<EventRecord>> decode_transaction_records(std::span<const uint8_t> payload);

// What ReplicatedLog::append checks of the entry to be written at `index`: a Transaction entry's
// payload decodes (decode_transaction_entry) with log position = index and term = the entry's;
// any other type is Barrier or Configuration. CorruptRecord otherwise.
Status verify_log_entry(uint64_t index, const LogEntryRef& entry);

// Encodes one transaction as a Transaction entry's payload (segment_format::encode_transaction,
// never flagged as a batch start): what decode_transaction_entry reads back.
Result<std::vector<uint8_t>> encode_transaction_entry(const TransactionHeader& tx,
                                                      uint64_t commit_timestamp_ns,
                                                      std::span<const EventToWrite> events);

// What the proposer made of a client transaction it accepted.
struct Proposal {
  std::vector<uint8_t> payload;  // the Transaction entry to submit at the index given to propose
  // What the client will be told once the entry is applied (segment and offsets are filled in
  // then; sequences, versions, log position and timestamps are final already).
  AppendResult result;
};

class ReplicatedLog {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  using AppliedSink = std::function<void(const AppliedTransaction&)>;
  virtual ~ReplicatedLog() = default;

  // ---------------------------------------------------------------- term and vote
  virtual VoteState vote_state() const = 0;
  // Durable when it returns (two alternating files with a CRC: a torn write leaves the previous
  // state readable).
  virtual Status save_vote_state(VoteState state) = 0;

  // ---------------------------------------------------------------- the log
  // Entries exist at 1..last_index(); records are never deleted, so first_index() is 1.
  virtual uint64_t last_index() const = 0;     // last written, maybe not durable yet; 0: empty
  virtual uint64_t durable_index() const = 0;  // last one made durable by sync()
  // The term of the entry at `index` (0 for index 0). InvalidArgument past last_index().
  virtual Result<uint64_t> term_at(uint64_t index) const = 0;
  // Entries from `from` (1 <= from <= last_index()), at most `max_count`, stopping after the
  // first one that reaches `max_bytes` of payload (so at least one). Written entries are
  // returned whether durable or not, with payloads byte-identical to those given to append().
  virtual Result<std::vector<LogEntry>> read_entries(uint64_t from, size_t max_count,
                                                     size_t max_bytes) const = 0;
  // Writes entries at first_index, first_index + 1, ... (first_index <= last_index() + 1). When
  // first_index <= last_index(), the entries from first_index on are removed first; they must all
  // be unapplied (first_index > applied_index(), else InvalidArgument, nothing changed) and the
  // removal is durable before any later sync() returns. Transaction payloads are verified
  // (checksums, structure, their log position = their index and their term = the entry's term):
  // CorruptRecord, nothing written. Not durable until sync().
  virtual Status append(uint64_t first_index, std::span<const LogEntryRef> entries) = 0;
  // Makes everything written durable with one fdatasync (group commit); then durable_index() ==
  // last_index(). On failure nothing more is durable than before, and the error is returned.
  virtual Status sync() = 0;

  // ---------------------------------------------------------------- the state machine
  virtual uint64_t applied_index() const = 0;
  // Applies the entries up to `index` (<= durable_index(), else InvalidArgument): indexes
  // transaction entries, advances the per-partition visibility watermarks, completes the
  // callbacks of the proposals and deferred answers that rest on them, and reports every applied
  // transaction entry to `sink` (if set). An entry whose sequences or versions do not continue
  // the applied state gaplessly fails with InvariantViolation, and nothing from it on is applied.
  // The applied index is persisted lazily: after a restart, only entries up to the persisted one
  // are visible until apply() is called again.
  virtual Status apply(uint64_t index, const AppliedSink& sink) = 0;

  // ---------------------------------------------------------------- the leader's proposer
  // Resolves `tx` against the applied state plus every proposal not yet applied or abandoned:
  // expected versions and sequence, the event-id uniqueness/retry check, sequence and version
  // assignment; encodes it as the Transaction entry for `index` (= last proposed or written
  // index + 1) and `term`. Returns the proposal to submit, or nullopt when `tx` is answered
  // without one: `done` is then called now when the answer rests on applied state only, or once
  // the proposals it rests on are applied (CLUSTER §3.6 rule 9: a WRONGVER against a pending
  // entry, a duplicate of a pending id, a retry of a pending transaction). For an accepted
  // proposal, `done` is called when its entry is applied (with the final AppendResult).
  virtual std::optional<Proposal> propose(PartitionId pid, Transaction tx, uint64_t index,
                                          uint64_t term, AppendCallback done) = 0;
  // The proposals at or above `from_index` will not be applied by this node's leadership (it
  // was lost, or they were never submitted): their callbacks and those of the answers deferred
  // on them get `why` (OutcomeUnknown when they may still commit), and the speculative state
  // forgets them.
  virtual void abandon_proposals(uint64_t from_index, const Error& why) = 0;
};

}  // namespace sierra
