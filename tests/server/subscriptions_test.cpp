// Subscriptions over real sockets (PROTOCOL.md §4.8-4.10, §7): an in-process Server whose
// database reports commits to the SubscriptionHub, driven by blocking clients that read replies
// and pushes (tests/support/resp_test_client.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/database.hpp"
#include "engine/ids.hpp"
#include "server/server.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/eventually.hpp"
#include "support/resp_test_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using resp::RespType;
using resp::RespValue;
using namespace std::chrono_literals;

using test_support::encode_command;
using test_support::is_push;
using Client = test_support::RespTestClient;

// A decoded `message` push.
struct Message {
  std::string sub_id;
  int64_t cursor = -1;
  std::string event_id;
  int64_t partition_id = -1;
  int64_t sequence = -1;
  int64_t version = -1;
  std::string stream_id;
};

const RespValue* map_get(const RespValue& m, std::string_view key) {
  if (m.type == RespType::Map) return m.find(key);
  // RESP2: a flat array of key, value, ...
  for (std::size_t i = 0; i + 1 < m.children.size(); i += 2) {
    if (m.children[i].str == key) return &m.children[i + 1];
  }
  return nullptr;
}

std::optional<Message> as_message(const RespValue& v) {
  if (!is_push(v) || v.children[0].str != "message" || v.children.size() != 4) return std::nullopt;
  Message m;
  m.sub_id = v.children[1].str;
  m.cursor = v.children[2].integer;
  const RespValue& ev = v.children[3];
  auto str = [&](std::string_view k) {
    const RespValue* f = map_get(ev, k);
    return f ? f->str : std::string();
  };
  auto num = [&](std::string_view k) {
    const RespValue* f = map_get(ev, k);
    return f ? f->integer : int64_t{-1};
  };
  m.event_id = str("event_id");
  m.partition_id = num("partition_id");
  m.sequence = num("partition_sequence");
  m.version = num("stream_version");
  m.stream_id = str("stream_id");
  return m;
}

class SubscriptionTest : public test_support::HubServerTest {
 protected:
  SubscriptionTest() : HubServerTest("sierra-sub-test") {}

  // Appends `n` events to `stream` (pipelined); returns the replies' partition sequences.
  std::vector<int64_t> append(Client& c, const std::string& stream, int n,
                              const std::string& key = {}) {
    std::string batch;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> args{"EAPPEND", stream, "Ev", "PAYLOAD", "p" + std::to_string(i)};
      if (!key.empty()) {
        args.push_back("PARTITION_KEY");
        args.push_back(key);
      }
      batch += encode_command(args);
    }
    EXPECT_TRUE(c.send(batch));
    std::vector<int64_t> seqs;
    for (int i = 0; i < n; ++i) {
      auto r = c.read_reply();
      EXPECT_TRUE(r && r->type == RespType::Map) << (r ? r->str : "timeout");
      if (!r || r->type != RespType::Map) break;
      seqs.push_back(r->find("partition_sequence")->integer);
    }
    return seqs;
  }

  // Sends a subscribe command; checks the reply and the subscribe push; returns the id.
  std::string subscribe(Client& c, const std::vector<std::string>& args, int64_t expect_count = 1) {
    auto r = c.call(args);
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_EQ(r->type, RespType::SimpleString) << r->str;
    if (r->type != RespType::SimpleString) return {};
    auto p = c.next_push();
    EXPECT_TRUE(p.has_value());
    if (!p) return {};
    EXPECT_EQ(p->children.size(), 3u);
    EXPECT_EQ(p->children[0].str, "subscribe");
    EXPECT_EQ(p->children[1].str, r->str);
    EXPECT_EQ(p->children[2].integer, expect_count);
    return r->str;
  }

  // Reads `n` messages of subscription `id`, acking each cursor if `ack`.
  std::vector<Message> receive(Client& c, const std::string& id, std::size_t n, bool ack,
                               std::chrono::milliseconds timeout = 10s) {
    std::vector<Message> out;
    while (out.size() < n) {
      auto p = c.next_push(timeout);
      if (!p) break;
      auto m = as_message(*p);
      EXPECT_TRUE(m.has_value()) << "unexpected push " << p->children[0].str;
      if (!m) break;
      EXPECT_EQ(m->sub_id, id);
      if (ack) c.send_cmd({"EACK", id, std::to_string(m->cursor)});
      out.push_back(std::move(*m));
    }
    return out;
  }
};

