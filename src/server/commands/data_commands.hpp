// The data commands (PROTOCOL.md §4.1-4.7): EAPPEND, EMAPPEND, EGET, ESCAN, ESVER, EPSCAN,
// EPSEQ. Appends finish their reply on the engine's writer thread once the transaction is
// durable; reads run on ctx.reads and finish there. Argument errors finish at once.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_eappend(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_emappend(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_eget(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_escan(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_esver(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_epscan(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_epseq(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);

}  // namespace sierra::server
