// In-process tests of the network server: a Server on 127.0.0.1:0 with a temporary data dir,
// driven over raw TCP by the blocking test client (tests/support/resp_test_client.hpp).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/database.hpp"
#include "server/connection.hpp"
#include "server/server.hpp"
#include "support/resp_test_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using resp::RespType;
using resp::RespValue;

using test_support::encode_command;
using Client = test_support::RespTestClient;

Config test_config(const fs::path& dir) {
  Config c = test_support::loopback_config(dir, 1 << 20);
  c.limits.max_bulk_bytes = 1 << 20;
  return c;
}

std::shared_ptr<Database> open_db(const Config& c) {
  auto db = test_support::open_test_database(c);
  EXPECT_TRUE(db.has_value()) << (db ? "" : db.error().to_string());
  return db ? *db : nullptr;
}

class ServerTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  void start(const std::function<void(Config&)>& tweak = {}) {
    Config c = test_config(dir_);
    if (tweak) tweak(c);
    auto db = open_db(c);
    ASSERT_TRUE(db);
    auto s = Server::start(c, db);
    ASSERT_TRUE(s.has_value()) << (s ? "" : s.error());
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
  }

  uint16_t port() const { return server_->port(); }

  test_support::TempDir tmp_{"sierra-server-test"};
  fs::path dir_ = tmp_.path();
  std::unique_ptr<Server> server_;
};

void expect_error(const std::optional<RespValue>& v, std::string_view prefix) {
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->type, RespType::Error);
  EXPECT_TRUE(v->str.starts_with(prefix)) << v->str;
}

void expect_simple(const std::optional<RespValue>& v, std::string_view text) {
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->type, RespType::SimpleString) << v->str;
  EXPECT_EQ(v->str, text);
}

// ------------------------------------------------------------------------------------ commands

TEST_F(ServerTest, PingAndEcho) {
  start();
  Client c(port());
  ASSERT_TRUE(c.connected());
  expect_simple(c.call({"PING"}), "PONG");
  auto v = c.call({"ping", "hello world"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::BlobString);
  EXPECT_EQ(v->str, "hello world");
  v = c.call({"ECHO", std::string_view("a\0b\r\n", 5)});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::BlobString);
  EXPECT_EQ(v->str, std::string_view("a\0b\r\n", 5));
  expect_error(c.call({"ECHO"}), "INVALIDARG");
  expect_error(c.call({"PING", "a", "b"}), "INVALIDARG");
  expect_simple(c.call({"PING"}), "PONG");
}

