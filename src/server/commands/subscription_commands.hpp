// The subscription commands (PROTOCOL.md §4.8-4.10, §7, §11 rows 3-7): ESUB, EPSUB, EACK and
// EUNSUB. ESUB and EPSUB reply with the subscription id (a simple string) immediately followed
// by a `subscribe` push, then `message` pushes follow (server/subscriptions).
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

inline constexpr uint64_t kDefaultWindow = 1000;

void cmd_esub(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_epsub(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_eack(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_eunsub(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);

}  // namespace sierra::server
