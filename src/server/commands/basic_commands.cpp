#include "server/commands/basic_commands.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/commands/auth_commands.hpp"

#ifndef SIERRA_VERSION
#define SIERRA_VERSION "0.0.0"
#endif

// The Redis version HELLO's `version` and INFO's `redis_version` report: client libraries read
// it as the server's Redis version to choose features (docs/CLIENTS.md).
#define SIERRA_REDIS_COMPAT_VERSION "7.2.0"

namespace sierra::server {

namespace {

constexpr char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

// `s` equals the upper-case `upper` ignoring ASCII case.
bool is(std::string_view s, std::string_view upper) {
  if (s.size() != upper.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (to_upper(s[i]) != upper[i]) return false;
  }
  return true;
}

std::string upper_copy(std::string_view s) {
  std::string out(s.substr(0, 128));
  for (char& c : out) c = to_upper(c);
  return out;
}

void wrong_arity(const ReplyPtr& reply, Args args) {
  reply_error(reply, "INVALIDARG",
              "wrong number of arguments for '" + upper_copy(args[0]) + "' command");
}

void ok(const ReplyPtr& reply) {
  reply->writer().simple("OK");
  reply->finish();
}

bool parse_int(std::string_view s, int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

// Redis rule for client names: printable ASCII, no spaces.
bool valid_client_name(std::string_view name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

constexpr std::string_view kBadClientName =
    "Client names cannot contain spaces, newlines or special characters.";

// ------------------------------------------------------------------------------------ INFO

constexpr unsigned kServer = 1, kClients = 2, kStorage = 4, kStats = 8, kAll = 15;

// Faults the database runs with (engine/health.hpp): "bucket/segment" lists.
template <class Line>
void info_health(const ServerContext& ctx, Line& line) {
  if (!ctx.db) return;
  const DatabaseHealth h = ctx.db->health();
  const auto list = [](const std::vector<SegmentHealth>& v) {
    std::string out;
    for (const SegmentHealth& s : v) {
      out += fmt::format("{}{}/{}", out.empty() ? "" : ",", s.bucket, s.segment);
    }
    return out;
  };
  line("index_writes_waiting", h.index_writes_waiting.size());
  line("index_writes_waiting_segments", list(h.index_writes_waiting));
  line("quarantined_segments", h.quarantined.size());
  line("quarantined_segment_list", list(h.quarantined));
}

std::string info_text(const ServerContext& ctx, unsigned sections) {
  const auto& cfg = ctx.config;
  const auto& st = ctx.stats;
  const auto load = [](const std::atomic<uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) {
    fmt::format_to(std::back_inserter(out), "{}:{}\r\n", key, value);
  };
  auto header = [&out](std::string_view name) {
    if (!out.empty()) out += "\r\n";
    out += "# ";
    out += name;
    out += "\r\n";
  };
  if (sections & kServer) {
    header("Server");
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - ctx.started);
    line("sierradb_version", SIERRA_VERSION);
    line("redis_version", SIERRA_REDIS_COMPAT_VERSION);
    line("redis_mode", "standalone");
    line("peer_id", ctx.peer_id);
    line("process_id", static_cast<long>(::getpid()));
    line("tcp_port", cfg.network.client_port);
    line("uptime_in_seconds", uptime.count());
    line("uptime_in_days", uptime.count() / 86400);
  }
  if (sections & kClients) {
    header("Clients");
    line("connected_clients", load(st.connected_clients));
    line("maxclients", cfg.limits.max_clients);
  }
  if (sections & kStorage) {
    header("Storage");
    line("dir", cfg.dir);
    line("partitions", cfg.partition.count);
    line("buckets", cfg.bucket.count);
    line("owned_buckets", fmt::format("{}", fmt::join(cfg.owned_buckets, ",")));
    line("segment_size", cfg.segment.size_bytes);
    line("strict_versioning", cfg.append.strict_versioning ? 1 : 0);
    info_health(ctx, line);
  }
  if (sections & kStats) {
    header("Stats");
    line("total_connections_received", load(st.connections_received));
    line("rejected_connections", load(st.rejected_connections));
    line("total_commands_processed", load(st.commands_processed));
    line("total_error_replies", load(st.command_errors));
    line("events_appended", load(st.events_appended));
    line("events_read", load(st.events_read));
    line("total_net_input_bytes", load(st.net_input_bytes));
    line("total_net_output_bytes", load(st.net_output_bytes));
  }
  return out;
}

void info_cache(const ServerContext& ctx, const ReplyPtr& reply) {
  // There is no block cache yet (reads go to the OS page cache), so every counter is zero;
  // max_bytes reports the configured capacity. Keys and types are upstream's INFO cache section
  // (PROTOCOL.md §4.13).
  const uint64_t hits = 0;
  const uint64_t misses = 0;
  const double hit_ratio = hits + misses == 0 ? 0.0 : static_cast<double>(hits) / (hits + misses);
  auto w = reply->writer();
  w.map(8);
  w.bulk("hits");
  w.integer(static_cast<int64_t>(hits));
  w.bulk("misses");
  w.integer(static_cast<int64_t>(misses));
  w.bulk("hit_ratio");
  w.dbl(hit_ratio);
  w.bulk("entries");
  w.integer(0);
  w.bulk("memory_bytes");
  w.integer(0);
  w.bulk("max_bytes");
  w.integer(static_cast<int64_t>(ctx.config.cache.capacity_bytes));
  w.bulk("block_size_bytes");
  w.integer(65536);
  w.bulk("evictions");
  w.integer(0);
  reply->finish();
}

// ------------------------------------------------------------------------------------ CLIENT

// This connection as CLIENT INFO shows it: the registry's entry (addresses, age) with the
// session's current values.
ClientInfo session_info(const CommandContext& c) {
  ClientInfo info;
  for (ClientInfo& e : c.server.clients.list()) {
    if (e.id == c.session.id) info = std::move(e);
  }
  info.id = c.session.id;
  info.name = c.session.name;
  info.lib_name = c.session.lib_name;
  info.lib_ver = c.session.lib_ver;
  info.resp = c.session.protocol;
  info.multi = c.session.multi.active ? static_cast<int>(c.session.multi.queued.size()) : -1;
  info.cmd = "client|info";
  return info;
}

// CLIENT LIST [TYPE normal] [ID id ...]
void client_list(CommandContext& c) {
  const Args args = c.args;
  std::vector<uint64_t> ids;
  for (std::size_t i = 2; i < args.size();) {
    if (is(args[i], "TYPE") && i + 1 < args.size()) {
      if (!is(args[i + 1], "NORMAL")) {
        // Every client is a normal one (no replicas, no pub/sub clients in Redis's sense).
        if (is(args[i + 1], "REPLICA") || is(args[i + 1], "MASTER") || is(args[i + 1], "PUBSUB") ||
            is(args[i + 1], "SLAVE")) {
          c.reply->writer().bulk("");
          c.reply->finish();
          return;
        }
        return reply_error(c.reply, "ERR",
                           "Unknown client type '" + std::string(args[i + 1].substr(0, 64)) + "'");
      }
      i += 2;
    } else if (is(args[i], "ID") && i + 1 < args.size()) {
      for (++i; i < args.size(); ++i) {
        int64_t id = 0;
        if (!parse_int(args[i], id) || id <= 0) {
          return reply_error(c.reply, "ERR", "Invalid client ID");
        }
        ids.push_back(static_cast<uint64_t>(id));
      }
    } else {
      return reply_error(c.reply, "ERR", "syntax error");
    }
  }
  std::string out;
  for (ClientInfo& info : c.server.clients.list()) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), info.id) == ids.end()) continue;
    if (info.id == c.session.id) {
      info = session_info(c);
      info.cmd = "client|list";
    }
    out += ClientRegistry::describe(info);
  }
  c.reply->writer().bulk(out);
  c.reply->finish();
}

