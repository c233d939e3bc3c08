// Bucket (engine/bucket/bucket.hpp) driven directly, as its writer thread would: staging is
// invisible until commit_staged, watermarks move per partition, rollover closes segments without
// splitting a transaction, and a rejected transaction (validation or failed write) leaves no
// trace in sequences, versions, indexes or the segment.
#include "engine/bucket/bucket.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/database_test_util.hpp"
#include "engine/fault_env.hpp"
#include "engine/segment/paths.hpp"
#include "support/temp_dir.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;
using dbtest::make_event;
using EV = ExpectedVersion;

constexpr uint16_t kPartitions = 4;

// The reply of one staged append: unset until the bucket calls back.
struct Reply {
  std::optional<Result<AppendResult>> r;
  bool called() const { return r.has_value(); }
  const AppendResult& ok() const {
    static const AppendResult none;
    if (!r) {
      ADD_FAILURE() << "no reply yet";
      return none;
    }
    if (!*r) {
      ADD_FAILURE() << "append failed: " << r->error().to_string();
      return none;
    }
    return **r;
  }
  Errc code() const {
    if (!r || r->has_value()) {
      ADD_FAILURE() << (r ? "append succeeded" : "no reply yet");
      return Errc{};
    }
    return r->error().code;
  }
};

class BucketTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(open()); }
  void TearDown() override {
    if (bucket_) bucket_->close();
  }

  void open(uint64_t segment_size = 1 << 20) {
    Bucket::Config c;
    c.base = dir_.path();
    c.id = 0;
    c.segment_size = segment_size;
    c.partition_count = kPartitions;
    c.log = dbtest::quiet_log;
    c.index_jobs = [this](std::function<void()> job) { jobs_.push_back(std::move(job)); };
    c.env = env_;
    auto b = Bucket::open(std::move(c));
    ASSERT_TRUE(b) << b.error().to_string();
    bucket_ = std::move(*b);
  }

  static PartitionId pid_of(const NewEvent& e) {
    return partition_id_for_key(e.partition_key, kPartitions);
  }

  // Stages a transaction of `events` (all of one key) and returns where its reply will land.
  std::shared_ptr<Reply> stage(std::vector<NewEvent> events, EV seq = EV::any()) {
    const PartitionId pid = pid_of(events.front());
    return stage_in(pid, std::move(events), seq);
  }
  std::shared_ptr<Reply> stage_in(PartitionId pid, std::vector<NewEvent> events,
                                  EV seq = EV::any()) {
    auto reply = std::make_shared<Reply>();
    bucket_->stage_append(pid, dbtest::make_tx(std::move(events), seq),
                          [reply](Result<AppendResult> r) { reply->r = std::move(r); });
    return reply;
  }

  std::optional<uint64_t> live_offset(const Uuid& id) const {
    return bucket_->with_live(
        [&](const Bucket::View&, const LiveIndexes& live) { return live.events.get(id); });
  }
  SegmentId live_id() const {
    return bucket_->with_live([](const Bucket::View& v, const LiveIndexes&) { return v.live_id; });
  }
  std::shared_ptr<const ClosedList> closed() const {
    return bucket_->with_live([](const Bucket::View& v, const LiveIndexes&) { return v.closed; });
  }

  // The committed transactions of a segment, read back from its file through the bucket's
  // reader of it (the live one stops at the flushed offset, before the preallocated zeros).
  std::vector<CommittedTransaction> transactions_of(SegmentId seg) const {
    std::shared_ptr<SegmentReader> r = bucket_->with_live(
        [&](const Bucket::View& v, const LiveIndexes&) -> std::shared_ptr<SegmentReader> {
          if (v.live_id == seg) return v.live_reader;
          for (const auto& c : *v.closed) {
            if (c->id() == seg) return c->reader();
          }
          return nullptr;
        });
    std::vector<CommittedTransaction> out;
    if (r == nullptr) {
      ADD_FAILURE() << "no segment " << seg;
      return out;
    }
    auto it = r->iter();
    for (int guard = 0; guard < 100000; ++guard) {
      auto t = it.next_transaction(true);
      EXPECT_TRUE(t) << t.error().to_string();
      if (!t || !*t) break;
      out.push_back(std::move(**t));
    }
    return out;
  }

  test_support::TempDir dir_{"sierra-bucket"};
  std::shared_ptr<HookEnv> env_ = HookEnv::make({});
  std::vector<std::function<void()>> jobs_;
  std::unique_ptr<Bucket> bucket_;
};

