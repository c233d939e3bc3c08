// The command table (server/commands/command_table.cpp): lookup, the central arity check,
// flags, routing keys (checked against the partitions the handlers really use) and the
// COMMAND INFO / DOCS / COUNT / LIST replies, parsed with ReplyReader in RESP3 and RESP2.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/ids.hpp"
#include "resp/reply_reader.hpp"
#include "server/commands/command.hpp"
#include "server/commands/routing_key.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/temp_dir.hpp"

namespace sierra::server {
namespace {

using resp::RespType;
using resp::RespValue;

constexpr std::string_view kKey = "550e8400-e29b-41d4-a716-446655440000";
constexpr std::string_view kOtherKey = "7e124fe8-fe28-5398-bb95-53973100148f";

RespValue Parse(const std::string& bytes) {
  resp::ReplyReader reader;
  const resp::ReadResult r = reader.parse(bytes);
  EXPECT_EQ(r.status, resp::ReadStatus::Value) << bytes;
  EXPECT_EQ(r.consumed, bytes.size()) << bytes;
  return reader.take();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// A client that records what commands do with it.
class FakeClient final : public ClientLink, public std::enable_shared_from_this<FakeClient> {
 public:
  uint64_t client_id() const override { return 7; }
  void push(std::string bytes) override { pushes.push_back(std::move(bytes)); }
  void on_close(std::function<void()> cb) override { close_callbacks.push_back(std::move(cb)); }
  bool closed() const override { return false; }
  std::size_t pending_bytes() const override { return 0; }
  std::function<void()> track_read(std::function<void()> job) override {
    ++tracked;
    return job;
  }
  std::shared_ptr<ClientLink> share() override { return shared_from_this(); }

  std::vector<std::string> pushes;
  std::vector<std::function<void()>> close_callbacks;
  int tracked = 0;
};

class InlineExecutor final : public ReadExecutor {
 public:
  void post(std::function<void()> job) override { job(); }
};

class CommandTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = DatabaseBuilder().open(dir_ / "db");
    ASSERT_TRUE(db.has_value()) << db.error().to_string();
    ctx_.db = *db;
    ctx_.reads = &reads_;
    ctx_.subscriptions = hub_.get();
    ctx_.config.append.strict_versioning = false;  // appends without EXPECTED_VERSION
  }
  void TearDown() override {
    hub_->shutdown();
    ctx_.db.reset();
  }

  // Runs `args` through run_command and waits (at most 10 s) for the reply: appends finish on
  // the engine's writer threads, everything else at once.
  std::string Run(std::vector<std::string> args, int protocol = 3) {
    std::vector<std::string_view> views(args.begin(), args.end());
    const CommandSpec* spec = find_command(views.at(0));
    EXPECT_NE(spec, nullptr) << args[0];
    if (spec == nullptr) return {};
    auto reply = std::make_shared<Reply>(protocol);
    session_.protocol = protocol;
    CommandContext c{ctx_, session_, Args(views), reply, client_.get()};
    run_command(*spec, c);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!reply->done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    EXPECT_TRUE(reply->done()) << args[0];
    return reply->bytes();
  }

