// Blocking reads over real sockets (ESCAN/EPSCAN/EPREAD ... BLOCK <ms>, docs/CLIENTS.md): an
// in-process Server whose database reports commits to the SubscriptionHub, which wakes the
// blocked reads (server/subscriptions/blocked_reads.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/database.hpp"
#include "engine/ids.hpp"
#include "server/server.hpp"
#include "server/subscriptions/blocked_reads.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/resp_test_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using resp::RespType;
using resp::RespValue;
using namespace std::chrono_literals;
using Client = test_support::RespTestClient;
using Clock = std::chrono::steady_clock;

const RespValue* field(const RespValue& m, std::string_view key) {
  if (m.type == RespType::Map) return m.find(key);
  for (std::size_t i = 0; i + 1 < m.children.size(); i += 2) {  // RESP2: flat pairs
    if (m.children[i].str == key) return &m.children[i + 1];
  }
  return nullptr;
}

// A page {has_more, events}: the events' (partition, sequence, event name).
struct Page {
  bool ok = false;
  bool has_more = false;
  struct Ev {
    int64_t partition = -1, sequence = -1;
    std::string name, stream;
  };
  std::vector<Ev> events;
};

Page as_page(const std::optional<RespValue>& r) {
  Page p;
  if (!r || (r->type != RespType::Map && r->type != RespType::Array)) return p;
  const RespValue* more = field(*r, "has_more");
  const RespValue* evs = field(*r, "events");
  if (more == nullptr || evs == nullptr) return p;
  p.ok = true;
  p.has_more = more->type == RespType::Boolean ? more->boolean : more->integer != 0;
  for (const RespValue& e : evs->children) {
    Page::Ev ev;
    if (const RespValue* f = field(e, "partition_id")) ev.partition = f->integer;
    if (const RespValue* f = field(e, "partition_sequence")) ev.sequence = f->integer;
    if (const RespValue* f = field(e, "event_name")) ev.name = f->str;
    if (const RespValue* f = field(e, "stream_id")) ev.stream = f->str;
    p.events.push_back(std::move(ev));
  }
  return p;
}

class BlockingReadTest : public test_support::HubServerTest {
 protected:
  BlockingReadTest() : HubServerTest("sierra-block-test") {}

  // Appends one event; returns {partition, sequence}.
  std::pair<int64_t, int64_t> append(Client& c, const std::string& stream,
                                     const std::string& name = "Ev") {
    auto r = c.call({"EAPPEND", stream, name});
    EXPECT_TRUE(r && r->type == RespType::Map) << (r ? r->str : "timeout");
    if (!r || r->type != RespType::Map) return {-1, -1};
    return {r->find("partition_id")->integer, r->find("partition_sequence")->integer};
  }

  // Waits (bounded) until `n` reads are blocked on the server.
  bool wait_blocked(std::size_t n, std::chrono::milliseconds limit = 5s) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (hub_->blocked_reads().waiting() == n) return true;
      std::this_thread::sleep_for(2ms);
    }
    return hub_->blocked_reads().waiting() == n;
  }
};

TEST_F(BlockingReadTest, EscanBlockIsWokenByAnAppend) {
  start();
  Client reader(port()), writer(port());
  ASSERT_TRUE(reader.connected() && writer.connected());
  const auto t0 = Clock::now();
  ASSERT_TRUE(reader.send_cmd({"ESCAN", "blk-1", "0", "+", "BLOCK", "10000"}));
  ASSERT_TRUE(wait_blocked(1));
  EXPECT_FALSE(reader.read_reply(100ms).has_value()) << "replied before any event";
  append(writer, "other-stream-in-some-partition");  // may share the partition: not for it
  append(writer, "blk-1", "Woke");
  Page p = as_page(reader.read_reply(5s));
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].name, "Woke");
  EXPECT_FALSE(p.has_more);
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_TRUE(wait_blocked(0));
}

TEST_F(BlockingReadTest, BlockRepliesAtOnceWhenEventsExist) {
  start();
  Client c(port());
  append(c, "blk-now", "A");
  const auto t0 = Clock::now();
  Page p = as_page(c.call({"ESCAN", "blk-now", "0", "+", "BLOCK", "0"}));
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_EQ(hub_->blocked_reads().waiting(), 0u);
}

