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
//
// BLOCK <ms> (ESCAN, EPSCAN, EPREAD; as Redis's XREAD BLOCK): when the page would be empty and
// has_more false (nothing visible at or after the start), the read waits (BlockedReads) until a
// commit to its partition(s) makes such an event visible, then replies with it; after <ms> it
// replies the empty page. BLOCK 0 waits without a deadline. The read is built only when woken.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/commands/arguments.hpp"
#include "server/commands/engine_error.hpp"
#include "server/commands/event_reply.hpp"
#include "server/commands/read_commands.hpp"
#include "server/subscriptions/blocked_reads.hpp"
#include "server/subscriptions/subscription_hub.hpp"

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
  std::optional<uint64_t> block_ms;  // BLOCK <ms>; 0 = no deadline
};

// BLOCK values above this (about 31 years) are taken as this.
constexpr uint64_t kMaxBlockMs = 1'000'000'000'000;

ArgResult<uint64_t> parse_block(ArgCursor& cur, bool& seen) {
  (void)cur.next("option");
  if (auto s = mark_once(seen, "block"); !s) return std::unexpected(s.error());
  auto v = cur.next("block timeout");
  if (!v) return std::unexpected(v.error());
  auto n = parse_u64(*v, "block timeout");
  if (!n) return std::unexpected(n.error());
  return std::min(*n, kMaxBlockMs);
}