void expect_cursors_from_zero(const std::vector<Message>& ms) {
  for (std::size_t i = 0; i < ms.size(); ++i) {
    ASSERT_EQ(ms[i].cursor, static_cast<int64_t>(i));
  }
}

// ------------------------------------------------------------------------- upstream scenario

TEST_F(SubscriptionTest, UpstreamScenarioAllPartitionsFromZeroWithWindows) {
  start();
  Client w(port());
  ASSERT_TRUE(w.connected());
  std::string batch;
  constexpr int kEvents = 2000;
  for (int i = 0; i < kEvents; ++i) {
    const std::string key = uuid_v4().to_string();
    batch +=
        encode_command({"EAPPEND", key, "Ev", "PARTITION_KEY", key, "EXPECTED_VERSION", "empty"});
  }
  ASSERT_TRUE(w.send(batch));
  for (int i = 0; i < kEvents; ++i) {
    auto r = w.read_reply();
    ASSERT_TRUE(r && r->type == RespType::Map) << (r ? r->str : "timeout");
  }

  for (const char* window : {"10000", "100", "10"}) {
    SCOPED_TRACE(window);
    Client c(port());
    const std::string id = subscribe(c, {"EPSUB", "*", "FROM", "0", "WINDOW", window});
    auto ms = receive(c, id, kEvents, /*ack=*/true);
    ASSERT_EQ(ms.size(), static_cast<std::size_t>(kEvents));
    expect_cursors_from_zero(ms);
    std::set<std::string> ids;
    std::map<int64_t, int64_t> next;  // partition -> expected sequence
    for (std::size_t i = 0; i < ms.size(); ++i) {
      EXPECT_TRUE(ids.insert(ms[i].event_id).second) << "repeated " << ms[i].event_id;
      if (i > 0) {
        EXPECT_NE(ms[i].event_id, ms[i - 1].event_id);
      }
      EXPECT_EQ(ms[i].sequence, next[ms[i].partition_id]) << "partition " << ms[i].partition_id;
      next[ms[i].partition_id] = ms[i].sequence + 1;
    }
    // Nothing more arrives.
    auto extra = c.next_push(200ms);
    EXPECT_FALSE(extra.has_value());
    // Every EACK was answered +OK.
    while (c.replies().size() < kEvents) {
      auto r = c.read(2s);
      if (!r) break;
      c.replies().push_back(*r);
    }
    ASSERT_EQ(c.replies().size(), static_cast<std::size_t>(kEvents));
    for (const auto& r : c.replies()) EXPECT_EQ(r.str, "OK");
  }
}

// ----------------------------------------------------------------- history to live, no gap

