#include "engine/writer_pool.hpp"

#include <algorithm>

#include "engine/bucket/bucket.hpp"

namespace sierra {

namespace {

size_t event_count(const WriterPool::Request& r) {
  if (const auto* a = std::get_if<WriterPool::AppendRequest>(&r)) return a->tx.events().size();
  return 0;
}

Bucket* bucket_of(const WriterPool::Request& r) {
  return std::visit([](const auto& x) { return x.bucket; }, r);
}

}  // namespace

WriterPool::WriterPool(std::vector<std::vector<Bucket*>> groups, uint32_t max_batch_events,
                       std::chrono::microseconds max_wait, CommitListener on_commit)
    : max_batch_events_(std::max<uint32_t>(1, max_batch_events)),
      max_wait_(max_wait),
      on_commit_(std::move(on_commit)) {
  for (auto& g : groups) {
    auto w = std::make_unique<Worker>();
    w->buckets = std::move(g);
    for (Bucket* b : w->buckets) {
      if (by_bucket_.size() <= b->id()) by_bucket_.resize(b->id() + 1, nullptr);
      by_bucket_[b->id()] = w.get();
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { run(*raw); });
  }
}

WriterPool::~WriterPool() {
  stop();
}

void WriterPool::submit(Request req) {
  Bucket* b = bucket_of(req);
  Worker* w = b->id() < by_bucket_.size() ? by_bucket_[b->id()] : nullptr;
  if (w) {
    std::unique_lock lock(w->mu);
    if (!w->stop) {
      w->queue.push_back(std::move(req));
      lock.unlock();
      w->cv.notify_one();
      return;
    }
  }
  if (auto* a = std::get_if<AppendRequest>(&req)) {
    a->done(make_error(Errc::ShuttingDown, "the database is shutting down"));
  } else {
    std::get<TaskRequest>(req).run();
  }
}

void WriterPool::stop() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      w->stop = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void WriterPool::run(Worker& w) {
  std::vector<Request> batch;
  std::vector<Bucket*> touched;
  std::vector<std::pair<PartitionId, uint64_t>> changed;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock(w.mu);
      w.cv.wait(lock, [&] { return w.stop || !w.queue.empty(); });
      if (w.queue.empty() && w.stop) break;
      size_t events = 0;
      auto take = [&] {
        while (!w.queue.empty() && (batch.empty() || events < max_batch_events_)) {
          events += event_count(w.queue.front());
          batch.push_back(std::move(w.queue.front()));
          w.queue.pop_front();
        }
      };
      take();
      // Optionally wait for company (flush_interval_duration); 0 means a lone append is
      // written at once, and batching comes only from appends queued during the previous sync.
      if (max_wait_.count() > 0 && events < max_batch_events_ && !w.stop) {
        const auto deadline = std::chrono::steady_clock::now() + max_wait_;
        while (events < max_batch_events_ && !w.stop &&
               w.cv.wait_until(lock, deadline, [&] { return w.stop || !w.queue.empty(); })) {
          take();
        }
      }
    }

    touched.clear();
    changed.clear();
    auto commit_touched = [&] {
      for (Bucket* b : touched) {
        auto c = b->commit_staged();
        changed.insert(changed.end(), c.begin(), c.end());
      }
      touched.clear();
    };
    for (Request& r : batch) {
      Bucket* b = bucket_of(r);
      if (auto* a = std::get_if<AppendRequest>(&r)) {
        b->stage_append(a->partition_id, std::move(a->tx), std::move(a->done));
        if (std::find(touched.begin(), touched.end(), b) == touched.end()) touched.push_back(b);
      } else {
        // Tasks see every earlier append of the batch durable.
        commit_touched();
        std::get<TaskRequest>(r).run();
      }
    }
    commit_touched();
    if (on_commit_ && !changed.empty()) on_commit_(changed);
  }
  // Shutdown: everything queued was handled above; close the writers.
  for (Bucket* b : w.buckets) b->close();
}

}  // namespace sierra
