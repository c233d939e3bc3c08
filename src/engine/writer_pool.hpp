// The writer threads. Each thread owns a group of buckets and executes their requests in
// arrival order with group commit: it takes everything queued (up to flush_interval_events
// events, waiting at most flush_interval_duration for company), stages it into the buckets'
// segment buffers, then makes each touched bucket durable with one write + one fdatasync and
// completes every request of the batch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "engine/database.hpp"

namespace sierra {

class Bucket;

class WriterPool {
 public:
  struct AppendRequest {
    Bucket* bucket;
    PartitionId partition_id;
    Transaction tx;
    Database::AppendCallback done;
  };
  // Any other work that must run on the bucket's writer thread, after staged appends are durable.
  struct TaskRequest {
    Bucket* bucket;
    std::function<void()> run;
  };
  using Request = std::variant<AppendRequest, TaskRequest>;

  // groups[t] = the buckets owned by thread t.
  WriterPool(std::vector<std::vector<Bucket*>> groups, uint32_t max_batch_events,
             std::chrono::microseconds max_wait, CommitListener on_commit);
  ~WriterPool();

  // Routes to the thread owning the bucket. After stop(), fails appends with ShuttingDown and
  // runs tasks inline.
  void submit(Request req);
  void stop();

 private:
  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Request> queue;
    bool stop = false;
    std::vector<Bucket*> buckets;
    std::thread thread;
  };
  void run(Worker& w);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*> by_bucket_;  // indexed by bucket id
  uint32_t max_batch_events_;
  std::chrono::microseconds max_wait_;
  CommitListener on_commit_;
};

}  // namespace sierra
