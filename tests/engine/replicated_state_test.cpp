// ReplicatedState driven directly (no log around it): proposals answered through Answers once
// their entries are applied, rule-9 deferral and abandon, gapless checks, retries.
#include "engine/replicated_state.hpp"
#include "support/test_events.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/segment/format.hpp"

namespace sierra {
namespace {
using test::tx_of;

constexpr uint16_t kPartitions = 4;

const Uuid kKey = partition_key_for_stream("replicated-state-key");
const PartitionId kPid = partition_id_for_key(kKey, kPartitions);

NewEvent event(const std::string& stream, ExpectedVersion expected = ExpectedVersion::any(),
               std::optional<Uuid> id = std::nullopt) {
  return sierra::test::make_event(kKey, stream, expected, id);
}

// A callback that records what it was given, and when (into a shared trace).
struct Answer {
  std::optional<Result<AppendResult>> got;
  std::vector<std::string>* trace = nullptr;
  std::string name;
  ReplicatedState::AppendCallback cb() {
    return [this](Result<AppendResult> r) {
      got = std::move(r);
      if (trace) trace->push_back(name);
    };
  }
};

LogEntry entry_of(const Proposal& p, uint64_t term = 1) {
  return LogEntry{term, LogEntryType::Transaction, p.payload};
}

// A transaction entry built by hand (sequence and version as given).
LogEntry crafted(uint64_t index, uint64_t sequence, uint64_t version) {
  const Uuid id = new_event_id(partition_hash(kKey));
  const EventToWrite e{id, kKey, kPid, sequence, version, 1000, "s", "E", "", "x"};
  auto payload = encode_transaction_entry(TransactionHeader{index, 1, new_transaction_id(true)}, 0,
                                          std::span(&e, 1));
  EXPECT_TRUE(payload) << payload.error().to_string();
  return LogEntry{1, LogEntryType::Transaction, *payload};
}

TEST(ReplicatedState, ProposeThenApplyAnswersAfterTheSink) {
  ReplicatedState state(kPartitions);
  std::vector<std::string> trace;
  Answer a{std::nullopt, &trace, "a"}, b{std::nullopt, &trace, "b"};
  auto pa = state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 1, a.cb());
  auto pb =
      state.propose(kPid, tx_of({event("s", ExpectedVersion::exact(0)), event("t")}), 2, 1, b.cb());
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(pb->result.first_partition_sequence, 1u);
  EXPECT_EQ(pb->result.stream_versions, (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(state.pending_proposals(), 2u);

  ReplicatedState::Answers answers;
  ASSERT_TRUE(state.apply(1, entry_of(*pa), answers));
  ASSERT_TRUE(state.apply(2, entry_of(*pb), answers));
  // Nothing is delivered until run().
  EXPECT_FALSE(a.got || b.got);
  EXPECT_EQ(answers.transactions().size(), 2u);
  EXPECT_EQ(answers.callbacks_due(), 2u);
  EXPECT_EQ(state.applied_index(), 2u);
  EXPECT_EQ(state.applied_transactions(), 2u);
  EXPECT_EQ(state.pending_proposals(), 0u);

  answers.run([&](const AppliedTransaction& t) {
    // The state is final when the sink sees it.
    EXPECT_EQ(state.applied_index(), 2u);
    trace.push_back("sink" + std::to_string(t.index));
  });
  EXPECT_EQ(trace, (std::vector<std::string>{"sink1", "sink2", "a", "b"}));
  ASSERT_TRUE(a.got && *a.got);
  ASSERT_TRUE(b.got && *b.got);
  EXPECT_EQ((*b.got)->log_position, 2u);
  EXPECT_EQ((*b.got)->last_partition_sequence, 2u);
  EXPECT_EQ(answers.transactions().size(), 0u);  // run() empties it
  EXPECT_EQ(state.next_sequence(kPid), 3u);
  EXPECT_EQ(state.stream_version(kPid, "s"), CurrentVersion::current(1));
  EXPECT_EQ(state.stream_version(kPid, "t"), CurrentVersion::current(0));
  EXPECT_EQ(state.stream_version(kPid, "u"), CurrentVersion::empty());
}

TEST(ReplicatedState, ApplyTakesOnlyTheNextIndex) {
  ReplicatedState state(kPartitions);
  ReplicatedState::Answers answers;
  const LogEntry barrier{1, LogEntryType::Barrier, {}};
  EXPECT_EQ(state.apply(2, barrier, answers).error().code, Errc::InvalidArgument);
  ASSERT_TRUE(state.apply(1, barrier, answers));
  EXPECT_EQ(state.apply(1, barrier, answers).error().code, Errc::InvalidArgument);
  EXPECT_EQ(state.applied_index(), 1u);
  EXPECT_EQ(state.applied_transactions(), 0u);
  // A proposal must come after the applied index.
  Answer late;
  EXPECT_FALSE(state.propose(kPid, tx_of({event("s")}), 1, 1, late.cb()));
  ASSERT_TRUE(late.got);
  EXPECT_EQ(late.got->error().code, Errc::InvalidArgument);
}

TEST(ReplicatedState, DeferredRejectionIsAnsweredOnApplyOrOutcomeUnknownOnAbandon) {
  ReplicatedState state(kPartitions);
  Answer a, b;
  auto pa = state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 1, a.cb());
  ASSERT_TRUE(pa);
  // WRONGVER against the pending entry 1: it waits for it (rule 9).
  EXPECT_FALSE(state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 1, b.cb()));
  EXPECT_FALSE(b.got);
  EXPECT_EQ(state.deferred_answers(), 1u);

