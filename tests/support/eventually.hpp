// Bounded polling for tests: wait until a condition holds, at most a deadline, instead of
// sleeping and hoping. Included as "support/eventually.hpp".
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

namespace sierra::test_support {

// Polls `condition` every `interval` until it returns true (returns true) or `timeout` has passed
// (returns false after one last check). Callers assert on the result with a message saying what
// did not happen.
template <class Condition>
bool eventually(Condition&& condition,
                std::chrono::steady_clock::duration timeout = std::chrono::seconds(10),
                std::chrono::steady_clock::duration interval = std::chrono::milliseconds(1)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// future.get(), bounded: an answer that does not come within `timeout` (a writer that died or
// lost a callback) ends the test binary with a message instead of hanging until ctest's timeout.
// Aborting is deliberate: returning early would leave a pending callback pointing at the
// caller's locals.
template <class Future>
auto get_within(Future&& future, const char* what,
                std::chrono::steady_clock::duration timeout = std::chrono::seconds(60)) {
  if (future.wait_for(timeout) != std::future_status::ready) {
    std::fprintf(
        stderr, "FATAL: %s not answered within %lld s\n", what,
        static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    std::abort();
  }
  return future.get();
}

}  // namespace sierra::test_support