TEST_F(BlockingReadTest, EpscanTimeoutRepliesTheEmptyPage) {
  start();
  Client c(port());
  const auto t0 = Clock::now();
  Page p = as_page(c.call({"EPSCAN", "3", "999999", "+", "BLOCK", "300"}));
  const auto waited = Clock::now() - t0;
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.events.empty());
  EXPECT_FALSE(p.has_more);
  EXPECT_GE(waited, 280ms);
  EXPECT_LT(waited, 5s);
  EXPECT_TRUE(wait_blocked(0));
}

TEST_F(BlockingReadTest, EpscanBlockWokenInResp2) {
  start();
  Client reader(port()), writer(port());
  auto hello = reader.call({"HELLO", "2"});
  ASSERT_TRUE(hello.has_value());
  auto [pid, seq] = append(writer, "resp2-stream");
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(reader.send_cmd(
      {"EPSCAN", std::to_string(pid), std::to_string(seq + 1), "+", "BLOCK", "10000"}));
  ASSERT_TRUE(wait_blocked(1));
  append(writer, "resp2-stream", "Second");
  auto r = reader.read_reply(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type, RespType::Array);  // RESP2: the map as a flat array
  Page p = as_page(r);
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].sequence, seq + 1);
}

TEST_F(BlockingReadTest, ClosingTheConnectionCancelsTheWait) {
  start();
  {
    Client reader(port());
    ASSERT_TRUE(reader.send_cmd({"ESCAN", "blk-close", "0", "+", "BLOCK", "0"}));
    ASSERT_TRUE(wait_blocked(1));
    reader.close();
    EXPECT_TRUE(wait_blocked(0)) << "the closed connection's wait was not dropped";
  }
  Client c(port());
  append(c, "blk-close");
  EXPECT_EQ(c.call({"PING"})->str, "PONG");
  EXPECT_EQ(hub_->blocked_reads().waiting(), 0u);
}

TEST_F(BlockingReadTest, PipelinedRepliesWaitBehindTheBlockedRead) {
  start();
  Client reader(port()), writer(port());
  ASSERT_TRUE(
      reader.send(test_support::encode_command({"ESCAN", "blk-pipe", "0", "+", "BLOCK", "10000"}) +
                  test_support::encode_command({"PING"})));
  ASSERT_TRUE(wait_blocked(1));
  EXPECT_FALSE(reader.read_reply(150ms).has_value()) << "PING answered before the blocked read";
  append(writer, "blk-pipe");
  Page p = as_page(reader.read_reply(5s));
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.events.size(), 1u);
  auto pong = reader.read_reply(5s);
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->str, "PONG");
}

TEST_F(BlockingReadTest, ManyBlockedClientsAreAllWoken) {
  start();
  constexpr int kClients = 40;
  std::vector<std::unique_ptr<Client>> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(readers.back()->connected());
    ASSERT_TRUE(readers.back()->send_cmd({"ESCAN", "blk-many", "0", "+", "BLOCK", "20000"}));
  }
  ASSERT_TRUE(wait_blocked(kClients));
  Client writer(port());
  append(writer, "blk-many", "All");
  for (int i = 0; i < kClients; ++i) {
    Page p = as_page(readers[i]->read_reply(5s));
    ASSERT_TRUE(p.ok) << "client " << i;
    ASSERT_EQ(p.events.size(), 1u) << "client " << i;
    EXPECT_EQ(p.events[0].name, "All");
  }
  EXPECT_TRUE(wait_blocked(0));
}

