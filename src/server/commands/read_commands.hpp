// The read commands (PROTOCOL.md §4.3-4.7): EGET, ESCAN, ESVER, EPSCAN, EPSEQ, and EPREAD (the
// multi-partition read, docs/CLIENTS.md). Scans run on the read executor and finish there (with
// BLOCK, when events arrive or the timeout passes); point reads and argument errors finish at
// once.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_eget(CommandContext& c);
void cmd_escan(CommandContext& c);
void cmd_esver(CommandContext& c);
void cmd_epscan(CommandContext& c);
void cmd_epseq(CommandContext& c);
void cmd_epread(CommandContext& c);

}  // namespace sierra::server
