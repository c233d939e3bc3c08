// Server administration commands that Redis tools send: CONFIG GET (a read-only view of the
// configuration keys, plus the few Redis parameters tools ask for), CONFIG SET/REWRITE/RESETSTAT
// (refused: the configuration is read at start), SHUTDOWN (a clean stop, as SIGTERM). CLIENT's
// LIST / KILL are in basic_commands (cmd_client).
#pragma once

#include <string_view>

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_config(CommandContext& c);
void cmd_shutdown(CommandContext& c);

// Redis's glob (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), ASCII case-insensitive as CONFIG GET's.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace sierra::server
