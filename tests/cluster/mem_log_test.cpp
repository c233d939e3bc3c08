#include "cluster/mem_log.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/segment/format.hpp"
#include "support/test_events.hpp"

namespace sierra::test {
namespace {

constexpr uint16_t kPartitions = 4;

// Every event of these tests lives in one partition, under one key.
const Uuid kKey = partition_key_for_stream("memlog-key");
const PartitionId kPid = partition_id_for_key(kKey, kPartitions);

NewEvent event(const std::string& stream, ExpectedVersion expected = ExpectedVersion::any(),
               std::optional<Uuid> id = std::nullopt, std::string payload = "data") {
  return sierra::test::make_event(kKey, stream, expected, id, std::move(payload));
}

std::vector<uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

// A callback that records what it was given.
struct Answer {
  std::optional<Result<AppendResult>> got;
  ReplicatedLog::AppendCallback cb() {
    return [this](Result<AppendResult> r) { got = std::move(r); };
  }
};

// Appends, syncs and applies one proposal's entry at its index.
void commit(MemLog& log, const Proposal& p, uint64_t term = 1,
            const ReplicatedLog::AppliedSink& sink = {}) {
  const LogEntryRef ref{term, LogEntryType::Transaction, p.payload};
  ASSERT_TRUE(log.append(p.result.log_position, std::span(&ref, 1)));
  ASSERT_TRUE(log.sync());
  auto s = log.apply(p.result.log_position, sink);
  ASSERT_TRUE(s) << s.error().to_string();
}

Status append_one(MemLog& log, uint64_t index, uint64_t term, LogEntryType type,
                  std::span<const uint8_t> payload) {
  const LogEntryRef ref{term, type, payload};
  return log.append(index, std::span(&ref, 1));
}

// A transaction entry built by hand (sequences and versions as given).
std::vector<uint8_t> crafted_entry(uint64_t index, uint64_t term, uint64_t sequence,
                                   uint64_t version, const std::string& stream = "s") {
  const Uuid id = new_event_id(partition_hash(kKey));
  const EventToWrite e{id, kKey, kPid, sequence, version, 1000, stream, "E", "", "x"};
  auto payload = encode_transaction_entry(TransactionHeader{index, term, new_transaction_id(true)},
                                          0, std::span(&e, 1));
  EXPECT_TRUE(payload) << payload.error().to_string();
  return *payload;
}

TEST(MemLog, AppendReadAndTermAt) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  EXPECT_EQ(log->last_index(), 0u);
  const auto cfg = bytes("config-bytes");
  const auto tx = crafted_entry(3, 2, 0, 0);
  const std::vector<LogEntryRef> refs{{1, LogEntryType::Configuration, cfg},
                                      {2, LogEntryType::Barrier, {}},
                                      {2, LogEntryType::Transaction, tx}};
  ASSERT_TRUE(log->append(1, refs));
  EXPECT_EQ(log->last_index(), 3u);
  EXPECT_EQ(log->durable_index(), 0u);
  EXPECT_EQ(*log->term_at(0), 0u);
  EXPECT_EQ(*log->term_at(1), 1u);
  EXPECT_EQ(*log->term_at(3), 2u);
  EXPECT_EQ(log->term_at(4).error().code, Errc::InvalidArgument);

  auto all = log->read_entries(1, 10, 1 << 20);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].type, LogEntryType::Configuration);
  EXPECT_EQ((*all)[0].payload, cfg);
  EXPECT_EQ((*all)[1].type, LogEntryType::Barrier);
  EXPECT_TRUE((*all)[1].payload.empty());
  EXPECT_EQ((*all)[2].payload, tx);
  EXPECT_EQ((*all)[2].term, 2u);
  // max_count, and max_bytes (stop after the entry that reaches it: at least one).
  EXPECT_EQ(log->read_entries(2, 1, 1 << 20)->size(), 1u);
  EXPECT_EQ(log->read_entries(1, 10, 1)->size(), 1u);
  EXPECT_EQ(log->read_entries(2, 10, 1)->size(), 2u);  // the barrier has 0 bytes
  EXPECT_EQ(log->read_entries(0, 10, 10).error().code, Errc::InvalidArgument);
  EXPECT_EQ(log->read_entries(4, 10, 10).error().code, Errc::InvalidArgument);
  // A gap is refused.
  EXPECT_EQ(append_one(*log, 5, 2, LogEntryType::Barrier, {}).error().code, Errc::InvalidArgument);
}