TEST_F(SubscriptionTest, ConcurrentWritersSubscribersFromZeroAndLatestMatchCommittedLog) {
  start();
  constexpr int kWriters = 2;
  constexpr int kPerWriter = 1500;
  std::vector<std::atomic<int64_t>> acked(partitions_);
  for (auto& a : acked) a.store(-1);
  std::atomic<int> written{0};
  // Appends sent after the LATEST subscription was accepted: it must deliver them.
  std::atomic<bool> latest_accepted{false};
  std::mutex must_mu;
  std::vector<std::pair<int64_t, int64_t>> must;  // (partition, sequence)
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      Client c(port());
      for (int i = 0; i < kPerWriter; i += 10) {
        std::string batch;
        for (int j = 0; j < 10; ++j) {
          batch += encode_command({"EAPPEND",
                                   "w" + std::to_string(t) + "-" + std::to_string((i + j) % 13),
                                   "Ev", "PAYLOAD", std::to_string(i + j)});
        }
        const bool after_latest = latest_accepted.load();
        c.send(batch);
        for (int j = 0; j < 10; ++j) {
          auto r = c.read_reply();
          if (!r || r->type != RespType::Map) {
            ADD_FAILURE() << "append failed";
            return;
          }
          auto p = r->find("partition_id")->integer;
          auto s = r->find("partition_sequence")->integer;
          int64_t cur = acked[p].load();
          while (cur < s && !acked[p].compare_exchange_weak(cur, s)) {
          }
          written.fetch_add(1);
          if (after_latest) {
            std::lock_guard lock(must_mu);
            must.emplace_back(p, s);
          }
        }
      }
    });
  }
  // Bounded: a writer that fails stops counting, and the test goes on to report what it got.
  EXPECT_TRUE(test_support::eventually([&] { return written.load() >= 600; }, 30s))
      << "the writers stalled after " << written.load() << " appends";

  Client from0(port());
  const std::string id0 = subscribe(from0, {"EPSUB", "*", "FROM", "0", "WINDOW", "100"});
  std::vector<int64_t> before(partitions_);
  for (uint16_t p = 0; p < partitions_; ++p) before[p] = acked[p].load();
  Client latest(port());
  const std::string idl = subscribe(latest, {"epsub", "*", "window", "50"});
  latest_accepted.store(true);

  std::vector<Message> got0, gotl;
  std::thread r0([&] { got0 = receive(from0, id0, kWriters * kPerWriter, true); });
  for (auto& t : writers) t.join();
  r0.join();

  // The committed log, per partition.
  Client q(port());
  std::map<int64_t, std::vector<std::string>> log;
  std::size_t total = 0;
  for (uint16_t p = 0; p < partitions_; ++p) {
    auto r = q.call({"EPSCAN", std::to_string(p), "-", "+", "COUNT", "10000"});
    ASSERT_TRUE(r && r->type == RespType::Map);
    for (const auto& e : r->find("events")->children) {
      ASSERT_EQ(e.find("partition_sequence")->integer, static_cast<int64_t>(log[p].size()));
      log[p].push_back(e.find("event_id")->str);
    }
    total += log[p].size();
  }
  ASSERT_EQ(total, static_cast<std::size_t>(kWriters * kPerWriter));

  // FROM 0: exactly the committed sequence of every partition.
  ASSERT_EQ(got0.size(), total);
  expect_cursors_from_zero(got0);
  std::map<int64_t, std::vector<std::string>> seen0;
  for (const auto& m : got0) {
    ASSERT_EQ(m.sequence, static_cast<int64_t>(seen0[m.partition_id].size()));
    seen0[m.partition_id].push_back(m.event_id);
  }
  for (auto& [p, ids] : log) EXPECT_EQ(seen0[p], ids) << "partition " << p;

  // LATEST: per partition a gapless suffix of the log ending at its last event, holding nothing
  // acknowledged before the EPSUB was sent and everything sent after its reply.
  ASSERT_FALSE(must.empty());
  gotl = receive(latest, idl, must.size(), true);
  while (auto more = latest.next_push(300ms)) {
    auto m = as_message(*more);
    ASSERT_TRUE(m);
    latest.send_cmd({"EACK", idl, std::to_string(m->cursor)});
    gotl.push_back(*m);
  }
  expect_cursors_from_zero(gotl);
  std::map<int64_t, std::vector<Message>> bypart;
  for (const auto& m : gotl) bypart[m.partition_id].push_back(m);
  for (uint16_t p = 0; p < partitions_; ++p) {
    const auto& ms = bypart[p];
    const int64_t last = static_cast<int64_t>(log[p].size()) - 1;
    if (ms.empty()) continue;
    EXPECT_GT(ms.front().sequence, before[p]) << "partition " << p;
    for (std::size_t i = 0; i < ms.size(); ++i) {
      ASSERT_EQ(ms[i].sequence, ms.front().sequence + static_cast<int64_t>(i));
      ASSERT_EQ(ms[i].event_id, log[p][static_cast<std::size_t>(ms[i].sequence)]);
    }
    EXPECT_EQ(ms.back().sequence, last) << "partition " << p;
  }
  for (const auto& [p, seq] : must) {
    const auto& ms = bypart[p];
    ASSERT_FALSE(ms.empty()) << "partition " << p;
    EXPECT_GE(seq, ms.front().sequence) << "partition " << p << " sequence " << seq;
  }
}

// ------------------------------------------------------------------------------------- ESUB

