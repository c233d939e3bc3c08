// Protected mode (as Redis): with no password and no user configured, only clients connecting
// from a loopback address are served; others get one DENIED line and are closed. This is the
// decision and the words; the acceptor applies them.
#pragma once

#include <string_view>

#include <asio/ip/address.hpp>

namespace sierra::server::auth {

// 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x.y.z, as a dual-stack socket reports
// an IPv4 client).
bool is_loopback(const asio::ip::address& address);

// Whether a client at `peer` must be refused: protected mode on, no auth configured, and the
// peer not on loopback.
bool protected_mode_refuses(bool protected_mode, bool auth_configured,
                            const asio::ip::address& peer);

// The whole error line sent before closing a refused connection (RESP simple error, with CRLF).
inline constexpr std::string_view kProtectedModeDenied =
    "-DENIED SierraDB is running in protected mode because no password or user is configured: "
    "only loopback connections are accepted. Set requirepass or [[users]] in the config file "
    "(docs/SECURITY.md), bind network.client_address to 127.0.0.1, or set protected_mode = false "
    "to accept everyone.\r\n";

}  // namespace sierra::server::auth
