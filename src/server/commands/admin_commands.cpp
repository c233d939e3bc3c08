#include "server/commands/admin_commands.hpp"

#include <signal.h>
#include <unistd.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/config_keys.hpp"

namespace sierra::server {

namespace {

constexpr char lower(char ch) {
  return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

bool is(std::string_view s, std::string_view upper) {
  if (s.size() != upper.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (lower(s[i]) != lower(upper[i])) return false;
  }
  return true;
}

// Redis parameters that tools read (redis-benchmark: save, appendonly), answered with what they
// mean here: no snapshots, every append durable in the log before its reply.
std::vector<std::pair<std::string, std::string>> redis_parameters(const Config& cfg) {
  return {
      {"save", ""},
      {"appendonly", "yes"},
      {"appendfsync", "always"},
      {"databases", "1"},
      {"maxclients", std::to_string(cfg.limits.max_clients)},
      {"port", std::to_string(cfg.network.client_port)},
      {"bind", cfg.network.client_host},
      {"dir", cfg.dir},
  };
}

bool class_match(std::string_view& p, char ch) {
  // p starts after '['.
  bool negate = false;
  if (!p.empty() && p.front() == '^') {
    negate = true;
    p.remove_prefix(1);
  }
  bool found = false;
  while (!p.empty() && p.front() != ']') {
    if (p.front() == '\\' && p.size() >= 2) {
      if (lower(p[1]) == ch) found = true;
      p.remove_prefix(2);
    } else if (p.size() >= 3 && p[1] == '-' && p[2] != ']') {
      char a = lower(p[0]), b = lower(p[2]);
      if (a > b) std::swap(a, b);
      if (ch >= a && ch <= b) found = true;
      p.remove_prefix(3);
    } else {
      if (lower(p.front()) == ch) found = true;
      p.remove_prefix(1);
    }
  }
  if (!p.empty()) p.remove_prefix(1);  // ']'
  return found != negate;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view s) {
  // Iterative with one backtracking point per '*' (linear in practice, no recursion).
  std::size_t star_p = std::string_view::npos, star_s = 0;
  std::string_view rest_p = p;
  std::size_t si = 0;
  for (;;) {
    if (!rest_p.empty()) {
      const char pc = rest_p.front();
      if (pc == '*') {
        rest_p.remove_prefix(1);
        star_p = p.size() - rest_p.size();
        star_s = si;
        continue;
      }
      if (si < s.size()) {
        const char ch = lower(s[si]);
        std::string_view after = rest_p;
        bool ok = false;
        if (pc == '?') {
          ok = true;
          after.remove_prefix(1);
        } else if (pc == '[') {
          after.remove_prefix(1);
          ok = class_match(after, ch);
        } else if (pc == '\\' && rest_p.size() >= 2) {
          ok = lower(rest_p[1]) == ch;
          after.remove_prefix(2);
        } else {
          ok = lower(pc) == ch;
          after.remove_prefix(1);
        }
        if (ok) {
          rest_p = after;
          ++si;
          continue;
        }
      }
    } else if (si == s.size()) {
      return true;
    }
    if (star_p == std::string_view::npos || star_s >= s.size()) return false;
    ++star_s;
    si = star_s;
    rest_p = p.substr(star_p);
  }
}

// CONFIG GET <pattern> [<pattern> ...] | CONFIG SET ... | CONFIG HELP
void cmd_config(CommandContext& c) {
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  const std::string_view sub = args[1];
  if (is(sub, "GET")) {
    if (args.size() < 3) {
      return reply_error(reply, "INVALIDARG", "wrong number of arguments for 'CONFIG|GET' command");
    }
    const Config& cfg = c.server.config;
    std::vector<std::pair<std::string, std::string>> found;
    std::set<std::string> seen;
    const auto add = [&](std::string name, std::string value) {
      if (seen.insert(name).second) found.emplace_back(std::move(name), std::move(value));
    };
    for (std::size_t i = 2; i < args.size(); ++i) {
      for (const config_keys::KeySpec& spec : config_keys::keys()) {
        if (glob_match(args[i], spec.key)) {
          add(std::string(spec.key), config_keys::format_value(spec, cfg));
        }
      }
      for (auto& [name, value] : redis_parameters(cfg)) {
        if (glob_match(args[i], name)) add(name, value);
      }
    }
    // A map after HELLO 3 (Redis 7's RESP3 reply); the flat array of RESP2 otherwise, which
    // redis-benchmark (hiredis, no HELLO) requires.
    auto w = reply->writer();
    if (c.session.asked_resp3()) {
      w.map(found.size());
    } else {
      w.array(found.size() * 2);
    }
    for (const auto& [name, value] : found) {
      w.bulk(name);
      w.bulk(value);
    }
    reply->finish();
    return;
  }
  if (is(sub, "SET") || is(sub, "REWRITE") || is(sub, "RESETSTAT")) {
    return reply_error(reply, "ERR",
                       "CONFIG " + std::string(is(sub, "SET") ? "SET" : sub.substr(0, 16)) +
                           " is not supported: the configuration is read at start (file, "
                           "environment, flags; docs/CONFIGURATION.md), restart to change it");
  }
  if (is(sub, "HELP")) {
    auto w = reply->writer();
    w.array(3);
    w.simple("CONFIG GET <pattern> [<pattern> ...]: the configuration keys matching the globs.");
    w.simple("CONFIG SET: not supported (restart with a new configuration).");
    w.simple("HELP: this text.");
    reply->finish();
    return;
  }
  reply_error(reply, "ERR",
              "unknown subcommand '" + std::string(sub.substr(0, 64)) +
                  "'. Supported: GET, HELP (SET is not supported)");
}

// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]: every append is already durable, so the
// options only change nothing; the stop is the graceful one of SIGTERM (in-flight requests
// finish, replies are flushed, the database is closed). Redis replies nothing on success: the
// connection closes.
void cmd_shutdown(CommandContext& c) {
  const Args args = c.args;
  bool abort = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (is(args[i], "ABORT")) {
      abort = true;
    } else if (!is(args[i], "NOSAVE") && !is(args[i], "SAVE") && !is(args[i], "NOW") &&
               !is(args[i], "FORCE")) {
      return reply_error(c.reply, "ERR", "syntax error");
    }
  }
  if (abort) {
    // No shutdown is ever pending (it starts at once), as Redis when none is in progress.
    return reply_error(c.reply, "ERR", "No shutdown in progress.");
  }
  if (c.server.request_stop) {
    c.server.request_stop();
  } else {
    ::kill(::getpid(), SIGTERM);  // main's signal handler: the same clean stop as SIGTERM
  }
  c.reply->writer().simple("OK");
  c.reply->finish();
}

}  // namespace sierra::server