TEST(MemLog, AppendVerifiesTransactionPayloads) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  auto good = crafted_entry(1, 3, 0, 0);
  // Wrong log position, wrong term, damaged bytes, junk: CorruptRecord, nothing written.
  EXPECT_EQ(
      append_one(*log, 1, 3, LogEntryType::Transaction, crafted_entry(2, 3, 0, 0)).error().code,
      Errc::CorruptRecord);
  EXPECT_EQ(append_one(*log, 1, 4, LogEntryType::Transaction, good).error().code,
            Errc::CorruptRecord);
  auto flipped = good;
  flipped[flipped.size() - 1] ^= 0x01;
  EXPECT_EQ(append_one(*log, 1, 3, LogEntryType::Transaction, flipped).error().code,
            Errc::CorruptRecord);
  EXPECT_EQ(append_one(*log, 1, 3, LogEntryType::Transaction, bytes("junk")).error().code,
            Errc::CorruptRecord);
  EXPECT_EQ(log->last_index(), 0u);
  ASSERT_TRUE(append_one(*log, 1, 3, LogEntryType::Transaction, good));
  EXPECT_EQ(log->last_index(), 1u);
}

TEST(MemLog, TruncatesTheSuffixButNeverAppliedEntries) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  const std::vector<LogEntryRef> three{{1, LogEntryType::Barrier, {}},
                                       {1, LogEntryType::Barrier, {}},
                                       {1, LogEntryType::Barrier, {}}};
  ASSERT_TRUE(log->append(1, three));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(1, {}));
  // Replace 2..3 by one entry of term 2.
  ASSERT_TRUE(append_one(*log, 2, 2, LogEntryType::Barrier, {}));
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(*log->term_at(2), 2u);
  EXPECT_EQ(log->durable_index(), 1u);  // the replacement is not durable yet
  // Removing the applied entry is refused and changes nothing.
  EXPECT_EQ(append_one(*log, 1, 3, LogEntryType::Barrier, {}).error().code, Errc::InvalidArgument);
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(*log->term_at(1), 1u);
}

TEST(MemLog, PowerLossDropsWhatWasNotSynced) {
  MemDisk disk;
  {
    auto log = MemLog::open(disk, kPartitions);
    const std::vector<LogEntryRef> two{{1, LogEntryType::Barrier, {}},
                                       {1, LogEntryType::Barrier, {}}};
    ASSERT_TRUE(log->append(1, two));
    ASSERT_TRUE(log->sync());
    ASSERT_TRUE(log->apply(1, {}));
    ASSERT_TRUE(log->sync());  // persists applied index 1
    // Unsynced: a truncation of entry 2 and two new entries.
    const std::vector<LogEntryRef> more{{2, LogEntryType::Barrier, {}},
                                        {2, LogEntryType::Barrier, {}}};
    ASSERT_TRUE(log->append(2, more));
    EXPECT_FALSE(log->apply(2, {}));  // 2 is not durable
    EXPECT_EQ(log->last_index(), 3u);
  }
  disk.power_loss();
  auto log = MemLog::open(disk, kPartitions);
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(log->durable_index(), 2u);
  EXPECT_EQ(*log->term_at(2), 1u);  // the truncated entry is back
  EXPECT_EQ(log->applied_index(), 1u);
}

