// WriterPool (engine/writer_pool.hpp) over real buckets: requests run on the thread owning the
// bucket, queued appends are committed together (one fdatasync per batch, at most
// max_batch_events per batch), a task sees the appends staged before it durable, and after
// stop() appends fail with ShuttingDown while tasks run inline. Every wait is bounded.
#include "engine/writer_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/bucket/bucket.hpp"
#include "engine/database_test_util.hpp"
#include "engine/fault_env.hpp"
#include "support/eventually.hpp"
#include "support/temp_dir.hpp"

namespace sierra {
namespace {

using namespace std::chrono_literals;
using dbtest::make_event;
using EV = ExpectedVersion;

constexpr uint16_t kPartitions = 4;
constexpr auto kWait = 10s;  // bound of every wait: a hang fails the test instead of blocking it

// Replies of appends, filled from the writer threads; waits are bounded.
class Replies {
 public:
  Database::AppendCallback slot(size_t i) {
    {
      std::lock_guard lock(mu_);
      if (results_.size() <= i) results_.resize(i + 1);
    }
    return [this, i](Result<AppendResult> r) {
      std::lock_guard lock(mu_);
      results_[i] = std::move(r);
      threads_.push_back(std::this_thread::get_id());
      ++done_;
      cv_.notify_all();
    };
  }
  // Waits until `n` replies arrived; false after kWait.
  bool wait_for(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return done_ >= n; });
  }
  size_t done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  std::optional<Result<AppendResult>> at(size_t i) {
    std::lock_guard lock(mu_);
    return results_.at(i);
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<Result<AppendResult>>> results_;
  std::vector<std::thread::id> threads_;
  size_t done_ = 0;
};

// A task that holds its writer thread until released (at most kWait), so that requests queue.
class Blocker {
 public:
  WriterPool::TaskRequest task(Bucket* b) {
    return {b, [this] {
              started_.set_value();
              released_.wait_for(kWait);
            }};
  }
  bool wait_started() { return started_.get_future().wait_for(kWait) == std::future_status::ready; }
  void release() { release_.set_value(); }

 private:
  std::promise<void> started_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

class WriterPoolTest : public ::testing::Test {
 protected:
  // `n` buckets, bucket i owned by thread i.
  void open(size_t n, uint32_t max_batch_events = 1000, std::chrono::microseconds max_wait = 0us) {
    std::vector<std::vector<Bucket*>> groups;
    for (size_t i = 0; i < n; ++i) {
      Bucket::Config c;
      c.base = dir_.path();
      c.id = static_cast<BucketId>(i);
      c.segment_size = 1 << 20;
      c.partition_count = kPartitions;
      c.log = dbtest::quiet_log;
      c.index_jobs = [](std::function<void()> job) { job(); };
      c.env = env_;
      auto b = Bucket::open(std::move(c));
      ASSERT_TRUE(b) << b.error().to_string();
      groups.push_back({b->get()});
      buckets_.push_back(std::move(*b));
    }
    pool_ = std::make_unique<WriterPool>(
        std::move(groups), max_batch_events, max_wait,
        [this](std::span<const std::pair<PartitionId, uint64_t>> changed) {
          std::lock_guard lock(commit_mu_);
          commits_.emplace_back(changed.begin(), changed.end());
        });
  }
  void TearDown() override {
    if (pool_) pool_->stop();
  }

  WriterPool::AppendRequest append(Bucket* b, const NewEvent& e, Database::AppendCallback done,
                                   EV seq = EV::any()) {
    return {b, partition_id_for_key(e.partition_key, kPartitions), dbtest::make_tx({e}, seq),
            std::move(done)};
  }
  std::vector<std::vector<std::pair<PartitionId, uint64_t>>> commits() {
    std::lock_guard lock(commit_mu_);
    return commits_;
  }

