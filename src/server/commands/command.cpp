// The one entry point of every command: the permission check, the central arity check, then
// the handler.
#include "server/commands/command.hpp"

#include "server/commands/authorize.hpp"

#include <string>
#include <utility>

namespace sierra::server {

namespace {

std::string upper_name(std::string_view name) {
  std::string up(name.substr(0, 128));
  for (char& ch : up) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return up;
}

}  // namespace

void CommandContext::post_read(std::function<void()> job) const {
  if (server.reads == nullptr) {
    job();
    return;
  }
  server.reads->post(client != nullptr ? client->track_read(std::move(job)) : std::move(job));
}

void run_command(const CommandSpec& spec, CommandContext& c) {
  if (auto refused = authorize(spec, c.args, c.session, c.server.users)) {
    if (refused->close) c.session.close_after_reply = true;
    reply_error(c.reply, refused->code, refused->message);
    return;
  }
  if (!c.args.empty() && !arity_ok(spec.arity, c.args.size()) &&
      spec.arity_reply == ArityReply::Standard) {
    reply_error(c.reply, "INVALIDARG",
                "wrong number of arguments for '" + upper_name(c.args[0]) + "' command");
    return;
  }
  // ArityReply::Grammar: on a failed check the handler's grammar words the error (see there).
  spec.handler(c);
}

}  // namespace sierra::server
