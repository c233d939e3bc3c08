// ESUB, EPSUB, EACK and EUNSUB.
//
// Grammar choices (PROTOCOL §4.8-4.10, §11):
//   - ESUB's stream list ends at the first token equal to FROM or WINDOW (any case); each stream
//     may be followed by PARTITION_KEY <uuid>. Duplicate (stream, key) pairs are merged.
//   - FROM and WINDOW may come in either order, each at most once. FROM MAP entries run until
//     WINDOW (ESUB) or DEFAULT / WINDOW (EPSUB); at least one entry is required. A MAP entry
//     for a stream or partition that is not selected is ignored.
//   - EPSUB selectors: `*` (every partition this node owns), a partition id, a partition key
//     UUID (hash % N), an inclusive range `a-b` (b clamped to N-1), or a comma list of these.
//     Ids >= N, and ranges starting at >= N or with a > b, are INVALIDARG; a partition this
//     node does not own is `CLUSTERDOWN partition unavailable`.
//   - FROM LATEST (or no FROM) starts at the watermark read when the subscription is accepted,
//     so only events committed after that are delivered (§7.6, §11 row 7: upstream could deliver
//     older events to a LATEST subscriber).
//   - WINDOW is 1..=i64 max, default 1000.
//   - EACK/EUNSUB of an unknown id, or an id of another connection: `NOTFOUND subscription not
//     found`. A subscription that failed (its `error` push was sent) is no longer known.
#include "server/commands/subscription_commands.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/commands/arguments.hpp"
#include "server/commands/engine_error.hpp"
#include "server/subscriptions/pubsub_format.hpp"
#include "server/subscriptions/subscription.hpp"
#include "server/subscriptions/subscription_hub.hpp"