TEST(MemLog, CrashKeepsWrittenEntriesNotDurable) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Barrier, {}));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(append_one(*log, 2, 1, LogEntryType::Barrier, {}));
  disk.crash();
  // The dead process's log refuses to touch the disk.
  EXPECT_EQ(log->sync().error().code, Errc::Io);
  EXPECT_EQ(append_one(*log, 3, 1, LogEntryType::Barrier, {}).error().code, Errc::Io);
  log = MemLog::open(disk, kPartitions);
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(log->durable_index(), 1u);
  // A power loss after the crash still loses the unsynced entry.
  disk.power_loss();
  log = MemLog::open(disk, kPartitions);
  EXPECT_EQ(log->last_index(), 1u);
}

TEST(MemLog, VoteStateIsDurableAndFailedSavesChangeNothing) {
  MemDisk disk;
  {
    auto log = MemLog::open(disk, kPartitions);
    EXPECT_EQ(log->vote_state(), VoteState{});
    ASSERT_TRUE(log->save_vote_state(VoteState{3, 2}));
    disk.fail_vote_saves = 1;
    auto s = log->save_vote_state(VoteState{4, 1});
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::Io);
    EXPECT_EQ(log->vote_state(), (VoteState{3, 2}));
    ASSERT_TRUE(log->save_vote_state(VoteState{4, 0}));  // the knob is spent
  }
  disk.power_loss();
  auto log = MemLog::open(disk, kPartitions);
  EXPECT_EQ(log->vote_state(), (VoteState{4, 0}));
  EXPECT_EQ(disk.vote_saves, 2u);
}

TEST(MemLog, FailedSyncsMakeNothingDurable) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Barrier, {}));
  disk.fail_syncs = 2;
  disk.sync_error = Errc::NoSpace;
  for (int i = 0; i < 2; ++i) {
    auto s = log->sync();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::NoSpace);
    EXPECT_EQ(log->durable_index(), 0u);
  }
  EXPECT_TRUE(disk.durable.empty());
  ASSERT_TRUE(log->sync());
  EXPECT_EQ(log->durable_index(), 1u);
  EXPECT_EQ(disk.durable.size(), 1u);
}

TEST(MemLog, ApplyStopsAtTheDurableIndex) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Barrier, {}));
  EXPECT_EQ(log->apply(1, {}).error().code, Errc::InvalidArgument);
  EXPECT_EQ(log->applied_index(), 0u);
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(1, {}));
  EXPECT_EQ(log->applied_index(), 1u);
  ASSERT_TRUE(log->apply(1, {}));  // already applied: nothing to do
}

TEST(MemLog, ProposeThenApplyAnswersWithSequencesAndVersions) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Barrier, {}));
  Answer a;
  auto p = log->propose(kPid,
                        tx_of({event("a", ExpectedVersion::empty()), event("b"),
                               event("a", ExpectedVersion::exact(0))}),
                        2, 1, a.cb());
  ASSERT_TRUE(p);
  EXPECT_FALSE(a.got);
  EXPECT_EQ(p->result.first_partition_sequence, 0u);
  EXPECT_EQ(p->result.last_partition_sequence, 2u);
  EXPECT_EQ(p->result.stream_versions, (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_EQ(p->result.log_position, 2u);
  ASSERT_EQ(p->result.timestamps_ns.size(), 3u);
  EXPECT_LT(p->result.timestamps_ns[0], p->result.timestamps_ns[1]);  // the counter
  // The payload is the entry the log accepts and decodes back.
  auto decoded = decode_transaction_entry(p->payload);
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_EQ(decoded->index, 2u);
  EXPECT_EQ(decoded->events.size(), 3u);
  EXPECT_EQ(decoded->events[2].stream_id, "a");
  EXPECT_EQ(decoded->events[2].version, 1u);

  std::vector<AppliedTransaction> sunk;
  ASSERT_TRUE(append_one(*log, 2, 1, LogEntryType::Transaction, p->payload));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(1, {}));
  EXPECT_FALSE(a.got);
  ASSERT_TRUE(log->apply(2, [&](const AppliedTransaction& t) { sunk.push_back(t); }));
  ASSERT_TRUE(a.got);
  ASSERT_TRUE(*a.got) << a.got->error().to_string();
  EXPECT_EQ((*a.got)->stream_versions, (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_EQ((*a.got)->last_partition_sequence, 2u);
  EXPECT_FALSE((*a.got)->retry);
  ASSERT_EQ(sunk.size(), 1u);
  EXPECT_EQ(sunk[0].partition_id, kPid);
  EXPECT_EQ(sunk[0].events[1].sequence, 1u);
  EXPECT_EQ(log->next_sequence(kPid), 3u);
  EXPECT_EQ(log->stream_version(kPid, "a"), CurrentVersion::current(1));
  EXPECT_EQ(log->stream_version(kPid, "b"), CurrentVersion::current(0));
  EXPECT_EQ(log->stream_version(kPid, "c"), CurrentVersion::empty());
  EXPECT_EQ(log->applied_transactions(), 1u);
  EXPECT_EQ(log->pending_proposals(), 0u);

  // A second proposal continues from the applied state (and from the first while pending).
  auto p2 = log->propose(kPid, tx_of({event("a", ExpectedVersion::exact(1))}), 3, 1, {});
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->result.first_partition_sequence, 3u);
  auto p3 = log->propose(kPid, tx_of({event("a", ExpectedVersion::exact(2))}), 4, 1, {});
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->result.stream_versions, (std::vector<uint64_t>{3}));
  EXPECT_EQ(p3->result.first_partition_sequence, 4u);
}

