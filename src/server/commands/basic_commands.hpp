// The connection and introspection commands (PROTOCOL.md §1.5, §4.11-4.13; DECISIONS.md D6:
// HELLO 2 switches the connection to RESP2, clients' handshake commands are tolerated):
// PING, ECHO, HELLO, INFO, CLIENT, SELECT, COMMAND, QUIT. All finish their reply at once.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_ping(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_echo(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_hello(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_info(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_client(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_select(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_command(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);
void cmd_quit(ServerContext& ctx, Session& session, Args args, const ReplyPtr& reply);

}  // namespace sierra::server
