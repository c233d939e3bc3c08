// The connection and introspection commands (PROTOCOL.md §1.5, §4.11-4.13; DECISIONS.md D6:
// HELLO 2 switches the connection to RESP2, clients' handshake commands are tolerated):
// PING, ECHO, HELLO, INFO, CLIENT, SELECT, QUIT (COMMAND: command_introspection.hpp). All finish
// their reply at once.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_ping(CommandContext& c);
void cmd_echo(CommandContext& c);
void cmd_hello(CommandContext& c);
void cmd_info(CommandContext& c);
void cmd_client(CommandContext& c);
void cmd_select(CommandContext& c);
void cmd_quit(CommandContext& c);

}  // namespace sierra::server