// CLIENT KILL <addr:port> | CLIENT KILL [ID id] [ADDR addr:port] [LADDR addr:port] [SKIPME yes|no]
void client_kill(CommandContext& c) {
  const Args args = c.args;
  if (args.size() == 3) {
    // The old form: one address, +OK or an error.
    const std::string addr(args[2]);
    const std::size_t n = c.server.clients.kill(
        [&addr](const ClientInfo& i) { return i.addr == addr; }, c.session.id);
    if (n == 0) return reply_error(c.reply, "ERR", "No such client");
    return ok(c.reply);
  }
  std::optional<uint64_t> id;
  std::optional<std::string> addr, laddr;
  bool skipme = true;
  if (args.size() < 4 || args.size() % 2 != 0) return reply_error(c.reply, "ERR", "syntax error");
  for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
    const std::string_view value = args[i + 1];
    if (is(args[i], "ID")) {
      int64_t v = 0;
      if (!parse_int(value, v) || v <= 0) {
        return reply_error(c.reply, "ERR", "client-id should be greater than 0");
      }
      id = static_cast<uint64_t>(v);
    } else if (is(args[i], "ADDR")) {
      addr = std::string(value);
    } else if (is(args[i], "LADDR")) {
      laddr = std::string(value);
    } else if (is(args[i], "SKIPME")) {
      if (is(value, "YES")) {
        skipme = true;
      } else if (is(value, "NO")) {
        skipme = false;
      } else {
        return reply_error(c.reply, "ERR", "syntax error");
      }
    } else if (is(args[i], "TYPE") || is(args[i], "USER") || is(args[i], "MAXAGE")) {
      return reply_error(c.reply, "ERR",
                         "CLIENT KILL " + upper_copy(args[i]) +
                             " is not supported (filters: ID, ADDR, LADDR, SKIPME)");
    } else {
      return reply_error(c.reply, "ERR", "syntax error");
    }
  }
  const uint64_t self = c.session.id;
  const std::size_t n = c.server.clients.kill(
      [&](const ClientInfo& i) {
        if (skipme && i.id == self) return false;
        if (id && i.id != *id) return false;
        if (addr && i.addr != *addr) return false;
        if (laddr && i.laddr != *laddr) return false;
        return true;
      },
      self);
  c.reply->writer().integer(static_cast<int64_t>(n));
  c.reply->finish();
}

}  // namespace

