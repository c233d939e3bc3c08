// EAPPEND and EMAPPEND (PROTOCOL.md §4.1, §4.2).
//
// Order of checks: the whole request is parsed first (grammar, stream ids, event names, UUIDs,
// numbers, timestamps, repeated options), then strict versioning, then the event ids supplied by
// the client are checked against the partition hash of the key. The transaction then goes to
// the engine; the reply is written on the engine's writer thread once the outcome is known.
//
// Engine errors on the wire:
//   WrongExpectedVersion                      -> WRONGVER <engine message>
//   WrongExpectedSequence                     -> WRONGSEQ <engine message> (not sent by us)
//   InvalidLength, ContainsNullByte, InvalidEventId, InvalidArgument, EmptyTransaction
//                                             -> INVALIDARG <engine message>
//   ShuttingDown                              -> ACTORDOWN actor not running (retryable, 500 ms
//                                                in the client; upstream's answer when the
//                                                actor that owns the partition is gone)
//   BucketNotOwned                            -> CLUSTERDOWN partition unavailable
//   BadSystemTime                             -> CLOCKERR <engine message>
//   anything else (PartitionKeyMismatch, EventsExceedSegmentSize, Io, NoSpace, ...)
//                                             -> DBOPFAILED database operation failed: <message>
//                                                (disk full / I/O error: no server path, see
//                                                engine_error.hpp; the log has the details)
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/commands/append_commands.hpp"
#include "server/commands/arguments.hpp"
#include "server/commands/engine_error.hpp"
#include "server/commands/event_reply.hpp"

