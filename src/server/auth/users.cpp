#include "server/auth/users.hpp"

#include <array>
#include <utility>

namespace sierra::server::auth {

namespace {

constexpr std::array<CommandClass, 5> kAllClasses = {CommandClass::read, CommandClass::write,
                                                     CommandClass::subscribe, CommandClass::admin,
                                                     CommandClass::connection};

constexpr std::uint8_t bit(CommandClass cls) {
  return static_cast<std::uint8_t>(1u << static_cast<unsigned>(cls));
}

constexpr std::uint8_t kAllClassBits = [] {
  std::uint8_t bits = 0;
  for (CommandClass cls : kAllClasses) bits |= bit(cls);
  return bits;
}();

User everyone_user(std::string name) {
  User user;
  user.name = std::move(name);
  user.classes = kAllClassBits;
  user.streams = StreamScope::all();
  return user;
}

std::expected<User, std::string> build_user(const UserSpec& spec) {
  const std::string where = "user '" + spec.name + "': ";
  User user;
  user.name = spec.name;
  user.enabled = spec.enabled;
  user.nopass = spec.nopass;
  if (spec.nopass && !spec.passwords.empty()) {
    return std::unexpected(where + "nopass and passwords are exclusive");
  }
  for (std::size_t i = 0; i < spec.passwords.size(); ++i) {
    auto digest = parse_configured_password(spec.passwords[i]);
    if (!digest) {
      return std::unexpected(where + "password " + std::to_string(i + 1) + ": " + digest.error());
    }
    user.passwords.push_back(*digest);
  }
  if (user.enabled && !user.nopass && user.passwords.empty()) {
    return std::unexpected(where + "has no password (set password(s), or nopass = true)");
  }
  user.classes = bit(CommandClass::connection);
  for (const std::string& word : spec.commands) {
    if (word == "all") {
      user.classes = kAllClassBits;
    } else if (auto cls = parse_command_class(word)) {
      user.classes |= bit(*cls);
    } else {
      return std::unexpected(where + "unknown command class '" + word +
                             "' (read, write, subscribe, admin, connection, all)");
    }
  }
  if (spec.streams) {
    auto scope = StreamScope::from_patterns(*spec.streams);
    if (!scope) return std::unexpected(where + scope.error());
    user.streams = std::move(*scope);
  }
  return user;
}

}  // namespace

std::string_view to_string(CommandClass cls) {
  switch (cls) {
    case CommandClass::read:
      return "read";
    case CommandClass::write:
      return "write";
    case CommandClass::subscribe:
      return "subscribe";
    case CommandClass::admin:
      return "admin";
    case CommandClass::connection:
      return "connection";
  }
  return "?";
}

std::optional<CommandClass> parse_command_class(std::string_view word) {
  for (CommandClass cls : kAllClasses) {
    if (to_string(cls) == word) return cls;
  }
  return std::nullopt;
}

std::expected<StreamScope, std::string> StreamScope::from_patterns(
    const std::vector<std::string>& patterns) {
  bool all = false;
  for (const std::string& pattern : patterns) {
    if (pattern.empty()) return std::unexpected(std::string("empty stream pattern"));
    const auto star = pattern.find('*');
    if (star != std::string::npos && star != pattern.size() - 1) {
      return std::unexpected("stream pattern '" + pattern +
                             "': '*' is allowed only at the end (a prefix)");
    }
    if (pattern == "*") all = true;
  }
  return StreamScope(all, patterns);
}

bool StreamScope::matches(std::string_view stream_id) const {
  if (all_) return true;
  for (const std::string& pattern : patterns_) {
    if (pattern.back() == '*') {
      if (stream_id.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1))) {
        return true;
      }
    } else if (stream_id == pattern) {
      return true;
    }
  }
  return false;
}

std::string_view error_line(AuthError error) {
  switch (error) {
    case AuthError::WrongPass:
    case AuthError::Disabled:
      return "WRONGPASS invalid username-password pair or user is disabled.";
  }
  return "WRONGPASS invalid username-password pair or user is disabled.";
}