  test_support::TempDir tmp_{"sierra-cmdtab"};
  std::filesystem::path dir_ = tmp_.path();
  InlineExecutor reads_;
  std::shared_ptr<SubscriptionHub> hub_ = std::make_shared<SubscriptionHub>();
  std::shared_ptr<FakeClient> client_ = std::make_shared<FakeClient>();
  ServerContext ctx_;
  Session session_;
};

// A valid request of every command (the shortest one the grammar accepts).
const std::map<std::string, std::vector<std::string>>& Samples() {
  static const std::map<std::string, std::vector<std::string>> samples = {
      {"PING", {"PING"}},
      {"ECHO", {"ECHO", "x"}},
      {"HELLO", {"HELLO"}},
      {"INFO", {"INFO"}},
      {"CLIENT", {"CLIENT", "ID"}},
      {"SELECT", {"SELECT", "0"}},
      {"COMMAND", {"COMMAND"}},
      {"QUIT", {"QUIT"}},
      {"AUTH", {"AUTH", "default", "x"}},
      {"ACL", {"ACL", "WHOAMI"}},
      {"EAPPEND", {"EAPPEND", "s", "E"}},
      {"EMAPPEND", {"EMAPPEND", std::string(kKey), "s", "E"}},
      {"EGET", {"EGET", std::string(kKey)}},
      {"ESCAN", {"ESCAN", "s", "-", "+"}},
      {"ESVER", {"ESVER", "s"}},
      {"EPSCAN", {"EPSCAN", "0", "-", "+"}},
      {"EPSEQ", {"EPSEQ", "0"}},
      {"ESUB", {"ESUB", "s"}},
      {"EPSUB", {"EPSUB", "0"}},
      {"EACK", {"EACK", std::string(kKey), "1"}},
      {"EUNSUB", {"EUNSUB", std::string(kKey)}},
      {"EPREAD", {"EPREAD", "FROM", "0", "0"}},
      {"SUBSCRIBE", {"SUBSCRIBE", "sierradb:partition:0"}},
      {"UNSUBSCRIBE", {"UNSUBSCRIBE"}},
  };
  return samples;
}

TEST(CommandTable, EveryCommandIsFoundInAnyCase) {
  std::set<std::string_view> names;
  for (const CommandSpec& spec : all_commands()) {
    EXPECT_TRUE(names.insert(spec.name).second) << "duplicate " << spec.name;
    EXPECT_EQ(find_command(spec.name), &spec);
    EXPECT_EQ(find_command(Lower(spec.name)), &spec) << spec.name;
    std::string mixed(spec.name);
    for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = Lower(mixed.substr(i, 1))[0];
    EXPECT_EQ(find_command(mixed), &spec) << mixed;
    EXPECT_EQ(std::string(spec.name), [&] {
      std::string up(spec.name);
      for (char& c : up) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      return up;
    }()) << "table names are upper case";
    EXPECT_NE(spec.handler, nullptr) << spec.name;
    EXPECT_NE(spec.arity, 0) << spec.name;
    EXPECT_FALSE(spec.summary.empty()) << spec.name;
    EXPECT_FALSE(spec.group.empty()) << spec.name;
    EXPECT_TRUE(Samples().contains(std::string(spec.name))) << "no sample for " << spec.name;
    // A "block" argument lists its parts: redis-cli 7.0 builds its hints from them and
    // crashes on a block without "arguments".
    for (const ArgDoc& a : spec.arguments) {
      EXPECT_FALSE(a.name.empty()) << spec.name;
      EXPECT_EQ(a.type == "block", !a.arguments.empty()) << spec.name << " " << a.name;
      for (const ArgDoc& part : a.arguments) {
        EXPECT_NE(part.type, "block") << spec.name;
        EXPECT_FALSE(part.name.empty()) << spec.name;
      }
    }
  }
  EXPECT_EQ(names.size(), Samples().size());
  EXPECT_EQ(find_command("NOSUCH"), nullptr);
  EXPECT_EQ(find_command(""), nullptr);
  EXPECT_EQ(find_command("EAPPENDX"), nullptr);
  EXPECT_EQ(find_command("EAPPEN"), nullptr);
}

TEST(CommandTable, ArityOk) {
  EXPECT_TRUE(arity_ok(2, 2));
  EXPECT_FALSE(arity_ok(2, 1));
  EXPECT_FALSE(arity_ok(2, 3));
  EXPECT_TRUE(arity_ok(-3, 3));
  EXPECT_TRUE(arity_ok(-3, 30));
  EXPECT_FALSE(arity_ok(-3, 2));
  EXPECT_TRUE(arity_ok(-1, 1));
  for (const auto& [name, args] : Samples()) {
    EXPECT_TRUE(arity_ok(find_command(name)->arity, args.size())) << name;
  }
}

TEST(CommandTable, Flags) {
  for (const CommandSpec& s : all_commands()) {
    // Every command is in at least one permission class.
    EXPECT_NE(s.flags & (kWrite | kRead | kSubscription | kConnection | kAdmin), 0u) << s.name;
    // Only writes append, and every write appends.
    EXPECT_EQ(s.appends(), s.has(kWrite)) << s.name;
    EXPECT_FALSE(s.has(kWrite) && s.has(kRead)) << s.name;
  }
  const auto spec = [](std::string_view n) { return *find_command(n); };
  for (std::string_view n : {"EAPPEND", "EMAPPEND"}) {
    EXPECT_TRUE(spec(n).has(kWrite) && spec(n).appends()) << n;
  }
  for (std::string_view n : {"EGET", "ESCAN", "ESVER", "EPSCAN", "EPSEQ"}) {
    EXPECT_TRUE(spec(n).has(kRead)) << n;
    EXPECT_FALSE(spec(n).has(kSubscription)) << n;
  }
  for (std::string_view n : {"ESUB", "EPSUB", "EACK", "EUNSUB"}) {
    EXPECT_TRUE(spec(n).has(kSubscription)) << n;
  }
  for (std::string_view n : {"HELLO", "QUIT", "AUTH", "PING"}) {
    EXPECT_TRUE(spec(n).has(kNoAuth)) << n;
  }
  for (std::string_view n : {"EAPPEND", "ESCAN", "INFO", "ESUB"}) {
    EXPECT_FALSE(spec(n).has(kNoAuth)) << n;
  }
  EXPECT_TRUE(spec("INFO").has(kAdmin));
  EXPECT_TRUE(spec("EGET").has(kFast));
  EXPECT_FALSE(spec("ESCAN").has(kFast));
}

TEST_F(CommandTableTest, StandardArityIsCheckedBeforeTheHandler) {
  int checked = 0;
  for (const CommandSpec& s : all_commands()) {
    if (s.arity_reply != ArityReply::Standard) continue;
    std::vector<std::size_t> bad;
    if (s.arity > 0) {
      if (s.arity > 1) bad.push_back(static_cast<std::size_t>(s.arity) - 1);
      bad.push_back(static_cast<std::size_t>(s.arity) + 1);
    } else if (-s.arity > 1) {
      bad.push_back(static_cast<std::size_t>(-s.arity) - 1);
    }
    for (std::size_t argc : bad) {
      std::vector<std::string> args(argc, "0");
      args[0] = Lower(s.name);
      EXPECT_EQ(Run(args), "-INVALIDARG wrong number of arguments for '" + std::string(s.name) +
                               "' command\r\n")
          << s.name << " argc " << argc;
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);  // ECHO (2), SELECT (2), CLIENT (1)
  // The texts the handlers gave before the check moved out of them.
  EXPECT_EQ(Run({"echo"}), "-INVALIDARG wrong number of arguments for 'ECHO' command\r\n");
  EXPECT_EQ(Run({"CLIENT"}), "-INVALIDARG wrong number of arguments for 'CLIENT' command\r\n");
  EXPECT_EQ(Run({"SELECT", "0", "1"}),
            "-INVALIDARG wrong number of arguments for 'SELECT' command\r\n");
  // Arity the table cannot express stays in the handler (PING takes at most one argument).
  EXPECT_EQ(Run({"PING", "a", "b"}),
            "-INVALIDARG wrong number of arguments for 'PING' command\r\n");
  EXPECT_EQ(Run({"ECHO", "x"}), "$1\r\nx\r\n");
}

TEST_F(CommandTableTest, GrammarArityFailuresAreErrorsWordedByTheGrammar) {
  // Every request shorter than the arity (and longer, for an exact one) is rejected at once
  // with INVALIDARG: nothing is appended, read or subscribed.
  for (const CommandSpec& s : all_commands()) {
    if (s.arity_reply != ArityReply::Grammar) continue;
    const std::vector<std::string>& sample = Samples().at(std::string(s.name));
    const std::size_t min = static_cast<std::size_t>(s.arity > 0 ? s.arity : -s.arity);
    ASSERT_EQ(sample.size(), min) << s.name;
    for (std::size_t argc = 1; argc < min; ++argc) {
      const std::vector<std::string> args(sample.begin(), sample.begin() + argc);
      const std::string out = Run(args);
      EXPECT_TRUE(out.starts_with("-INVALIDARG unexpected end of input: expected "))
          << s.name << " argc " << argc << ": " << out;
    }
    if (s.arity > 0) {
      std::vector<std::string> args = sample;
      args.push_back("extra");
      EXPECT_EQ(Run(args), "-INVALIDARG unexpected argument 'extra': expected end of input\r\n")
          << s.name;
    }
  }
  EXPECT_EQ(Run({"EACK", std::string(kKey)}),
            "-INVALIDARG unexpected end of input: expected cursor\r\n");
  EXPECT_EQ(Run({"ESUB"}), "-INVALIDARG unexpected end of input: expected stream id\r\n");
  EXPECT_EQ(Run({"EPSUB"}), "-INVALIDARG unexpected end of input: expected partition selector\r\n");
  // The grammar keeps reporting the first bad argument first (as before arity was declared).
  EXPECT_EQ(Run({"EMAPPEND", "bad"}),
            "-INVALIDARG invalid partition key 'bad': expected a UUID\r\n");
  EXPECT_EQ(Run({"EGET", "bad", "extra"}),
            "-INVALIDARG invalid event id 'bad': expected a UUID\r\n");
  // Nothing was written by any of them.
  auto v = ctx_.db->get_partition_sequence(0);
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->has_value());
  EXPECT_EQ(hub_->active(), 0u);
}

struct RoutingCase {
  std::vector<std::string> args;
  std::optional<KeyKind> kind;
  std::string value;
};

std::vector<RoutingCase> RoutingCases() {
  const std::string k(kKey);
  const std::string k2(kOtherKey);
  return {
      {{"EAPPEND", "s", "E"}, KeyKind::StreamId, "s"},
      {{"eappend", "user-1", "E", "PARTITION_KEY", k}, KeyKind::PartitionKey, k},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "any", "partition_key", k},
       KeyKind::PartitionKey,
       k},
      // A value that reads like the keyword is a value, not the option.
      {{"EAPPEND", "s", "E", "PAYLOAD", "PARTITION_KEY", "METADATA", k}, KeyKind::StreamId, "s"},
      {{"EAPPEND", "s", "E", "PAYLOAD", "PARTITION_KEY", "PARTITION_KEY", k},
       KeyKind::PartitionKey,
       k},
      // The event name is not an option keyword position.
      {{"EAPPEND", "s", "PARTITION_KEY", k}, KeyKind::StreamId, "s"},
      {{"EAPPEND"}, std::nullopt, ""},
      {{"EMAPPEND", k, "a", "E", "b", "F"}, KeyKind::PartitionKey, k},
      {{"EGET", k}, KeyKind::EventId, k},
      {{"ESCAN", "s", "-", "+"}, KeyKind::StreamId, "s"},
      {{"ESCAN", "s", "-", "+", "COUNT", "5", "PARTITION_KEY", k}, KeyKind::PartitionKey, k},
      // ESCAN's range values are not options.
      {{"ESCAN", "s", "PARTITION_KEY", k, "COUNT", "1"}, KeyKind::StreamId, "s"},
      {{"ESVER", "s"}, KeyKind::StreamId, "s"},
      {{"ESVER", "s", "PARTITION_KEY", k}, KeyKind::PartitionKey, k},
      {{"EPSCAN", "3", "-", "+"}, KeyKind::PartitionSelector, "3"},
      {{"EPSCAN", k, "-", "+"}, KeyKind::PartitionSelector, k},
      {{"EPSEQ", "9"}, KeyKind::PartitionSelector, "9"},
      {{"ESUB", "a", "b", "FROM", "LATEST"}, KeyKind::StreamId, "a"},
      {{"ESUB", "a", "PARTITION_KEY", k, "b", "PARTITION_KEY", k2}, KeyKind::PartitionKey, k},
      {{"ESUB", "a", "b", "PARTITION_KEY", k2}, KeyKind::StreamId, "a"},
      {{"EPSUB", "*"}, KeyKind::PartitionSelector, "*"},
      {{"EPSUB", "0-3,7", "WINDOW", "5"}, KeyKind::PartitionSelector, "0-3,7"},
      {{"EACK", k, "1"}, std::nullopt, ""},
      {{"EUNSUB", k}, std::nullopt, ""},
      {{"PING"}, std::nullopt, ""},
      {{"INFO", "stats"}, std::nullopt, ""},
      {{"HELLO", "3"}, std::nullopt, ""},
  };
}

