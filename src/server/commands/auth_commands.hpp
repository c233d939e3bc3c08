// The authentication commands (docs/SECURITY.md §2): AUTH [user] password and ACL WHOAMI | LIST,
// and the login step HELLO's AUTH option shares with AUTH (failed attempts rate-limited per
// connection and logged, never with the password).
#pragma once

#include <string_view>

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_auth(CommandContext& c);
void cmd_acl(CommandContext& c);

// Logs in as `user` with `password`: true on success (the session's user is set). On failure
// the WRONGPASS reply is written and finished here, possibly held back by the rate limiter,
// and the connection may be marked to close after it.
bool try_login(CommandContext& c, std::string_view user, std::string_view password);

}  // namespace sierra::server
