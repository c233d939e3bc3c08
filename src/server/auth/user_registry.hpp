// The server's current UserDirectory, replaced as a whole on a config reload (SIGHUP). Readers
// take a shared_ptr snapshot, so a connection keeps using the directory (and the User objects in
// it) it looked up even while a reload swaps in a new one; the generation number tells a
// connection cheaply, without locking, that it should look its user up again.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "server/auth/users.hpp"

namespace sierra::server::auth {

class UserRegistry {
 public:
  // Starts with the directory of an empty configuration ("default" on, nopass, everything).
  UserRegistry();

  // Thread-safe.
  std::shared_ptr<const UserDirectory> current() const;
  void replace(UserDirectory directory);
  // Bumped by every replace().
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const UserDirectory> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sierra::server::auth
