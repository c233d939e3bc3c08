// The append commands (PROTOCOL.md §4.1, §4.2): EAPPEND and EMAPPEND. They finish their reply on
// the engine's writer thread once the transaction is durable; argument errors finish at once.
// prepare_append / write_append_reply split one append into "parse and check" and "reply from the
// engine's result", so that EXEC (transaction_commands.hpp) can join the appends queued in one
// MULTI into one engine transaction.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "server/commands/command.hpp"

namespace sierra::server {

void cmd_eappend(CommandContext& c);
void cmd_emappend(CommandContext& c);

// One EAPPEND or EMAPPEND, parsed and checked, ready for the engine.
struct PreparedAppend {
  struct ReplyEvent {
    Uuid event_id;
    std::string stream_id;
    uint64_t timestamp_ns = 0;
  };
  bool multi = false;  // EMAPPEND's reply shape
  Uuid key;
  PartitionId pid = 0;
  std::vector<NewEvent> events;
  std::vector<ReplyEvent> reply_events;  // one per event, in order
};

// An error reply: code and message.
struct AppendFailure {
  std::string code;
  std::string message;
};

// Parses EAPPEND or EMAPPEND (by args[0]) as its handler does, with the same errors.
std::expected<PreparedAppend, AppendFailure> prepare_append(const ServerContext& ctx, Args args);
// The command's reply, given the sequence of its first event and the versions of its events.
// `timestamps`: the stored ones when the engine answered a retry (else the prepared ones are used).
void write_append_reply(resp::ReplyWriter& w, const PreparedAppend& p, uint64_t first_sequence,
                        std::span<const uint64_t> versions,
                        std::span<const uint64_t> timestamps = {});
// How an engine error of an append is answered.
AppendFailure append_failure(const Error& e);

}  // namespace sierra::server