TEST(MemLog, ReopenReplaysUpToThePersistedAppliedIndex) {
  MemDisk disk;
  {
    auto log = MemLog::open(disk, kPartitions);
    for (uint64_t i = 1; i <= 3; ++i) {
      auto p = log->propose(kPid, tx_of({event("s")}), i, 1, {});
      ASSERT_TRUE(p);
      commit(*log, *p);
    }
    // Applied 3, persisted 2 (the sync of entry 3 ran before its apply).
    EXPECT_EQ(disk.applied_index, 2u);
  }
  disk.crash();
  auto log = MemLog::open(disk, kPartitions);
  EXPECT_FALSE(log->open_error());
  EXPECT_EQ(log->applied_index(), 2u);
  EXPECT_EQ(log->next_sequence(kPid), 2u);
  ASSERT_TRUE(log->apply(3, {}));
  EXPECT_EQ(log->stream_version(kPid, "s"), CurrentVersion::current(2));
}

TEST(MemLog, WrongVersionAgainstAppliedStateIsAnsweredAtOnce) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  auto p = log->propose(kPid, tx_of({event("s")}), 1, 1, {});
  ASSERT_TRUE(p);
  commit(*log, *p);
  Answer a;
  EXPECT_FALSE(log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 1, a.cb()));
  ASSERT_TRUE(a.got);
  ASSERT_FALSE(*a.got);
  EXPECT_EQ(a.got->error().code, Errc::WrongExpectedVersion);
  EXPECT_NE(a.got->error().message.find("current stream version is 0 but expected empty"),
            std::string::npos)
      << a.got->error().message;
  // The partition sequence too.
  Answer b;
  auto t = tx_of({event("other")});
  t.expected_partition_sequence(ExpectedVersion::exact(5));
  EXPECT_FALSE(log->propose(kPid, std::move(t), 2, 1, b.cb()));
  ASSERT_TRUE(b.got);
  EXPECT_EQ(b.got->error().code, Errc::WrongExpectedSequence);
  // A partition id that does not match the key.
  Answer c;
  EXPECT_FALSE(log->propose(static_cast<PartitionId>((kPid + 1) % kPartitions), tx_of({event("s")}),
                            2, 1, c.cb()));
  ASSERT_TRUE(c.got);
  EXPECT_EQ(c.got->error().code, Errc::InvalidArgument);
}