  test_support::TempDir dir_{"sierra-writer-pool"};
  std::atomic<int> data_syncs_{0};
  std::shared_ptr<HookEnv> env_ =
      HookEnv::make([this](HookEnv::Op op, const std::filesystem::path& p, uint64_t, size_t) {
        if (op == HookEnv::Op::Sync && p.filename() == "data.evts") data_syncs_.fetch_add(1);
        return 0;
      });
  std::vector<std::unique_ptr<Bucket>> buckets_;  // outlive the pool (declared first)
  std::unique_ptr<WriterPool> pool_;
  std::mutex commit_mu_;
  std::vector<std::vector<std::pair<PartitionId, uint64_t>>> commits_;
};

// Records the thread a task ran on.
std::thread::id run_task_on(WriterPool& pool, Bucket* b) {
  // Shared: after a timeout the task may still run later.
  auto where = std::make_shared<std::promise<std::thread::id>>();
  auto f = where->get_future();
  pool.submit(
      WriterPool::TaskRequest{b, [where] { where->set_value(std::this_thread::get_id()); }});
  if (f.wait_for(kWait) != std::future_status::ready) {
    ADD_FAILURE() << "task did not run within " << kWait.count() << " s";
    return {};
  }
  return f.get();
}

TEST_F(WriterPoolTest, RequestsRunOnTheThreadOwningTheBucket) {
  ASSERT_NO_FATAL_FAILURE(open(2));
  const std::thread::id t0 = run_task_on(*pool_, buckets_[0].get());
  const std::thread::id t1 = run_task_on(*pool_, buckets_[1].get());
  EXPECT_NE(t0, std::thread::id{});
  EXPECT_NE(t0, std::this_thread::get_id());
  EXPECT_NE(t1, std::this_thread::get_id());
  EXPECT_NE(t0, t1) << "two buckets of two groups share a thread";
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run_task_on(*pool_, buckets_[0].get()), t0);
    EXPECT_EQ(run_task_on(*pool_, buckets_[1].get()), t1);
  }

  // Appends complete on their bucket's thread.
  Replies replies;
  pool_->submit(append(buckets_[0].get(), make_event("a"), replies.slot(0)));
  ASSERT_TRUE(replies.wait_for(1));
  pool_->submit(append(buckets_[1].get(), make_event("b"), replies.slot(1)));
  ASSERT_TRUE(replies.wait_for(2));
  ASSERT_TRUE(replies.at(0)->has_value()) << replies.at(0)->error().to_string();
  ASSERT_TRUE(replies.at(1)->has_value()) << replies.at(1)->error().to_string();
  EXPECT_EQ(replies.threads(), (std::vector<std::thread::id>{t0, t1}));
}

TEST_F(WriterPoolTest, QueuedAppendsAreCommittedAsOneBatch) {
  ASSERT_NO_FATAL_FAILURE(open(1));
  Bucket* b = buckets_[0].get();
  Blocker blocker;
  pool_->submit(blocker.task(b));
  ASSERT_TRUE(blocker.wait_started());

  constexpr size_t kN = 20;
  Replies replies;
  const NewEvent first = make_event("batch");
  const PartitionId pid = partition_id_for_key(first.partition_key, kPartitions);
  for (size_t i = 0; i < kN; ++i) pool_->submit(append(b, make_event("batch"), replies.slot(i)));
  EXPECT_EQ(replies.done(), 0u) << "appends completed while their thread was busy";
  const int syncs_before = data_syncs_.load();
  blocker.release();
  ASSERT_TRUE(replies.wait_for(kN)) << replies.done() << " of " << kN << " replies";

  EXPECT_EQ(data_syncs_.load() - syncs_before, 1) << "one fdatasync for the whole batch";
  // The listener runs after the batch's callbacks: poll for it (bounded).
  EXPECT_TRUE(test_support::eventually([&] { return !commits().empty(); }, kWait));
  const auto c = commits();
  ASSERT_EQ(c.size(), 1u) << "one commit notification for the batch";
  EXPECT_EQ(c[0], (std::vector<std::pair<PartitionId, uint64_t>>{{pid, kN - 1}}));
  for (size_t i = 0; i < kN; ++i) {
    auto r = replies.at(i);
    ASSERT_TRUE(r && r->has_value()) << i;
    EXPECT_EQ((*r)->first_partition_sequence, i) << "arrival order is kept";
  }
  EXPECT_EQ(b->watermark(pid), kN);
}