namespace sierra::server {

namespace {

// Room for one append reply (map of six with two UUIDs) or one event entry of EMAPPEND's.
constexpr std::size_t kAppendReplyBytes = 256;

// One event as parsed from the request (views into the request's arguments).
struct EventArgs {
  std::string_view stream_id;
  std::string_view event_name;
  std::optional<Uuid> event_id;
  ExpectedVersion expected = ExpectedVersion::any();
  std::optional<uint64_t> timestamp_ns;
  std::string_view payload;
  std::string_view metadata;
};

struct SeenOptions {
  bool event_id = false;
  bool partition_key = false;
  bool expected_version = false;
  bool timestamp = false;
  bool payload = false;
  bool metadata = false;
};

bool is_event_option(std::string_view token) {
  return keyword_is(token, "EVENT_ID") || keyword_is(token, "EXPECTED_VERSION") ||
         keyword_is(token, "TIMESTAMP") || keyword_is(token, "PAYLOAD") ||
         keyword_is(token, "METADATA");
}

// Parses one of the five per-event options whose keyword is the next token (checked by
// is_event_option) together with its value.
ArgResult<void> parse_event_option(ArgCursor& cur, EventArgs& ev, SeenOptions& seen) {
  auto keyword = cur.next("option");
  if (!keyword) return std::unexpected(keyword.error());
  if (keyword_is(*keyword, "EVENT_ID")) {
    if (auto s = mark_once(seen.event_id, "event id"); !s) return s;
    auto v = cur.next("event id");
    if (!v) return std::unexpected(v.error());
    auto id = parse_uuid(*v, "event id");
    if (!id) return std::unexpected(id.error());
    ev.event_id = *id;
  } else if (keyword_is(*keyword, "EXPECTED_VERSION")) {
    if (auto s = mark_once(seen.expected_version, "expected version"); !s) return s;
    auto v = cur.next("expected version");
    if (!v) return std::unexpected(v.error());
    auto e = parse_expected_version(*v);
    if (!e) return std::unexpected(e.error());
    ev.expected = *e;
  } else if (keyword_is(*keyword, "TIMESTAMP")) {
    if (auto s = mark_once(seen.timestamp, "timestamp"); !s) return s;
    auto v = cur.next("timestamp");
    if (!v) return std::unexpected(v.error());
    auto ts = parse_timestamp_ms(*v);
    if (!ts) return std::unexpected(ts.error());
    ev.timestamp_ns = *ts;
  } else if (keyword_is(*keyword, "PAYLOAD")) {
    if (auto s = mark_once(seen.payload, "payload"); !s) return s;
    auto v = cur.next("payload");
    if (!v) return std::unexpected(v.error());
    ev.payload = *v;
  } else {  // METADATA
    if (auto s = mark_once(seen.metadata, "metadata"); !s) return s;
    auto v = cur.next("metadata");
    if (!v) return std::unexpected(v.error());
    ev.metadata = *v;
  }
  return {};
}

// <stream_id> <event_name>
ArgResult<void> parse_event_head(ArgCursor& cur, EventArgs& ev) {
  auto stream = cur.next("stream id");
  if (!stream) return std::unexpected(stream.error());
  auto sid = parse_stream_id(*stream);
  if (!sid) return std::unexpected(sid.error());
  ev.stream_id = *sid;
  auto name = cur.next("event name");
  if (!name) return std::unexpected(name.error());
  auto n = parse_event_name(*name);
  if (!n) return std::unexpected(n.error());
  ev.event_name = *n;
  return {};
}

// INVALIDARG text if strict versioning forbids this expected version, else nullopt.
std::optional<std::string> strict_violation(const ServerContext& ctx, const EventArgs& ev) {
  if (!ctx.config.append.strict_versioning) return std::nullopt;
  if (ev.expected.kind == ExpectedVersion::Kind::Any) {
    return "strict versioning mode rejects EXPECTED_VERSION any";
  }
  if (ev.expected.kind == ExpectedVersion::Kind::Exists) {
    return "strict versioning mode rejects EXPECTED_VERSION exists";
  }
  return std::nullopt;
}

// Server time in ns since the epoch, or nullopt if the clock is before 1970.
std::optional<uint64_t> now_ns() {
  const auto since = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since).count();
  if (ns < 0) return std::nullopt;
  return static_cast<uint64_t>(ns);
}

NewEvent make_new_event(const EventArgs& ev, const Uuid& key, const Uuid& event_id,
                        uint64_t timestamp_ns) {
  NewEvent ne;
  ne.event_id = event_id;
  ne.partition_key = key;
  ne.stream_id = std::string(ev.stream_id);
  ne.expected_version = ev.expected;
  ne.event_name = std::string(ev.event_name);
  ne.timestamp_ns = timestamp_ns;
  ne.metadata = std::string(ev.metadata);
  ne.payload = std::string(ev.payload);
  return ne;
}

using Failure = std::unexpected<AppendFailure>;

Failure invalid(std::string message) {
  return Failure(AppendFailure{"INVALIDARG", std::move(message)});
}

std::expected<PreparedAppend, AppendFailure> prepare_eappend(const ServerContext& ctx, Args args) {
  ArgCursor cur(args.subspan(1));
  EventArgs ev;
  if (auto s = parse_event_head(cur, ev); !s) return invalid(s.error().message);
  SeenOptions seen;
  std::optional<Uuid> partition_key;
  while (!cur.at_end()) {
    const std::string_view token = cur.peek();
    if (is_event_option(token)) {
      if (auto s = parse_event_option(cur, ev, seen); !s) return invalid(s.error().message);
    } else if (keyword_is(token, "PARTITION_KEY")) {
      (void)cur.next("option");
      if (auto s = mark_once(seen.partition_key, "partition key"); !s) {
        return invalid(s.error().message);
      }
      auto v = cur.next("partition key");
      if (!v) return invalid(v.error().message);
      auto key = parse_uuid(*v, "partition key");
      if (!key) return invalid(key.error().message);
      partition_key = *key;
    } else {
      return invalid(unexpected_argument(token,
                                         "EVENT_ID, PARTITION_KEY, EXPECTED_VERSION, "
                                         "TIMESTAMP, PAYLOAD or METADATA")
                         .error()
                         .message);
    }
  }
  if (auto msg = strict_violation(ctx, ev)) return invalid(*msg);

  PreparedAppend p;
  p.key = partition_key ? *partition_key : partition_key_for_stream(ev.stream_id);
  const PartitionHash hash = partition_hash(p.key);
  p.pid = partition_id_for_hash(hash, ctx.db->partition_count());
  Uuid event_id;
  if (ev.event_id) {
    if (!validate_event_id(*ev.event_id, hash)) {
      return invalid("the event id must embed the partition hash");
    }
    event_id = *ev.event_id;
  } else {
    event_id = new_event_id(hash);
  }
  uint64_t timestamp_ns = 0;
  if (ev.timestamp_ns) {
    timestamp_ns = *ev.timestamp_ns;
  } else {
    auto now = now_ns();
    if (!now) return Failure(AppendFailure{"CLOCKERR", "system time is before the unix epoch"});
    timestamp_ns = *now;
  }
  p.events.push_back(make_new_event(ev, p.key, event_id, timestamp_ns));
  p.events.back().fresh_id = !ev.event_id;  // only client-supplied ids are checked for reuse
  p.reply_events.push_back(
      PreparedAppend::ReplyEvent{event_id, std::string(ev.stream_id), timestamp_ns});
  return p;
}

std::expected<PreparedAppend, AppendFailure> prepare_emappend(const ServerContext& ctx, Args args) {
  ArgCursor cur(args.subspan(1));
  auto key_token = cur.next("partition key");
  if (!key_token) return invalid(key_token.error().message);
  auto key = parse_uuid(*key_token, "partition key");
  if (!key) return invalid(key.error().message);

  std::vector<EventArgs> parsed;
  do {
    EventArgs ev;
    if (auto s = parse_event_head(cur, ev); !s) return invalid(s.error().message);
    SeenOptions seen;
    while (!cur.at_end() && is_event_option(cur.peek())) {
      if (auto s = parse_event_option(cur, ev, seen); !s) return invalid(s.error().message);
    }
    parsed.push_back(ev);
  } while (!cur.at_end());

  for (const EventArgs& ev : parsed) {
    if (auto msg = strict_violation(ctx, ev)) return invalid(*msg);
  }

  const PartitionHash hash = partition_hash(*key);
  std::optional<uint64_t> shared_now;
  for (const EventArgs& ev : parsed) {
    if (ev.event_id && !validate_event_id(*ev.event_id, hash)) {
      return invalid("the event id must embed the partition hash");
    }
    if (!ev.timestamp_ns && !shared_now) {
      shared_now = now_ns();
      if (!shared_now) {
        return Failure(AppendFailure{"CLOCKERR", "system time is before the unix epoch"});
      }
    }
  }

  PreparedAppend p;
  p.multi = true;
  p.key = *key;
  p.pid = partition_id_for_hash(hash, ctx.db->partition_count());
  p.reply_events.reserve(parsed.size());
  p.events.reserve(parsed.size());
  for (const EventArgs& ev : parsed) {
    const Uuid event_id = ev.event_id ? *ev.event_id : new_event_id(hash);
    const uint64_t ts = ev.timestamp_ns ? *ev.timestamp_ns : *shared_now;
    p.events.push_back(make_new_event(ev, *key, event_id, ts));
    p.events.back().fresh_id = !ev.event_id;
    p.reply_events.push_back(PreparedAppend::ReplyEvent{event_id, std::string(ev.stream_id), ts});
  }
  return p;
}

// Sends `p` to the engine as one transaction and replies from its result.
void submit(ServerContext& ctx, const ReplyPtr& reply, PreparedAppend p) {
  auto tx = Transaction::make(std::move(p.events));
  if (!tx) {
    AppendFailure f = append_failure(tx.error());
    return reply_error(reply, f.code, f.message);
  }
  p.events.clear();
  const PartitionId pid = p.pid;
  ServerStats* stats = &ctx.stats;
  ctx.db->append_events_async(
      pid, std::move(*tx), [reply, stats, p = std::move(p)](Result<AppendResult> result) {
        if (!result) {
          AppendFailure f = append_failure(result.error());
          return reply_error(reply, f.code, f.message);
        }
        stats->events_appended.fetch_add(p.reply_events.size(), std::memory_order_relaxed);
        auto w = reply->writer();
        write_append_reply(w, p, result->first_partition_sequence, result->stream_versions,
                           result->timestamps_ns);
        reply->finish();
      });
}

}  // namespace

