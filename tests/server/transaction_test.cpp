// MULTI / EXEC / DISCARD / WATCH (transaction_commands.hpp), and the Redis-compatibility
// replies of issue #18: INFO for RESP2 parsers, protocol.default, CONFIG GET, CLIENT LIST /
// KILL, SHUTDOWN. An in-process Server on 127.0.0.1:0, driven over TCP by the test client.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/database.hpp"
#include "server/commands/admin_commands.hpp"
#include "server/server.hpp"
#include "support/resp_test_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using resp::RespType;
using resp::RespValue;
using Client = test_support::RespTestClient;

constexpr std::string_view kKey = "550e8400-e29b-41d4-a716-446655440000";  // partition 25

class TransactionTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  void start(const std::function<void(Config&)>& tweak = {}) {
    Config c = test_support::loopback_config(dir_, 1 << 20);
    c.append.strict_versioning = false;
    if (tweak) tweak(c);
    auto db = test_support::open_test_database(c);
    ASSERT_TRUE(db.has_value());
    auto s = Server::start(c, *db);
    ASSERT_TRUE(s.has_value()) << (s ? "" : s.error());
    server_ = std::move(*s);
  }
  uint16_t port() const { return server_->port(); }

  test_support::TempDir tmp_{"sierra-tx-test"};
  fs::path dir_ = tmp_.path();
  std::unique_ptr<Server> server_;
};

RespValue call(Client& c, const std::vector<std::string>& args) {
  auto v = c.call(args);
  EXPECT_TRUE(v.has_value()) << args[0] << ": " << c.failure();
  return v ? *v : RespValue{};
}

void expect_simple(const RespValue& v, std::string_view text) {
  EXPECT_EQ(v.type, RespType::SimpleString) << v.str;
  EXPECT_EQ(v.str, text);
}

void expect_error(const RespValue& v, std::string_view prefix) {
  EXPECT_EQ(v.type, RespType::Error) << v.str;
  EXPECT_TRUE(v.str.starts_with(prefix)) << v.str;
}

int64_t field_int(const RespValue& map, std::string_view key) {
  const RespValue* f = map.find(key);
  EXPECT_NE(f, nullptr) << key;
  return f != nullptr ? f->integer : -1;
}

std::string field_str(const RespValue& map, std::string_view key) {
  const RespValue* f = map.find(key);
  EXPECT_NE(f, nullptr) << key;
  return f != nullptr ? f->str : std::string();
}

// The partition's next sequence (0 if empty), read with EPSEQ.
int64_t next_sequence(Client& c, int partition) {
  const RespValue v = call(c, {"EPSEQ", std::to_string(partition)});
  return v.type == RespType::Null ? 0 : v.integer + 1;
}

// ------------------------------------------------------------------------ MULTI / EXEC

TEST_F(TransactionTest, QueuedAppendsToOneKeyAreOneTransactionAndReadsRunInOrder) {
  start();
  Client c(port());
  const std::string k(kKey);
  expect_simple(call(c, {"MULTI"}), "OK");
  expect_simple(call(c, {"ESVER", "tx-a", "PARTITION_KEY", k}), "QUEUED");
  expect_simple(call(c, {"EAPPEND", "tx-a", "A", "PARTITION_KEY", k, "EXPECTED_VERSION", "empty"}),
                "QUEUED");
  expect_simple(call(c, {"EMAPPEND", k, "tx-b", "B", "EXPECTED_VERSION", "empty", "tx-b", "C"}),
                "QUEUED");
  expect_simple(call(c, {"ESVER", "tx-b", "PARTITION_KEY", k}), "QUEUED");
  const RespValue r = call(c, {"EXEC"});
  ASSERT_EQ(r.type, RespType::Array);
  ASSERT_EQ(r.children.size(), 4u);
  EXPECT_EQ(r.children[0].type, RespType::Null);  // before the first append: not there yet
  const RespValue& a = r.children[1];
  ASSERT_EQ(a.type, RespType::Map);
  EXPECT_EQ(field_int(a, "partition_sequence"), 0);
  EXPECT_EQ(field_int(a, "stream_version"), 0);
  EXPECT_EQ(field_int(a, "partition_id"), 25);
  const RespValue& b = r.children[2];
  ASSERT_EQ(b.type, RespType::Map);
  EXPECT_EQ(field_int(b, "first_partition_sequence"), 1);
  EXPECT_EQ(field_int(b, "last_partition_sequence"), 2);
  const RespValue* events = b.find("events");
  ASSERT_NE(events, nullptr);
  ASSERT_EQ(events->children.size(), 2u);
  EXPECT_EQ(field_int(events->children[1], "stream_version"), 1);
  EXPECT_EQ(r.children[3].integer, 1);  // after: both events of tx-b

  // One engine transaction: every event carries the same transaction id.
  const RespValue ea = call(c, {"EGET", field_str(a, "event_id")});
  const RespValue eb = call(c, {"EGET", field_str(events->children[1], "event_id")});
  ASSERT_EQ(ea.type, RespType::Map);
  ASSERT_EQ(eb.type, RespType::Map);
  EXPECT_EQ(field_str(ea, "transaction_id"), field_str(eb, "transaction_id"));
  // The connection is back to normal.
  expect_simple(call(c, {"PING"}), "PONG");
}

