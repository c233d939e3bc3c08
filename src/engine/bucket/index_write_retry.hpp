// Closed segments of one bucket whose index files could not be written (disk full, I/O error):
// they stay served from their in-memory indexes while a thread of this object retries the write
// with exponential backoff (and at once when poke() says space may be back) until it succeeds.
// waiting() lists them for INFO and the log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/index/live_index.hpp"
#include "engine/log.hpp"
#include "engine/segment/segment_reader.hpp"

namespace sierra {

class IndexWriteRetry {
 public:
  struct Job {
    SegmentId segment = 0;
    std::shared_ptr<const LiveIndexes> mem;
    std::shared_ptr<SegmentReader> reader;
  };
  // Writes the files of a job and starts serving the segment from them.
  using Attempt = std::function<Status(const Job&)>;

  static constexpr std::chrono::milliseconds kInitialBackoff{200};
  static constexpr std::chrono::milliseconds kMaxBackoff{10'000};

  IndexWriteRetry(BucketId bucket, Attempt attempt, LogSink log);
  ~IndexWriteRetry();  // stops the thread; pending jobs are rebuilt at next open
  IndexWriteRetry(const IndexWriteRetry&) = delete;
  IndexWriteRetry& operator=(const IndexWriteRetry&) = delete;

  // Queues a failed write (replacing a queued job of the same segment).
  void add(Job job, const Error& why);
  // Something suggests the disk works again (an append became durable): retry now.
  void poke();
  bool any() const;
  std::vector<SegmentId> waiting() const;  // ascending

 private:
  void run();
  void log(LogLevel level, const std::string& msg) const;

  const BucketId bucket_;
  Attempt attempt_;
  LogSink log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> jobs_;
  std::chrono::milliseconds backoff_ = kInitialBackoff;
  bool poked_ = false;
  bool stop_ = false;
  std::atomic<bool> any_{false};
  std::thread thread_;  // started by the first add()
};

}  // namespace sierra
