// The append commands (PROTOCOL.md §4.1, §4.2): EAPPEND and EMAPPEND. They finish their reply on
// the engine's writer thread once the transaction is durable; argument errors finish at once.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_eappend(CommandContext& c);
void cmd_emappend(CommandContext& c);

}  // namespace sierra::server
