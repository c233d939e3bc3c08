// The one permission check of every command (docs/SECURITY.md §2), run by run_command before the
// handler: keeps the session's user current with the server's UserDirectory (SIGHUP reloads),
// refuses commands before AUTH (NOAUTH), commands of a class the user lacks and streams outside
// its patterns (NOPERM), in Redis's words.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/users.hpp"
#include "server/commands/command.hpp"

namespace sierra::server {

struct Refusal {
  std::string_view code;  // "NOAUTH", "NOPERM", "ERR"
  std::string message;
  bool close = false;  // close the connection after the reply (its user was removed)
};

// The permission class of a request: from the command's flags, or for a few subcommands
// (ACL LIST, CLIENT LIST/KILL) their own.
auth::CommandClass command_class(const CommandSpec& spec, Args args);

// The stream ids a request touches, as the stream patterns see them: the stream argument
// (EAPPEND, ESCAN, ESVER), each stream of an ESUB list or of EMAPPEND's events. nullopt when
// it touches no single set of streams it names (EGET, EPSCAN, EPSEQ, EPSUB: any stream's events
// may show), which only a user with every stream may run. An empty vector: the command names
// no stream at all (EACK, EUNSUB act on the connection's own subscriptions; INFO, ACL): the
// class alone decides.
std::optional<std::vector<std::string_view>> command_streams(const CommandSpec& spec, Args args);

// Refreshes session.user from `registry` when it changed (or on the first command): a user that
// was removed or disabled yields a closing refusal.
std::optional<Refusal> refresh_user(Session& session, const auth::UserRegistry& registry);

// nullopt: the request may run.
std::optional<Refusal> authorize(const CommandSpec& spec, Args args, Session& session,
                                 const auth::UserRegistry& registry);

}  // namespace sierra::server