TEST_F(TransactionTest, AFailedExpectedVersionWritesNoneOfTheAppends) {
  start();
  Client c(port());
  const std::string k(kKey);
  ASSERT_EQ(call(c, {"EAPPEND", "old", "X", "PARTITION_KEY", k}).type, RespType::Map);
  expect_simple(call(c, {"MULTI"}), "OK");
  call(c, {"EAPPEND", "new", "A", "PARTITION_KEY", k, "EXPECTED_VERSION", "empty"});
  call(c, {"EAPPEND", "old", "B", "PARTITION_KEY", k, "EXPECTED_VERSION", "7"});
  call(c, {"ESVER", "new", "PARTITION_KEY", k});
  const RespValue r = call(c, {"EXEC"});
  ASSERT_EQ(r.type, RespType::Array);
  ASSERT_EQ(r.children.size(), 3u);
  expect_error(r.children[0], "WRONGVER");
  expect_error(r.children[1], "WRONGVER");
  EXPECT_EQ(r.children[2].type, RespType::Null);
  EXPECT_EQ(next_sequence(c, 25), 1);  // only the first event, from before
  EXPECT_EQ(call(c, {"ESVER", "new", "PARTITION_KEY", k}).type, RespType::Null);
}

TEST_F(TransactionTest, AnAppendWithBadArgumentsAtExecWritesNone) {
  start();
  Client c(port());
  const std::string k(kKey);
  expect_simple(call(c, {"MULTI"}), "OK");
  call(c, {"EAPPEND", "good", "A", "PARTITION_KEY", k});
  // Arity is fine, the grammar is not: found at EXEC.
  call(c, {"EAPPEND", "bad", "A", "PARTITION_KEY", k, "EXPECTED_VERSION", "nope"});
  call(c, {"EAPPEND", "bad2", "A", "PARTITION_KEY", k, "TIMESTAMP", "x"});
  const RespValue r = call(c, {"EXEC"});
  ASSERT_EQ(r.children.size(), 3u);
  expect_error(r.children[0], "EXECABORT not written: command 2");
  expect_error(r.children[1], "INVALIDARG");
  expect_error(r.children[2], "INVALIDARG");  // its own error, once
  expect_simple(call(c, {"PING"}), "PONG");   // the replies are in step
  EXPECT_EQ(next_sequence(c, 25), 0);
}

TEST_F(TransactionTest, AppendsToSeveralPartitionsAreRefusedAsCrossslot) {
  start();
  Client c(port());
  expect_simple(call(c, {"MULTI"}), "OK");
  call(c, {"EAPPEND", "user-123", "A"});   // partition 21
  call(c, {"EAPPEND", "my-stream", "A"});  // partition 6
  call(c, {"ESVER", "user-123"});
  const RespValue r = call(c, {"EXEC"});
  expect_error(r, "CROSSSLOT");
  EXPECT_EQ(call(c, {"ESVER", "user-123"}).type, RespType::Null);
  EXPECT_EQ(call(c, {"ESVER", "my-stream"}).type, RespType::Null);

  // Two streams of one partition with their own (different) default keys: one partition, but
  // not one engine transaction, so refused too.
  const uint16_t pid = partition_id_for_key(partition_key_for_stream("s-0"), 32);
  std::string other;
  for (int i = 1; i < 2000 && other.empty(); ++i) {
    const std::string s = "s-" + std::to_string(i);
    if (partition_id_for_key(partition_key_for_stream(s), 32) == pid) other = s;
  }
  ASSERT_FALSE(other.empty());
  expect_simple(call(c, {"MULTI"}), "OK");
  call(c, {"EAPPEND", "s-0", "A"});
  call(c, {"EAPPEND", other, "A"});
  expect_error(call(c, {"EXEC"}), "CROSSSLOT");
  EXPECT_EQ(next_sequence(c, pid), 0);
}