AppendFailure append_failure(const Error& e) {
  switch (e.code) {
    case Errc::WrongExpectedVersion:
      return {"WRONGVER", e.message};
    case Errc::WrongExpectedSequence:
      return {"WRONGSEQ", e.message};
    case Errc::DuplicateEventId:
      return {"DUPLICATE", e.message};
    case Errc::InvalidLength:
    case Errc::ContainsNullByte:
    case Errc::InvalidEventId:
    case Errc::InvalidArgument:
    case Errc::EmptyTransaction:
      return {"INVALIDARG", e.message};
    case Errc::ShuttingDown:
      return {"ACTORDOWN", "actor not running"};
    case Errc::BucketNotOwned:
      return {"CLUSTERDOWN", "partition unavailable"};
    case Errc::BadSystemTime:
      return {"CLOCKERR", e.message};
    default:
      return {"DBOPFAILED", "database operation failed: " + client_error_text(e, "append")};
  }
}

std::expected<PreparedAppend, AppendFailure> prepare_append(const ServerContext& ctx, Args args) {
  if (!args.empty() && keyword_is(args[0], "EMAPPEND")) return prepare_emappend(ctx, args);
  return prepare_eappend(ctx, args);
}

void write_append_reply(resp::ReplyWriter& w, const PreparedAppend& p, uint64_t first_sequence,
                        std::span<const uint64_t> versions, std::span<const uint64_t> timestamps) {
  const auto version = [&versions](std::size_t i) {
    return i < versions.size() ? static_cast<int64_t>(versions[i]) : 0;
  };
  // A retry reports the original append's timestamps (the engine returns the stored ones).
  const auto timestamp = [&timestamps, &p](std::size_t i) {
    return timestamp_ms(i < timestamps.size() ? timestamps[i] : p.reply_events[i].timestamp_ns);
  };
  if (!p.multi) {
    const PreparedAppend::ReplyEvent& e = p.reply_events.front();
    w.reserve(kAppendReplyBytes);
    w.map(6);
    w.raw("+event_id\r\n");
    write_uuid(w, e.event_id);
    w.raw("+partition_key\r\n");
    write_uuid(w, p.key);
    w.simple("partition_id");
    w.integer(p.pid);
    w.simple("partition_sequence");
    w.integer(static_cast<int64_t>(first_sequence));
    w.simple("stream_version");
    w.integer(version(0));
    w.simple("timestamp");
    w.integer(timestamp(0));
    return;
  }
  const std::size_t n = p.reply_events.size();
  w.reserve(kAppendReplyBytes * (1 + n));
  w.map(5);
  w.raw("+partition_key\r\n");
  write_uuid(w, p.key);
  w.simple("partition_id");
  w.integer(p.pid);
  w.simple("first_partition_sequence");
  w.integer(static_cast<int64_t>(first_sequence));
  w.simple("last_partition_sequence");
  w.integer(static_cast<int64_t>(first_sequence + (n == 0 ? 0 : n - 1)));
  w.simple("events");
  w.array(n);
  for (std::size_t i = 0; i < n; ++i) {
    const PreparedAppend::ReplyEvent& e = p.reply_events[i];
    // The four upstream keys, then partition_sequence and partition_id (PROTOCOL §11 row 29:
    // clients ignore extra keys).
    w.map(6);
    w.raw("+event_id\r\n");
    write_uuid(w, e.event_id);
    w.simple("stream_id");
    w.simple(e.stream_id);
    w.simple("stream_version");
    w.integer(version(i));
    w.simple("timestamp");
    w.integer(timestamp(i));
    w.simple("partition_sequence");
    w.integer(static_cast<int64_t>(first_sequence + i));
    w.simple("partition_id");
    w.integer(p.pid);
  }
}

void cmd_eappend(CommandContext& c) {
  auto p = prepare_eappend(c.server, c.args);
  if (!p) return reply_error(c.reply, p.error().code, p.error().message);
  submit(c.server, c.reply, std::move(*p));
}

void cmd_emappend(CommandContext& c) {
  auto p = prepare_emappend(c.server, c.args);
  if (!p) return reply_error(c.reply, p.error().code, p.error().message);
  submit(c.server, c.reply, std::move(*p));
}

}  // namespace sierra::server
