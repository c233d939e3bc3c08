#include "server/auth/user_registry.hpp"

#include <utility>

namespace sierra::server::auth {

UserRegistry::UserRegistry() {
  auto empty = UserDirectory::build(AuthSpec{});
  // An empty specification cannot fail to build.
  current_ = std::make_shared<const UserDirectory>(std::move(*empty));
}

std::shared_ptr<const UserDirectory> UserRegistry::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void UserRegistry::replace(UserDirectory directory) {
  auto next = std::make_shared<const UserDirectory>(std::move(directory));
  {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace sierra::server::auth