TEST(CommandTable, RoutingKeys) {
  std::set<std::string> covered;
  for (const RoutingCase& c : RoutingCases()) {
    std::vector<std::string_view> views(c.args.begin(), c.args.end());
    const CommandSpec* spec = find_command(views[0]);
    ASSERT_NE(spec, nullptr) << c.args[0];
    const auto key = routing_key(*spec, Args(views));
    if (!c.kind) {
      EXPECT_FALSE(key.has_value()) << c.args[0];
      continue;
    }
    covered.insert(std::string(spec->name));
    ASSERT_TRUE(key.has_value()) << c.args[0];
    EXPECT_EQ(key->kind, *c.kind) << c.args[0];
    EXPECT_EQ(key->value, c.value) << c.args[0];
  }
  // Every command with a key spec has a case above, and only those have keys.
  for (const CommandSpec& s : all_commands()) {
    EXPECT_EQ(covered.contains(std::string(s.name)), s.key.index != 0) << s.name;
  }
}

TEST(CommandTable, RoutingPartition) {
  const Uuid k = *Uuid::parse(kKey);
  EXPECT_EQ(routing_partition({KeyKind::StreamId, "user-1"}, 32),
            partition_id_for_key(partition_key_for_stream("user-1"), 32));
  EXPECT_EQ(routing_partition({KeyKind::PartitionKey, kKey}, 32), partition_id_for_key(k, 32));
  EXPECT_EQ(routing_partition({KeyKind::EventId, kKey}, 32),
            partition_id_for_hash(partition_hash(k), 32));
  EXPECT_EQ(routing_partition({KeyKind::PartitionSelector, "5"}, 32), PartitionId{5});
  EXPECT_EQ(routing_partition({KeyKind::PartitionSelector, kKey}, 32), partition_id_for_key(k, 32));
  EXPECT_EQ(routing_partition({KeyKind::PartitionSelector, "*"}, 32), std::nullopt);
  EXPECT_EQ(routing_partition({KeyKind::PartitionSelector, "32"}, 32), std::nullopt);
  EXPECT_EQ(routing_partition({KeyKind::PartitionKey, "nope"}, 32), std::nullopt);
  EXPECT_EQ(routing_partition({KeyKind::StreamId, ""}, 32), std::nullopt);
}

