// EGET, ESCAN, ESVER, EPSCAN and EPSEQ (PROTOCOL.md §4.3-4.7).
//
// Arguments are parsed on the calling (network) thread. Scans copy what they need and run on
// the read executor (CommandContext::post_read), which finishes the reply; point reads (EGET,
// ESVER, EPSEQ) run inline. The engine publishes an append before acknowledging it, so every read
// sees what was acknowledged before it started (no watermark logic is needed here). Engine read
// errors reply `READERR read error: <message>`; a partition this node does not own replies
// `CLUSTERDOWN partition unavailable`.
//
// has_more (ESCAN and EPSCAN alike): true iff at least one more visible event exists after the
// returned page (after `start` if nothing was returned), even beyond `end` (PROTOCOL §4.6).
// ESCAN finds it by looking one event ahead (§11 row 9; a header-only read); EPSCAN compares
// with the partition's latest visible sequence, which is an exclusive watermark (§11 row 8).
// COUNT defaults to 100 and is clamped to 10 000. start > end returns an empty page without
// walking the stream (§11 row 30).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/commands/arguments.hpp"
#include "server/commands/engine_error.hpp"
#include "server/commands/event_reply.hpp"
#include "server/commands/read_commands.hpp"

namespace sierra::server {

namespace {

void invalid(const ReplyPtr& reply, const ArgError& e) {
  reply_error(reply, "INVALIDARG", e.message);
}

void read_error(const ReplyPtr& reply, const Error& e) {
  reply_error(reply, "READERR", "read error: " + client_error_text(e, "read"));
}

bool check_owned(const Database& db, PartitionId pid, const ReplyPtr& reply) {
  if (db.owns_partition(pid)) return true;
  reply_error(reply, "CLUSTERDOWN", "partition unavailable");
  return false;
}

// Runs a point read (EGET, ESVER, EPSEQ: an in-memory lookup and at most one record read, from
// the page cache in the common case) on the calling network thread. The hop to the read pool and
// back costs two thread wake-ups, more than the read itself: EGET spent most of its time in
// context switches when it went through the pool (see BENCHMARKS.md).
template <class F>
void run_point_read(F&& job) {
  job();
}

// [PARTITION_KEY <uuid>] [COUNT <n>] in any order, each at most once; `allow_key` / `allow_count`
// select which of the two the command takes.
struct ScanOptions {
  std::optional<Uuid> partition_key;
  uint64_t count = kDefaultScanCount;
};

ArgResult<ScanOptions> parse_scan_options(ArgCursor& cur, bool allow_key, bool allow_count) {
  ScanOptions out;
  bool seen_key = false;
  bool seen_count = false;
  const std::string_view expected = allow_key && allow_count ? "PARTITION_KEY or COUNT"
                                    : allow_key              ? "PARTITION_KEY"
                                                             : "COUNT";
  while (!cur.at_end()) {
    const std::string_view token = cur.peek();
    if (allow_key && keyword_is(token, "PARTITION_KEY")) {
      (void)cur.next("option");
      if (auto s = mark_once(seen_key, "partition key"); !s) return std::unexpected(s.error());
      auto v = cur.next("partition key");
      if (!v) return std::unexpected(v.error());
      auto key = parse_uuid(*v, "partition key");
      if (!key) return std::unexpected(key.error());
      out.partition_key = *key;
    } else if (allow_count && keyword_is(token, "COUNT")) {
      (void)cur.next("option");
      if (auto s = mark_once(seen_count, "count"); !s) return std::unexpected(s.error());
      auto v = cur.next("count");
      if (!v) return std::unexpected(v.error());
      auto n = parse_count(*v);
      if (!n) return std::unexpected(n.error());
      out.count = *n;
    } else {
      return unexpected_argument(token, expected);
    }
  }
  return out;
}

PartitionId stream_partition(const ServerContext& ctx, std::string_view stream_id,
                             const std::optional<Uuid>& key) {
  const Uuid k = key ? *key : partition_key_for_stream(stream_id);
  return partition_id_for_key(k, ctx.db->partition_count());
}

}  // namespace

void cmd_eget(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto token = cur.next("event id");
  if (!token) return invalid(reply, token.error());
  auto id = parse_uuid(*token, "event id");
  if (!id) return invalid(reply, id.error());
  if (auto s = cur.finish(); !s) return invalid(reply, s.error());

  const PartitionId pid = partition_id_for_hash(partition_hash(*id), ctx.db->partition_count());
  run_point_read([db = ctx.db, stats = &ctx.stats, reply, pid, id = *id] {
    if (!check_owned(*db, pid, reply)) return;
    auto event = db->read_event(pid, id);
    if (!event) return read_error(reply, event.error());
    auto w = reply->writer();
    if (!*event) {
      w.null();
    } else {
      stats->events_read.fetch_add(1, std::memory_order_relaxed);
      write_event(w, **event);
    }
    reply->finish();
  });
}

void cmd_escan(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto stream_token = cur.next("stream id");
  if (!stream_token) return invalid(reply, stream_token.error());
  auto stream = parse_stream_id(*stream_token);
  if (!stream) return invalid(reply, stream.error());
  auto start_token = cur.next("start version");
  if (!start_token) return invalid(reply, start_token.error());
  auto start = parse_range_start(*start_token, "version");
  if (!start) return invalid(reply, start.error());
  auto end_token = cur.next("end version");
  if (!end_token) return invalid(reply, end_token.error());
  auto end = parse_range_end(*end_token, "version");
  if (!end) return invalid(reply, end.error());
  auto opts = parse_scan_options(cur, /*allow_key=*/true, /*allow_count=*/true);
  if (!opts) return invalid(reply, opts.error());

  const PartitionId pid = stream_partition(ctx, *stream, opts->partition_key);
  // A scan may read up to COUNT records and must not hold a network thread that long.
  c.post_read([db = ctx.db, stats = &ctx.stats, reply, pid, stream_id = std::string(*stream),
               start = *start, end = *end, count = opts->count] {
    if (!check_owned(*db, pid, reply)) return;
    // Events are encoded into the reply as they are read (views into the iterator's window).
    auto w = reply->writer();
    EventBatchWriter batch(w, count);
    auto fail = [&](const Error& e) {
      batch.abandon();
      read_error(reply, e);
    };
    bool has_more = false;
    if (end && start > *end) {
      // Nothing in range: only has_more needs an answer (any event at or after start).
      auto version = db->get_stream_version(pid, stream_id);
      if (!version) return fail(version.error());
      has_more = *version && (*version)->version >= start;
    } else {
      // COUNT events and one more to look ahead for has_more.
      auto it = db->read_stream(pid, stream_id, start, /*reverse=*/false, count + 1);
      if (!it) return fail(it.error());
      while (true) {
        const bool lookahead = batch.size() >= count;
        auto next = it->next_view(/*header_only=*/lookahead);
        if (!next) return fail(next.error());
        if (*next == nullptr) break;
        const EventView& e = **next;
        if (e.stream_version < start) continue;  // defensive: the iterator starts at `start`
        if (lookahead || (end && e.stream_version > *end)) {
          has_more = true;
          break;
        }
        batch.add(e);
        if (batch.size() == 1) batch.expect(std::min<uint64_t>(count - 1, it->remaining_hint()));
      }
    }
    stats->events_read.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.finish(has_more);
    reply->finish();
  });
}

void cmd_esver(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto stream_token = cur.next("stream id");
  if (!stream_token) return invalid(reply, stream_token.error());
  auto stream = parse_stream_id(*stream_token);
  if (!stream) return invalid(reply, stream.error());
  auto opts = parse_scan_options(cur, /*allow_key=*/true, /*allow_count=*/false);
  if (!opts) return invalid(reply, opts.error());

  const PartitionId pid = stream_partition(ctx, *stream, opts->partition_key);
  run_point_read([db = ctx.db, reply, pid, stream_id = std::string(*stream)] {
    if (!check_owned(*db, pid, reply)) return;
    auto version = db->get_stream_version(pid, stream_id);
    if (!version) return read_error(reply, version.error());
    auto w = reply->writer();
    if (*version) {
      w.integer(static_cast<int64_t>((*version)->version));
    } else {
      w.null();
    }
    reply->finish();
  });
}

void cmd_epscan(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto selector = cur.next("partition");
  if (!selector) return invalid(reply, selector.error());
  auto pid = parse_partition_selector(*selector, ctx.db->partition_count());
  if (!pid) return invalid(reply, pid.error());
  auto start_token = cur.next("start sequence");
  if (!start_token) return invalid(reply, start_token.error());
  auto start = parse_range_start(*start_token, "sequence");
  if (!start) return invalid(reply, start.error());
  auto end_token = cur.next("end sequence");
  if (!end_token) return invalid(reply, end_token.error());
  auto end = parse_range_end(*end_token, "sequence");
  if (!end) return invalid(reply, end.error());
  auto opts = parse_scan_options(cur, /*allow_key=*/false, /*allow_count=*/true);
  if (!opts) return invalid(reply, opts.error());

  // A scan may read up to COUNT records and must not hold a network thread that long.
  c.post_read([db = ctx.db, stats = &ctx.stats, reply, pid = *pid, start = *start, end = *end,
               count = opts->count] {
    if (!check_owned(*db, pid, reply)) return;
    auto latest = db->get_partition_sequence(pid);
    if (!latest) return read_error(reply, latest.error());
    // Events are encoded into the reply as they are read (views into the iterator's window).
    auto w = reply->writer();
    EventBatchWriter batch(w, count);
    bool has_more = false;
    if (*latest && start <= **latest) {
      const uint64_t last_visible = **latest;
      const uint64_t upper = end ? std::min(*end, last_visible) : last_visible;
      uint64_t next_seq = start;
      if (start <= upper && count > 0) {
        auto it = db->read_partition(pid, start, count);
        if (!it) {
          batch.abandon();
          return read_error(reply, it.error());
        }
        while (batch.size() < count) {
          auto next = it->next_view();
          if (!next) {
            batch.abandon();
            return read_error(reply, next.error());
          }
          if (*next == nullptr) break;
          const EventView& e = **next;
          if (e.partition_sequence < start) continue;  // defensive
          if (e.partition_sequence > upper) break;
          batch.add(e);
          next_seq = e.partition_sequence + 1;
          if (batch.size() == 1) batch.expect(std::min<uint64_t>(count - 1, it->remaining_hint()));
        }
      }
      has_more = next_seq <= last_visible;
    }
    stats->events_read.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.finish(has_more);
    reply->finish();
  });
}

void cmd_epseq(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  ArgCursor cur(args.subspan(1));
  auto selector = cur.next("partition");
  if (!selector) return invalid(reply, selector.error());
  auto pid = parse_partition_selector(*selector, ctx.db->partition_count());
  if (!pid) return invalid(reply, pid.error());
  if (auto s = cur.finish(); !s) return invalid(reply, s.error());

  run_point_read([db = ctx.db, reply, pid = *pid] {
    if (!check_owned(*db, pid, reply)) return;
    auto latest = db->get_partition_sequence(pid);
    if (!latest) return read_error(reply, latest.error());
    auto w = reply->writer();
    if (*latest) {
      w.integer(static_cast<int64_t>(**latest));
    } else {
      w.null();
    }
    reply->finish();
  });
}

}  // namespace sierra::server