// ------------------------------------------------------------------------------------ handlers

void cmd_ping(CommandContext& c) {
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  if (args.size() > 2) return wrong_arity(reply, args);
  auto w = reply->writer();
  if (args.size() == 1) {
    w.simple("PONG");
  } else {
    w.bulk(args[1]);
  }
  reply->finish();
}

void cmd_echo(CommandContext& c) {
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  reply->writer().bulk(args[1]);
  reply->finish();
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
void cmd_hello(CommandContext& c) {
  ServerContext& ctx = c.server;
  Session& session = c.session;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  int proto = session.protocol;
  if (args.size() >= 2) {
    int64_t v = 0;
    if (!parse_int(args[1], v) || (v != 2 && v != 3)) {
      return reply_error(reply, "NOPROTO", "unsupported protocol version");
    }
    proto = static_cast<int>(v);
  }
  std::optional<std::string_view> name;
  std::optional<std::pair<std::string_view, std::string_view>> credentials;
  for (std::size_t i = 2; i < args.size();) {
    if (is(args[i], "AUTH")) {
      if (i + 2 >= args.size()) {
        return reply_error(reply, "INVALIDARG", "HELLO AUTH needs a username and a password");
      }
      credentials.emplace(args[i + 1], args[i + 2]);
      i += 3;
    } else if (is(args[i], "SETNAME")) {
      if (i + 1 >= args.size()) {
        return reply_error(reply, "INVALIDARG", "HELLO SETNAME needs a client name");
      }
      if (!valid_client_name(args[i + 1])) return reply_error(reply, "ERR", kBadClientName);
      name = args[i + 1];
      i += 2;
    } else {
      return reply_error(
          reply, "INVALIDARG",
          "syntax error in HELLO option '" + std::string(args[i].substr(0, 64)) + "'");
    }
  }
  // AUTH first: a failure (WRONGPASS, already answered) changes nothing, not even the protocol.
  // With no password or user configured, every connection is already "default" and
  // credentials are accepted without a check (as before there was AUTH).
  if (credentials && session.users != nullptr && !session.users->auth_configured()) {
    credentials.reset();
  }
  if (credentials && !try_login(c, credentials->first, credentials->second)) return;
  if (!credentials && session.user == nullptr && name) {
    return reply_error(reply, "NOAUTH", "Authentication required.");
  }
  session.protocol = proto;
  if (args.size() >= 2) session.hello = proto;
  if (name) session.name = std::string(*name);

  // The reply itself uses the new protocol (HELLO 2 answers in RESP2).
  resp::ReplyWriter w(reply->bytes(), proto);
  w.map(10);
  w.bulk("server");
  w.bulk("sierradb");
  w.bulk("version");
  w.bulk(SIERRA_REDIS_COMPAT_VERSION);
  w.bulk("peer_id");
  w.bulk(ctx.peer_id);
  w.bulk("num_partitions");
  w.integer(ctx.config.partition.count);
  w.bulk("proto");
  w.integer(proto);
  w.bulk("id");
  w.integer(static_cast<int64_t>(session.id));
  w.bulk("mode");
  w.bulk("standalone");
  w.bulk("role");
  w.bulk("master");
  w.bulk("modules");
  w.array(0);
  w.bulk("sierradb_version");
  w.bulk(SIERRA_VERSION);
  reply->finish();
}

// INFO [section ...]: text sections as a verbatim string; INFO CACHE as a map.
void cmd_info(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  if (args.size() == 2 && is(args[1], "CACHE")) return info_cache(ctx, reply);
  unsigned sections = args.size() == 1 ? kAll : 0;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view s = args[i];
    if (is(s, "SERVER")) {
      sections |= kServer;
    } else if (is(s, "CLIENTS")) {
      sections |= kClients;
    } else if (is(s, "STORAGE")) {
      sections |= kStorage;
    } else if (is(s, "STATS")) {
      sections |= kStats;
    } else if (is(s, "ALL") || is(s, "DEFAULT") || is(s, "EVERYTHING")) {
      sections |= kAll;
    } else {
      return reply_error(reply, "INVALIDARG",
                         "unknown INFO section '" + std::string(s.substr(0, 64)) + "'");
    }
  }
  // A verbatim string only for a connection that asked for RESP3 with HELLO 3; a RESP2 parser
  // (ioredis 5's ready check, redis-py 4's info()) reads a bulk string (PROTOCOL §4.13).
  auto w = reply->writer();
  if (c.session.asked_resp3()) {
    w.verbatim(info_text(ctx, sections));
  } else {
    w.bulk(info_text(ctx, sections));
  }
  reply->finish();
}