  state.abandon(1, Error{Errc::OutcomeUnknown, "leadership lost", 0, 0});
  ASSERT_TRUE(a.got);
  EXPECT_EQ(a.got->error().code, Errc::OutcomeUnknown);
  EXPECT_EQ(a.got->error().message, "leadership lost");
  ASSERT_TRUE(b.got);
  EXPECT_EQ(b.got->error().code, Errc::OutcomeUnknown);  // never the definite WRONGVER
  EXPECT_NE(b.got->error().message.find("abandoned"), std::string::npos);
  EXPECT_EQ(state.pending_proposals(), 0u);
  EXPECT_EQ(state.deferred_answers(), 0u);

  // Forgotten: the stream is empty again. This time entry 1 is applied, and the deferred
  // rejection comes with it.
  Answer c, d;
  auto pc = state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 2, c.cb());
  ASSERT_TRUE(pc);
  EXPECT_FALSE(state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 2, d.cb()));
  ReplicatedState::Answers answers;
  ASSERT_TRUE(state.apply(1, entry_of(*pc, 2), answers));
  EXPECT_EQ(answers.callbacks_due(), 2u);
  EXPECT_EQ(state.deferred_answers(), 0u);
  answers.run({});
  ASSERT_TRUE(c.got && *c.got);
  ASSERT_TRUE(d.got);
  EXPECT_EQ(d.got->error().code, Errc::WrongExpectedVersion);
}

TEST(ReplicatedState, AnAppliedProposalNoLongerDefersAnswers) {
  ReplicatedState state(kPartitions);
  auto p = state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 1, 1, {});
  ASSERT_TRUE(p);
  ReplicatedState::Answers answers;
  ASSERT_TRUE(state.apply(1, entry_of(*p), answers));
  answers.run({});
  // The rejection rests on applied state only now: answered at once, not deferred.
  Answer late;
  EXPECT_FALSE(state.propose(kPid, tx_of({event("s", ExpectedVersion::empty())}), 2, 1, late.cb()));
  ASSERT_TRUE(late.got);
  EXPECT_EQ(late.got->error().code, Errc::WrongExpectedVersion);
  EXPECT_EQ(state.deferred_answers(), 0u);
}

TEST(ReplicatedState, NonGaplessEntryIsAnInvariantViolationAndChangesNothing) {
  ReplicatedState state(kPartitions);
  ReplicatedState::Answers answers;
  auto s = state.apply(1, crafted(1, 5, 0), answers);  // the partition starts at sequence 0
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::InvariantViolation);
  EXPECT_NE(s.error().message.find("entry 1:"), std::string::npos);
  s = state.apply(1, crafted(1, 0, 3), answers);  // the stream starts at version 0
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::InvariantViolation);
  EXPECT_EQ(state.applied_index(), 0u);
  EXPECT_EQ(state.next_sequence(kPid), 0u);
  EXPECT_TRUE(answers.transactions().empty());

  ASSERT_TRUE(state.apply(1, crafted(1, 0, 0), answers));
  EXPECT_EQ(state.next_sequence(kPid), 1u);
  EXPECT_EQ(state.stream_version(kPid, "s"), CurrentVersion::current(0));
  // A proposal continues the applied state (the overlay is rebuilt after apply).
  auto p = state.propose(kPid, tx_of({event("s", ExpectedVersion::exact(0))}), 2, 1, {});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->result.first_partition_sequence, 1u);
  EXPECT_EQ(p->result.stream_versions, (std::vector<uint64_t>{1}));
}

TEST(ReplicatedState, RetryOfAnAppliedTransactionGetsItsOriginalResultAtOnce) {
  ReplicatedState state(kPartitions);
  const Uuid id1 = new_event_id(partition_hash(kKey));
  const Uuid id2 = new_event_id(partition_hash(kKey));
  auto make = [&] {
    return tx_of(
        {event("s", ExpectedVersion::any(), id1), event("t", ExpectedVersion::any(), id2)});
  };
  auto p = state.propose(kPid, make(), 1, 1, {});
  ASSERT_TRUE(p);
  ReplicatedState::Answers answers;
  ASSERT_TRUE(state.apply(1, entry_of(*p), answers));
  answers.run({});

  Answer retry;
  EXPECT_FALSE(state.propose(kPid, make(), 2, 1, retry.cb()));
  ASSERT_TRUE(retry.got && *retry.got);  // on applied state only: answered now
  EXPECT_TRUE((*retry.got)->retry);
  EXPECT_EQ((*retry.got)->log_position, 1u);
  EXPECT_EQ((*retry.got)->first_partition_sequence, 0u);
  EXPECT_EQ((*retry.got)->last_partition_sequence, 1u);
  EXPECT_EQ(state.deferred_answers(), 0u);

  // The same id in another transaction is a duplicate.
  Answer dup;
  EXPECT_FALSE(
      state.propose(kPid, tx_of({event("u", ExpectedVersion::any(), id2)}), 2, 1, dup.cb()));
  ASSERT_TRUE(dup.got);
  EXPECT_EQ(dup.got->error().code, Errc::DuplicateEventId);
  EXPECT_EQ(state.pending_proposals(), 0u);
}

TEST(ReplicatedState, CallbacksMayProposeOnTheFinalState) {
  ReplicatedState state(kPartitions);
  std::optional<Proposal> next;
  auto p = state.propose(kPid, tx_of({event("s")}), 1, 1, [&](Result<AppendResult> r) {
    ASSERT_TRUE(r);
    next = state.propose(kPid, tx_of({event("s", ExpectedVersion::exact(0))}), 2, 1, {});
  });
  ASSERT_TRUE(p);
  ReplicatedState::Answers answers;
  ASSERT_TRUE(state.apply(1, entry_of(*p), answers));
  answers.run({});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->result.first_partition_sequence, 1u);
  EXPECT_EQ(state.pending_proposals(), 1u);
}

}  // namespace
}  // namespace sierra
