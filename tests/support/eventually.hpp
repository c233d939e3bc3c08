// Bounded polling for tests: wait until a condition holds, at most a deadline, instead of
// sleeping and hoping. Included as "support/eventually.hpp".
#pragma once

#include <chrono>
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

}  // namespace sierra::test_support