TEST(MemLog, WrongVersionAgainstAPendingProposalWaitsForItsApply) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  Answer first, second;
  auto p = log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 1, first.cb());
  ASSERT_TRUE(p);
  EXPECT_FALSE(
      log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 1, second.cb()));
  EXPECT_FALSE(second.got);  // rests on the pending entry 1
  EXPECT_EQ(log->deferred_answers(), 1u);
  commit(*log, *p);
  ASSERT_TRUE(first.got);
  EXPECT_TRUE(*first.got);
  ASSERT_TRUE(second.got);
  ASSERT_FALSE(*second.got);
  EXPECT_EQ(second.got->error().code, Errc::WrongExpectedVersion);
  EXPECT_EQ(log->deferred_answers(), 0u);
}

TEST(MemLog, AbandonTurnsDeferredRejectionsIntoOutcomeUnknown) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  Answer first, second;
  auto p = log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 1, first.cb());
  ASSERT_TRUE(p);
  EXPECT_FALSE(
      log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 1, second.cb()));
  EXPECT_FALSE(second.got);
  log->abandon_proposals(1, Error{Errc::OutcomeUnknown, "leadership lost", 0, 0});
  ASSERT_TRUE(first.got);
  EXPECT_EQ(first.got->error().code, Errc::OutcomeUnknown);
  ASSERT_TRUE(second.got);
  EXPECT_EQ(second.got->error().code, Errc::OutcomeUnknown);  // never the definite WRONGVER
  EXPECT_EQ(log->pending_proposals(), 0u);
  // The speculative state forgot the proposal: the stream is empty again.
  auto again = log->propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 2, {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result.first_partition_sequence, 0u);
}

TEST(MemLog, AbandonKeepsProposalsBelowTheIndex) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  Answer a, b;
  auto p1 = log->propose(kPid, tx_of({event("s")}), 1, 1, a.cb());
  auto p2 = log->propose(kPid, tx_of({event("s")}), 2, 1, b.cb());
  ASSERT_TRUE(p1 && p2);
  log->abandon_proposals(2, Error{Errc::NotLeader, "never submitted", 0, 0});
  EXPECT_FALSE(a.got);
  ASSERT_TRUE(b.got);
  EXPECT_EQ(b.got->error().code, Errc::NotLeader);
  auto p3 = log->propose(kPid, tx_of({event("s")}), 2, 1, {});
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->result.first_partition_sequence, 1u);  // after p1 only
  commit(*log, *p1);
  ASSERT_TRUE(a.got && *a.got);
}

TEST(MemLog, AnotherTransactionAtAProposedIndexMakesItsOutcomeUnknown) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  Answer a;
  auto p = log->propose(kPid, tx_of({event("s")}), 1, 1, a.cb());
  ASSERT_TRUE(p);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Barrier, {}));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(1, {}));
  ASSERT_TRUE(a.got);
  EXPECT_EQ(a.got->error().code, Errc::OutcomeUnknown);
  EXPECT_EQ(log->pending_proposals(), 0u);
}

TEST(MemLog, RetryOfACommittedTransactionReturnsItsOriginalResult) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  const Uuid id1 = new_event_id(partition_hash(kKey));
  const Uuid id2 = new_event_id(partition_hash(kKey));
  auto make = [&] {
    return tx_of({event("s", ExpectedVersion::empty(), id1), event("t", {}, id2)});
  };
  Answer orig;
  auto p = log->propose(kPid, make(), 1, 1, orig.cb());
  ASSERT_TRUE(p);
  // A retry while the original is pending: deferred, then the original result.
  Answer early;
  EXPECT_FALSE(log->propose(kPid, make(), 2, 1, early.cb()));
  EXPECT_FALSE(early.got);
  commit(*log, *p);
  ASSERT_TRUE(orig.got && *orig.got);
  ASSERT_TRUE(early.got);
  ASSERT_TRUE(*early.got) << early.got->error().to_string();
  EXPECT_TRUE((*early.got)->retry);
  EXPECT_EQ((*early.got)->transaction_id, (*orig.got)->transaction_id);
  // A retry after commit: answered at once, same sequences, versions, position, timestamps.
  Answer late;
  EXPECT_FALSE(log->propose(kPid, make(), 2, 1, late.cb()));
  ASSERT_TRUE(late.got);
  ASSERT_TRUE(*late.got) << late.got->error().to_string();
  const AppendResult& r = **late.got;
  EXPECT_TRUE(r.retry);
  EXPECT_EQ(r.transaction_id, (*orig.got)->transaction_id);
  EXPECT_EQ(r.first_partition_sequence, 0u);
  EXPECT_EQ(r.last_partition_sequence, 1u);
  EXPECT_EQ(r.stream_versions, (*orig.got)->stream_versions);
  EXPECT_EQ(r.log_position, 1u);
  EXPECT_EQ(r.timestamps_ns, (*orig.got)->timestamps_ns);
  EXPECT_EQ(log->next_sequence(kPid), 2u);  // nothing appended twice
}

