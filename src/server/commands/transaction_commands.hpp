// MULTI / EXEC / DISCARD / WATCH / UNWATCH, as Redis Cluster constrains them: between MULTI and
// EXEC commands are queued (+QUEUED); at EXEC the appends queued, which must all route to one
// partition (else CROSSSLOT) and share one partition key, run as ONE engine transaction (their
// expected versions checked together, as EMAPPEND's), and the other commands run in order
// around it (those queued before the first append see the log before the transaction, those
// after it see the transaction). WATCH <stream...>: EXEC answers a null reply if a watched
// stream's version changed since WATCH. The state lives in Session::multi.
#pragma once

#include "server/commands/command.hpp"

namespace sierra::server {

// Called by the connection for every command: between MULTI and EXEC queues it (or refuses it
// and marks the transaction failed) and returns true; otherwise returns false (run it). `spec`
// may be nullptr (unknown command: the caller answers it).
bool queue_in_multi(CommandContext& c, const CommandSpec* spec);

void cmd_multi(CommandContext& c);
void cmd_exec(CommandContext& c);
void cmd_discard(CommandContext& c);
void cmd_watch(CommandContext& c);
void cmd_unwatch(CommandContext& c);

}  // namespace sierra::server