ArgResult<ScanOptions> parse_scan_options(ArgCursor& cur, bool allow_key, bool allow_count,
                                          bool allow_block = false) {
  ScanOptions out;
  bool seen_key = false;
  bool seen_count = false;
  bool seen_block = false;
  const std::string_view expected = allow_key && allow_count && allow_block
                                        ? "PARTITION_KEY, COUNT or BLOCK"
                                    : allow_key && allow_count   ? "PARTITION_KEY or COUNT"
                                    : allow_count && allow_block ? "COUNT or BLOCK"
                                    : allow_key                  ? "PARTITION_KEY"
                                                                 : "COUNT";
  while (!cur.at_end()) {
    const std::string_view token = cur.peek();
    if (allow_block && keyword_is(token, "BLOCK")) {
      auto ms = parse_block(cur, seen_block);
      if (!ms) return std::unexpected(ms.error());
      out.block_ms = *ms;
    } else if (allow_key && keyword_is(token, "PARTITION_KEY")) {
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

// Runs a scan's `attempt` on the read executor: once (final) without BLOCK, or as a blocked
// read waiting on `partitions`. Without a subscription hub (unit tests of bare handlers) BLOCK
// is ignored.
void run_scan(CommandContext& c, const std::optional<uint64_t>& block_ms,
              std::vector<PartitionId> partitions, BlockedReads::Attempt attempt) {
  SubscriptionHub* hub = c.server.subscriptions;
  if (!block_ms || hub == nullptr) {
    c.post_read([attempt = std::move(attempt)] { (void)attempt(/*final=*/true); });
    return;
  }
  std::shared_ptr<ClientLink> conn = c.client != nullptr ? c.client->share() : nullptr;
  std::shared_ptr<void> hold = c.client != nullptr ? c.client->hold_read() : nullptr;
  const uint64_t cid = c.client != nullptr ? c.client->client_id() : c.session.id;
  std::optional<std::chrono::milliseconds> timeout;
  if (*block_ms != 0) timeout = std::chrono::milliseconds(static_cast<int64_t>(*block_ms));
  c.post_read([blocked = hub->blocked_reads().shared_from_this(), cid, conn = std::move(conn),
               partitions = std::move(partitions), timeout, hold = std::move(hold),
               attempt = std::move(attempt)]() mutable {
    blocked->block(cid, conn, std::move(partitions), timeout, std::move(hold), std::move(attempt));
  });
}

// Where EPREAD starts reading in one partition.
struct ReadFrom {
  PartitionId partition = 0;
  uint64_t sequence = 0;
};

// Spreads EPREAD's COUNT over the partitions fairly from call to call (see cmd_epread).
std::atomic<uint64_t> g_epread_rotation{0};

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
  auto opts = parse_scan_options(cur, /*allow_key=*/true, /*allow_count=*/true,
                                 /*allow_block=*/true);
  if (!opts) return invalid(reply, opts.error());

  const PartitionId pid = stream_partition(ctx, *stream, opts->partition_key);
  // A scan may read up to COUNT records and must not hold a network thread that long.
  auto attempt = [db = ctx.db, stats = &ctx.stats, reply, pid, stream_id = std::string(*stream),
                  start = *start, end = *end, count = opts->count,
                  blocking = opts->block_ms.has_value()](bool final) -> bool {
    if (!check_owned(*db, pid, reply)) return true;
    // Events are encoded into the reply as they are read (views into the iterator's window).
    auto w = reply->writer();
    EventBatchWriter batch(w, count);
    auto fail = [&](const Error& e) {
      batch.abandon();
      read_error(reply, e);
      return true;
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
    if (blocking && !final && batch.size() == 0 && !has_more) {
      batch.abandon();  // nothing at or after start yet: keep waiting
      return false;
    }
    stats->events_read.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.finish(has_more);
    reply->finish();
    return true;
  };
  run_scan(c, opts->block_ms, {pid}, std::move(attempt));
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
  auto opts = parse_scan_options(cur, /*allow_key=*/false, /*allow_count=*/true,
                                 /*allow_block=*/true);
  if (!opts) return invalid(reply, opts.error());

  // A scan may read up to COUNT records and must not hold a network thread that long.
  auto attempt = [db = ctx.db, stats = &ctx.stats, reply, pid = *pid, start = *start, end = *end,
                  count = opts->count, blocking = opts->block_ms.has_value()](bool final) -> bool {
    if (!check_owned(*db, pid, reply)) return true;
    auto latest = db->get_partition_sequence(pid);
    if (!latest) {
      read_error(reply, latest.error());
      return true;
    }
    // Nothing visible at or after start yet: keep waiting (the reply is built when woken).
    if (blocking && !final && (!*latest || **latest < start)) return false;
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
          read_error(reply, it.error());
          return true;
        }
        while (batch.size() < count) {
          auto next = it->next_view();
          if (!next) {
            batch.abandon();
            read_error(reply, next.error());
            return true;
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
    return true;
  };
  run_scan(c, opts->block_ms, {*pid}, std::move(attempt));
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

namespace sierra::server {

// EPREAD [COUNT <n>] [BLOCK <ms>] FROM <partition> <sequence> [<partition> <sequence> ...]
// `*` as a partition: every partition this node owns that is not listed by itself. Replies the
// EPSCAN page {has_more, events} with the events at or after each partition's sequence (each
// event names its partition_id and partition_sequence, so the caller advances per partition).
// COUNT (default 100) is shared fairly: each partition with events gets ceil(COUNT / k) of the
// k that have some, and which partition comes first rotates from call to call, so a partition
// with a long backlog does not starve the others.
void cmd_epread(CommandContext& c) {
  ServerContext& ctx = c.server;
  const Args args = c.args;
  const ReplyPtr& reply = c.reply;
  const uint16_t partition_count = ctx.db->partition_count();
  ArgCursor cur(args.subspan(1));
  uint64_t count = kDefaultScanCount;
  std::optional<uint64_t> block_ms;
  bool seen_count = false;
  bool seen_block = false;
  while (true) {
    if (cur.at_end()) return invalid(reply, ArgError{"unexpected end of input: expected FROM"});
    const std::string_view token = cur.peek();
    if (keyword_is(token, "FROM")) {
      (void)cur.next("option");
      break;
    }
    if (keyword_is(token, "COUNT")) {
      (void)cur.next("option");
      if (auto s = mark_once(seen_count, "count"); !s) return invalid(reply, s.error());
      auto v = cur.next("count");
      if (!v) return invalid(reply, v.error());
      auto n = parse_count(*v);
      if (!n) return invalid(reply, n.error());
      count = *n;
    } else if (keyword_is(token, "BLOCK")) {
      auto ms = parse_block(cur, seen_block);
      if (!ms) return invalid(reply, ms.error());
      block_ms = *ms;
    } else {
      auto e = unexpected_argument(token, "COUNT, BLOCK or FROM");
      return invalid(reply, e.error());
    }
  }
  std::vector<std::optional<uint64_t>> from(partition_count);
  std::optional<uint64_t> star;
  std::vector<PartitionId> listed;
  if (cur.at_end()) return invalid(reply, ArgError{"unexpected end of input: expected partition"});
  while (!cur.at_end()) {
    auto selector = cur.next("partition");
    if (!selector) return invalid(reply, selector.error());
    auto seq_token = cur.next("start sequence");
    if (!seq_token) return invalid(reply, seq_token.error());
    auto seq = parse_range_start(*seq_token, "sequence");
    if (!seq) return invalid(reply, seq.error());
    if (*selector == "*") {
      if (star) return invalid(reply, ArgError{"duplicate partition '*'"});
      star = *seq;
      continue;
    }
    auto pid = parse_partition_selector(*selector, partition_count);
    if (!pid) return invalid(reply, pid.error());
    if (from[*pid]) {
      return invalid(reply, ArgError{"duplicate partition " + std::to_string(*pid)});
    }
    from[*pid] = *seq;
    listed.push_back(*pid);
  }
  std::vector<ReadFrom> reads;
  std::vector<PartitionId> partitions;
  for (PartitionId p = 0; p < partition_count; ++p) {
    if (from[p]) {
      reads.push_back({p, *from[p]});
    } else if (star && ctx.db->owns_partition(p)) {
      reads.push_back({p, *star});
    } else {
      continue;
    }
    partitions.push_back(p);
  }

  auto attempt = [db = ctx.db, stats = &ctx.stats, reply, reads = std::move(reads),
                  listed = std::move(listed), count,
                  blocking = block_ms.has_value()](bool final) -> bool {
    for (PartitionId p : listed) {
      if (!check_owned(*db, p, reply)) return true;
    }
    struct Candidate {
      ReadFrom from;
      uint64_t last = 0;  // latest visible sequence
    };
    std::vector<Candidate> candidates;
    for (const ReadFrom& r : reads) {
      auto latest = db->get_partition_sequence(r.partition);
      if (!latest) {
        read_error(reply, latest.error());
        return true;
      }
      if (*latest && **latest >= r.sequence) candidates.push_back({r, **latest});
    }
    if (blocking && !final && candidates.empty()) return false;
    auto w = reply->writer();
    EventBatchWriter batch(w, count);
    bool has_more = false;
    const std::size_t k = candidates.size();
    if (k > 0) {
      const uint64_t quota = std::max<uint64_t>(1, (count + k - 1) / k);
      const std::size_t first =
          static_cast<std::size_t>(g_epread_rotation.fetch_add(1, std::memory_order_relaxed) % k);
      for (std::size_t i = 0; i < k; ++i) {
        const Candidate& cand = candidates[(first + i) % k];
        const uint64_t take = std::min(quota, count - batch.size());
        uint64_t next_seq = cand.from.sequence;
        if (take > 0) {
          auto it = db->read_partition(cand.from.partition, cand.from.sequence, take);
          if (!it) {
            batch.abandon();
            read_error(reply, it.error());
            return true;
          }
          uint64_t taken = 0;
          while (taken < take) {
            auto next = it->next_view();
            if (!next) {
              batch.abandon();
              read_error(reply, next.error());
              return true;
            }
            if (*next == nullptr) break;
            const EventView& e = **next;
            if (e.partition_sequence < cand.from.sequence) continue;  // defensive
            if (e.partition_sequence > cand.last) break;
            batch.add(e);
            ++taken;
            next_seq = e.partition_sequence + 1;
          }
        }
        if (next_seq <= cand.last) has_more = true;
      }
    }
    stats->events_read.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.finish(has_more);
    reply->finish();
    return true;
  };
  run_scan(c, block_ms, std::move(partitions), std::move(attempt));
}

}  // namespace sierra::server
