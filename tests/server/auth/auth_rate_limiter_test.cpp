#include "server/auth/auth_rate_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sierra::server::auth {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
  AuthRateLimiter::Clock::time_point now{std::chrono::hours(1000)};
  AuthRateLimiter::Now fn() {
    return [this] { return now; };
  }
};

AuthRateLimiter::Policy policy() {
  return {.free_failures = 2,
          .base_delay = 100ms,
          .max_delay = 1000ms,
          .disconnect_after = 8,
          .forget_after = 60s};
}

TEST(AuthRateLimiter, FreeFailuresThenDoublingCappedThenDisconnect) {
  FakeClock clock;
  AuthRateLimiter limiter(policy(), clock.fn());
  std::vector<std::chrono::milliseconds> delays;
  std::vector<bool> disconnects;
  for (int i = 0; i < 8; ++i) {
    auto verdict = limiter.on_failure();
    delays.push_back(verdict.delay);
    disconnects.push_back(verdict.disconnect);
    clock.now += 1s;
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{0ms, 0ms, 100ms, 200ms, 400ms, 800ms,
                                                            1000ms, 1000ms}));
  EXPECT_EQ(disconnects,
            (std::vector<bool>{false, false, false, false, false, false, false, true}));
  EXPECT_EQ(limiter.consecutive_failures(), 8u);
}

TEST(AuthRateLimiter, SuccessResets) {
  FakeClock clock;
  AuthRateLimiter limiter(policy(), clock.fn());
  for (int i = 0; i < 4; ++i) limiter.on_failure();
  EXPECT_EQ(limiter.consecutive_failures(), 4u);
  limiter.on_success();
  EXPECT_EQ(limiter.consecutive_failures(), 0u);
  EXPECT_EQ(limiter.retry_after(), 0ms);
  EXPECT_EQ(limiter.on_failure().delay, 0ms);
}

TEST(AuthRateLimiter, QuietPeriodForgets) {
  FakeClock clock;
  AuthRateLimiter limiter(policy(), clock.fn());
  for (int i = 0; i < 5; ++i) limiter.on_failure();
  clock.now += 59s;
  EXPECT_EQ(limiter.on_failure().delay, 800ms);  // 6th: still counted
  clock.now += 60s;
  EXPECT_EQ(limiter.on_failure().delay, 0ms);  // the count started again
  EXPECT_EQ(limiter.consecutive_failures(), 1u);
}

TEST(AuthRateLimiter, RetryAfterCountsDown) {
  FakeClock clock;
  AuthRateLimiter limiter(policy(), clock.fn());
  EXPECT_EQ(limiter.retry_after(), 0ms);
  limiter.on_failure();
  limiter.on_failure();
  EXPECT_EQ(limiter.retry_after(), 0ms);  // free failures have no delay
  EXPECT_EQ(limiter.on_failure().delay, 100ms);
  EXPECT_EQ(limiter.retry_after(), 100ms);
  clock.now += 30ms;
  EXPECT_EQ(limiter.retry_after(), 70ms);
  clock.now += 69ms + 500us;
  EXPECT_EQ(limiter.retry_after(), 1ms);  // rounded up, never 0 before the time
  clock.now += 500us;
  EXPECT_EQ(limiter.retry_after(), 0ms);
}

TEST(AuthRateLimiter, NeverDisconnectAndZeroBaseDelayAreBounded) {
  FakeClock clock;
  AuthRateLimiter limiter({.free_failures = 0,
                           .base_delay = 0ms,
                           .max_delay = 1000ms,
                           .disconnect_after = 0,
                           .forget_after = 60s},
                          clock.fn());
  for (int i = 0; i < 1000; ++i) {
    auto verdict = limiter.on_failure();
    ASSERT_EQ(verdict.delay, 0ms);
    ASSERT_FALSE(verdict.disconnect);
  }
}

}  // namespace
}  // namespace sierra::server::auth