TEST_F(SubscriptionTest, EsubFromVersionOneAndSeveralStreams) {
  start();
  Client w(port());
  append(w, "s1", 5);
  append(w, "s2", 3);

  Client c(port());
  // Keywords in any case end the stream list (PROTOCOL §4.8, §11 row 3).
  const std::string id = subscribe(c, {"ESUB", "s1", "from", "2", "Window", "5"});
  auto ms = receive(c, id, 3, true);
  ASSERT_EQ(ms.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ms[i].stream_id, "s1");
    EXPECT_EQ(ms[i].version, 2 + i);
  }
  // Live, on the same subscription.
  append(w, "s1", 2);
  append(w, "s2", 1);  // another stream: not delivered
  auto live = receive(c, id, 2, true);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].version, 5);
  EXPECT_EQ(live[1].version, 6);
  EXPECT_EQ(live[1].cursor, 4);
  EXPECT_FALSE(c.next_push(200ms).has_value());

  Client m(port());
  const std::string id2 = subscribe(m, {"ESUB", "s1", "s2", "s1", "FROM", "1"});
  auto all = receive(m, id2, 6 + 3, true);
  ASSERT_EQ(all.size(), 9u);
  std::map<std::string, std::vector<int64_t>> versions;
  for (const auto& e : all) versions[e.stream_id].push_back(e.version);
  EXPECT_EQ(versions["s1"], (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(versions["s2"], (std::vector<int64_t>{1, 2, 3}));
  EXPECT_FALSE(m.next_push(200ms).has_value());
  // A second subscription on the same connection counts 2.
  subscribe(m, {"ESUB", "s2"}, 2);
}

TEST_F(SubscriptionTest, EsubPartitionKeyAndLatest) {
  start();
  Client w(port());
  const std::string key = "550e8400-e29b-41d4-a716-446655440000";
  append(w, "keyed", 3, key);
  Client c(port());
  const std::string id = subscribe(c, {"ESUB", "keyed", "PARTITION_KEY", key});  // LATEST
  EXPECT_FALSE(c.next_push(200ms).has_value());  // old events never (§7.6: LATEST = from now)
  append(w, "keyed", 2, key);
  auto ms = receive(c, id, 2, false);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].version, 3);
  EXPECT_EQ(ms[1].version, 4);
  EXPECT_EQ(ms[0].partition_id, 25);
  // The same stream id with the default key is another stream.
  Client d(port());
  const std::string id2 = subscribe(d, {"ESUB", "keyed", "FROM", "0"});
  EXPECT_FALSE(d.next_push(200ms).has_value());
  (void)id2;
}