// CLIENT SETINFO | SETNAME | GETNAME | ID | INFO
void cmd_client(CommandContext& c) {
  Session& session = c.session;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  const std::string_view sub = args[1];
  if (is(sub, "SETINFO")) {
    if (args.size() != 4) return wrong_arity(reply, args);
    if (is(args[2], "LIB-NAME")) {
      if (!valid_client_name(args[3])) {
        return reply_error(reply, "ERR", "lib-name cannot contain spaces or special characters");
      }
      session.lib_name = std::string(args[3]);
    } else if (is(args[2], "LIB-VER")) {
      if (!valid_client_name(args[3])) {
        return reply_error(reply, "ERR", "lib-ver cannot contain spaces or special characters");
      }
      session.lib_ver = std::string(args[3]);
    } else {
      return reply_error(reply, "ERR",
                         "Unrecognized option '" + std::string(args[2].substr(0, 64)) + "'");
    }
    return ok(reply);
  }
  if (is(sub, "SETNAME")) {
    if (args.size() != 3) return wrong_arity(reply, args);
    if (!valid_client_name(args[2])) return reply_error(reply, "ERR", kBadClientName);
    session.name = std::string(args[2]);
    return ok(reply);
  }
  if (is(sub, "GETNAME")) {
    if (args.size() != 2) return wrong_arity(reply, args);
    auto w = reply->writer();
    if (session.name.empty()) {
      w.null();
    } else {
      w.bulk(session.name);
    }
    reply->finish();
    return;
  }
  if (is(sub, "ID")) {
    if (args.size() != 2) return wrong_arity(reply, args);
    reply->writer().integer(static_cast<int64_t>(session.id));
    reply->finish();
    return;
  }
  if (is(sub, "INFO")) {
    if (args.size() != 2) return wrong_arity(reply, args);
    reply->writer().bulk(ClientRegistry::describe(session_info(c)));
    reply->finish();
    return;
  }
  if (is(sub, "LIST")) return client_list(c);
  if (is(sub, "KILL")) return client_kill(c);
  reply_error(reply, "ERR",
              "unknown subcommand '" + std::string(sub.substr(0, 64)) +
                  "'. Supported: SETINFO, SETNAME, GETNAME, ID, INFO, LIST, KILL");
}

void cmd_select(CommandContext& c) {
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  int64_t db = -1;
  if (!parse_int(args[1], db) || db != 0) {
    return reply_error(reply, "ERR", "DB index is out of range");
  }
  ok(reply);
}

void cmd_quit(CommandContext& c) {
  Session& session = c.session;
  const ReplyPtr& reply = c.reply;
  session.close_after_reply = true;
  ok(reply);
}

}  // namespace sierra::server