TEST_F(TransactionTest, QueueingErrorsAbortExec) {
  start();
  Client c(port());
  expect_simple(call(c, {"MULTI"}), "OK");
  expect_error(call(c, {"NOSUCH", "x"}), "INVALIDARG unknown command");
  expect_simple(call(c, {"EAPPEND", "abort-1", "A"}), "QUEUED");
  expect_error(call(c, {"EXEC"}), "EXECABORT Transaction discarded because of previous errors");
  EXPECT_EQ(call(c, {"ESVER", "abort-1"}).type, RespType::Null);

  expect_simple(call(c, {"MULTI"}), "OK");
  expect_error(call(c, {"ESVER"}), "INVALIDARG wrong number of arguments for 'ESVER'");
  expect_error(call(c, {"EXEC"}), "EXECABORT");

  // Commands that change the session or subscribe cannot be queued.
  expect_simple(call(c, {"MULTI"}), "OK");
  expect_error(call(c, {"ESUB", "s"}), "ERR Command not allowed inside a transaction");
  expect_error(call(c, {"EXEC"}), "EXECABORT");
}

TEST_F(TransactionTest, MultiDiscardAndExecErrors) {
  start();
  Client c(port());
  expect_error(call(c, {"EXEC"}), "ERR EXEC without MULTI");
  expect_error(call(c, {"DISCARD"}), "ERR DISCARD without MULTI");
  expect_simple(call(c, {"MULTI"}), "OK");
  expect_error(call(c, {"MULTI"}), "ERR MULTI calls can not be nested");
  expect_error(call(c, {"WATCH", "x"}), "ERR WATCH inside MULTI is not allowed");
  expect_simple(call(c, {"EAPPEND", "discarded", "A"}), "QUEUED");
  expect_simple(call(c, {"DISCARD"}), "OK");
  EXPECT_EQ(call(c, {"ESVER", "discarded"}).type, RespType::Null);
  expect_error(call(c, {"EXEC"}), "ERR EXEC without MULTI");
  // An empty transaction is an empty array.
  expect_simple(call(c, {"MULTI"}), "OK");
  const RespValue r = call(c, {"EXEC"});
  EXPECT_EQ(r.type, RespType::Array);
  EXPECT_TRUE(r.children.empty());
}

TEST_F(TransactionTest, PipelinedTransactionKeepsOrder) {
  start();
  Client c(port());
  std::string bytes;
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"MULTI"},
                                             {"EAPPEND", "pipe", "A"},
                                             {"EAPPEND", "pipe", "B"},
                                             {"ESCAN", "pipe", "-", "+"},  // on the read pool
                                             {"EXEC"},
                                             {"ESVER", "pipe"}}) {
    bytes += test_support::encode_command(cmd);
  }
  ASSERT_TRUE(c.send(bytes));
  std::vector<RespValue> got;
  for (int i = 0; i < 6; ++i) {
    auto v = c.read_reply();
    ASSERT_TRUE(v) << c.failure() << " reply " << i;
    got.push_back(*v);
  }
  expect_simple(got[0], "OK");
  expect_simple(got[1], "QUEUED");
  ASSERT_EQ(got[4].type, RespType::Array);
  ASSERT_EQ(got[4].children.size(), 3u);
  EXPECT_EQ(field_int(got[4].children[1], "stream_version"), 1);
  const RespValue* events = got[4].children[2].find("events");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->children.size(), 2u);  // the scan after the appends sees both
  EXPECT_EQ(got[5].integer, 1);            // the command after EXEC sees both appends
}