namespace sierra::server {

namespace {

void invalid(const ReplyPtr& reply, const ArgError& e) {
  reply_error(reply, "INVALIDARG", e.message);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ArgResult<uint64_t> parse_window(std::string_view token) {
  auto n = parse_reply_u64(token, "window");
  if (!n) return n;
  if (*n < 1) return arg_error("window: number 0 must not be less than 1");
  return n;
}

// FROM LATEST | FROM <n> | FROM MAP k=v ... [DEFAULT n] (DEFAULT only when `allow_default`).
struct FromSpec {
  enum class Mode { Latest, All, Map } mode = Mode::Latest;
  uint64_t start = 0;                                      // Mode::All
  std::vector<std::pair<std::string_view, uint64_t>> map;  // Mode::Map
  std::optional<uint64_t> fallback;                        // DEFAULT
};

ArgResult<void> parse_from(ArgCursor& cur, FromSpec& from, bool allow_default,
                           std::string_view unit) {
  auto v = cur.next("LATEST, a start " + std::string(unit) + " or MAP");
  if (!v) return std::unexpected(v.error());
  if (keyword_is(*v, "LATEST")) {
    from.mode = FromSpec::Mode::Latest;
    return {};
  }
  if (!keyword_is(*v, "MAP")) {
    auto n = parse_reply_u64(*v, "start " + std::string(unit));
    if (!n) return std::unexpected(n.error());
    from.mode = FromSpec::Mode::All;
    from.start = *n;
    return {};
  }
  from.mode = FromSpec::Mode::Map;
  while (!cur.at_end()) {
    const std::string_view tok = cur.peek();
    if (keyword_is(tok, "WINDOW") || (allow_default && keyword_is(tok, "DEFAULT"))) break;
    (void)cur.next("map entry");
    const auto eq = tok.find('=');
    if (eq == std::string_view::npos) {
      return arg_error("invalid map entry " + quote_arg(tok) + ": expected <key>=<" +
                       std::string(unit) + ">");
    }
    auto n = parse_reply_u64(tok.substr(eq + 1), std::string(unit));
    if (!n) return std::unexpected(n.error());
    from.map.emplace_back(tok.substr(0, eq), *n);
  }
  if (from.map.empty()) return arg_error("unexpected end of input: expected map entry");
  if (allow_default && !cur.at_end() && keyword_is(cur.peek(), "DEFAULT")) {
    (void)cur.next("DEFAULT");
    auto d = cur.next("default sequence");
    if (!d) return std::unexpected(d.error());
    auto n = parse_reply_u64(*d, "default sequence");
    if (!n) return std::unexpected(n.error());
    from.fallback = *n;
  }
  return {};
}

// [FROM ...] [WINDOW n] in any order, each at most once; consumes the rest of the input.
ArgResult<void> parse_sub_options(ArgCursor& cur, FromSpec& from, uint64_t& window,
                                  bool allow_default, std::string_view unit) {
  bool seen_from = false;
  bool seen_window = false;
  while (!cur.at_end()) {
    const std::string_view tok = cur.peek();
    if (keyword_is(tok, "FROM")) {
      (void)cur.next("FROM");
      if (auto s = mark_once(seen_from, "from"); !s) return s;
      if (auto s = parse_from(cur, from, allow_default, unit); !s) return s;
    } else if (keyword_is(tok, "WINDOW")) {
      (void)cur.next("WINDOW");
      if (auto s = mark_once(seen_window, "window"); !s) return s;
      auto v = cur.next("window");
      if (!v) return std::unexpected(v.error());
      auto n = parse_window(*v);
      if (!n) return std::unexpected(n.error());
      window = *n;
    } else {
      return unexpected_argument(tok, "FROM or WINDOW");
    }
  }
  return {};
}

// Registers the subscription, writes `+<id>` and the `subscribe` push into the reply (so they
// leave in one go, before any message), finishes it, then enables delivery.
void accept_subscription(SubscriptionHub& hub, const std::shared_ptr<ClientLink>& conn,
                         const ReplyPtr& reply, std::shared_ptr<Subscription> sub) {
  const std::string id = sub->id().to_string();
  const std::size_t count = hub.add(sub, conn);
  auto w = reply->writer();
  w.simple(id);
  w.raw(encode_subscription_event(reply->protocol(), "subscribe", id, count));
  reply->finish();
  sub->start();
}

std::shared_ptr<SubscriptionHub> hub_of(ServerContext& ctx) {
  return ctx.subscriptions != nullptr ? ctx.subscriptions->shared_from_this() : nullptr;
}

bool check_context(ServerContext& ctx, const std::shared_ptr<ClientLink>& conn,
                   const ReplyPtr& reply) {
  if (ctx.subscriptions == nullptr || !conn) {
    reply_error(reply, "ERR", "subscriptions are not available");
    return false;
  }
  return true;
}

// One EPSUB selector item: a UUID key, `a-b`, or an id. Appends to `out`.
ArgResult<void> parse_selector_item(std::string_view item, uint16_t n,
                                    std::vector<PartitionId>& out) {
  if (Uuid::parse(item)) {
    auto p = parse_partition_selector(item, n);
    if (!p) return std::unexpected(p.error());
    out.push_back(*p);
    return {};
  }
  const auto dash = item.find('-');
  if (dash != std::string_view::npos) {
    auto a = parse_u64(trim(item.substr(0, dash)), "range start");
    if (!a) return std::unexpected(a.error());
    auto b = parse_u64(trim(item.substr(dash + 1)), "range end");
    if (!b) return std::unexpected(b.error());
    if (*a > *b) return arg_error("invalid partition range " + quote_arg(item) + ": start > end");
    if (*a >= n) {
      return arg_error("partition range " + quote_arg(item) + " out of range (partition count " +
                       std::to_string(n) + ")");
    }
    const uint64_t last = std::min<uint64_t>(*b, n - 1u);
    for (uint64_t p = *a; p <= last; ++p) out.push_back(static_cast<PartitionId>(p));
    return {};
  }
  auto p = parse_partition_selector(item, n);
  if (!p) return std::unexpected(p.error());
  out.push_back(*p);
  return {};
}

}  // namespace

void cmd_esub(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  auto conn = c.client != nullptr ? c.client->share() : nullptr;
  if (!check_context(ctx, conn, reply)) return;
  ArgCursor cur(args.subspan(1));

  struct Requested {
    std::string_view stream;
    std::optional<Uuid> key;
  };
  std::vector<Requested> requested;
  while (!cur.at_end()) {
    const std::string_view tok = cur.peek();
    if (keyword_is(tok, "FROM") || keyword_is(tok, "WINDOW")) break;
    (void)cur.next("stream id");
    auto sid = parse_stream_id(tok);
    if (!sid) return invalid(reply, sid.error());
    Requested r{*sid, std::nullopt};
    if (!cur.at_end() && keyword_is(cur.peek(), "PARTITION_KEY")) {
      (void)cur.next("PARTITION_KEY");
      auto v = cur.next("partition key");
      if (!v) return invalid(reply, v.error());
      auto key = parse_uuid(*v, "partition key");
      if (!key) return invalid(reply, key.error());
      r.key = *key;
    }
    requested.push_back(r);
  }
  if (requested.empty()) {
    if (cur.at_end())
      return invalid(reply, ArgError{"unexpected end of input: expected stream id"});
    return invalid(reply, unexpected_argument(cur.peek(), "stream id").error());
  }
  FromSpec from;
  uint64_t window = kDefaultWindow;
  if (auto s = parse_sub_options(cur, from, window, /*allow_default=*/false, "version"); !s) {
    return invalid(reply, s.error());
  }

  const uint16_t n = ctx.db->partition_count();
  std::vector<StreamStart> streams;
  std::vector<bool> latest;
  for (const Requested& r : requested) {
    StreamStart s;
    s.stream_id = std::string(r.stream);
    s.partition_key = r.key ? *r.key : partition_key_for_stream(r.stream);
    s.partition = partition_id_for_key(s.partition_key, n);
    const bool dup = std::any_of(streams.begin(), streams.end(), [&](const StreamStart& o) {
      return o.stream_id == s.stream_id && o.partition_key == s.partition_key;
    });
    if (dup) continue;
    bool is_latest = true;
    if (from.mode == FromSpec::Mode::All) {
      s.next_version = from.start;
      is_latest = false;
    } else if (from.mode == FromSpec::Mode::Map) {
      for (const auto& [k, v] : from.map) {
        if (k == s.stream_id) {
          s.next_version = v;
          is_latest = false;
        }
      }
    }
    streams.push_back(std::move(s));
    latest.push_back(is_latest);
  }
  for (const StreamStart& s : streams) {
    if (!ctx.db->owns_partition(s.partition)) {
      return reply_error(reply, "CLUSTERDOWN", "partition unavailable");
    }
  }

  // Resolving LATEST reads stream versions (possibly from disk): on the read executor.
  auto job = [db = ctx.db, hub = hub_of(ctx), conn, reply, streams = std::move(streams),
              latest = std::move(latest), window, protocol = reply->protocol()]() mutable {
    for (std::size_t i = 0; i < streams.size(); ++i) {
      if (!latest[i]) continue;
      auto info = db->get_stream_version(streams[i].partition, streams[i].stream_id);
      if (!info)
        return reply_error(reply, "READERR",
                           "read error: " + client_error_text(info.error(), "read"));
      streams[i].next_version = *info ? (*info)->version + 1 : 0;
    }
    auto sub = std::make_shared<Subscription>(uuid_v4(), conn->client_id(), conn, protocol, db, hub,
                                              window, std::vector<PartitionStart>{},
                                              std::move(streams), false);
    accept_subscription(*hub, conn, reply, std::move(sub));
  };
  c.post_read(std::move(job));
}

void cmd_epsub(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  auto conn = c.client != nullptr ? c.client->share() : nullptr;
  if (!check_context(ctx, conn, reply)) return;
  ArgCursor cur(args.subspan(1));
  auto sel = cur.next("partition selector");
  if (!sel) return invalid(reply, sel.error());
  const uint16_t n = ctx.db->partition_count();
  std::vector<PartitionId> pids;
  bool all = false;
  if (trim(*sel) == "*") {
    all = true;
    for (uint32_t p = 0; p < n; ++p) {
      if (ctx.db->owns_partition(static_cast<PartitionId>(p))) {
        pids.push_back(static_cast<PartitionId>(p));
      }
    }
  } else {
    std::string_view rest = *sel;
    for (;;) {
      const auto comma = rest.find(',');
      const std::string_view item = trim(rest.substr(0, comma));
      if (item.empty()) {
        return invalid(reply, ArgError{"invalid partition selector " + quote_arg(*sel)});
      }
      if (auto s = parse_selector_item(item, n, pids); !s) return invalid(reply, s.error());
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    for (PartitionId p : pids) {
      if (!ctx.db->owns_partition(p)) {
        return reply_error(reply, "CLUSTERDOWN", "partition unavailable");
      }
    }
  }
  FromSpec from;
  uint64_t window = kDefaultWindow;
  if (auto s = parse_sub_options(cur, from, window, /*allow_default=*/true, "sequence"); !s) {
    return invalid(reply, s.error());
  }
  std::unordered_map<PartitionId, uint64_t> map;
  for (const auto& [k, v] : from.map) {
    std::vector<PartitionId> keyed;
    if (auto s = parse_selector_item(trim(k), n, keyed); !s) return invalid(reply, s.error());
    for (PartitionId p : keyed) map[p] = v;
  }

  std::vector<PartitionStart> parts;
  parts.reserve(pids.size());
  for (PartitionId p : pids) {
    PartitionStart ps{p, 0};
    std::optional<uint64_t> start;
    if (from.mode == FromSpec::Mode::All) {
      start = from.start;
    } else if (from.mode == FromSpec::Mode::Map) {
      if (auto it = map.find(p); it != map.end()) {
        start = it->second;
      } else {
        start = from.fallback;
      }
    }
    if (start) {
      ps.next_sequence = *start;
    } else {
      // LATEST: the watermark now (cheap, in memory).
      auto latest = ctx.db->get_partition_sequence(p);
      if (!latest)
        return reply_error(reply, "READERR",
                           "read error: " + client_error_text(latest.error(), "read"));
      ps.next_sequence = *latest ? **latest + 1 : 0;
    }
    parts.push_back(ps);
  }
  auto sub = std::make_shared<Subscription>(uuid_v4(), conn->client_id(), conn, reply->protocol(),
                                            ctx.db, hub_of(ctx), window, std::move(parts),
                                            std::vector<StreamStart>{}, all);
  accept_subscription(*ctx.subscriptions, conn, reply, std::move(sub));
}

void cmd_eack(CommandContext& c) {
  ServerContext& ctx = c.server;
  Session& session = c.session;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto id_tok = cur.next("subscription id");
  if (!id_tok) return invalid(reply, id_tok.error());
  auto id = parse_uuid(*id_tok, "subscription id");
  if (!id) return invalid(reply, id.error());
  auto c_tok = cur.next("cursor");
  if (!c_tok) return invalid(reply, c_tok.error());
  auto cursor = parse_reply_u64(*c_tok, "cursor");
  if (!cursor) return invalid(reply, cursor.error());
  if (auto s = cur.finish(); !s) return invalid(reply, s.error());
  auto sub = ctx.subscriptions != nullptr ? ctx.subscriptions->find(session.id, *id) : nullptr;
  if (!sub) return reply_error(reply, "NOTFOUND", "subscription not found");
  sub->ack(*cursor);
  reply->writer().simple("OK");
  reply->finish();
}

void cmd_eunsub(CommandContext& c) {
  ServerContext& ctx = c.server;
  Session& session = c.session;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto id_tok = cur.next("subscription id");
  if (!id_tok) return invalid(reply, id_tok.error());
  auto id = parse_uuid(*id_tok, "subscription id");
  if (!id) return invalid(reply, id.error());
  if (auto s = cur.finish(); !s) return invalid(reply, s.error());
  auto left =
      ctx.subscriptions != nullptr ? ctx.subscriptions->remove(session.id, *id) : std::nullopt;
  if (!left) return reply_error(reply, "NOTFOUND", "subscription not found");
  reply->writer().simple("OK");
  reply->finish();
  // Through the connection's queue, so it follows every message push of this subscription
  // handed over before the cancel.
  if (c.client != nullptr) {
    c.client->push(
        encode_subscription_event(reply->protocol(), "unsubscribe", id->to_string(), *left));
  }
}

// SUBSCRIBE <channel> [<channel> ...] (Redis pub/sub form, pubsub_format.hpp): each channel is
// a subscription from the latest event (as Redis pub/sub, only what is committed from now on)
// whose events arrive as `message <channel> <json>`. Its window is unbounded (libraries in
// subscriber mode may not send EACK): flow control is the connection's output limit, which
// pauses delivery until the client reads. A channel already subscribed on this connection is
// confirmed again. The count in each confirmation is the number of channels the connection is
// subscribed to (as Redis; ESUB/EPSUB subscriptions are not channels).
void cmd_subscribe(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  auto conn = c.client != nullptr ? c.client->share() : nullptr;
  if (!check_context(ctx, conn, reply)) return;
  if (args.size() < 2) {
    return invalid(reply, ArgError{"unexpected end of input: expected channel"});
  }
  const uint16_t n = ctx.db->partition_count();
  struct Wanted {
    std::string channel;
    ChannelTarget target;
  };
  std::vector<Wanted> wanted;
  for (std::string_view ch : args.subspan(1)) {
    auto t = parse_channel(ch, n);
    if (!t) {
      return invalid(reply, ArgError{"unknown channel " + quote_arg(ch) +
                                     ": expected sierradb:stream:<stream id>, "
                                     "sierradb:partition:<partition> or sierradb:partitions"});
    }
    if (t->kind == ChannelTarget::Kind::Stream) {
      if (auto sid = parse_stream_id(t->stream_id); !sid) return invalid(reply, sid.error());
    }
    if (t->kind == ChannelTarget::Kind::Partition && !ctx.db->owns_partition(t->partition)) {
      return reply_error(reply, "CLUSTERDOWN", "partition unavailable");
    }
    wanted.push_back({std::string(ch), std::move(*t)});
  }
  // Resolving the latest stream versions may read from disk: on the read executor.
  c.post_read([db = ctx.db, hub = hub_of(ctx), conn, reply, wanted = std::move(wanted),
               protocol = reply->protocol()] {
    constexpr uint64_t kUnboundedWindow = uint64_t{1} << 62;
    std::vector<std::shared_ptr<Subscription>> started;
    auto w = reply->writer();
    // On an error after some channels were registered: unregister them, reply the error only.
    auto fail = [&](std::string_view code, const std::string& message) {
      for (auto& sub : started) hub->remove(conn->client_id(), sub->id());
      reply->bytes().clear();
      reply_error(reply, code, message);
    };
    for (const Wanted& want : wanted) {
      if (hub->find_channel(conn->client_id(), want.channel)) {
        w.raw(encode_pubsub_event(protocol, "subscribe", want.channel,
                                  hub->channels(conn->client_id()).size()));
        continue;
      }
      std::vector<PartitionStart> parts;
      std::vector<StreamStart> streams;
      bool all = false;
      auto start_of = [&](PartitionId p) -> std::optional<uint64_t> {
        auto latest = db->get_partition_sequence(p);
        if (!latest) return std::nullopt;
        return *latest ? **latest + 1 : 0;
      };
      if (want.target.kind == ChannelTarget::Kind::Stream) {
        StreamStart s;
        s.stream_id = want.target.stream_id;
        s.partition_key = partition_key_for_stream(s.stream_id);
        s.partition = partition_id_for_key(s.partition_key, db->partition_count());
        if (!db->owns_partition(s.partition)) return fail("CLUSTERDOWN", "partition unavailable");
        auto info = db->get_stream_version(s.partition, s.stream_id);
        if (!info) return fail("READERR", "read error: " + client_error_text(info.error(), "read"));
        s.next_version = *info ? (*info)->version + 1 : 0;
        streams.push_back(std::move(s));
      } else {
        std::vector<PartitionId> pids;
        if (want.target.kind == ChannelTarget::Kind::Partition) {
          pids.push_back(want.target.partition);
        } else {
          all = true;
          for (uint32_t p = 0; p < db->partition_count(); ++p) {
            if (db->owns_partition(static_cast<PartitionId>(p))) {
              pids.push_back(static_cast<PartitionId>(p));
            }
          }
        }
        for (PartitionId p : pids) {
          auto next = start_of(p);
          if (!next) return fail("READERR", "read error: partition sequence");
          parts.push_back({p, *next});
        }
      }
      auto sub = std::make_shared<Subscription>(uuid_v4(), conn->client_id(), conn, protocol, db,
                                                hub, kUnboundedWindow, std::move(parts),
                                                std::move(streams), all);
      sub->set_pubsub_channel(want.channel);
      hub->add(sub, conn);
      w.raw(encode_pubsub_event(protocol, "subscribe", want.channel,
                                hub->channels(conn->client_id()).size()));
      started.push_back(std::move(sub));
    }
    reply->finish();
    for (auto& sub : started) sub->start();
  });
}

// UNSUBSCRIBE [<channel> ...]: ends those pub/sub-form subscriptions (every one of the
// connection without arguments), confirmed by `unsubscribe <channel> <count left>` each.
void cmd_unsubscribe(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  auto conn = c.client != nullptr ? c.client->share() : nullptr;
  if (!check_context(ctx, conn, reply)) return;
  SubscriptionHub& hub = *ctx.subscriptions;
  const uint64_t cid = conn->client_id();
  auto w = reply->writer();
  std::vector<std::pair<std::string, std::shared_ptr<Subscription>>> targets;
  if (args.size() < 2) {
    for (auto& sub : hub.channels(cid)) targets.emplace_back(sub->channel(), sub);
  } else {
    for (std::string_view ch : args.subspan(1)) {
      targets.emplace_back(std::string(ch), hub.find_channel(cid, ch));
    }
  }
  if (targets.empty()) {
    // As Redis: one confirmation with a null channel.
    w.push(3);
    w.bulk("unsubscribe");
    w.null();
    w.integer(0);
  }
  for (auto& [ch, sub] : targets) {
    if (sub) (void)hub.remove(cid, sub->id());
    w.raw(encode_pubsub_event(reply->protocol(), "unsubscribe", ch, hub.channels(cid).size()));
  }
  reply->finish();
}

}  // namespace sierra::server