// The partition the router computes is the one the handler appends to and reads from.
TEST_F(CommandTableTest, RoutingMatchesTheHandlers) {
  const uint16_t n = ctx_.db->partition_count();
  const auto routed = [&](const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    auto key = routing_key(*find_command(views[0]), Args(views));
    EXPECT_TRUE(key.has_value()) << args[0];
    auto p = key ? routing_partition(*key, n) : std::nullopt;
    EXPECT_TRUE(p.has_value()) << args[0];
    return p.value_or(PartitionId{0});
  };
  const auto appended_to = [&](const std::vector<std::string>& args) {
    RespValue v = Parse(Run(args));
    const RespValue* events = v.find("events");
    const RespValue& first = events != nullptr ? events->children.at(0) : v;
    const RespValue* p = first.find("partition_id");
    EXPECT_NE(p, nullptr) << args[0] << ": " << (v.is_error() ? v.str : "");
    return p != nullptr ? p->integer : -1;
  };
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"EAPPEND", "route-a", "E"},
        std::vector<std::string>{"EAPPEND", "route-b", "E", "PARTITION_KEY", std::string(kKey)},
        std::vector<std::string>{"EAPPEND", "route-c", "E", "PAYLOAD", "PARTITION_KEY"},
        std::vector<std::string>{"EMAPPEND", std::string(kOtherKey), "x", "E", "y", "F"}}) {
    EXPECT_EQ(appended_to(args), routed(args)) << args[1];
  }
  // EGET: the event id routes to the partition its event was written in.
  RespValue a = Parse(Run({"EAPPEND", "route-d", "E", "PARTITION_KEY", std::string(kOtherKey)}));
  const std::string event_id = a.find("event_id")->str;
  EXPECT_EQ(a.find("partition_id")->integer, routed({"EGET", event_id}));
  // ESCAN with the same PARTITION_KEY finds the event there.
  RespValue page =
      Parse(Run({"ESCAN", "route-d", "-", "+", "PARTITION_KEY", std::string(kOtherKey)}));
  ASSERT_NE(page.find("events"), nullptr);
  EXPECT_EQ(page.find("events")->children.size(), 1u);
}

