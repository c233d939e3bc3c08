// Slows down password guessing on one connection: after a few failed AUTH attempts, each further
// failure must wait longer (doubling, capped) before its reply is sent, and a connection that
// keeps failing is closed. Pure logic with an injected clock; the connection holds one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace sierra::server::auth {

class AuthRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  struct Policy {
    std::uint32_t free_failures = 3;                // failures answered without delay
    std::chrono::milliseconds base_delay{100};      // delay of the first delayed failure
    std::chrono::milliseconds max_delay{5000};      // cap of the doubling
    std::uint32_t disconnect_after = 20;            // consecutive failures; 0 = never
    std::chrono::milliseconds forget_after{60000};  // a quiet period that resets the count
  };

  // What to do with one failed attempt.
  struct Verdict {
    std::chrono::milliseconds delay{0};  // hold the -WRONGPASS reply (and the connection) this long
    bool disconnect = false;             // then close the connection
  };

  explicit AuthRateLimiter(Policy policy, Now now = &Clock::now)
      : policy_(policy), now_(std::move(now)) {}

  // Records a failed AUTH and says how to answer it.
  Verdict on_failure();
  // A successful AUTH clears the count.
  void on_success() { failures_ = 0; }

  // Time left before the delay of the last failure has passed (zero when none is pending). A
  // connection that does not hold replies can refuse attempts made before then.
  std::chrono::milliseconds retry_after() const;

  std::uint32_t consecutive_failures() const { return failures_; }

 private:
  Policy policy_;
  Now now_;
  std::uint32_t failures_ = 0;
  Clock::time_point last_failure_{};
  std::chrono::milliseconds last_delay_{0};
};

}  // namespace sierra::server::auth