TEST_F(WriterPoolTest, BatchesStopAtMaxBatchEvents) {
  ASSERT_NO_FATAL_FAILURE(open(1, /*max_batch_events=*/3));
  Bucket* b = buckets_[0].get();
  Blocker blocker;
  pool_->submit(blocker.task(b));
  ASSERT_TRUE(blocker.wait_started());
  Replies replies;
  for (size_t i = 0; i < 9; ++i) pool_->submit(append(b, make_event("cap"), replies.slot(i)));
  const int syncs_before = data_syncs_.load();
  blocker.release();
  ASSERT_TRUE(replies.wait_for(9));
  EXPECT_EQ(data_syncs_.load() - syncs_before, 3) << "9 queued events in batches of at most 3";
  EXPECT_TRUE(test_support::eventually([&] { return commits().size() >= 3; }, kWait));
  EXPECT_EQ(commits().size(), 3u);
}

TEST_F(WriterPoolTest, TaskSeesEarlierAppendsOfItsBatchDurable) {
  ASSERT_NO_FATAL_FAILURE(open(1));
  Bucket* b = buckets_[0].get();
  const NewEvent e = make_event("ordered");
  const PartitionId pid = partition_id_for_key(e.partition_key, kPartitions);
  Blocker blocker;
  pool_->submit(blocker.task(b));
  ASSERT_TRUE(blocker.wait_started());

  Replies replies;
  std::promise<std::pair<size_t, uint64_t>> seen;  // (replies done, watermark) inside the task
  pool_->submit(append(b, make_event("ordered"), replies.slot(0)));
  pool_->submit(append(b, make_event("ordered"), replies.slot(1)));
  pool_->submit(WriterPool::TaskRequest{b, [&] {
                                          seen.set_value({replies.done(), b->watermark(pid)});
                                        }});
  pool_->submit(append(b, make_event("ordered"), replies.slot(2)));
  blocker.release();
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  const auto [done_in_task, watermark_in_task] = f.get();
  EXPECT_EQ(done_in_task, 2u) << "the appends before the task were acknowledged before it ran";
  EXPECT_EQ(watermark_in_task, 2u) << "and published; the one after it was not";
  ASSERT_TRUE(replies.wait_for(3));
  EXPECT_EQ(b->watermark(pid), 3u);
}

TEST_F(WriterPoolTest, StopFinishesQueuedWorkThenFailsAppendsAndRunsTasksInline) {
  ASSERT_NO_FATAL_FAILURE(open(1));
  Bucket* b = buckets_[0].get();
  Blocker blocker;
  pool_->submit(blocker.task(b));
  ASSERT_TRUE(blocker.wait_started());
  Replies replies;
  for (size_t i = 0; i < 3; ++i) pool_->submit(append(b, make_event("stop"), replies.slot(i)));

  // stop() joins the (blocked) writer thread: run it aside, and poll until it took effect, which
  // shows as a task running inline on the submitting thread.
  std::thread stopper([this] { pool_->stop(); });
  bool inline_run = false;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!inline_run && std::chrono::steady_clock::now() < deadline) {
    // Shared: a task queued before stop() took effect runs later, on the writer thread.
    auto ran_inline = std::make_shared<std::atomic<bool>>(false);
    pool_->submit(WriterPool::TaskRequest{b, [ran_inline, me = std::this_thread::get_id()] {
                                            if (std::this_thread::get_id() == me)
                                              ran_inline->store(true);
                                          }});
    inline_run = ran_inline->load();
    if (!inline_run) std::this_thread::sleep_for(1ms);  // poll interval, not an assertion
  }
  // Release first so that a failed poll cannot leave the stopper joined on a blocked thread.
  blocker.release();
  stopper.join();
  ASSERT_TRUE(inline_run) << "stop() did not take effect within " << kWait.count() << " s";

  ASSERT_TRUE(replies.wait_for(3));
  for (size_t i = 0; i < 3; ++i) {
    auto r = replies.at(i);
    ASSERT_TRUE(r && r->has_value()) << "append queued before stop() was dropped: " << i;
  }
  Replies late;
  pool_->submit(append(b, make_event("stop"), late.slot(0)));
  ASSERT_EQ(late.done(), 1u) << "an append after stop() is answered at once";
  auto r = late.at(0);
  ASSERT_FALSE(r->has_value());
  EXPECT_EQ(r->error().code, Errc::ShuttingDown);
  EXPECT_EQ(late.threads(), (std::vector<std::thread::id>{std::this_thread::get_id()}));
}

}  // namespace
}  // namespace sierra