TEST_F(BucketTest, StagedWorkIsInvisibleUntilCommitted) {
  NewEvent a = make_event("orders-1");
  NewEvent b = make_event("orders-1");
  b.partition_key = a.partition_key;
  b.event_id = new_event_id(partition_hash(a.partition_key));
  const PartitionId pid = pid_of(a);

  auto reply = stage({a, b});
  EXPECT_FALSE(reply->called()) << "a staged append must not be acknowledged before it is durable";
  EXPECT_EQ(bucket_->staged_events(), 2u);
  EXPECT_EQ(bucket_->watermark(pid), 0u);
  EXPECT_EQ(live_offset(a.event_id), std::nullopt);

  const auto moved = bucket_->commit_staged();
  ASSERT_TRUE(reply->called());
  const AppendResult& r = reply->ok();
  EXPECT_EQ(r.partition_id, pid);
  EXPECT_EQ(r.segment_id, 0u);
  EXPECT_EQ(r.first_partition_sequence, 0u);
  EXPECT_EQ(r.last_partition_sequence, 1u);
  EXPECT_EQ(r.stream_versions, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(r.log_position, 1u);
  ASSERT_EQ(r.offsets.size(), 2u);
  EXPECT_LT(r.offsets[0], r.offsets[1]);
  EXPECT_EQ(moved, (std::vector<std::pair<PartitionId, uint64_t>>{{pid, 1}}));
  EXPECT_EQ(bucket_->staged_events(), 0u);
  EXPECT_EQ(bucket_->watermark(pid), 2u);
  EXPECT_EQ(live_offset(a.event_id), r.offsets[0]);
  EXPECT_EQ(live_offset(b.event_id), r.offsets[1]);

  // A second commit with nothing staged moves nothing.
  EXPECT_TRUE(bucket_->commit_staged().empty());
  const auto txs = transactions_of(0);
  ASSERT_EQ(txs.size(), 1u);
  EXPECT_EQ(txs[0].events.front().tx.transaction_id, r.transaction_id);
}

TEST_F(BucketTest, WatermarksArePerPartitionAndContinue) {
  // Streams whose keys land in two different partitions.
  std::vector<NewEvent> seeds;
  std::set<PartitionId> pids;
  for (int i = 0; i < 64 && pids.size() < 2; ++i) {
    NewEvent e = make_event("s-" + std::to_string(i));
    if (pids.insert(pid_of(e)).second) seeds.push_back(e);
  }
  ASSERT_EQ(seeds.size(), 2u);
  const PartitionId p0 = pid_of(seeds[0]);
  const PartitionId p1 = pid_of(seeds[1]);

  auto r0 = stage({make_event(seeds[0].stream_id)});
  auto r1 = stage({make_event(seeds[0].stream_id)});
  auto r2 = stage({make_event(seeds[1].stream_id)});
  bucket_->commit_staged();
  EXPECT_EQ(r0->ok().first_partition_sequence, 0u);
  EXPECT_EQ(r1->ok().first_partition_sequence, 1u);
  EXPECT_EQ(r1->ok().stream_versions, (std::vector<uint64_t>{1}));
  EXPECT_EQ(r2->ok().first_partition_sequence, 0u) << "sequences are per partition";
  EXPECT_EQ(r0->ok().log_position + 1, r1->ok().log_position) << "log positions are per bucket";
  EXPECT_EQ(r1->ok().log_position + 1, r2->ok().log_position);
  EXPECT_EQ(bucket_->watermark(p0), 2u);
  EXPECT_EQ(bucket_->watermark(p1), 1u);
  for (PartitionId p = 0; p < kPartitions; ++p) {
    if (p != p0 && p != p1) {
      EXPECT_EQ(bucket_->watermark(p), 0u) << p;
    }
  }

  // Reopened from disk, the watermarks and the next sequence continue.
  bucket_->close();
  bucket_.reset();
  ASSERT_NO_FATAL_FAILURE(open());
  EXPECT_EQ(bucket_->watermark(p0), 2u);
  EXPECT_EQ(bucket_->watermark(p1), 1u);
  auto r3 = stage({make_event(seeds[0].stream_id)});
  bucket_->commit_staged();
  EXPECT_EQ(r3->ok().first_partition_sequence, 2u);
  EXPECT_EQ(r3->ok().stream_versions, (std::vector<uint64_t>{2}));
  EXPECT_EQ(r3->ok().log_position, r2->ok().log_position + 1);
}

TEST_F(BucketTest, RejectedTransactionsLeaveNoTrace) {
  NewEvent first = make_event("acct");
  const PartitionId pid = pid_of(first);
  auto ok1 = stage({first});

  // Each rejection is reported at once, before any commit.
  auto wrong_version = stage({make_event("acct", EV::exact(5))});
  ASSERT_TRUE(wrong_version->called());
  EXPECT_EQ(wrong_version->code(), Errc::WrongExpectedVersion);

  auto wrong_seq = stage({make_event("acct")}, EV::exact(7));
  ASSERT_TRUE(wrong_seq->called());
  EXPECT_EQ(wrong_seq->code(), Errc::WrongExpectedSequence);

  auto wrong_pid =
      stage_in(static_cast<PartitionId>((pid + 1) % kPartitions), {make_event("acct")});
  ASSERT_TRUE(wrong_pid->called());
  EXPECT_EQ(wrong_pid->code(), Errc::InvalidArgument);

  // A transaction whose first event is fine but whose second fails: the first event's stream
  // ("acct-other", same key) must not have moved.
  NewEvent other = make_event("acct-other", EV::empty(), first.partition_key);
  NewEvent bad = make_event("acct", EV::exact(9), first.partition_key);
  auto half = stage({other, bad});
  ASSERT_TRUE(half->called());
  EXPECT_EQ(half->code(), Errc::WrongExpectedVersion);
  EXPECT_EQ(bucket_->staged_events(), 1u) << "only the accepted transaction is staged";

  // Too big for any segment.
  auto huge = stage({make_event("acct", EV::any(), std::nullopt, std::string(2 << 20, 'x'))});
  ASSERT_TRUE(huge->called());
  EXPECT_EQ(huge->code(), Errc::EventsExceedSegmentSize);

  // What follows sees only the accepted transaction: "acct-other" is still empty, "acct" is at 0,
  // the partition at sequence 0, the log at position 1.
  auto ok2 = stage({make_event("acct-other", EV::empty(), first.partition_key),
                    make_event("acct", EV::exact(0), first.partition_key)},
                   EV::exact(0));
  EXPECT_FALSE(ok2->called()) << (ok2->r && !*ok2->r ? ok2->r->error().to_string() : "");
  bucket_->commit_staged();
  EXPECT_EQ(ok1->ok().first_partition_sequence, 0u);
  EXPECT_EQ(ok2->ok().first_partition_sequence, 1u);
  EXPECT_EQ(ok2->ok().stream_versions, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(ok2->ok().log_position, 2u);
  EXPECT_EQ(bucket_->watermark(pid), 3u);
  EXPECT_EQ(live_offset(other.event_id), std::nullopt);
  EXPECT_EQ(live_offset(bad.event_id), std::nullopt);

  // The segment holds the two accepted transactions and nothing else.
  const auto txs = transactions_of(0);
  ASSERT_EQ(txs.size(), 2u);
  EXPECT_EQ(txs[0].events.front().tx.transaction_id, ok1->ok().transaction_id);
  EXPECT_EQ(txs[1].events.front().tx.transaction_id, ok2->ok().transaction_id);
}

TEST_F(BucketTest, FailedWriteRejectsTheBatchAndRollsBackTentativeState) {
  auto kept = stage({make_event("ledger")});
  bucket_->commit_staged();
  const PartitionId pid = pid_of(make_event("ledger"));
  ASSERT_EQ(kept->ok().first_partition_sequence, 0u);

  // Every write of the segment fails: both staged transactions are rejected together.
  env_->set([](HookEnv::Op op, const fs::path& p, uint64_t, size_t) {
    return op == HookEnv::Op::Write && p.filename() == "data.evts" ? EIO : 0;
  });
  auto lost1 = stage({make_event("ledger", EV::exact(0))});
  auto lost2 = stage({make_event("ledger", EV::exact(1))});
  EXPECT_FALSE(lost1->called());
  bucket_->commit_staged();
  ASSERT_GT(env_->injected(HookEnv::Op::Write), 0u) << "the write fault was not injected";
  EXPECT_EQ(lost1->code(), Errc::Io);
  EXPECT_EQ(lost2->code(), Errc::Io);
  EXPECT_EQ(bucket_->watermark(pid), 1u);
  env_->clear();

  // The next append continues from the durable state, not from the lost tentative one.
  auto next = stage({make_event("ledger", EV::exact(0))}, EV::exact(0));
  bucket_->commit_staged();
  EXPECT_EQ(next->ok().first_partition_sequence, 1u);
  EXPECT_EQ(next->ok().stream_versions, (std::vector<uint64_t>{1}));
  EXPECT_EQ(next->ok().log_position, 2u);
  EXPECT_EQ(transactions_of(0).size(), 2u);
}

TEST_F(BucketTest, RolloverClosesSegmentsWithoutSplittingTransactions) {
  bucket_->close();
  bucket_.reset();
  ASSERT_NO_FATAL_FAILURE(open(/*segment_size=*/16 * 1024));

  const std::string payload(1500, 'p');
  NewEvent head = make_event("big");
  const PartitionId pid = pid_of(head);
  std::vector<std::shared_ptr<Reply>> replies;
  std::vector<Uuid> first_ids;
  for (int i = 0; i < 40; ++i) {
    std::vector<NewEvent> tx;
    for (int j = 0; j < 3; ++j) tx.push_back(make_event("big", EV::any(), std::nullopt, payload));
    first_ids.push_back(tx.front().event_id);
    replies.push_back(stage(std::move(tx)));
    if (i % 4 == 3) bucket_->commit_staged();
  }
  bucket_->commit_staged();

  const SegmentId last = live_id();
  ASSERT_GE(last, 3u) << "expected several rollovers";
  const auto closed_list = closed();
  ASSERT_EQ(closed_list->size(), last);
  for (size_t i = 0; i < closed_list->size(); ++i) {
    EXPECT_EQ((*closed_list)[i]->id(), i);
    EXPECT_TRUE((*closed_list)[i]->in_memory())
        << "index files are written by the jobs, not yet run";
  }
  EXPECT_EQ(jobs_.size(), last) << "one index job per rollover";

  uint64_t seq = 0;
  for (size_t i = 0; i < replies.size(); ++i) {
    const AppendResult& r = replies[i]->ok();
    EXPECT_EQ(r.first_partition_sequence, seq) << i;
    seq = r.last_partition_sequence + 1;
    ASSERT_EQ(r.offsets.size(), 3u);
    for (uint64_t off : r.offsets) EXPECT_LT(off, 16u * 1024) << "an event past the segment end";
  }
  EXPECT_EQ(bucket_->watermark(pid), seq);

  // Every transaction lies whole in the segment its reply names.
  size_t found = 0;
  for (SegmentId s = 0; s <= last; ++s) {
    for (const auto& t : transactions_of(s)) {
      EXPECT_EQ(t.events.size(), 3u) << "segment " << s;
      for (size_t i = 0; i < replies.size(); ++i) {
        if (replies[i]->ok().transaction_id == t.events.front().tx.transaction_id) {
          EXPECT_EQ(replies[i]->ok().segment_id, s);
          ++found;
        }
      }
    }
  }
  EXPECT_EQ(found, replies.size());

  // The index jobs write the files; the closed segments are then served from them.
  for (auto& job : jobs_) job();
  jobs_.clear();
  const auto from_files = closed();
  for (const auto& seg : *from_files) {
    EXPECT_FALSE(seg->in_memory()) << "segment " << seg->id();
    EXPECT_TRUE(fs::exists(get_path(dir_.path(), 0, seg->id(), SegmentKind::EventIndex)));
  }
  const auto where = (*from_files)[0]->find_event(first_ids[0]);
  ASSERT_TRUE(where) << where.error().to_string();
  EXPECT_EQ(*where, replies[0]->ok().offsets[0]);
}

}  // namespace
}  // namespace sierra