TEST_F(SubscriptionTest, FromMap) {
  start();
  Client w(port());
  append(w, "a", 5);
  append(w, "b", 3);
  append(w, "c", 2);
  Client c(port());
  const std::string id =
      subscribe(c, {"ESUB", "a", "b", "c", "FROM", "MAP", "a=3", "b=0", "zz=1", "WINDOW", "100"});
  auto ms = receive(c, id, 5, true);
  ASSERT_EQ(ms.size(), 5u);
  std::map<std::string, std::vector<int64_t>> versions;
  for (const auto& e : ms) versions[e.stream_id].push_back(e.version);
  EXPECT_EQ(versions["a"], (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(versions["b"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FALSE(c.next_push(200ms).has_value());
  append(w, "c", 1);  // c is live only
  auto live = receive(c, id, 1, true);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].stream_id, "c");
  EXPECT_EQ(live[0].version, 2);

  // EPSUB MAP with DEFAULT: partition of "a" from 4, the other selected one from 2 (DEFAULT),
  // the MAP key given as a partition key UUID.
  const PartitionId pa = partition_id_for_key(partition_key_for_stream("a"), 32);
  const PartitionId pc = partition_id_for_key(partition_key_for_stream("c"), 32);
  ASSERT_NE(pa, pc);
  const auto latest_of = [&](PartitionId p) {
    auto r = w.call({"EPSEQ", std::to_string(p)});
    return r && r->type == RespType::Integer ? r->integer : int64_t{-1};
  };
  const int64_t la = latest_of(pa);
  const int64_t lc = latest_of(pc);
  ASSERT_GE(la, 4);
  ASSERT_GE(lc, 2);
  Client e(port());
  const std::string id2 =
      subscribe(e, {"EPSUB", std::to_string(pa) + "," + std::to_string(pc), "FROM", "MAP",
                    partition_key_for_stream("a").to_string() + "=4", "DEFAULT", "2"});
  auto got = receive(e, id2, static_cast<std::size_t>((la - 4 + 1) + (lc - 2 + 1)), false);
  std::map<int64_t, std::vector<int64_t>> seqs;
  for (const auto& m : got) seqs[m.partition_id].push_back(m.sequence);
  ASSERT_EQ(seqs[pa].size(), static_cast<std::size_t>(la - 4 + 1));
  ASSERT_EQ(seqs[pc].size(), static_cast<std::size_t>(lc - 2 + 1));
  EXPECT_EQ(seqs[pa].front(), 4);
  EXPECT_EQ(seqs[pc].front(), 2);
  EXPECT_FALSE(e.next_push(200ms).has_value());
}

// ----------------------------------------------------------------------------------- window

TEST_F(SubscriptionTest, WindowStallsWithoutAckAndResumesAfter) {
  start();
  Client w(port());
  append(w, "win", 20);
  Client c(port());
  const std::string id = subscribe(c, {"ESUB", "win", "FROM", "0", "WINDOW", "5"});
  auto first = receive(c, id, 5, false);
  ASSERT_EQ(first.size(), 5u);
  expect_cursors_from_zero(first);
  EXPECT_FALSE(c.next_push(300ms).has_value());  // cursor 5 needs 5 + 1 <= 5
  // Still stalled when live events arrive.
  append(w, "win", 1);
  EXPECT_FALSE(c.next_push(200ms).has_value());
  auto ok = c.call({"EACK", id, "2"});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->str, "OK");
  auto second = receive(c, id, 3, false);  // cursors 5..7 (c - 2 <= 5)
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0].cursor, 5);
  EXPECT_EQ(second[2].cursor, 7);
  EXPECT_EQ(second[2].version, 7);
  EXPECT_FALSE(c.next_push(300ms).has_value());
  ASSERT_EQ(c.call({"EACK", id, "7"})->str, "OK");
  auto third = receive(c, id, 5, false);
  ASSERT_EQ(third.size(), 5u);
  EXPECT_EQ(third[4].cursor, 12);
  // Acks may go backwards (§4.10): the window is then measured from the lower ack.
  ASSERT_EQ(c.call({"EACK", id, "1000"})->str, "OK");
  auto rest = receive(c, id, 8, false);
  ASSERT_EQ(rest.size(), 8u);
  EXPECT_EQ(rest.back().version, 20);
}

// ----------------------------------------------------------------- EUNSUB, errors, cleanup

TEST_F(SubscriptionTest, UnsubscribeAndNotFound) {
  start();
  Client w(port());
  Client c(port());
  const std::string id = subscribe(c, {"ESUB", "u1"});
  const std::string id2 = subscribe(c, {"EPSUB", "0-3"}, 2);
  Client other(port());
  auto nf = other.call({"EACK", id, "0"});
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->type, RespType::Error);
  EXPECT_TRUE(nf->str.starts_with("NOTFOUND")) << nf->str;

  auto r = c.call({"EUNSUB", id});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str, "OK");
  auto p = c.next_push();
  ASSERT_TRUE(p);
  ASSERT_EQ(p->children.size(), 3u);
  EXPECT_EQ(p->children[0].str, "unsubscribe");
  EXPECT_EQ(p->children[1].str, id);
  EXPECT_EQ(p->children[2].integer, 1);
  append(w, "u1", 2);
  EXPECT_FALSE(c.next_push(200ms).has_value());
  auto again = c.call({"EUNSUB", id});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->str.starts_with("NOTFOUND"));
  auto ack = c.call({"EACK", id, "0"});
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->str.starts_with("NOTFOUND"));
  EXPECT_EQ(hub_->active(), 1u);
  ASSERT_EQ(c.call({"EUNSUB", id2})->str, "OK");
  EXPECT_EQ(hub_->active(), 0u);
}