TEST_F(ServerTest, Hello3MapInOrderWithBlobKeys) {
  start();
  Client c(port());
  auto v = c.call({"HELLO", "3"});
  ASSERT_TRUE(v);
  ASSERT_EQ(v->type, RespType::Map);
  ASSERT_EQ(v->children.size(), 20u);
  const char* keys[] = {"server", "version", "peer_id", "num_partitions", "proto",
                        "id",     "mode",    "role",    "modules",        "sierradb_version"};
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(v->children[2 * i].type, RespType::BlobString);
    EXPECT_EQ(v->children[2 * i].str, keys[i]);
  }
  EXPECT_EQ(v->children[1].type, RespType::BlobString);
  EXPECT_EQ(v->children[1].str, "sierradb");
  // `version` is the Redis version clients gate features on; SierraDB's is sierradb_version.
  EXPECT_EQ(v->children[3].str, "7.2.0");
  EXPECT_EQ(v->children[19].str, SIERRA_VERSION);
  EXPECT_EQ(v->children[5].str, server_->context().peer_id);
  EXPECT_EQ(v->children[7].type, RespType::Integer);
  EXPECT_EQ(v->children[7].integer, 32);
  EXPECT_EQ(v->children[9].integer, 3);
  EXPECT_EQ(v->children[11].type, RespType::Integer);
  EXPECT_EQ(v->children[13].str, "standalone");
  EXPECT_EQ(v->children[15].str, "master");
  EXPECT_EQ(v->children[17].type, RespType::Array);
  EXPECT_TRUE(v->children[17].children.empty());

  // Bare HELLO, and AUTH (ignored) + SETNAME.
  v = c.call({"HELLO"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Map);
  v = c.call({"HELLO", "3", "AUTH", "user", "pass", "SETNAME", "me"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Map);
  v = c.call({"CLIENT", "GETNAME"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str, "me");
  expect_error(c.call({"HELLO", "4"}), "NOPROTO unsupported protocol version");
  expect_error(c.call({"HELLO", "abc"}), "NOPROTO");
  expect_error(c.call({"HELLO", "3", "AUTH", "user"}), "INVALIDARG");
  expect_error(c.call({"HELLO", "3", "BOGUS"}), "INVALIDARG");
}

TEST_F(ServerTest, Hello2SwitchesToResp2) {
  start();
  Client c(port());
  // Without HELLO, replies are RESP3.
  auto v = c.call({"INFO", "CACHE"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Map);

  v = c.call({"HELLO", "2"});
  ASSERT_TRUE(v);
  ASSERT_EQ(v->type, RespType::Array);  // the HELLO reply itself is RESP2
  ASSERT_EQ(v->children.size(), 20u);
  EXPECT_EQ(v->children[8].str, "proto");
  EXPECT_EQ(v->children[9].integer, 2);

  v = c.call({"INFO", "CACHE"});
  ASSERT_TRUE(v);
  ASSERT_EQ(v->type, RespType::Array);
  ASSERT_EQ(v->children.size(), 16u);
  EXPECT_EQ(v->children[4].str, "hit_ratio");
  EXPECT_EQ(v->children[5].type, RespType::BlobString);  // double as bulk text
  v = c.call({"CLIENT", "GETNAME"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Null);

  v = c.call({"HELLO", "3"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Map);
}

TEST_F(ServerTest, InfoTextAndCache) {
  start();
  Client c(port());
  auto v = c.call({"INFO"});
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->type == RespType::Verbatim || v->type == RespType::BlobString);
  for (std::string_view s :
       {"# Server", "sierradb_version:", "process_id:", "uptime_in_seconds:", "# Clients",
        "connected_clients:1", "# Storage", "partitions:32", "buckets:4", "segment_size:1048576",
        "# Stats",
        "total_connections_received:", "total_commands_processed:", "events_appended:"}) {
    EXPECT_NE(v->str.find(s), std::string::npos) << s;
  }
  EXPECT_NE(v->str.find("tcp_port:" + std::to_string(port())), std::string::npos);
  EXPECT_NE(v->str.find("dir:" + dir_.string()), std::string::npos);

  v = c.call({"info", "cache"});
  ASSERT_TRUE(v);
  ASSERT_EQ(v->type, RespType::Map);
  const char* keys[] = {"hits",         "misses",    "hit_ratio",        "entries",
                        "memory_bytes", "max_bytes", "block_size_bytes", "evictions"};
  ASSERT_EQ(v->children.size(), 16u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(v->children[2 * i].type, RespType::BlobString);
    EXPECT_EQ(v->children[2 * i].str, keys[i]);
  }
  EXPECT_EQ(v->children[5].type, RespType::Double);
  EXPECT_EQ(v->children[1].type, RespType::Integer);
  EXPECT_EQ(v->children[13].integer, 65536);

  v = c.call({"INFO", "stats"});
  ASSERT_TRUE(v);
  EXPECT_NE(v->str.find("# Stats"), std::string::npos);
  EXPECT_EQ(v->str.find("# Server"), std::string::npos);
  expect_error(c.call({"INFO", "bogus"}), "INVALIDARG");
}

TEST_F(ServerTest, HandshakeCommandsAreTolerated) {
  start();
  Client c(port());
  expect_simple(c.call({"CLIENT", "SETINFO", "LIB-NAME", "redis-rs"}), "OK");
  expect_simple(c.call({"CLIENT", "SETINFO", "LIB-VER", "1.0.0"}), "OK");
  expect_simple(c.call({"CLIENT", "SETNAME", "worker-1"}), "OK");
  auto v = c.call({"CLIENT", "GETNAME"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str, "worker-1");
  expect_error(c.call({"CLIENT", "SETNAME", "has space"}), "ERR");
  v = c.call({"CLIENT", "ID"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Integer);
  EXPECT_GT(v->integer, 0);
  expect_error(c.call({"CLIENT", "MAINT_NOTIFICATIONS", "on"}), "ERR unknown subcommand");
  expect_simple(c.call({"SELECT", "0"}), "OK");
  expect_error(c.call({"SELECT", "1"}), "ERR DB index is out of range");
  // COMMAND answers from the command table (command_table_test.cpp checks the shapes).
  v = c.call({"COMMAND", "DOCS"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Map);
  EXPECT_NE(v->find("eappend"), nullptr);
  v = c.call({"COMMAND"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Array);
  EXPECT_EQ(v->children.size(), all_commands().size());
  expect_simple(c.call({"PING"}), "PONG");
}

TEST_F(ServerTest, UnknownCommandKeepsConnection) {
  start();
  Client c(port());
  expect_error(c.call({"frobnicate", "x"}), "INVALIDARG unknown command 'FROBNICATE'");
  expect_simple(c.call({"PING"}), "PONG");
  ASSERT_TRUE(c.send("*0\r\n"));
  expect_error(c.read(), "ERR empty command");
  expect_simple(c.call({"PING"}), "PONG");
}

TEST_F(ServerTest, DataCommandsAreRouted) {
  start();
  Client c(port());
  auto v = c.call({"ESVER", "no-such-stream"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Null);
}

TEST_F(ServerTest, QuitRepliesOkThenCloses) {
  start();
  Client c(port());
  // Commands pipelined after QUIT are not executed.
  ASSERT_TRUE(
      c.send(encode_command({"PING"}) + encode_command({"QUIT"}) + encode_command({"PING"})));
  expect_simple(c.read(), "PONG");
  expect_simple(c.read(), "OK");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, InlineCommands) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send("PING\r\n"));
  expect_simple(c.read(), "PONG");
  ASSERT_TRUE(c.send("echo \"two words\"\n"));
  auto v = c.read();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str, "two words");
}

// ------------------------------------------------------------------------------------ framing

TEST_F(ServerTest, GarbageGetsProtocolErrorAndCloseOthersUnaffected) {
  start();
  Client other(port());
  expect_simple(other.call({"PING"}), "PONG");
  Client c(port());
  ASSERT_TRUE(c.send("*abc\r\n"));
  expect_error(c.read(), "ERR Protocol error");
  EXPECT_TRUE(c.closed_by_peer());
  expect_simple(other.call({"PING"}), "PONG");
}

TEST_F(ServerTest, RepliesBeforeProtocolErrorAreDelivered) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send(encode_command({"PING"}) + encode_command({"ECHO", "x"}) + "*1\r\n$abc\r\n"));
  expect_simple(c.read(), "PONG");
  auto v = c.read();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str, "x");
  expect_error(c.read(), "ERR Protocol error");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, PartialFrameThenEofCloses) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send("*2\r\n$4\r\nECHO\r\n$10\r\nabc"));
  c.shutdown_write();
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, CompleteRequestsBeforeEofAreAnswered) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send(encode_command({"PING"}) + "*1\r\n$4\r\nPI"));
  c.shutdown_write();
  expect_simple(c.read(), "PONG");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, HugeDeclaredBulkIsRejectedWithoutAllocating) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send("*2\r\n$4\r\nECHO\r\n$999999999999\r\n"));
  expect_error(c.read(), "ERR Protocol error");
  EXPECT_TRUE(c.closed_by_peer());
  // A bulk just over the configured limit (1 MiB here) is refused too.
  Client d(port());
  ASSERT_TRUE(d.send("*2\r\n$4\r\nECHO\r\n$" + std::to_string((1 << 20) + 1) + "\r\n"));
  expect_error(d.read(), "ERR Protocol error");
}