TEST(MemLog, ReusedEventIdIsADuplicate) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  const Uuid id = new_event_id(partition_hash(kKey));
  auto p = log->propose(kPid, tx_of({event("s", {}, id, "one")}), 1, 1, {});
  ASSERT_TRUE(p);
  commit(*log, *p);
  // Same id, other content.
  Answer a;
  EXPECT_FALSE(log->propose(kPid, tx_of({event("s", {}, id, "two")}), 2, 1, a.cb()));
  ASSERT_TRUE(a.got);
  ASSERT_FALSE(*a.got);
  EXPECT_EQ(a.got->error().code, Errc::DuplicateEventId);
  EXPECT_EQ(a.got->error().message, "event id " + id.to_string() + " already exists");
  // Same id, in second place of another transaction.
  Answer b;
  EXPECT_FALSE(log->propose(kPid, tx_of({event("s"), event("s", {}, id, "one")}), 2, 1, b.cb()));
  ASSERT_TRUE(b.got);
  EXPECT_EQ(b.got->error().code, Errc::DuplicateEventId);
  // A duplicate of a pending id waits for the pending entry.
  const Uuid pid2 = new_event_id(partition_hash(kKey));
  auto q = log->propose(kPid, tx_of({event("s", {}, pid2, "x")}), 2, 1, {});
  ASSERT_TRUE(q);
  Answer c;
  EXPECT_FALSE(log->propose(kPid, tx_of({event("s", {}, pid2, "y")}), 3, 1, c.cb()));
  EXPECT_FALSE(c.got);
  commit(*log, *q);
  ASSERT_TRUE(c.got);
  EXPECT_EQ(c.got->error().code, Errc::DuplicateEventId);
}

TEST(MemLog, NonGaplessEntryIsAnInvariantViolation) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  ASSERT_TRUE(append_one(*log, 1, 1, LogEntryType::Transaction, crafted_entry(1, 1, 0, 0)));
  // Sequence 5 where the partition continues at 1.
  ASSERT_TRUE(append_one(*log, 2, 1, LogEntryType::Transaction, crafted_entry(2, 1, 5, 1)));
  ASSERT_TRUE(log->sync());
  std::vector<uint64_t> sunk;
  auto s = log->apply(2, [&](const AppliedTransaction& t) { sunk.push_back(t.index); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::InvariantViolation);
  EXPECT_EQ(log->applied_index(), 1u);
  EXPECT_EQ(sunk, (std::vector<uint64_t>{1}));
  // A version that skips one.
  ASSERT_TRUE(append_one(*log, 2, 1, LogEntryType::Transaction, crafted_entry(2, 1, 1, 2)));
  ASSERT_TRUE(log->sync());
  EXPECT_EQ(log->apply(2, {}).error().code, Errc::InvariantViolation);
  ASSERT_TRUE(append_one(*log, 2, 1, LogEntryType::Transaction, crafted_entry(2, 1, 1, 1)));
  ASSERT_TRUE(log->sync());
  ASSERT_TRUE(log->apply(2, {}));
  EXPECT_EQ(log->next_sequence(kPid), 2u);
}