TEST_F(TransactionTest, WatchFailsExecWhenTheStreamChanged) {
  start();
  Client a(port());
  Client b(port());
  ASSERT_EQ(call(a, {"EAPPEND", "watched", "A"}).type, RespType::Map);
  expect_simple(call(a, {"WATCH", "watched", "never-written"}), "OK");
  ASSERT_EQ(call(b, {"EAPPEND", "watched", "B"}).type, RespType::Map);
  expect_simple(call(a, {"MULTI"}), "OK");
  call(a, {"EAPPEND", "tx-after-watch", "A"});
  const RespValue r = call(a, {"EXEC"});
  EXPECT_EQ(r.type, RespType::Null);
  EXPECT_EQ(call(a, {"ESVER", "tx-after-watch"}).type, RespType::Null);

  // Watched and unchanged: runs. EXEC forgets the watches either way.
  expect_simple(call(a, {"WATCH", "watched"}), "OK");
  expect_simple(call(a, {"MULTI"}), "OK");
  call(a, {"EAPPEND", "watched", "C"});
  const RespValue ok = call(a, {"EXEC"});
  ASSERT_EQ(ok.type, RespType::Array);
  EXPECT_EQ(field_int(ok.children.at(0), "stream_version"), 2);

  // A stream that did not exist at WATCH and then appears fails it too; UNWATCH forgets.
  expect_simple(call(a, {"WATCH", "fresh"}), "OK");
  ASSERT_EQ(call(b, {"EAPPEND", "fresh", "A"}).type, RespType::Map);
  expect_simple(call(a, {"MULTI"}), "OK");
  expect_simple(call(a, {"PING"}), "QUEUED");
  EXPECT_EQ(call(a, {"EXEC"}).type, RespType::Null);
  expect_simple(call(a, {"WATCH", "fresh"}), "OK");
  ASSERT_EQ(call(b, {"EAPPEND", "fresh", "B"}).type, RespType::Map);
  expect_simple(call(a, {"UNWATCH"}), "OK");
  expect_simple(call(a, {"MULTI"}), "OK");
  expect_simple(call(a, {"PING"}), "QUEUED");
  const RespValue pong = call(a, {"EXEC"});
  ASSERT_EQ(pong.type, RespType::Array);
  expect_simple(pong.children.at(0), "PONG");
  // DISCARD forgets the watches too.
  expect_simple(call(a, {"WATCH", "fresh"}), "OK");
  expect_simple(call(a, {"MULTI"}), "OK");
  expect_simple(call(a, {"DISCARD"}), "OK");
  ASSERT_EQ(call(b, {"EAPPEND", "fresh", "C"}).type, RespType::Map);
  expect_simple(call(a, {"MULTI"}), "OK");
  EXPECT_EQ(call(a, {"EXEC"}).type, RespType::Array);
}

TEST_F(TransactionTest, ExecInResp2) {
  start();
  Client c(port());
  ASSERT_EQ(call(c, {"HELLO", "2"}).type, RespType::Array);
  expect_simple(call(c, {"MULTI"}), "OK");
  call(c, {"EAPPEND", "r2", "A"});
  call(c, {"ESVER", "r2"});
  const RespValue r = call(c, {"EXEC"});
  ASSERT_EQ(r.type, RespType::Array);
  ASSERT_EQ(r.children.size(), 2u);
  EXPECT_EQ(r.children[0].type, RespType::Array);  // the append's map, flattened
  EXPECT_EQ(r.children[1].integer, 0);
}

// ------------------------------------------------------------------------ RESP2 parsers

