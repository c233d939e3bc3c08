// The subscription commands (PROTOCOL.md §4.8-4.10, §7, §11 rows 3-7): ESUB, EPSUB, EACK and
// EUNSUB. ESUB and EPSUB reply with the subscription id (a simple string) immediately followed
// by a `subscribe` push, then `message` pushes follow (server/subscriptions). SUBSCRIBE and
// UNSUBSCRIBE are the Redis pub/sub form of the same subscriptions (pubsub_format.hpp), for
// client libraries' own pub/sub APIs.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

inline constexpr uint64_t kDefaultWindow = 1000;

void cmd_esub(CommandContext& c);
void cmd_epsub(CommandContext& c);
void cmd_eack(CommandContext& c);
void cmd_eunsub(CommandContext& c);
void cmd_subscribe(CommandContext& c);
void cmd_unsubscribe(CommandContext& c);

}  // namespace sierra::server
