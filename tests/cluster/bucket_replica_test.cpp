// BucketReplica on its own (one voter, or a member cut off from its group) over the in-memory
// log: when appends are answered (only after the fsync that makes them durable, after the
// leader barrier), batching, restarts, power loss, a failing disk, NotLeader and Busy. The
// multi-node behaviour is proven by the simulation (sim/).
#include "cluster/bucket_replica.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cluster/mem_log.hpp"

namespace {

using sierra::AppendResult;
using sierra::Errc;
using sierra::ExpectedVersion;
using sierra::NewEvent;
using sierra::PartitionId;
using sierra::Result;
using sierra::Transaction;
using sierra::Uuid;
using sierra::cluster::BucketReplica;
using sierra::cluster::Role;
using sierra::test::MemDisk;
using sierra::test::MemLog;

constexpr uint16_t kPartitions = 4;

struct Tx {
  PartitionId pid;
  Transaction tx;
};

// A transaction of `n` events on `stream`, the first expecting `ev`; ids derived from `salt` so
// that the same salt gives the same ids (a retry).
Tx make_tx(const std::string& stream, ExpectedVersion ev, int n, uint64_t salt) {
  const Uuid key = sierra::partition_key_for_stream(stream);
  const auto hash = sierra::partition_hash(key);
  std::vector<NewEvent> events;
  for (int i = 0; i < n; i++) {
    NewEvent e;
    e.event_id =
        sierra::event_id_from_parts(1'700'000'000'000 + salt, static_cast<uint16_t>(salt & 0xfff),
                                    hash, salt * 16 + static_cast<uint64_t>(i));
    e.partition_key = key;
    e.stream_id = stream;
    e.expected_version = i == 0 ? ev : ExpectedVersion::any();
    e.event_name = "happened";
    e.timestamp_ns = 1000 + salt;
    e.payload = "payload " + std::to_string(salt) + "/" + std::to_string(i);
    events.push_back(std::move(e));
  }
  auto tx = Transaction::make(std::move(events));
  EXPECT_TRUE(tx.has_value());
  tx->transaction_id(sierra::event_id_from_parts(1, 1, 0, salt));
  return {sierra::partition_id_for_key(key, kPartitions), std::move(*tx)};
}

// Captures one answer.
struct Answer {
  std::optional<Result<AppendResult>> got;
  BucketReplica::AppendCallback cb() {
    return [this](Result<AppendResult> r) { got = std::move(r); };
  }
};

struct Single {
  MemDisk disk;
  std::unique_ptr<MemLog> log;
  std::unique_ptr<BucketReplica> replica;
  int want_sync = 0;
  int sent = 0;
  uint64_t now = 1000;