TEST_F(TransactionTest, InfoIsABulkStringUnlessHello3) {
  start();
  Client c(port());
  RespValue v = call(c, {"INFO"});
  EXPECT_EQ(v.type, RespType::BlobString);
  EXPECT_NE(v.str.find("redis_version:7.2.0"), std::string::npos);
  EXPECT_NE(v.str.find("sierradb_version:"), std::string::npos);
  // The commands RESP2 libraries send on their own reply in RESP2-readable types.
  expect_simple(call(c, {"PING"}), "PONG");
  expect_simple(call(c, {"SELECT", "0"}), "OK");
  expect_simple(call(c, {"CLIENT", "SETINFO", "LIB-NAME", "x"}), "OK");
  EXPECT_EQ(call(c, {"CLIENT", "INFO"}).type, RespType::BlobString);
  EXPECT_EQ(call(c, {"CLIENT", "LIST"}).type, RespType::BlobString);
  EXPECT_EQ(call(c, {"CLIENT", "ID"}).type, RespType::Integer);
  EXPECT_EQ(call(c, {"CONFIG", "GET", "save"}).type, RespType::Array);
  ASSERT_EQ(call(c, {"HELLO", "2"}).type, RespType::Array);
  EXPECT_EQ(call(c, {"INFO"}).type, RespType::BlobString);
  ASSERT_EQ(call(c, {"HELLO", "3"}).type, RespType::Map);
  v = call(c, {"INFO", "server"});
  EXPECT_EQ(v.type, RespType::Verbatim);
  EXPECT_EQ(v.format, "txt");
  // Data replies stay RESP3 without HELLO (PROTOCOL §1.4): INFO CACHE is a map.
  Client fresh(port());
  EXPECT_EQ(call(fresh, {"INFO", "CACHE"}).type, RespType::Map);
}

TEST_F(TransactionTest, ProtocolDefault2MakesConnectionsWithoutHelloResp2) {
  start([](Config& cfg) { cfg.protocol.default_version = 2; });
  Client c(port());
  EXPECT_EQ(call(c, {"INFO", "CACHE"}).type, RespType::Array);
  EXPECT_EQ(call(c, {"ESVER", "none"}).type, RespType::Null);
  RespValue v = call(c, {"EAPPEND", "p2", "A"});
  EXPECT_EQ(v.type, RespType::Array);  // the map flattened
  EXPECT_EQ(call(c, {"INFO"}).type, RespType::BlobString);
  v = call(c, {"CLIENT", "INFO"});
  EXPECT_NE(v.str.find("resp=2"), std::string::npos) << v.str;
  ASSERT_EQ(call(c, {"HELLO", "3"}).type, RespType::Map);
  EXPECT_EQ(call(c, {"INFO", "CACHE"}).type, RespType::Map);
}

// ------------------------------------------------------------------------ CONFIG / CLIENT