const RespValue& At(const RespValue& v, std::size_t i) {
  return v.children.at(i);
}

// The value of `key` in a RESP3 map, or in a RESP2 flat array of key, value pairs.
const RespValue* Field(const RespValue& v, std::string_view key) {
  for (std::size_t i = 0; i + 1 < v.children.size(); i += 2) {
    if (v.children[i].is_string() && v.children[i].str == key) return &v.children[i + 1];
  }
  return nullptr;
}

std::vector<std::string> Strings(const RespValue& v) {
  std::vector<std::string> out;
  for (const RespValue& c : v.children) out.push_back(c.str);
  return out;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(CommandTableTest, CommandCountAndList) {
  for (int proto : {3, 2}) {
    RespValue count = Parse(Run({"COMMAND", "COUNT"}, proto));
    ASSERT_EQ(count.type, RespType::Integer);
    EXPECT_EQ(count.integer, static_cast<int64_t>(all_commands().size()));
    RespValue list = Parse(Run({"command", "list"}, proto));
    ASSERT_EQ(list.type, RespType::Array);
    ASSERT_EQ(list.children.size(), all_commands().size());
    for (const CommandSpec& s : all_commands()) {
      EXPECT_TRUE(Contains(Strings(list), Lower(s.name))) << s.name;
    }
  }
}

TEST_F(CommandTableTest, CommandInfoShape) {
  for (int proto : {3, 2}) {
    const RespType set = proto == 3 ? RespType::Set : RespType::Array;
    const RespType map = proto == 3 ? RespType::Map : RespType::Array;
    RespValue all = Parse(Run({"COMMAND"}, proto));
    ASSERT_EQ(all.type, RespType::Array);
    ASSERT_EQ(all.children.size(), all_commands().size());
    EXPECT_EQ(Parse(Run({"COMMAND", "INFO"}, proto)), all);
    for (std::size_t i = 0; i < all.children.size(); ++i) {
      const RespValue& e = At(all, i);
      const CommandSpec& s = all_commands()[i];
      ASSERT_EQ(e.type, RespType::Array);
      ASSERT_EQ(e.children.size(), 10u) << s.name;
      EXPECT_EQ(At(e, 0).str, Lower(s.name));
      EXPECT_EQ(At(e, 1).integer, s.arity) << s.name;
      EXPECT_EQ(At(e, 2).type, set);
      EXPECT_EQ(At(e, 3).integer, s.key.index) << s.name;
      EXPECT_EQ(At(e, 6).type, set);
      EXPECT_FALSE(At(e, 6).children.empty()) << s.name;
      EXPECT_EQ(At(e, 7).type, set);
      EXPECT_EQ(At(e, 8).type, RespType::Array);
      EXPECT_EQ(At(e, 8).children.empty(), s.key.index == 0) << s.name;
      EXPECT_EQ(At(e, 9).type, RespType::Array);
    }

    RespValue info = Parse(Run({"COMMAND", "INFO", "eappend", "NOSUCH", "Ping"}, proto));
    ASSERT_EQ(info.type, RespType::Array);
    ASSERT_EQ(info.children.size(), 3u);
    EXPECT_EQ(At(info, 1).type, RespType::Null);
    EXPECT_EQ(At(At(info, 2), 0).str, "ping");
    const RespValue& ea = At(info, 0);
    EXPECT_EQ(At(ea, 0).str, "eappend");
    EXPECT_EQ(At(ea, 1).integer, -3);
    EXPECT_TRUE(Contains(Strings(At(ea, 2)), "write"));
    EXPECT_FALSE(Contains(Strings(At(ea, 2)), "readonly"));
    EXPECT_EQ(At(ea, 3).integer, 1);
    EXPECT_EQ(At(ea, 4).integer, 1);
    EXPECT_EQ(At(ea, 5).integer, 1);
    EXPECT_TRUE(Contains(Strings(At(ea, 6)), "@write"));
    EXPECT_TRUE(Contains(Strings(At(ea, 6)), "@slow"));
    // Two key specs: the stream id at 1, and PARTITION_KEY found by keyword from 3.
    const RespValue& specs = At(ea, 8);
    ASSERT_EQ(specs.children.size(), 2u);
    const RespValue& by_index = At(specs, 0);
    ASSERT_EQ(by_index.type, map);
    const RespValue* begin = Field(by_index, "begin_search");
    ASSERT_NE(begin, nullptr);
    EXPECT_EQ(Field(*begin, "type")->str, "index");
    EXPECT_EQ(Field(*Field(*begin, "spec"), "index")->integer, 1);
    EXPECT_TRUE(Contains(Strings(*Field(by_index, "flags")), "RW"));
    const RespValue* kw = Field(At(specs, 1), "begin_search");
    ASSERT_NE(kw, nullptr);
    EXPECT_EQ(Field(*kw, "type")->str, "keyword");
    EXPECT_EQ(Field(*Field(*kw, "spec"), "keyword")->str, "PARTITION_KEY");
    EXPECT_EQ(Field(*Field(*kw, "spec"), "startfrom")->integer, 3);
    EXPECT_NE(Field(At(specs, 1), "find_keys"), nullptr);

    RespValue eget = At(Parse(Run({"COMMAND", "INFO", "EGET"}, proto)), 0);
    EXPECT_EQ(At(eget, 1).integer, 2);
    EXPECT_TRUE(Contains(Strings(At(eget, 2)), "readonly"));
    EXPECT_TRUE(Contains(Strings(At(eget, 2)), "fast"));
    EXPECT_TRUE(Contains(Strings(At(eget, 6)), "@read"));
    EXPECT_TRUE(Contains(Strings(*Field(At(At(eget, 8), 0), "flags")), "RO"));

    RespValue esub = At(Parse(Run({"COMMAND", "INFO", "esub"}, proto)), 0);
    EXPECT_EQ(At(esub, 4).integer, -1);  // a list of streams
    EXPECT_TRUE(Contains(Strings(At(esub, 2)), "pubsub"));

    RespValue hello = At(Parse(Run({"COMMAND", "INFO", "hello"}, proto)), 0);
    EXPECT_TRUE(Contains(Strings(At(hello, 2)), "no_auth"));
    EXPECT_EQ(At(hello, 3).integer, 0);
    EXPECT_TRUE(At(hello, 8).children.empty());
  }
}

TEST_F(CommandTableTest, CommandDocsShape) {
  for (int proto : {3, 2}) {
    const RespType map = proto == 3 ? RespType::Map : RespType::Array;
    RespValue all = Parse(Run({"COMMAND", "DOCS"}, proto));
    ASSERT_EQ(all.type, map);
    ASSERT_EQ(all.children.size(), 2 * all_commands().size());
    for (const CommandSpec& s : all_commands()) {
      const RespValue* d = Field(all, Lower(s.name));
      ASSERT_NE(d, nullptr) << s.name;
      ASSERT_EQ(d->type, map);
      EXPECT_EQ(Field(*d, "summary")->str, s.summary);
      EXPECT_EQ(Field(*d, "since")->str, s.since);
      EXPECT_EQ(Field(*d, "group")->str, s.group);
      const RespValue* a = Field(*d, "arguments");
      EXPECT_EQ(a != nullptr, !s.arguments.empty()) << s.name;
      if (a != nullptr) {
        EXPECT_EQ(a->children.size(), s.arguments.size()) << s.name;
      }
    }
    RespValue some = Parse(Run({"COMMAND", "DOCS", "EAPPEND", "nosuch", "escan"}, proto));
    ASSERT_EQ(some.type, map);
    ASSERT_EQ(some.children.size(), 4u);  // unknown names are left out
    const RespValue* ea = Field(some, "eappend");
    ASSERT_NE(ea, nullptr);
    const RespValue& args = *Field(*ea, "arguments");
    ASSERT_GE(args.children.size(), 3u);
    EXPECT_EQ(Field(At(args, 0), "name")->str, "stream_id");
    EXPECT_EQ(Field(At(args, 0), "type")->str, "key");
    EXPECT_EQ(Field(At(args, 0), "flags"), nullptr);
    EXPECT_EQ(Field(At(args, 2), "token")->str, "EVENT_ID");
    EXPECT_TRUE(Contains(Strings(*Field(At(args, 2), "flags")), "optional"));
    EXPECT_NE(Field(some, "escan"), nullptr);
    // A block carries its parts.
    RespValue em = Parse(Run({"COMMAND", "DOCS", "EMAPPEND"}, proto));
    const RespValue& em_args = *Field(*Field(em, "emappend"), "arguments");
    ASSERT_EQ(em_args.children.size(), 2u);
    EXPECT_EQ(Field(At(em_args, 1), "type")->str, "block");
    const RespValue* parts = Field(At(em_args, 1), "arguments");
    ASSERT_NE(parts, nullptr);
    EXPECT_EQ(Field(At(*parts, 0), "name")->str, "stream_id");
    EXPECT_EQ(Field(At(*parts, 1), "name")->str, "event_name");
  }
}

TEST_F(CommandTableTest, CommandGetKeysAndOtherSubcommands) {
  RespValue keys =
      Parse(Run({"COMMAND", "GETKEYS", "EAPPEND", "s", "E", "PARTITION_KEY", std::string(kKey)}));
  ASSERT_EQ(keys.type, RespType::Array);
  ASSERT_EQ(keys.children.size(), 1u);
  EXPECT_EQ(At(keys, 0).str, kKey);
  EXPECT_EQ(Run({"COMMAND", "GETKEYS", "PING"}), "-ERR The command has no key arguments\r\n");
  EXPECT_EQ(Run({"COMMAND", "GETKEYS", "NOSUCH", "x"}), "-ERR Invalid command specified\r\n");
  // Anything else keeps the empty array COMMAND always answered.
  EXPECT_EQ(Run({"COMMAND", "HELP"}), "*0\r\n");
}

TEST_F(CommandTableTest, ScansAreCountedAgainstTheClient) {
  EXPECT_EQ(client_->tracked, 0);
  RespValue page = Parse(Run({"ESCAN", "s", "-", "+"}));
  EXPECT_EQ(page.type, RespType::Map);
  EXPECT_EQ(client_->tracked, 1);
  (void)Run({"EGET", std::string(kKey)});  // point reads run inline, untracked
  EXPECT_EQ(client_->tracked, 1);
}

}  // namespace
}  // namespace sierra::server