TEST(MemLog, DecodeRejectsAnyFlippedByte) {
  const Uuid k = kKey;
  const EventToWrite evs[2] = {
      {new_event_id(partition_hash(k)), k, kPid, 0, 0, 10, "s", "E", "m", "p"},
      {new_event_id(partition_hash(k)), k, kPid, 1, 0, 11, "t", "E", "", "q"}};
  auto payload =
      encode_transaction_entry(TransactionHeader{7, 2, new_transaction_id(false)}, 12, evs);
  ASSERT_TRUE(payload);
  auto ok = decode_transaction_entry(*payload);
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->index, 7u);
  EXPECT_EQ(ok->term, 2u);
  EXPECT_EQ(ok->events.size(), 2u);
  EXPECT_EQ(ok->events[1].stream_id, "t");
  for (size_t i = 0; i < payload->size(); ++i) {
    auto bad = *payload;
    bad[i] ^= 0x10;
    EXPECT_FALSE(decode_transaction_entry(bad)) << "byte " << i;
  }
  // Truncated (no commit record), trailing bytes, empty.
  auto cut = *payload;
  cut.resize(cut.size() - segment_format::kCommitSize);
  EXPECT_EQ(decode_transaction_entry(cut).error().code, Errc::CorruptRecord);
  auto longer = *payload;
  longer.insert(longer.end(), payload->begin(), payload->end());
  EXPECT_EQ(decode_transaction_entry(longer).error().code, Errc::CorruptRecord);
  EXPECT_EQ(decode_transaction_entry({}).error().code, Errc::CorruptRecord);
}

TEST(MemLog, CallbacksMayProposeAgain) {
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  std::optional<Proposal> chained;
  auto p = log->propose(kPid, tx_of({event("s")}), 1, 1, [&](Result<AppendResult> r) {
    ASSERT_TRUE(r);
    chained = log->propose(kPid, tx_of({event("s", ExpectedVersion::exact(0))}), 2, 1, {});
  });
  ASSERT_TRUE(p);
  commit(*log, *p);
  ASSERT_TRUE(chained);
  EXPECT_EQ(chained->result.first_partition_sequence, 1u);
  EXPECT_EQ(chained->result.stream_versions, (std::vector<uint64_t>{1}));
}

TEST(MemLog, PendingProposalsOfAnotherPartitionDoNotDeferAnAnswer) {
  // A key of another partition (bounded search).
  std::optional<Uuid> other;
  for (int i = 0; i < 100 && !other; ++i) {
    const Uuid k = partition_key_for_stream("other-" + std::to_string(i));
    if (partition_id_for_key(k, kPartitions) != kPid) other = k;
  }
  ASSERT_TRUE(other);
  const PartitionId other_pid = partition_id_for_key(*other, kPartitions);
  MemDisk disk;
  auto log = MemLog::open(disk, kPartitions);
  auto p = log->propose(kPid, tx_of({event("s")}), 1, 1, {});
  ASSERT_TRUE(p);
  NewEvent e = event("s", ExpectedVersion::exists());
  e.partition_key = *other;
  e.event_id = new_event_id(partition_hash(*other));
  Answer a;
  EXPECT_FALSE(log->propose(other_pid, tx_of({e}), 2, 1, a.cb()));
  ASSERT_TRUE(a.got);  // rests on applied state only
  EXPECT_EQ(a.got->error().code, Errc::WrongExpectedVersion);
  // A retry of a pending transaction whose entry is abandoned: outcome unknown.
  const Uuid id = new_event_id(partition_hash(kKey));
  auto q = log->propose(kPid, tx_of({event("r", {}, id)}), 2, 1, {});
  ASSERT_TRUE(q);
  Answer retry;
  EXPECT_FALSE(log->propose(kPid, tx_of({event("r", {}, id)}), 3, 1, retry.cb()));
  EXPECT_FALSE(retry.got);
  commit(*log, *p);
  EXPECT_FALSE(retry.got);  // rests on entry 2
  log->abandon_proposals(2, Error{Errc::OutcomeUnknown, "leadership lost", 0, 0});
  ASSERT_TRUE(retry.got);
  EXPECT_EQ(retry.got->error().code, Errc::OutcomeUnknown);
}

}  // namespace
}  // namespace sierra::test