TEST(GlobMatch, RedisGlobs) {
  EXPECT_TRUE(glob_match("*", "partition.count"));
  EXPECT_TRUE(glob_match("partition.*", "partition.count"));
  EXPECT_TRUE(glob_match("PARTITION.COUNT", "partition.count"));
  EXPECT_TRUE(glob_match("p?rtition.c*t", "partition.count"));
  EXPECT_TRUE(glob_match("[ab]ucket.count", "bucket.count"));
  EXPECT_FALSE(glob_match("[^b]ucket.count", "bucket.count"));
  EXPECT_TRUE(glob_match("[a-c]ucket.*", "bucket.ids"));
  EXPECT_TRUE(glob_match("*.count", "node.count"));
  EXPECT_TRUE(glob_match("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(glob_match("*a*b", "xxaxxbxx"));
  EXPECT_FALSE(glob_match("partition", "partition.count"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "x"));
  EXPECT_TRUE(glob_match("a\\*", "a*"));
  EXPECT_FALSE(glob_match("a\\*", "ab"));
}

TEST_F(TransactionTest, ConfigGetIsAReadOnlyView) {
  start();
  Client c(port());
  RespValue v = call(c, {"CONFIG", "GET", "partition.count"});
  ASSERT_EQ(v.type, RespType::Array);
  ASSERT_EQ(v.children.size(), 2u);
  EXPECT_EQ(v.children[0].str, "partition.count");
  EXPECT_EQ(v.children[1].str, "32");
  // Several patterns, no duplicates; the Redis parameters redis-benchmark asks for.
  v = call(c, {"CONFIG", "GET", "partition.*", "*.count", "save", "appendonly"});
  std::vector<std::string> names;
  for (std::size_t i = 0; i < v.children.size(); i += 2) names.push_back(v.children[i].str);
  EXPECT_EQ(std::count(names.begin(), names.end(), "partition.count"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "partition.ids"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "bucket.count"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "save"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "appendonly"), 1);
  EXPECT_TRUE(call(c, {"CONFIG", "GET", "no-such-key"}).children.empty());
  expect_error(call(c, {"CONFIG", "SET", "partition.count", "8"}),
               "ERR CONFIG SET is not supported");
  expect_error(call(c, {"CONFIG", "GET"}), "INVALIDARG wrong number of arguments");
  expect_error(call(c, {"CONFIG", "NOPE"}), "ERR unknown subcommand");
  ASSERT_EQ(call(c, {"HELLO", "3"}).type, RespType::Map);
  v = call(c, {"CONFIG", "GET", "dir"});
  ASSERT_EQ(v.type, RespType::Map);
  const RespValue* dir = v.find("dir");
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->str, dir_.string());
}

// `key=value` of a CLIENT LIST / INFO line.
std::string client_field(std::string_view line, std::string_view key) {
  const std::string needle = std::string(key) + "=";
  std::size_t at = line.starts_with(needle) ? 0 : line.find(" " + needle);
  if (at == std::string_view::npos) return "";
  if (at != 0) ++at;
  const std::size_t from = at + needle.size();
  const std::size_t end = line.find_first_of(" \n", from);
  return std::string(line.substr(from, end - from));
}

TEST_F(TransactionTest, ClientListAndKill) {
  start();
  Client a(port());
  Client b(port());
  Client d(port());
  expect_simple(call(b, {"CLIENT", "SETNAME", "bee"}), "OK");
  const RespValue binfo = call(b, {"CLIENT", "INFO"});
  const std::string b_id = client_field(binfo.str, "id");
  const std::string b_addr = client_field(binfo.str, "addr");
  EXPECT_TRUE(b_addr.starts_with("127.0.0.1:")) << binfo.str;
  EXPECT_EQ(client_field(binfo.str, "name"), "bee");
  const std::string d_addr = client_field(call(d, {"CLIENT", "INFO"}).str, "addr");

  const RespValue list = call(a, {"CLIENT", "LIST"});
  ASSERT_EQ(list.type, RespType::BlobString);
  EXPECT_NE(list.str.find("id=" + b_id + " addr=" + b_addr), std::string::npos) << list.str;
  EXPECT_NE(list.str.find("name=bee"), std::string::npos) << list.str;
  EXPECT_EQ(std::count(list.str.begin(), list.str.end(), '\n'), 3);
  const RespValue only_b = call(a, {"CLIENT", "LIST", "ID", b_id});
  EXPECT_EQ(std::count(only_b.str.begin(), only_b.str.end(), '\n'), 1);

  // CLIENT KILL ID: the count; the victim is closed, the others are not.
  EXPECT_EQ(call(a, {"CLIENT", "KILL", "ID", b_id}).integer, 1);
  EXPECT_TRUE(b.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_EQ(call(a, {"CLIENT", "KILL", "ID", b_id}).integer, 0);
  EXPECT_EQ(call(a, {"CLIENT", "KILL", "ADDR", "10.0.0.1:1"}).integer, 0);
  expect_error(call(a, {"CLIENT", "KILL", "BOGUS", "x"}), "ERR syntax error");
  // The old form: +OK, or an error when no client has the address.
  expect_error(call(a, {"CLIENT", "KILL", "10.0.0.1:1"}), "ERR No such client");
  expect_simple(call(a, {"CLIENT", "KILL", d_addr}), "OK");
  EXPECT_TRUE(d.closed_by_peer(std::chrono::seconds(5)));
  expect_simple(call(a, {"PING"}), "PONG");
  // SKIPME yes (the default) spares the caller.
  const std::string a_id = client_field(call(a, {"CLIENT", "INFO"}).str, "id");
  EXPECT_EQ(call(a, {"CLIENT", "KILL", "ID", a_id}).integer, 0);
  expect_simple(call(a, {"PING"}), "PONG");
}

TEST_F(TransactionTest, ShutdownStopsLikeSigterm) {
  start();
  std::atomic<int> stops{0};
  server_->context().request_stop = [&stops] { stops.fetch_add(1); };
  Client c(port());
  expect_error(call(c, {"SHUTDOWN", "BOGUS"}), "ERR syntax error");
  expect_error(call(c, {"SHUTDOWN", "ABORT"}), "ERR No shutdown in progress");
  EXPECT_EQ(stops.load(), 0);
  expect_simple(call(c, {"SHUTDOWN", "NOSAVE", "NOW"}), "OK");
  EXPECT_EQ(stops.load(), 1);
}

}  // namespace
}  // namespace sierra::server