std::expected<UserDirectory, std::string> UserDirectory::build(const AuthSpec& spec) {
  UserDirectory dir;
  dir.auth_configured_ = spec.requirepass.has_value() || !spec.users.empty();
  for (const UserSpec& user_spec : spec.users) {
    if (user_spec.name.empty()) return std::unexpected(std::string("a user has no name"));
    if (user_spec.name.find_first_of(" \t\r\n") != std::string::npos) {
      return std::unexpected("user '" + user_spec.name + "': the name contains white space");
    }
    if (dir.users_.contains(user_spec.name)) {
      return std::unexpected("user '" + user_spec.name + "' is defined twice");
    }
    auto user = build_user(user_spec);
    if (!user) return std::unexpected(user.error());
    dir.users_.emplace(user_spec.name, std::move(*user));
  }
  const bool has_default = dir.users_.contains(kDefaultUser);
  if (spec.requirepass) {
    if (has_default) {
      return std::unexpected(
          std::string("requirepass and a user named 'default' both set the default user's "
                      "password; keep one"));
    }
    auto digest = parse_configured_password(*spec.requirepass);
    if (!digest) return std::unexpected("requirepass: " + digest.error());
    User user = everyone_user(std::string(kDefaultUser));
    user.passwords.push_back(*digest);
    dir.users_.emplace(user.name, std::move(user));
  } else if (!has_default) {
    User user = everyone_user(std::string(kDefaultUser));
    if (dir.auth_configured_) {
      user.enabled = false;  // users exist: nobody gets in without AUTH
    } else {
      user.nopass = true;  // nothing configured: open, and protected mode guards it
    }
    dir.users_.emplace(user.name, std::move(user));
  }
  return dir;
}

const User* UserDirectory::initial_user() const {
  const User* user = find(kDefaultUser);
  return user != nullptr && user->enabled && user->nopass ? user : nullptr;
}

std::expected<const User*, AuthError> UserDirectory::authenticate(std::string_view name,
                                                                  std::string_view password) const {
  // Hash first, whatever the user: the time does not tell whether the user exists.
  const PasswordDigest digest = hash_password(password);
  const User* user = find(name);
  if (user == nullptr) return std::unexpected(AuthError::WrongPass);
  bool match = user->nopass;
  for (const PasswordDigest& candidate : user->passwords) {
    // No early exit: every digest is compared.
    match = constant_time_equal(digest, candidate) || match;
  }
  if (!match) return std::unexpected(AuthError::WrongPass);
  if (!user->enabled) return std::unexpected(AuthError::Disabled);
  return user;
}

const User* UserDirectory::find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

std::vector<std::string> UserDirectory::acl_list() const {
  std::vector<std::string> lines;
  lines.reserve(users_.size());
  for (const auto& [name, user] : users_) lines.push_back(acl_line(user));
  return lines;
}

std::string acl_line(const User& user) {
  std::string line = "user " + user.name + (user.enabled ? " on" : " off");
  if (user.nopass) line += " nopass";
  for (const PasswordDigest& digest : user.passwords) line += " #" + to_hex(digest);
  if (user.streams.all_streams()) {
    line += " ~*";
  } else if (user.streams.patterns().empty()) {
    line += " resetkeys";
  } else {
    for (const std::string& pattern : user.streams.patterns()) line += " ~" + pattern;
  }
  if ((user.classes & kAllClassBits) == kAllClassBits) {
    line += " +@all";
  } else {
    for (CommandClass cls : kAllClasses) {
      if (user.has_class(cls)) line += " +@" + std::string(to_string(cls));
    }
  }
  return line;
}

bool permits(const User& user, CommandClass cls, std::optional<std::string_view> stream_id) {
  if (!user.enabled) return false;
  if (cls == CommandClass::connection) return true;
  if (!user.has_class(cls)) return false;
  if (cls == CommandClass::admin) return true;
  if (stream_id) return user.streams.matches(*stream_id);
  return user.streams.all_streams();
}

}  // namespace sierra::server::auth