TEST_F(BlockingReadTest, EpreadFollowsSeveralPartitions) {
  start();
  Client c(port());
  // Two streams in different partitions.
  auto [p1, s1] = append(c, "multi-a");
  int64_t p2 = -1, s2 = -1;
  std::string other;
  for (int i = 0; i < 100 && p2 < 0; ++i) {
    other = "multi-b-" + std::to_string(i);
    auto [p, s] = append(c, other);
    if (p != p1) {
      p2 = p;
      s2 = s;
    }
  }
  ASSERT_GE(p2, 0);
  // From the beginning of every partition: both events are there (and maybe other streams').
  Page all = as_page(c.call({"EPREAD", "COUNT", "1000", "FROM", "*", "0"}));
  ASSERT_TRUE(all.ok);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& e : all.events) seen.insert({e.partition, e.sequence});
  EXPECT_TRUE(seen.count({p1, s1}));
  EXPECT_TRUE(seen.count({p2, s2}));
  EXPECT_FALSE(all.has_more);

  // From after them, in those two partitions only: blocks, woken by an append to the second.
  Client reader(port());
  ASSERT_TRUE(
      reader.send_cmd({"EPREAD", "BLOCK", "10000", "FROM", std::to_string(p1),
                       std::to_string(s1 + 1), std::to_string(p2), std::to_string(s2 + 1)}));
  ASSERT_TRUE(wait_blocked(1));
  auto [p3, s3] = append(c, other, "Next");
  Page p = as_page(reader.read_reply(5s));
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].partition, p3);
  EXPECT_EQ(p.events[0].sequence, s3);
  EXPECT_EQ(p.events[0].name, "Next");

  // Timeout: the empty page.
  Page none = as_page(reader.call({"EPREAD", "BLOCK", "200", "FROM", "*", "1000000"}));
  ASSERT_TRUE(none.ok);
  EXPECT_TRUE(none.events.empty());
  EXPECT_FALSE(none.has_more);
}

TEST_F(BlockingReadTest, EpreadSharesCountBetweenPartitions) {
  start();
  Client c(port());
  // A backlog of 200 in one partition and one event in another.
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += test_support::encode_command({"EAPPEND", "big", "B"});
  ASSERT_TRUE(c.send(batch));
  int64_t big = -1;
  for (int i = 0; i < 200; ++i) {
    auto r = c.read_reply();
    ASSERT_TRUE(r && r->type == RespType::Map);
    big = r->find("partition_id")->integer;
  }
  int64_t small = -1;
  std::string small_stream;
  for (int i = 0; i < 100 && small < 0; ++i) {
    small_stream = "small-" + std::to_string(i);
    auto [p, s] = append(c, small_stream, "S");
    if (p != big) small = p;
  }
  ASSERT_GE(small, 0);
  Page p = as_page(c.call(
      {"EPREAD", "COUNT", "10", "FROM", std::to_string(big), "0", std::to_string(small), "0"}));
  ASSERT_TRUE(p.ok);
  EXPECT_LE(p.events.size(), 10u);
  bool got_small = false;
  for (const auto& e : p.events) got_small |= e.partition == small;
  EXPECT_TRUE(got_small) << "the partition with one event was starved by the backlog";
  EXPECT_TRUE(p.has_more);
}

TEST_F(BlockingReadTest, ArgumentErrors) {
  start();
  Client c(port());
  auto r = c.call({"EPREAD", "FROM", "1"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error());
  r = c.call({"EPREAD", "BLOCK", "x", "FROM", "1", "0"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error());
  r = c.call({"EPREAD", "FROM", "1", "0", "1", "5"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error()) << "duplicate partition";
  r = c.call({"ESCAN", "s", "0", "+", "BLOCK", "1", "BLOCK", "2"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error());
  r = c.call({"EPSCAN", "1", "0", "+", "BLOCK", "-1"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error());
}

TEST_F(BlockingReadTest, ServerStopAnswersBlockedReads) {
  start();
  Client reader(port());
  ASSERT_TRUE(reader.send_cmd({"ESCAN", "blk-stop", "0", "+", "BLOCK", "0"}));
  ASSERT_TRUE(wait_blocked(1));
  const auto t0 = Clock::now();
  std::thread stopper([this] { server_.reset(); });
  Page p = as_page(reader.read_reply(5s));
  stopper.join();
  EXPECT_TRUE(p.ok) << "the blocked read got no reply at shutdown";
  EXPECT_TRUE(p.events.empty());
  EXPECT_LT(Clock::now() - t0, 5s);
}

}  // namespace
}  // namespace sierra::server
