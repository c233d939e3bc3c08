#include "server/commands/authorize.hpp"

#include <utility>

namespace sierra::server {

namespace {

constexpr char upper(char ch) {
  return ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch;
}
constexpr char lower(char ch) {
  return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

bool is(std::string_view s, std::string_view upper_word) {
  if (s.size() != upper_word.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (upper(s[i]) != upper_word[i]) return false;
  }
  return true;
}

std::string lower_name(std::string_view name) {
  std::string out(name.substr(0, 64));
  for (char& ch : out) ch = lower(ch);
  return out;
}

bool is_event_option(std::string_view token) {
  return is(token, "EVENT_ID") || is(token, "EXPECTED_VERSION") || is(token, "TIMESTAMP") ||
         is(token, "PAYLOAD") || is(token, "METADATA");
}

}  // namespace

auth::CommandClass command_class(const CommandSpec& spec, Args args) {
  using auth::CommandClass;
  if (args.size() >= 2) {
    if (spec.name == "ACL" && is(args[1], "LIST")) return CommandClass::admin;
    if (spec.name == "CLIENT" && (is(args[1], "LIST") || is(args[1], "KILL"))) {
      return CommandClass::admin;
    }
  }
  if (spec.has(kAdmin)) return CommandClass::admin;
  if (spec.has(kWrite)) return CommandClass::write;
  if (spec.has(kSubscription)) return CommandClass::subscribe;
  if (spec.has(kRead)) return CommandClass::read;
  if (spec.has(kConnection)) return CommandClass::connection;
  return CommandClass::admin;  // a command without a class: only admins
}

std::optional<std::vector<std::string_view>> command_streams(const CommandSpec& spec, Args args) {
  std::vector<std::string_view> streams;
  const std::size_t index = spec.key.index;
  if (index == 0) return streams;
  if (spec.name == "EMAPPEND") {
    // EMAPPEND <partition_key> (<stream_id> <event_name> [<option> <value>]...)...
    for (std::size_t i = 2; i < args.size();) {
      streams.push_back(args[i]);
      i += 2;
      while (i + 1 < args.size() && is_event_option(args[i])) i += 2;
    }
    return streams;
  }
  if (spec.key.kind != KeyKind::StreamId) return std::nullopt;
  if (spec.key.stream_list) {
    // ESUB: stream ids until FROM or WINDOW, each optionally followed by PARTITION_KEY <uuid>.
    for (std::size_t i = index; i < args.size();) {
      if (is(args[i], "FROM") || is(args[i], "WINDOW")) break;
      if (is(args[i], "PARTITION_KEY")) {
        i += 2;
        continue;
      }
      streams.push_back(args[i]);
      ++i;
    }
    return streams;
  }
  if (index < args.size()) streams.push_back(args[index]);
  return streams;
}

std::optional<Refusal> refresh_user(Session& session, const auth::UserRegistry& registry) {
  if (session.users != nullptr && session.users_generation == registry.generation()) {
    return std::nullopt;
  }
  const uint64_t generation = registry.generation();
  std::shared_ptr<const auth::UserDirectory> dir = registry.current();
  const bool first = session.users == nullptr;
  session.users_generation = generation;
  if (first || !session.authenticated) {
    session.users = std::move(dir);
    session.user = session.users->initial_user();
    return std::nullopt;
  }
  const auth::User* user = dir->find(session.user->name);
  if (user == nullptr || !user->enabled) {
    std::string name = session.user->name;
    session.users = std::move(dir);
    session.user = nullptr;
    session.authenticated = false;
    return Refusal{"ERR", "user '" + name + "' was removed or disabled; closing the connection",
                   true};
  }
  session.users = std::move(dir);
  session.user = user;
  return std::nullopt;
}

std::optional<Refusal> authorize(const CommandSpec& spec, Args args, Session& session,
                                 const auth::UserRegistry& registry) {
  if (auto refused = refresh_user(session, registry)) return refused;
  if (spec.has(kNoAuth)) return std::nullopt;  // HELLO, AUTH, PING, QUIT
  const auth::User* user = session.user;
  if (user == nullptr) return Refusal{"NOAUTH", "Authentication required."};
  const auth::CommandClass cls = command_class(spec, args);
  const bool class_ok =
      user->enabled && (cls == auth::CommandClass::connection || user->has_class(cls));
  if (!class_ok) {
    std::string name = lower_name(spec.name);
    if (args.size() >= 2 && (spec.name == "ACL" || spec.name == "CLIENT")) {
      name += "|" + lower_name(args[1]);
    }
    return Refusal{"NOPERM",
                   "User " + user->name + " has no permissions to run the '" + name + "' command"};
  }
  if (cls == auth::CommandClass::connection || cls == auth::CommandClass::admin) {
    return std::nullopt;
  }
  const auto streams = command_streams(spec, args);
  bool streams_ok = true;
  if (!streams) {
    streams_ok = auth::permits(*user, cls, std::nullopt);
  } else {
    for (std::string_view stream : *streams) {
      if (!auth::permits(*user, cls, stream)) {
        streams_ok = false;
        break;
      }
    }
  }
  if (!streams_ok) return Refusal{"NOPERM", "No permissions to access a key"};
  return std::nullopt;
}

}  // namespace sierra::server