TEST_F(ServerTest, LargeBulkWithinLimitRoundTrips) {
  start();
  Client c(port());
  std::string big(900 * 1024, 'z');
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  auto v = c.call({"ECHO", big});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str, big);
  expect_simple(c.call({"PING"}), "PONG");
}

TEST_F(ServerTest, TenThousandPipelinedCommandsInOrder) {
  start();
  Client c(port());
  constexpr int kN = 10000;
  std::string batch;
  for (int i = 0; i < kN; ++i) {
    if (i % 2 == 0) {
      batch += encode_command({"PING"});
    } else {
      batch += encode_command({"ECHO", std::to_string(i)});
    }
  }
  std::thread sender([&] { c.send(batch); });
  for (int i = 0; i < kN; ++i) {
    auto v = c.read();
    ASSERT_TRUE(v) << i;
    if (i % 2 == 0) {
      ASSERT_EQ(v->str, "PONG") << i;
    } else {
      ASSERT_EQ(v->str, std::to_string(i)) << i;
    }
  }
  sender.join();
  auto info = c.call({"INFO", "stats"});
  ASSERT_TRUE(info);
  EXPECT_NE(info->str.find("total_commands_processed:10001"), std::string::npos) << info->str;
}

TEST_F(ServerTest, ClientThatDoesNotReadIsThrottled) {
  start([](Config& c) { c.limits.max_pending_reply_bytes = 64 * 1024; });
  Client c(port());
  // ~100 MB of requests whose replies are as large as the requests.
  const std::string payload(1000, 'p');
  const std::string one = encode_command({"ECHO", payload});
  constexpr int kN = 100000;
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> done{false};
  std::thread sender([&] {
    std::string chunk;
    for (int i = 0; i < 64; ++i) chunk += one;
    for (int i = 0; i < kN; i += 64) {
      if (!c.send(chunk)) break;
      sent += chunk.size();
    }
    done = true;
  });
  // Wait until the sender makes no progress for a while: the server stopped reading.
  std::size_t last = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int stable = 0; stable < 10 && !done && std::chrono::steady_clock::now() < give_up;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::size_t now = sent.load();
    stable = now == last ? stable + 1 : 0;
    last = now;
  }
  EXPECT_FALSE(done.load());
  EXPECT_LT(sent.load(), one.size() * kN / 2);
  // Reading the replies lets the rest through, in order.
  int got = 0;
  for (; got < kN; ++got) {
    auto v = c.read();
    if (!v || v->str != payload) break;
  }
  sender.join();
  EXPECT_EQ(got, kN);
}

