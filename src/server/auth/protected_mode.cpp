#include "server/auth/protected_mode.hpp"

namespace sierra::server::auth {

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  const asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_loopback()) return true;
  if (v6.is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  }
  return false;
}

bool protected_mode_refuses(bool protected_mode, bool auth_configured,
                            const asio::ip::address& peer) {
  return protected_mode && !auth_configured && !is_loopback(peer);
}

}  // namespace sierra::server::auth
