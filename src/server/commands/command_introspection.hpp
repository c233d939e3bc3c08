// COMMAND (PROTOCOL.md §4.12): describes the command table in Redis's reply shapes, so that
// redis-cli's hints and client libraries that call COMMAND work.
//   COMMAND                   -> COMMAND INFO of every command
//   COMMAND COUNT             -> the number of commands
//   COMMAND LIST              -> every name (lower case)
//   COMMAND INFO [name ...]   -> per name: [name, arity, flags, first key, last key, step,
//                                acl categories, tips, key specs, subcommands], nil if unknown
//   COMMAND DOCS [name ...]   -> map name -> {summary, since, group, complexity, arguments},
//                                unknown names left out
//   COMMAND GETKEYS cmd ...   -> the routing key of the given request
// Any other subcommand replies an empty array, as COMMAND always did before it was served.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_command(CommandContext& c);

// Writes one COMMAND INFO entry (for tests and COMMAND).
void write_command_info(resp::ReplyWriter& w, const CommandSpec& spec);
// Writes one COMMAND DOCS value (the map after the name).
void write_command_docs(resp::ReplyWriter& w, const CommandSpec& spec);

}  // namespace sierra::server
