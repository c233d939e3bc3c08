#include "engine/bucket/index_write_retry.hpp"

#include <algorithm>

namespace sierra {

IndexWriteRetry::IndexWriteRetry(BucketId bucket, Attempt attempt, LogSink log)
    : bucket_(bucket), attempt_(std::move(attempt)), log_(std::move(log)) {}

IndexWriteRetry::~IndexWriteRetry() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IndexWriteRetry::log(LogLevel level, const std::string& msg) const {
  if (log_) log_(level, msg);
}

void IndexWriteRetry::add(Job job, const Error& why) {
  std::vector<SegmentId> now;
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    auto it = std::find_if(jobs_.begin(), jobs_.end(),
                           [&](const Job& j) { return j.segment == job.segment; });
    if (it != jobs_.end()) {
      *it = std::move(job);
    } else {
      jobs_.push_back(std::move(job));
    }
    std::sort(jobs_.begin(), jobs_.end(),
              [](const Job& a, const Job& b) { return a.segment < b.segment; });
    for (const Job& j : jobs_) now.push_back(j.segment);
    any_.store(true, std::memory_order_release);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  std::string list;
  for (SegmentId s : now) list += (list.empty() ? "" : ",") + std::to_string(s);
  log(LogLevel::Error, "bucket " + std::to_string(bucket_) + ": writing index files failed (" +
                           why.to_string() +
                           "); serving from memory and retrying; segments waiting for their " +
                           "index files: " + list);
  cv_.notify_all();
}

void IndexWriteRetry::poke() {
  if (!any_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

bool IndexWriteRetry::any() const {
  return any_.load(std::memory_order_acquire);
}

std::vector<SegmentId> IndexWriteRetry::waiting() const {
  std::lock_guard lock(mu_);
  std::vector<SegmentId> out;
  for (const Job& j : jobs_) out.push_back(j.segment);
  return out;
}

void IndexWriteRetry::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, backoff_, [&] { return stop_ || poked_; });
    if (stop_) break;
    poked_ = false;
    if (jobs_.empty()) continue;
    const Job job = jobs_.front();  // oldest segment first
    lock.unlock();
    auto s = attempt_(job);
    lock.lock();
    if (!s) {
      if (backoff_ < kMaxBackoff) backoff_ = std::min(backoff_ * 2, kMaxBackoff);
      log(LogLevel::Debug, "bucket " + std::to_string(bucket_) + " segment " +
                               std::to_string(job.segment) +
                               ": index file write retry failed: " + s.error().to_string());
      continue;
    }
    std::erase_if(jobs_, [&](const Job& j) { return j.segment == job.segment; });
    backoff_ = kInitialBackoff;
    if (!jobs_.empty()) poked_ = true;  // go on with the next one at once
    std::string left;
    for (const Job& j : jobs_) left += (left.empty() ? "" : ",") + std::to_string(j.segment);
    any_.store(!jobs_.empty(), std::memory_order_release);
    log(LogLevel::Info, "bucket " + std::to_string(bucket_) + " segment " +
                            std::to_string(job.segment) + ": index files written" +
                            (left.empty() ? "" : "; still waiting: " + left));
  }
}

}  // namespace sierra
