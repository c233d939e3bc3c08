// A single background thread that runs queued jobs in order (index file writes after rollover).
// drain() waits until the queue is empty; the destructor drains and joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sierra {

class BackgroundWorker {
 public:
  BackgroundWorker();
  ~BackgroundWorker();
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  void post(std::function<void()> job);
  void drain();
  void stop();  // drains, then joins

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> jobs_;
  bool running_job_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sierra