// ------------------------------------------------------------------------------------ connections

TEST_F(ServerTest, FiveHundredConcurrentConnections) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 2048) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 4096);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  start();
  constexpr int kN = 500;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kN; ++i) {
    clients.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(clients.back()->connected()) << i;
  }
  for (int i = 0; i < kN; ++i)
    ASSERT_TRUE(clients[i]->send(encode_command({"ECHO", std::to_string(i)})));
  for (int i = 0; i < kN; ++i) {
    auto v = clients[i]->read();
    ASSERT_TRUE(v) << i;
    EXPECT_EQ(v->str, std::to_string(i));
  }
  auto v = clients[0]->call({"INFO", "clients"});
  ASSERT_TRUE(v);
  EXPECT_NE(v->str.find("connected_clients:500"), std::string::npos) << v->str;
}

TEST_F(ServerTest, MaxClientsLimit) {
  start([](Config& c) { c.limits.max_clients = 2; });
  auto a = std::make_unique<Client>(port());
  Client b(port());
  expect_simple(a->call({"PING"}), "PONG");
  expect_simple(b.call({"PING"}), "PONG");
  Client c(port());
  expect_error(c.read(), "ERR max number of clients reached");
  EXPECT_TRUE(c.closed_by_peer());
  // Once a client leaves, a new one is accepted.
  a.reset();
  bool accepted = false;
  for (int i = 0; i < 50 && !accepted; ++i) {
    Client d(port());
    auto v = d.call({"PING"});
    accepted = v && v->type == RespType::SimpleString;
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(accepted);
}

TEST_F(ServerTest, TcpNoDelayAndStats) {
  start();
  Client c(port());
  expect_simple(c.call({"PING"}), "PONG");
  EXPECT_EQ(server_->context().stats.connected_clients.load(), 1u);
  EXPECT_GE(server_->context().stats.commands_processed.load(), 1u);
}

// ------------------------------------------------------------------------------------ lifecycle

TEST_F(ServerTest, GracefulStopClosesConnectionsAndIsIdempotent) {
  start();
  Client c(port());
  expect_simple(c.call({"PING"}), "PONG");
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(c.closed_by_peer());
  server_->stop();
  Client late(port());
  EXPECT_FALSE(late.connected() && late.call({"PING"}).has_value());
}

TEST_F(ServerTest, NodeIdIsStableAcrossRestarts) {
  start();
  const std::string first = server_->context().peer_id;
  EXPECT_EQ(first.size(), 36u);
  server_.reset();
  start();
  EXPECT_EQ(server_->context().peer_id, first);
  EXPECT_TRUE(fs::exists(dir_ / "node_id"));
}

TEST_F(ServerTest, BadListenAddressIsAnError) {
  start();
  Config c = test_config(dir_);
  c.network.client_port = port();  // already in use
  auto s = Server::start(c, nullptr);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().find("cannot listen"), std::string::npos) << s.error();
}

// Pushes are written between complete replies, after the replies already finished.
TEST(ConnectionTest, PushGoesBetweenReplies) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  ServerContext ctx;
  Client client(acceptor.local_endpoint().port());
  ASSERT_TRUE(client.connected());
  asio::ip::tcp::socket sock(io);
  acceptor.accept(sock);
  auto conn = std::make_shared<Connection>(std::move(sock), ctx, 7);
  bool closed = false;
  conn->on_close([&closed] { closed = true; });
  conn->start();
  std::thread runner([&io] {
    auto guard = asio::make_work_guard(io);
    io.run_for(std::chrono::seconds(20));
  });
  expect_simple(client.call({"PING"}), "PONG");
  conn->push(">2\r\n+message\r\n+hello\r\n");
  auto v = client.read();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RespType::Push);
  ASSERT_EQ(v->children.size(), 2u);
  EXPECT_EQ(v->children[1].str, "hello");
  expect_simple(client.call({"PING"}), "PONG");
  conn->shutdown();
  EXPECT_TRUE(client.closed_by_peer());
  io.stop();
  runner.join();
  EXPECT_TRUE(closed);
  EXPECT_TRUE(conn->closed());
}

}  // namespace
}  // namespace sierra::server
