#include "server/commands/auth_commands.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "server/auth/users.hpp"
#include "server/commands/authorize.hpp"

namespace sierra::server {

namespace {

constexpr std::string_view kWrongPass = "invalid username-password pair or user is disabled.";

bool is(std::string_view s, std::string_view upper_word) {
  if (s.size() != upper_word.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (ch != upper_word[i]) return false;
  }
  return true;
}

// A user name as a log line may show it: at most 64 bytes, printable ASCII only.
std::string loggable(std::string_view name) {
  std::string out(name.substr(0, 64));
  for (char& ch : out) {
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  }
  if (name.size() > 64) out += "...";
  return out;
}

// One line per connection per second at most; the lines left out are counted in the next.
void log_failure(Session& s, std::string_view user, std::string_view why) {
  const auto now = std::chrono::steady_clock::now();
  if (now - s.last_auth_log < std::chrono::seconds(1)) {
    ++s.auth_logs_suppressed;
    return;
  }
  s.last_auth_log = now;
  const uint64_t suppressed = std::exchange(s.auth_logs_suppressed, 0);
  if (suppressed != 0) {
    spdlog::warn(
        "auth: connection {} from {}: failed AUTH for user '{}' ({}; {} more failures "
        "not logged)",
        s.id, s.peer, loggable(user), why, suppressed);
  } else {
    spdlog::warn("auth: connection {} from {}: failed AUTH for user '{}' ({})", s.id, s.peer,
                 loggable(user), why);
  }
}

}  // namespace

bool try_login(CommandContext& c, std::string_view user, std::string_view password) {
  Session& s = c.session;
  if (auto refused = refresh_user(s, c.server.users); refused) {
    if (refused->close) s.close_after_reply = true;
    reply_error(c.reply, refused->code, refused->message);
    return false;
  }
  if (!s.auth_limiter) s.auth_limiter.emplace(auth::AuthRateLimiter::Policy{});
  std::string_view why;
  if (s.auth_limiter->retry_after().count() > 0) {
    // Sent while the previous failure is still held back: refused without trying it.
    why = "attempt during the back-off";
  } else {
    auto result = s.users->authenticate(user, password);
    if (result) {
      s.auth_limiter->on_success();
      s.user = *result;
      s.authenticated = true;
      return true;
    }
    if (result.error() == auth::AuthError::Disabled) {
      why = "disabled";
    } else {
      why = s.users->find(user) != nullptr ? "wrong password" : "unknown user";
    }
  }
  log_failure(s, user, why);
  const auth::AuthRateLimiter::Verdict verdict = s.auth_limiter->on_failure();
  if (verdict.disconnect) {
    s.close_after_reply = true;
    spdlog::warn("auth: connection {} from {}: closed after {} failed AUTH attempts", s.id, s.peer,
                 s.auth_limiter->consecutive_failures());
  }
  ReplyPtr reply = c.reply;
  auto answer = [reply] { reply_error(reply, "WRONGPASS", kWrongPass); };
  if (verdict.delay.count() > 0 && c.client != nullptr) {
    c.client->run_after(verdict.delay, std::move(answer));
  } else {
    answer();
  }
  return false;
}

// AUTH [username] password
void cmd_auth(CommandContext& c) {
  const Args args = c.args;
  if (args.size() != 2 && args.size() != 3) {
    return reply_error(c.reply, "ERR", "wrong number of arguments for 'auth' command");
  }
  if (args.size() == 2) {
    if (auto refused = refresh_user(c.session, c.server.users); refused) {
      if (refused->close) c.session.close_after_reply = true;
      return reply_error(c.reply, refused->code, refused->message);
    }
    const auth::User* def = c.session.users->find(auth::UserDirectory::kDefaultUser);
    if (def != nullptr && def->enabled && def->nopass) {
      return reply_error(c.reply, "ERR",
                         "AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
    }
  }
  const std::string_view user = args.size() == 3 ? args[1] : auth::UserDirectory::kDefaultUser;
  if (!try_login(c, user, args.back())) return;
  c.reply->writer().simple("OK");
  c.reply->finish();
}

// ACL WHOAMI | LIST
void cmd_acl(CommandContext& c) {
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  const Session& s = c.session;
  if (is(args[1], "WHOAMI") && args.size() == 2) {
    if (s.user == nullptr) return reply_error(reply, "NOAUTH", "Authentication required.");
    reply->writer().bulk(s.user->name);
    reply->finish();
    return;
  }
  if (is(args[1], "LIST") && args.size() == 2) {
    const std::vector<std::string> lines = s.users->acl_list();
    resp::ReplyWriter w = reply->writer();
    w.array(lines.size());
    for (const std::string& line : lines) w.bulk(line);
    reply->finish();
    return;
  }
  reply_error(reply, "ERR",
              "unknown subcommand or wrong number of arguments for '" +
                  std::string(args[1].substr(0, 64)) + "'. Try ACL WHOAMI or ACL LIST.");
}

}  // namespace sierra::server