TEST_F(SubscriptionTest, ArgumentErrors) {
  start();
  Client c(port());
  auto err = [&](const std::vector<std::string>& args) {
    auto r = c.call(args);
    EXPECT_TRUE(r && r->type == RespType::Error) << args[0];
    return r ? r->str : std::string();
  };
  EXPECT_TRUE(err({"ESUB", "s", "WINDOW", "0"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB", "FROM", "0"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB", "s", "FROM", "0", "FROM", "1"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB", "s", "FROM", "MAP"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB", "s", "FROM", "MAP", "s"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"ESUB", "s", "FROM", "-1"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EPSUB", "32"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EPSUB", "5-2"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EPSUB", "x"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EPSUB", "1,,2"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EPSUB", "*", "BOGUS"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EACK", "nope", "1"}).starts_with("INVALIDARG"));
  EXPECT_TRUE(err({"EACK", uuid_v4().to_string(), "1"}).starts_with("NOTFOUND"));
  EXPECT_TRUE(err({"EUNSUB", uuid_v4().to_string()}).starts_with("NOTFOUND"));
  // Accepted forms: ranges clamped, UUID keys, lists with spaces.
  subscribe(c, {"EPSUB", "30-100"}, 1);
  subscribe(c, {"EPSUB", "550e8400-e29b-41d4-a716-446655440000, 1 ,2-3"}, 2);
  subscribe(c, {"EPSUB", "*", "FROM", "LATEST", "WINDOW", "7"}, 3);
  EXPECT_EQ(hub_->active(), 3u);
  // Ordinary commands still work on a subscribed connection.
  auto pong = c.call({"PING"});
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->str, "PONG");
}

TEST_F(SubscriptionTest, DisconnectFreesSubscriptions) {
  start();
  {
    Client c(port());
    subscribe(c, {"ESUB", "d1", "FROM", "0"}, 1);
    subscribe(c, {"EPSUB", "*", "FROM", "0"}, 2);
    subscribe(c, {"EPSUB", "1"}, 3);
    EXPECT_EQ(hub_->active(), 3u);
    Client w(port());
    append(w, "d1", 50);
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub_->active() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(hub_->active(), 0u);
  // The server still serves appends and subscriptions.
  Client c2(port());
  Client w(port());
  const std::string id = subscribe(c2, {"ESUB", "d1", "FROM", "48"});
  append(w, "d1", 1);
  auto ms = receive(c2, id, 3, false);
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[2].version, 50);
}

TEST_F(SubscriptionTest, HundredSubscribersOnOnePartition) {
  start();
  const std::string stream = "hot";
  const auto pid = partition_id_for_key(partition_key_for_stream(stream), 32);
  Client w(port());
  append(w, stream, 10);  // history for half of them
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(std::make_unique<Client>(port()));
    const bool from0 = i % 2 == 0;
    ids.push_back(subscribe(
        *clients.back(),
        from0 ? std::vector<std::string>{"EPSUB", std::to_string(pid), "FROM", "0", "WINDOW", "20"}
              : std::vector<std::string>{"EPSUB", std::to_string(pid)}));
  }
  append(w, stream, 40);
  for (int i = 0; i < 100; ++i) {
    const bool from0 = i % 2 == 0;
    auto ms = receive(*clients[i], ids[i], from0 ? 50 : 40, true);
    ASSERT_EQ(ms.size(), from0 ? 50u : 40u) << i;
    for (std::size_t k = 0; k < ms.size(); ++k) {
      ASSERT_EQ(ms[k].sequence, static_cast<int64_t>(k + (from0 ? 0 : 10))) << i;
    }
  }
}

TEST_F(SubscriptionTest, Resp2ConnectionGetsPushesAsArrays) {
  start();
  Client w(port());
  append(w, "r2", 2);
  Client c(port());
  auto hello = c.call({"HELLO", "2"});
  ASSERT_TRUE(hello);
  auto r = c.call({"ESUB", "r2", "FROM", "0"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->type, RespType::SimpleString);
  auto sub = c.next_push();
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->type, RespType::Array);
  ASSERT_EQ(sub->children.size(), 3u);
  EXPECT_EQ(sub->children[0].str, "subscribe");
  EXPECT_EQ(sub->children[2].type, RespType::Integer);
  auto msg = c.next_push();
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->type, RespType::Array);
  ASSERT_EQ(msg->children.size(), 4u);
  EXPECT_EQ(msg->children[3].type, RespType::Array);
  EXPECT_EQ(msg->children[3].children.size(), 22u);
  auto m = as_message(*msg);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->stream_id, "r2");
  EXPECT_EQ(m->version, 0);
  EXPECT_EQ(m->cursor, 0);
}

}  // namespace
}  // namespace sierra::server
