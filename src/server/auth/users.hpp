// The users a server knows and what each may do (Redis ACL, cut to SierraDB's needs): a User has
// passwords (SHA-256 digests) and permissions by command class and stream-id pattern; the
// UserDirectory is built from the configuration's description of users and answers AUTH and
// permission checks. Pure logic: no sockets, no config file parsing (the config table produces
// an AuthSpec). See docs/SECURITY.md.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/auth/password.hpp"

namespace sierra::server::auth {

// The permission classes of commands (the command table's flags). Connection commands (HELLO,
// AUTH, PING, QUIT, ...) are permitted to every enabled user; the others must be granted.
enum class CommandClass : std::uint8_t { read, write, subscribe, admin, connection };

// "read", "write", "subscribe", "admin", "connection".
std::string_view to_string(CommandClass cls);
// The inverse of to_string; nullopt for any other word.
std::optional<CommandClass> parse_command_class(std::string_view word);

// Which stream ids a user may touch: every stream, or those matching one of the patterns.
// A pattern is an exact stream id, or a prefix followed by one trailing '*' ("orders-*");
// "*" alone means every stream.
class StreamScope {
 public:
  static StreamScope all() { return StreamScope(true, {}); }
  // Errors (config text): an empty pattern, or '*' anywhere but at the end.
  static std::expected<StreamScope, std::string> from_patterns(
      const std::vector<std::string>& patterns);

  bool all_streams() const { return all_; }
  bool matches(std::string_view stream_id) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  StreamScope(bool all, std::vector<std::string> patterns)
      : all_(all), patterns_(std::move(patterns)) {}
  bool all_;
  std::vector<std::string> patterns_;  // as configured; empty and !all_ = no stream
};

struct User {
  std::string name;
  bool enabled = true;
  bool nopass = false;  // any password (and no AUTH at all, for "default") is accepted
  std::vector<PasswordDigest> passwords;  // any one of them authenticates
  std::uint8_t classes = 0;               // bit (1 << CommandClass) per granted class
  StreamScope streams = StreamScope::all();

  bool has_class(CommandClass cls) const {
    return (classes >> static_cast<unsigned>(cls) & 1u) != 0;
  }
};

// One user as the configuration describes it ([[users]] in the TOML file).
struct UserSpec {
  std::string name;
  bool enabled = true;
  std::vector<std::string> passwords;  // each plain text or "#<64 hex>"
  bool nopass = false;
  std::vector<std::string> commands;                // class words (to_string above) or "all"
  std::optional<std::vector<std::string>> streams;  // nullopt: every stream
};

// The whole authentication configuration.
struct AuthSpec {
  std::optional<std::string> requirepass;  // the "default" user's password (plain or "#<hex>")
  std::vector<UserSpec> users;
};

enum class AuthError : std::uint8_t {
  WrongPass,  // unknown user or no password matches
  Disabled,   // the user exists but is off
};

// Redis's reply words, for the connection: "WRONGPASS invalid username-password pair or user
// is disabled." for both errors (the client must not learn which one happened).
std::string_view error_line(AuthError error);

class UserDirectory {
 public:
  static constexpr std::string_view kDefaultUser = "default";

  // Redis's "default" user semantics:
  // - nothing configured: "default" is on, nopass, all classes, all streams; every connection is
  //   authenticated as it from the start, and auth_configured() is false (protected mode);
  // - requirepass: "default" is on with that password, all classes, all streams;
  // - a [[users]] entry named "default" describes it fully (with requirepass too: an error);
  // - users but no "default" entry and no requirepass: "default" is off (unlike Redis, where it
  //   would stay nopass and let everyone in).
  // Errors (config text naming the user): duplicate or empty names, bad passwords, unknown
  // class words, bad stream patterns, a user with neither passwords nor nopass (it could never
  // log in, so it is almost certainly a mistake), or nopass together with passwords.
  static std::expected<UserDirectory, std::string> build(const AuthSpec& spec);

  // False when neither requirepass nor any user is configured: protected mode then admits
  // loopback connections only.
  bool auth_configured() const { return auth_configured_; }

  // The user a new connection runs as before any AUTH: "default" when it is on and nopass,
  // else nullptr (only HELLO, AUTH, PING, QUIT until an AUTH succeeds).
  const User* initial_user() const;

  // AUTH <user> <password>; AUTH <password> is authenticate("default", password). The password
  // is hashed and compared with every digest of the user in constant time; an unknown user costs
  // the same hash and answers WrongPass.
  std::expected<const User*, AuthError> authenticate(std::string_view user,
                                                     std::string_view password) const;

  // nullptr when there is no such user. Pointers stay valid as long as the directory lives.
  const User* find(std::string_view name) const;

  // ACL LIST: one line per user, sorted by name, e.g.
  //   user alice on #<hex> ~orders-* +@read +@write
  //   user default on nopass ~* +@all
  // Passwords appear only as "#<hash>".
  std::vector<std::string> acl_list() const;

  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, User, std::less<>> users_;
  bool auth_configured_ = false;
};

// One ACL LIST line for a user (see UserDirectory::acl_list).
std::string acl_line(const User& user);

// Whether `user` may run a command of class `cls`. `stream_id` is the one stream the command
// touches, or nullopt when it touches no single stream (a partition scan or subscription, which
// can show any stream's events): then read, write and subscribe need a user with every stream;
// admin commands are not restricted by streams. A disabled user is permitted nothing.
bool permits(const User& user, CommandClass cls, std::optional<std::string_view> stream_id);

}  // namespace sierra::server::auth
