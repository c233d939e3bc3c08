#include "server/auth/auth_rate_limiter.hpp"

#include <algorithm>

namespace sierra::server::auth {

AuthRateLimiter::Verdict AuthRateLimiter::on_failure() {
  const Clock::time_point now = now_();
  if (failures_ > 0 && now - last_failure_ >= policy_.forget_after) failures_ = 0;
  if (failures_ < UINT32_MAX) ++failures_;
  last_failure_ = now;

  Verdict verdict;
  if (failures_ > policy_.free_failures) {
    // base * 2^(n-1) for the n-th delayed failure, doubling only while below the cap.
    std::chrono::milliseconds delay = policy_.base_delay;
    for (std::uint32_t i = policy_.free_failures + 1;
         i < failures_ && delay.count() > 0 && delay < policy_.max_delay; ++i) {
      delay *= 2;
    }
    verdict.delay = std::min(delay, policy_.max_delay);
  }
  verdict.disconnect = policy_.disconnect_after != 0 && failures_ >= policy_.disconnect_after;
  last_delay_ = verdict.delay;
  return verdict;
}

std::chrono::milliseconds AuthRateLimiter::retry_after() const {
  if (failures_ == 0 || last_delay_.count() == 0) return std::chrono::milliseconds{0};
  const auto ready = last_failure_ + last_delay_;
  const auto now = now_();
  if (now >= ready) return std::chrono::milliseconds{0};
  return std::chrono::ceil<std::chrono::milliseconds>(ready - now);
}

}  // namespace sierra::server::auth