  void open(std::vector<uint64_t> voters = {1}, size_t max_queued = 10000) {
    log = MemLog::open(disk, kPartitions);
    BucketReplica::Options opt;
    opt.node_id = 1;
    opt.voters = std::move(voters);
    opt.seed = 7;
    opt.max_queued = max_queued;
    BucketReplica::Host host;
    host.send = [this](uint64_t, std::vector<uint8_t>) { sent++; };
    host.want_sync = [this] { want_sync++; };
    auto r = BucketReplica::open(opt, *log, host, now);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    replica = std::move(*r);
  }
  void close() {
    replica.reset();
    log.reset();
  }
  void append(Tx t, Answer& a) { replica->append(t.pid, std::move(t.tx), a.cb()); }
  void flush() { ASSERT_TRUE(replica->flush_proposals(++now).has_value()); }
  void sync() { ASSERT_TRUE(replica->sync_log(++now).has_value()); }
};

TEST(BucketReplica, SingleVoterAnswersOnlyAfterTheFsync) {
  Single s;
  s.open();
  EXPECT_EQ(s.replica->role(), Role::Leader);
  EXPECT_FALSE(s.replica->ready());  // the leader barrier is written, not durable
  s.sync();
  EXPECT_TRUE(s.replica->ready());
  EXPECT_EQ(s.replica->applied_index(), 2u);  // configuration + barrier

  Answer a;
  s.append(make_tx("orders-1", ExpectedVersion::empty(), 2, 1), a);
  s.flush();
  EXPECT_FALSE(a.got.has_value());
  EXPECT_EQ(s.log->last_index(), 3u);
  EXPECT_EQ(s.log->durable_index(), 2u);
  EXPECT_EQ(s.replica->commit_index(), 2u);
  s.sync();
  ASSERT_TRUE(a.got.has_value());
  ASSERT_TRUE(a.got->has_value()) << a.got->error().to_string();
  EXPECT_EQ((*a.got)->log_position, 3u);
  EXPECT_EQ((*a.got)->first_partition_sequence, 0u);
  EXPECT_EQ((*a.got)->last_partition_sequence, 1u);
  EXPECT_EQ((*a.got)->stream_versions, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(s.replica->commit_index(), 3u);
  EXPECT_EQ(s.replica->applied_index(), 3u);

  // Against applied state only, a rejection is answered at once.
  Answer wrong;
  s.append(make_tx("orders-1", ExpectedVersion::empty(), 1, 2), wrong);
  s.flush();
  ASSERT_TRUE(wrong.got.has_value());
  ASSERT_FALSE(wrong.got->has_value());
  EXPECT_EQ(wrong.got->error().code, Errc::WrongExpectedVersion);

  Answer next;
  s.append(make_tx("orders-1", ExpectedVersion::exact(1), 1, 3), next);
  s.flush();
  s.sync();
  ASSERT_TRUE(next.got && next.got->has_value());
  EXPECT_EQ((*next.got)->stream_versions, (std::vector<uint64_t>{2}));
  EXPECT_EQ(s.sent, 0);
}

TEST(BucketReplica, QueuedAppendsShareOneSubmitAndOneFsync) {
  Single s;
  s.open();
  s.sync();
  std::vector<Answer> answers(20);
  for (size_t i = 0; i < answers.size(); i++)
    s.append(make_tx("s-" + std::to_string(i), ExpectedVersion::empty(), 1, 100 + i), answers[i]);
  const auto before = s.replica->stats();
  s.flush();
  s.sync();
  const auto after = s.replica->stats();
  EXPECT_EQ(after.submits - before.submits, 1u);
  EXPECT_EQ(after.entries_submitted - before.entries_submitted, 20u);
  EXPECT_EQ(after.syncs - before.syncs, 1u);
  for (auto& a : answers) {
    ASSERT_TRUE(a.got && a.got->has_value());
  }
  // One entry per transaction, at consecutive indexes.
  for (size_t i = 0; i < answers.size(); i++) EXPECT_EQ((*answers[i].got)->log_position, 3 + i);
}

TEST(BucketReplica, RestartContinuesFromTheLog) {
  Single s;
  s.open();
  s.sync();
  Answer a;
  s.append(make_tx("acct", ExpectedVersion::empty(), 3, 1), a);
  s.flush();
  s.sync();
  ASSERT_TRUE(a.got && a.got->has_value());
  const uint64_t term = s.replica->term();
  s.close();
  s.disk.crash();
  s.open();
  EXPECT_EQ(s.replica->role(), Role::Leader);
  EXPECT_GE(s.replica->term(), term);
  s.sync();
  ASSERT_TRUE(s.replica->ready());
  // The retry of the committed transaction gets its original result.
  Answer retry;
  s.append(make_tx("acct", ExpectedVersion::empty(), 3, 1), retry);
  s.flush();
  s.sync();
  ASSERT_TRUE(retry.got && retry.got->has_value()) << retry.got->error().to_string();
  EXPECT_TRUE((*retry.got)->retry);
  EXPECT_EQ((*retry.got)->log_position, (*a.got)->log_position);
  EXPECT_EQ((*retry.got)->stream_versions, (*a.got)->stream_versions);
  Answer next;
  s.append(make_tx("acct", ExpectedVersion::exact(2), 1, 2), next);
  s.flush();
  s.sync();
  ASSERT_TRUE(next.got && next.got->has_value());
  EXPECT_EQ((*next.got)->stream_versions, (std::vector<uint64_t>{3}));
}

TEST(BucketReplica, PowerLossBeforeTheFsyncLosesOnlyWhatWasNeverAnswered) {
  Single s;
  s.open();
  s.sync();
  Answer a;
  s.append(make_tx("acct", ExpectedVersion::empty(), 1, 1), a);
  s.flush();
  EXPECT_FALSE(a.got.has_value());
  s.close();
  ASSERT_TRUE(a.got.has_value());  // told when the replica stopped
  ASSERT_FALSE(a.got->has_value());
  EXPECT_EQ(a.got->error().code, Errc::OutcomeUnknown);
  s.disk.power_loss();
  s.open();
  s.sync();
  // The same ids again: not a retry (the first attempt is gone), appended fresh.
  Answer again;
  s.append(make_tx("acct", ExpectedVersion::empty(), 1, 1), again);
  s.flush();
  s.sync();
  ASSERT_TRUE(again.got && again.got->has_value());
  EXPECT_FALSE((*again.got)->retry);
  EXPECT_EQ((*again.got)->stream_versions, (std::vector<uint64_t>{0}));
}

TEST(BucketReplica, FailedFsyncStopsTheReplica) {
  Single s;
  s.open();
  s.sync();
  Answer a;
  s.append(make_tx("acct", ExpectedVersion::empty(), 1, 1), a);
  s.flush();
  s.disk.fail_syncs = 1;
  auto st = s.replica->sync_log(++s.now);
  ASSERT_FALSE(st.has_value());
  EXPECT_FALSE(a.got.has_value());  // never "ok", never a definite failure
  EXPECT_FALSE(s.replica->tick(s.now + 10'000).has_value());  // fail-stop
  s.close();
  ASSERT_TRUE(a.got.has_value());
  EXPECT_EQ(a.got->error().code, Errc::OutcomeUnknown);
}

TEST(BucketReplica, FollowerRefusesAppendsWithNotLeader) {
  Single s;
  s.open({1, 2, 3});
  EXPECT_NE(s.replica->role(), Role::Leader);
  Answer a;
  s.append(make_tx("acct", ExpectedVersion::any(), 1, 1), a);
  ASSERT_TRUE(a.got.has_value());
  EXPECT_EQ(a.got->error().code, Errc::NotLeader);
  // Alone, it campaigns (messages go out) but never leads.
  for (int i = 0; i < 20; i++) {
    s.now = std::max(s.now + 1, s.replica->next_timeout());
    ASSERT_TRUE(s.replica->tick(s.now).has_value());
    ASSERT_TRUE(s.replica->sync_log(s.now).has_value());
  }
  EXPECT_GT(s.sent, 0);
  EXPECT_NE(s.replica->role(), Role::Leader);
}

TEST(BucketReplica, TooManyQueuedAppendsAreBusy) {
  Single s;
  s.open({1}, 2);
  // Not ready yet (barrier not durable): appends wait in the queue.
  Answer a, b, c;
  s.append(make_tx("x", ExpectedVersion::any(), 1, 1), a);
  s.append(make_tx("y", ExpectedVersion::any(), 1, 2), b);
  s.append(make_tx("z", ExpectedVersion::any(), 1, 3), c);
  ASSERT_TRUE(c.got.has_value());
  EXPECT_EQ(c.got->error().code, Errc::Busy);
  EXPECT_FALSE(a.got.has_value());
  s.sync();  // the barrier applies; the queue is proposed
  s.sync();
  ASSERT_TRUE(a.got && a.got->has_value());
  ASSERT_TRUE(b.got && b.got->has_value());
}

}  // namespace
