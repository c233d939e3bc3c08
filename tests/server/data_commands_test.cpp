// Data commands (EAPPEND, EMAPPEND, EGET, ESCAN, ESVER, EPSCAN, EPSEQ) called directly with a
// real Database in a temporary directory; replies checked byte for byte or parsed with
// ReplyReader.
#include "server/commands/append_commands.hpp"
#include "server/commands/read_commands.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/ids.hpp"
#include "resp/reply_reader.hpp"
#include "server/commands/arguments.hpp"
#include "support/temp_dir.hpp"

namespace sierra::server {
namespace {

using resp::RespType;
using resp::RespValue;

constexpr std::string_view kUser123Key = "7e124fe8-fe28-5398-bb95-53973100148f";

class InlineExecutor : public ReadExecutor {
 public:
  void post(std::function<void()> job) override { job(); }
};

using test_support::TempDir;

RespValue Parse(const std::string& bytes) {
  resp::ReplyReader reader;
  const resp::ReadResult r = reader.parse(bytes);
  EXPECT_EQ(r.status, resp::ReadStatus::Value) << bytes;
  EXPECT_EQ(r.consumed, bytes.size()) << bytes;
  return reader.take();
}

std::string Key(const RespValue& map, size_t i) {
  return map.children.at(2 * i).str;
}
const RespValue& Val(const RespValue& map, std::string_view key) {
  const RespValue* v = map.find(key);
  EXPECT_NE(v, nullptr) << key;
  static const RespValue kNull;
  return v ? *v : kNull;
}

class DataCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(DatabaseBuilder()); }

  void Open(const DatabaseBuilder& builder) {
    ctx_.db.reset();
    auto db = builder.open(dir_.path() / std::to_string(opened_++));
    ASSERT_TRUE(db.has_value()) << db.error().to_string();
    ctx_.db = *db;
    ctx_.reads = &reads_;
  }

  // Runs a handler and waits (bounded) for its reply.
  std::string Run(Handler handler, std::vector<std::string> args, int protocol = 3) {
    std::vector<std::string_view> views(args.begin(), args.end());
    auto reply = std::make_shared<Reply>(protocol);
    session_.protocol = protocol;
    CommandContext c{ctx_, session_, Args(views), reply};
    // Through the central entry point (arity check) when `handler` is the one of args[0].
    const CommandSpec* spec = find_command(views.front());
    if (spec != nullptr && spec->handler == handler) {
      run_command(*spec, c);
    } else {
      handler(c);
    }
    // The argument storage dies here, as it does in the connection after the handler returns.
    args.assign(args.size(), std::string(80, 'X'));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!reply->done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    EXPECT_TRUE(reply->done()) << "reply not finished";
    return reply->bytes();
  }
  RespValue RunParsed(Handler handler, std::vector<std::string> args, int protocol = 3) {
    return Parse(Run(handler, std::move(args), protocol));
  }

  // EAPPEND expecting success; returns the reply map.
  RespValue Append(std::vector<std::string> args) {
    args.insert(args.begin(), "EAPPEND");
    RespValue v = RunParsed(cmd_eappend, args);
    EXPECT_EQ(v.type, RespType::Map) << (v.is_error() ? v.str : "");
    return v;
  }

  TempDir dir_;
  int opened_ = 0;
  InlineExecutor reads_;
  ServerContext ctx_;
  Session session_;
};

std::string Err(std::string_view code_and_message) {
  return "-" + std::string(code_and_message) + "\r\n";
}

// ------------------------------------------------------------------------------------ EAPPEND

TEST_F(DataCommandsTest, EappendReplyBytesExact) {
  const Uuid key = *Uuid::parse(kUser123Key);
  const Uuid id = event_id_from_parts(1718000000000, 0x123, partition_hash(key), 0x1234567);
  const std::string reply =
      Run(cmd_eappend,
          {"EAPPEND", "user-123", "UserRegistered", "EVENT_ID", id.to_string(), "EXPECTED_VERSION",
           "empty", "TIMESTAMP", "1718000000000", "PAYLOAD", "{\"a\":1}"});
  EXPECT_EQ(reply, "%6\r\n+event_id\r\n+" + id.to_string() +
                       "\r\n+partition_key\r\n+7e124fe8-fe28-5398-bb95-53973100148f\r\n"
                       "+partition_id\r\n:21\r\n+partition_sequence\r\n:0\r\n"
                       "+stream_version\r\n:0\r\n+timestamp\r\n:1718000000000\r\n");
  EXPECT_EQ(ctx_.stats.events_appended.load(), 1u);
}

TEST_F(DataCommandsTest, EappendTestVectorDefaultKeyAndGeneratedId) {
  RespValue v = Append({"user-123", "UserRegistered", "EXPECTED_VERSION", "empty"});
  ASSERT_EQ(v.children.size(), 12u);
  const char* keys[] = {"event_id",           "partition_key",  "partition_id",
                        "partition_sequence", "stream_version", "timestamp"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(Key(v, i), keys[i]);
    EXPECT_EQ(v.children[2 * i].type, RespType::SimpleString);
  }
  EXPECT_EQ(Val(v, "event_id").type, RespType::SimpleString);
  EXPECT_EQ(Val(v, "partition_key").type, RespType::SimpleString);
  EXPECT_EQ(Val(v, "partition_key").str, kUser123Key);
  EXPECT_EQ(Val(v, "partition_id").integer, 21);
  auto id = Uuid::parse(Val(v, "event_id").str);
  ASSERT_TRUE(id.has_value());
  EXPECT_TRUE(validate_event_id(*id, 61013));
  // Default timestamp is now (ms).
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_LE(Val(v, "timestamp").integer, now_ms);
  EXPECT_GT(Val(v, "timestamp").integer, now_ms - 60'000);

  // Second event: sequence and version advance.
  RespValue v2 = Append({"user-123", "Renamed", "expected_version", "0"});
  EXPECT_EQ(Val(v2, "partition_sequence").integer, 1);
  EXPECT_EQ(Val(v2, "stream_version").integer, 1);
}

TEST_F(DataCommandsTest, EappendOtherTestVectors) {
  EXPECT_EQ(Val(Append({"my-stream", "E", "EXPECTED_VERSION", "empty"}), "partition_id").integer,
            6);
  EXPECT_EQ(Val(Append({"test-stream", "E", "EXPECTED_VERSION", "empty"}), "partition_id").integer,
            17);
  RespValue v = Append({"whatever", "E", "PARTITION_KEY", "550e8400-e29b-41d4-a716-446655440000",
                        "EXPECTED_VERSION", "empty"});
  EXPECT_EQ(Val(v, "partition_id").integer, 25);
  EXPECT_EQ(Val(v, "partition_key").str, "550e8400-e29b-41d4-a716-446655440000");
}

TEST_F(DataCommandsTest, StrictVersioningOn) {
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E"}),
            Err("INVALIDARG strict versioning mode rejects EXPECTED_VERSION any"));
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E", "EXPECTED_VERSION", "AnY"}),
            Err("INVALIDARG strict versioning mode rejects EXPECTED_VERSION any"));
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E", "EXPECTED_VERSION", "exists"}),
            Err("INVALIDARG strict versioning mode rejects EXPECTED_VERSION exists"));
  EXPECT_EQ(Run(cmd_emappend, {"EMAPPEND", std::string(kUser123Key), "s", "E", "EXPECTED_VERSION",
                               "empty", "t", "F"}),
            Err("INVALIDARG strict versioning mode rejects EXPECTED_VERSION any"));
  // Parse errors come before the strict check.
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E", "COUNT", "1"}).substr(0, 12), "-INVALIDARG ");
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E", "COUNT", "1"}),
            Err("INVALIDARG unexpected argument 'COUNT': expected EVENT_ID, PARTITION_KEY, "
                "EXPECTED_VERSION, TIMESTAMP, PAYLOAD or METADATA"));
  // Nothing was written.
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "s"}), "_\r\n");
  EXPECT_EQ(ctx_.stats.events_appended.load(), 0u);
}

TEST_F(DataCommandsTest, StrictVersioningOff) {
  ctx_.config.append.strict_versioning = false;
  EXPECT_EQ(Val(Append({"s", "E"}), "stream_version").integer, 0);
  EXPECT_EQ(Val(Append({"s", "E", "EXPECTED_VERSION", "any"}), "stream_version").integer, 1);
  EXPECT_EQ(Val(Append({"s", "E", "EXPECTED_VERSION", "exists"}), "stream_version").integer, 2);
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "new", "E", "EXPECTED_VERSION", "exists"}),
            Err("WRONGVER current stream version is empty but expected exists for partition key " +
                partition_key_for_stream("new").to_string() + " and stream id new"));
  RespValue m = RunParsed(
      cmd_emappend, {"EMAPPEND", partition_key_for_stream("s").to_string(), "s", "E", "s", "F"});
  ASSERT_EQ(m.type, RespType::Map) << m.str;
  EXPECT_EQ(Val(m, "events").children.size(), 2u);
}

TEST_F(DataCommandsTest, WrongVersionText) {
  Append({"user-123", "UserRegistered", "EXPECTED_VERSION", "empty"});
  EXPECT_EQ(
      Run(cmd_eappend, {"EAPPEND", "user-123", "UserRegistered", "EXPECTED_VERSION", "empty"}),
      Err("WRONGVER current stream version is 0 but expected empty for partition key "
          "7e124fe8-fe28-5398-bb95-53973100148f and stream id user-123"));
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "user-123", "X", "EXPECTED_VERSION", "7"}),
            Err("WRONGVER current stream version is 0 but expected 7 for partition key "
                "7e124fe8-fe28-5398-bb95-53973100148f and stream id user-123"));
  // "+0" is a valid u64.
  EXPECT_EQ(Val(Append({"user-123", "X", "EXPECTED_VERSION", "+0"}), "stream_version").integer, 1);
}

TEST_F(DataCommandsTest, EappendClientEventIdAndTimestamp) {
  const Uuid key = partition_key_for_stream("s");
  const Uuid good = new_event_id(partition_hash(key));
  RespValue v = Append({"s", "E", "EVENT_ID", good.to_string(), "EXPECTED_VERSION", "empty",
                        "TIMESTAMP", "+1700000000123"});
  EXPECT_EQ(Val(v, "event_id").str, good.to_string());
  EXPECT_EQ(Val(v, "timestamp").integer, 1700000000123);
  // Upper-case, braced forms are accepted; replies are lower-case hyphenated.
  const Uuid good2 = new_event_id(partition_hash(key));
  std::string upper = "{" + good2.to_string() + "}";
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Val(Append({"s", "E", "event_id", upper, "EXPECTED_VERSION", "0"}), "event_id").str,
            good2.to_string());

  const Uuid bad = new_event_id(static_cast<PartitionHash>(partition_hash(key) ^ 1));
  EXPECT_EQ(
      Run(cmd_eappend, {"EAPPEND", "s", "E", "EVENT_ID", bad.to_string(), "EXPECTED_VERSION", "1"}),
      Err("INVALIDARG the event id must embed the partition hash"));
  // An explicit key changes the hash the id must embed.
  const Uuid other_key = *Uuid::parse("550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s2", "E", "EVENT_ID", good.to_string(), "PARTITION_KEY",
                              other_key.to_string(), "EXPECTED_VERSION", "empty"}),
            Err("INVALIDARG the event id must embed the partition hash"));
}

TEST_F(DataCommandsTest, EappendPayloadMetadataRoundTrip) {
  const std::string payload("bin\0\r\n\xff", 7);
  RespValue v = Append({"s", "E", "METADATA", "meta", "PAYLOAD", payload, "EXPECTED_VERSION",
                        "empty", "TIMESTAMP", "5"});
  RespValue e = RunParsed(cmd_eget, {"EGET", Val(v, "event_id").str});
  ASSERT_EQ(e.type, RespType::Map);
  EXPECT_EQ(Val(e, "payload").str, payload);
  EXPECT_EQ(Val(e, "metadata").str, "meta");
  EXPECT_EQ(Val(e, "timestamp").integer, 5);
}

TEST_F(DataCommandsTest, ArgumentErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::string k = std::string(kUser123Key);
  const std::vector<Case> cases = {
      {{"EAPPEND"}, "INVALIDARG unexpected end of input: expected stream id"},
      {{"EAPPEND", "s"}, "INVALIDARG unexpected end of input: expected event name"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION"},
       "INVALIDARG unexpected end of input: expected expected version"},
      {{"EAPPEND", "s", "E", "EVENT_ID", "x", "EXPECTED_VERSION", "empty"},
       "INVALIDARG invalid event id 'x': expected a UUID"},
      {{"EAPPEND", "s", "E", "PARTITION_KEY", "nope"},
       "INVALIDARG invalid partition key 'nope': expected a UUID"},
      {{"EAPPEND", "s", "E", "EVENT_ID", k, "event_id", k},
       "INVALIDARG event id already specified"},
      {{"EAPPEND", "s", "E", "PARTITION_KEY", k, "PARTITION_KEY", k},
       "INVALIDARG partition key already specified"},
      // Any repeat is an error, even of a default value.
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "any", "EXPECTED_VERSION", "any"},
       "INVALIDARG expected version already specified"},
      {{"EAPPEND", "s", "E", "PAYLOAD", "", "PAYLOAD", "x"},
       "INVALIDARG payload already specified"},
      {{"EAPPEND", "s", "E", "METADATA", "", "metadata", "x"},
       "INVALIDARG metadata already specified"},
      {{"EAPPEND", "s", "E", "TIMESTAMP", "1", "TIMESTAMP", "1"},
       "INVALIDARG timestamp already specified"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "-1"},
       "INVALIDARG invalid expected version '-1': expected a version number, any, exists or "
       "empty"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", " 1"},
       "INVALIDARG invalid expected version ' 1': expected a version number, any, exists or "
       "empty"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "18446744073709551616"},
       "INVALIDARG invalid expected version '18446744073709551616': number too large"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "9223372036854775808"},
       "INVALIDARG invalid expected version '9223372036854775808': number too large (maximum "
       "9223372036854775807)"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty", "TIMESTAMP", "1718000000000000000"},
       "INVALIDARG invalid timestamp format: expected milliseconds, got nanoseconds"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty", "TIMESTAMP", "9223372036855"},
       "INVALIDARG invalid timestamp '9223372036855': must be below 9223372036854 milliseconds "
       "(2^63 ns)"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty", "TIMESTAMP", "-5"},
       "INVALIDARG invalid timestamp '-5': expected a non-negative integer"},
      {{"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty", "TIMESTAMP", "+"},
       "INVALIDARG invalid timestamp '+': expected a non-negative integer"},
      {{"EAPPEND", "", "E"},
       "INVALIDARG stream id must be between 1 and 64 characters in length, but got 0 for ''"},
      {{"EAPPEND", std::string(65, 'a'), "E"},
       "INVALIDARG stream id must be between 1 and 64 characters in length, but got 65 for '" +
           std::string(65, 'a') + "'"},
      {{"EAPPEND", std::string("a\0b", 3), "E"}, "INVALIDARG stream id cannot contain null bytes"},
      {{"EAPPEND", "s", ""},
       "INVALIDARG event name must be between 1 and 255 bytes in length, but got 0"},
      {{"EAPPEND", "s", std::string(256, 'n')},
       "INVALIDARG event name must be between 1 and 255 bytes in length, but got 256"},
      {{"EMAPPEND"}, "INVALIDARG unexpected end of input: expected partition key"},
      {{"EMAPPEND", k}, "INVALIDARG unexpected end of input: expected stream id"},
      {{"EMAPPEND", "bad"}, "INVALIDARG invalid partition key 'bad': expected a UUID"},
      {{"EMAPPEND", k, "s", "E", "EXPECTED_VERSION", "empty", "t"},
       "INVALIDARG unexpected end of input: expected event name"},
      {{"EMAPPEND", k, "s", "E", "TIMESTAMP", "1", "TIMESTAMP", "2"},
       "INVALIDARG timestamp already specified"},
      {{"EGET"}, "INVALIDARG unexpected end of input: expected event id"},
      {{"EGET", k, "extra"}, "INVALIDARG unexpected argument 'extra': expected end of input"},
      {{"ESCAN", "s", "-"}, "INVALIDARG unexpected end of input: expected end version"},
      {{"ESCAN", "s", "+", "+"}, "INVALIDARG start version cannot be '+'"},
      {{"ESCAN", "s", "-", "-"}, "INVALIDARG end version cannot be '-'"},
      {{"ESCAN", "s", "x", "+"},
       "INVALIDARG invalid start version 'x': expected a non-negative "
       "integer"},
      {{"ESCAN", "s", "0", "1 "},
       "INVALIDARG invalid end version '1 ': expected a non-negative "
       "integer"},
      {{"ESCAN", "s", "-", "+", "COUNT", "1", "count", "2"}, "INVALIDARG count already specified"},
      {{"ESCAN", "s", "-", "+", "COUNT", "-1"},
       "INVALIDARG invalid count '-1': expected a non-negative integer"},
      {{"ESCAN", "s", "-", "+", "COUNT"}, "INVALIDARG unexpected end of input: expected count"},
      {{"ESCAN", "s", "-", "+", "LIMIT", "1"},
       "INVALIDARG unexpected argument 'LIMIT': expected PARTITION_KEY, COUNT or BLOCK"},
      {{"ESCAN", "s", "-", "+", "PARTITION_KEY", k, "PARTITION_KEY", k},
       "INVALIDARG partition key already specified"},
      {{"ESVER"}, "INVALIDARG unexpected end of input: expected stream id"},
      {{"ESVER", "s", "COUNT", "1"},
       "INVALIDARG unexpected argument 'COUNT': expected PARTITION_KEY"},
      {{"EPSCAN", "32", "-", "+"}, "INVALIDARG partition id 32 out of range (partition count 32)"},
      {{"EPSCAN", "70000", "-", "+"},
       "INVALIDARG partition id 70000 out of range (partition count 32)"},
      {{"EPSCAN", "p1", "-", "+"},
       "INVALIDARG invalid partition 'p1': expected a partition id or a partition key UUID"},
      {{"EPSCAN", "0", "+", "+"}, "INVALIDARG start sequence cannot be '+'"},
      {{"EPSCAN", "0", "0", "-"}, "INVALIDARG end sequence cannot be '-'"},
      {{"EPSCAN", "0", "0", "+", "PARTITION_KEY", k},
       "INVALIDARG unexpected argument 'PARTITION_KEY': expected COUNT or BLOCK"},
      {{"EPSEQ", "-1"},
       "INVALIDARG invalid partition '-1': expected a partition id or a partition key UUID"},
      {{"EPSEQ", "999"}, "INVALIDARG partition id 999 out of range (partition count 32)"},
      {{"EPSEQ", "1", "2"}, "INVALIDARG unexpected argument '2': expected end of input"},
  };
  for (const Case& c : cases) {
    Handler h = nullptr;
    const std::string& name = c.args[0];
    if (name == "EAPPEND") h = cmd_eappend;
    if (name == "EMAPPEND") h = cmd_emappend;
    if (name == "EGET") h = cmd_eget;
    if (name == "ESCAN") h = cmd_escan;
    if (name == "ESVER") h = cmd_esver;
    if (name == "EPSCAN") h = cmd_epscan;
    if (name == "EPSEQ") h = cmd_epseq;
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(Run(h, c.args), Err(c.error)) << c.args.back();
  }
  EXPECT_EQ(ctx_.stats.events_appended.load(), 0u);
}

TEST_F(DataCommandsTest, PartitionKeyMismatchIsDbOpFailed) {
  Append({"s", "E", "EXPECTED_VERSION", "empty"});
  const PartitionId pid = partition_id_for_key(partition_key_for_stream("s"), 32);
  Uuid other;
  do {
    other = uuid_v4();
  } while (partition_id_for_key(other, 32) != pid);
  EXPECT_EQ(Run(cmd_eappend,
                {"EAPPEND", "s", "E", "PARTITION_KEY", other.to_string(), "EXPECTED_VERSION", "0"}),
            Err("DBOPFAILED database operation failed: partition key must be the same for all "
                "events in a stream: expected " +
                partition_key_for_stream("s").to_string() + ", got " + other.to_string()));
}

TEST_F(DataCommandsTest, EventTooLargeIsDbOpFailed) {
  Open(DatabaseBuilder().segment_size(4096));
  const std::string reply = Run(cmd_eappend, {"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty",
                                              "PAYLOAD", std::string(8192, 'p')});
  EXPECT_EQ(reply.rfind("-DBOPFAILED database operation failed: events exceed the size of a "
                        "single segment",
                        0),
            0u)
      << reply;
}

TEST_F(DataCommandsTest, ShuttingDownIsRetryable) {
  ctx_.db->close();
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", "s", "E", "EXPECTED_VERSION", "empty"}),
            Err("ACTORDOWN actor not running"));
}

// ------------------------------------------------------------------------------------ EMAPPEND

TEST_F(DataCommandsTest, EmappendReply) {
  const std::string k = std::string(kUser123Key);
  const Uuid key = *Uuid::parse(k);
  const Uuid id1 = event_id_from_parts(1718000000000, 1, partition_hash(key), 1);
  Append({"user-123", "First", "EXPECTED_VERSION", "empty"});  // sequence 0
  const std::string reply = Run(cmd_emappend, {"EMAPPEND",
                                               k,
                                               "user-123",
                                               "A",
                                               "EVENT_ID",
                                               id1.to_string(),
                                               "EXPECTED_VERSION",
                                               "0",
                                               "TIMESTAMP",
                                               "1718000000000",
                                               "PAYLOAD",
                                               "p",
                                               "other",
                                               "B",
                                               "expected_version",
                                               "EMPTY",
                                               "user-123",
                                               "C",
                                               "EXPECTED_VERSION",
                                               "1"});
  RespValue v = Parse(reply);
  ASSERT_EQ(v.type, RespType::Map) << reply;
  const char* keys[] = {"partition_key", "partition_id", "first_partition_sequence",
                        "last_partition_sequence", "events"};
  ASSERT_EQ(v.children.size(), 10u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(Key(v, i), keys[i]);
    EXPECT_EQ(v.children[2 * i].type, RespType::SimpleString);
  }
  EXPECT_EQ(Val(v, "partition_key").type, RespType::SimpleString);
  EXPECT_EQ(Val(v, "partition_key").str, k);
  EXPECT_EQ(Val(v, "partition_id").integer, 21);
  EXPECT_EQ(Val(v, "first_partition_sequence").integer, 1);
  EXPECT_EQ(Val(v, "last_partition_sequence").integer, 3);
  const RespValue& events = Val(v, "events");
  ASSERT_EQ(events.type, RespType::Array);
  ASSERT_EQ(events.children.size(), 3u);
  const char* ekeys[] = {"event_id",  "stream_id",          "stream_version",
                         "timestamp", "partition_sequence", "partition_id"};
  const char* streams[] = {"user-123", "other", "user-123"};
  const int64_t versions[] = {1, 0, 2};
  for (size_t i = 0; i < 3; ++i) {
    const RespValue& e = events.children[i];
    ASSERT_EQ(e.type, RespType::Map);
    ASSERT_EQ(e.children.size(), 12u);
    for (size_t j = 0; j < 6; ++j) EXPECT_EQ(Key(e, j), ekeys[j]);
    EXPECT_EQ(Val(e, "event_id").type, RespType::SimpleString);
    EXPECT_EQ(Val(e, "stream_id").type, RespType::SimpleString);
    EXPECT_EQ(Val(e, "stream_id").str, streams[i]);
    EXPECT_EQ(Val(e, "stream_version").integer, versions[i]);
    EXPECT_EQ(Val(e, "partition_sequence").integer, 1 + static_cast<int64_t>(i));
    EXPECT_EQ(Val(e, "partition_id").integer, 21);
    EXPECT_TRUE(validate_event_id(*Uuid::parse(Val(e, "event_id").str), partition_hash(key)));
  }
  EXPECT_EQ(Val(events.children[0], "event_id").str, id1.to_string());
  EXPECT_EQ(Val(events.children[0], "timestamp").integer, 1718000000000);
  // Events without TIMESTAMP share one "now".
  EXPECT_EQ(Val(events.children[1], "timestamp").integer,
            Val(events.children[2], "timestamp").integer);
  EXPECT_EQ(ctx_.stats.events_appended.load(), 4u);

  // All three share one multi-event transaction id (flag bit cleared).
  RespValue scan = RunParsed(cmd_epscan, {"EPSCAN", "21", "1", "+"});
  const RespValue& got = Val(scan, "events");
  ASSERT_EQ(got.children.size(), 3u);
  const std::string tx = Val(got.children[0], "transaction_id").str;
  EXPECT_FALSE(transaction_id_is_single(*Uuid::parse(tx)));
  for (const RespValue& e : got.children) EXPECT_EQ(Val(e, "transaction_id").str, tx);
  EXPECT_EQ(Val(got.children[0], "payload").str, "p");
  EXPECT_EQ(Val(got.children[1], "stream_id").str, "other");
}

TEST_F(DataCommandsTest, EmappendAtomicOnVersionConflict) {
  const std::string k = partition_key_for_stream("a").to_string();
  Append({"a", "E", "EXPECTED_VERSION", "empty"});
  EXPECT_EQ(Run(cmd_emappend, {"EMAPPEND", k, "b", "E", "EXPECTED_VERSION", "empty", "a", "E",
                               "EXPECTED_VERSION", "5"}),
            Err("WRONGVER current stream version is 0 but expected 5 for partition key " + k +
                " and stream id a"));
  // Nothing of the failed transaction is visible.
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "b", "PARTITION_KEY", k}), "_\r\n");
  const PartitionId pid = partition_id_for_key(*Uuid::parse(k), 32);
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", std::to_string(pid)}), ":0\r\n");

  // Within one EMAPPEND, later events see the versions given to earlier ones.
  RespValue ok = RunParsed(cmd_emappend, {"EMAPPEND", k, "b", "E", "EXPECTED_VERSION", "empty", "b",
                                          "F", "EXPECTED_VERSION", "0"});
  ASSERT_EQ(ok.type, RespType::Map) << ok.str;
  EXPECT_EQ(Run(cmd_emappend, {"EMAPPEND", k, "c", "E", "EXPECTED_VERSION", "empty", "c", "F",
                               "EXPECTED_VERSION", "empty"}),
            Err("WRONGVER current stream version is 0 but expected empty for partition key " + k +
                " and stream id c"));
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "c", "PARTITION_KEY", k}), "_\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", k}), ":2\r\n");
}

TEST_F(DataCommandsTest, EmappendEventIdMustEmbedHash) {
  const Uuid key = partition_key_for_stream("a");
  const Uuid bad = new_event_id(static_cast<PartitionHash>(partition_hash(key) + 1));
  EXPECT_EQ(Run(cmd_emappend, {"EMAPPEND", key.to_string(), "a", "E", "EXPECTED_VERSION", "empty",
                               "b", "E", "EVENT_ID", bad.to_string(), "EXPECTED_VERSION", "empty"}),
            Err("INVALIDARG the event id must embed the partition hash"));
}

// ------------------------------------------------------------------------------- EGET / ESCAN

TEST_F(DataCommandsTest, EgetFoundAndUnknown) {
  RespValue v = Append({"user-123", "UserRegistered", "EXPECTED_VERSION", "empty", "PAYLOAD", "x"});
  RespValue e = RunParsed(cmd_eget, {"EGET", Val(v, "event_id").str});
  ASSERT_EQ(e.type, RespType::Map);
  EXPECT_EQ(Val(e, "event_id").str, Val(v, "event_id").str);
  EXPECT_EQ(Val(e, "partition_id").integer, 21);
  EXPECT_EQ(Val(e, "stream_id").type, RespType::BlobString);
  EXPECT_TRUE(transaction_id_is_single(*Uuid::parse(Val(e, "transaction_id").str)));
  EXPECT_EQ(ctx_.stats.events_read.load(), 1u);

  const Uuid unknown = new_event_id(61013);
  EXPECT_EQ(Run(cmd_eget, {"EGET", unknown.to_string()}), "_\r\n");
  EXPECT_EQ(Run(cmd_eget, {"EGET", unknown.to_string()}, 2), "$-1\r\n");
  EXPECT_EQ(Run(cmd_eget, {"EGET", uuid_v4().to_string()}), "_\r\n");
}

TEST_F(DataCommandsTest, EscanReplyBytesExact) {
  RespValue v = Append({"user-123", "UserRegistered", "EXPECTED_VERSION", "empty", "TIMESTAMP",
                        "1718000000000", "PAYLOAD", "{\"a\":1}"});
  const std::string id = Val(v, "event_id").str;
  const std::string reply = Run(cmd_escan, {"ESCAN", "user-123", "-", "+", "COUNT", "10"});
  const std::string tx = Val(Parse(reply).children[3].children[0], "transaction_id").str;
  const std::string event = "%11\r\n+event_id\r\n+" + id +
                            "\r\n+partition_key\r\n+7e124fe8-fe28-5398-bb95-53973100148f\r\n"
                            "+partition_id\r\n:21\r\n+transaction_id\r\n+" +
                            tx +
                            "\r\n+partition_sequence\r\n:0\r\n+stream_version\r\n:0\r\n"
                            "+timestamp\r\n:1718000000000\r\n+stream_id\r\n$8\r\nuser-123\r\n"
                            "+event_name\r\n$14\r\nUserRegistered\r\n+metadata\r\n$0\r\n\r\n"
                            "+payload\r\n$7\r\n{\"a\":1}\r\n";
  EXPECT_EQ(reply, "%2\r\n+has_more\r\n#f\r\n+events\r\n*1\r\n" + event);
  // EGET shows the same map.
  EXPECT_EQ(Run(cmd_eget, {"EGET", id}), event);
  // RESP2: maps become flat arrays, booleans integers.
  std::string resp2_event = event;
  resp2_event.replace(0, 3, "*22");
  EXPECT_EQ(Run(cmd_eget, {"EGET", id}, 2), resp2_event);
  EXPECT_EQ(Run(cmd_escan, {"ESCAN", "user-123", "-", "+"}, 2),
            "*4\r\n+has_more\r\n:0\r\n+events\r\n*1\r\n" + resp2_event);
}

TEST_F(DataCommandsTest, EscanPagingAndHasMore) {
  for (int i = 0; i < 5; ++i) {
    Append({"s", "E" + std::to_string(i), "EXPECTED_VERSION",
            i == 0 ? "empty" : std::to_string(i - 1)});
  }
  Append({"other", "X", "EXPECTED_VERSION", "empty"});
  auto scan = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ESCAN", "s"};
    args.insert(args.end(), extra.begin(), extra.end());
    RespValue v = RunParsed(cmd_escan, args);
    EXPECT_EQ(v.type, RespType::Map) << v.str;
    EXPECT_EQ(Key(v, 0), "has_more");
    EXPECT_EQ(Key(v, 1), "events");
    EXPECT_EQ(Val(v, "has_more").type, RespType::Boolean);
    std::vector<int64_t> versions;
    for (const RespValue& e : Val(v, "events").children) {
      versions.push_back(Val(e, "stream_version").integer);
    }
    return std::make_pair(Val(v, "has_more").boolean, versions);
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(scan({"-", "+"}), std::make_pair(false, V{0, 1, 2, 3, 4}));
  // COUNT hit exactly with nothing after: has_more is false (look-ahead).
  EXPECT_EQ(scan({"-", "+", "COUNT", "5"}), std::make_pair(false, V{0, 1, 2, 3, 4}));
  EXPECT_EQ(scan({"-", "+", "count", "2"}), std::make_pair(true, V{0, 1}));
  EXPECT_EQ(scan({"2", "+", "COUNT", "2"}), std::make_pair(true, V{2, 3}));
  EXPECT_EQ(scan({"4", "+", "COUNT", "2"}), std::make_pair(false, V{4}));
  EXPECT_EQ(scan({"5", "+"}), std::make_pair(false, V{}));
  // End is inclusive; events after it make has_more true.
  EXPECT_EQ(scan({"1", "3"}), std::make_pair(true, V{1, 2, 3}));
  EXPECT_EQ(scan({"1", "4"}), std::make_pair(false, V{1, 2, 3, 4}));
  // COUNT 0: no events; has_more says whether any exist at or after start.
  EXPECT_EQ(scan({"-", "+", "COUNT", "0"}), std::make_pair(true, V{}));
  EXPECT_EQ(scan({"5", "+", "COUNT", "0"}), std::make_pair(false, V{}));
  // start > end: empty at once.
  EXPECT_EQ(scan({"3", "1"}), std::make_pair(true, V{}));
  EXPECT_EQ(scan({"9", "1"}), std::make_pair(false, V{}));
  // Huge COUNT is clamped, not rejected.
  EXPECT_EQ(scan({"-", "+", "COUNT", "9223372036854775807"}),
            std::make_pair(false, V{0, 1, 2, 3, 4}));
  // Explicit PARTITION_KEY (the stream's own) and options in any order.
  EXPECT_EQ(
      scan({"-", "+", "COUNT", "1", "PARTITION_KEY", partition_key_for_stream("s").to_string()}),
      std::make_pair(true, V{0}));
  // Unknown stream.
  RespValue none = RunParsed(cmd_escan, {"ESCAN", "nope", "-", "+"});
  EXPECT_FALSE(Val(none, "has_more").boolean);
  EXPECT_TRUE(Val(none, "events").children.empty());
}

TEST_F(DataCommandsTest, EsverAndEpseq) {
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "user-123"}), "_\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "21"}), "_\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "21"}, 2), "$-1\r\n");
  Append({"user-123", "A", "EXPECTED_VERSION", "empty"});
  Append({"user-123", "B", "EXPECTED_VERSION", "0"});
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "user-123"}), ":1\r\n");
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "user-123", "partition_key", std::string(kUser123Key)}),
            ":1\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "21"}), ":1\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "+21"}), ":1\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", std::string(kUser123Key)}), ":1\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "20"}), "_\r\n");
}

TEST_F(DataCommandsTest, EpscanPagingAndHasMore) {
  const std::string k = std::string(kUser123Key);
  for (int i = 0; i < 3; ++i) {
    Append({"user-123", "E", "EXPECTED_VERSION", i == 0 ? "empty" : std::to_string(i - 1)});
  }
  // Another stream in the same partition.
  Append({"u2", "E", "PARTITION_KEY", k, "EXPECTED_VERSION", "empty"});
  Append({"u2", "E", "PARTITION_KEY", k, "EXPECTED_VERSION", "0"});
  auto scan = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "EPSCAN");
    RespValue v = RunParsed(cmd_epscan, args);
    EXPECT_EQ(v.type, RespType::Map) << v.str;
    std::vector<int64_t> seqs;
    for (const RespValue& e : Val(v, "events").children) {
      EXPECT_EQ(Val(e, "partition_id").integer, 21);
      seqs.push_back(Val(e, "partition_sequence").integer);
    }
    return std::make_pair(Val(v, "has_more").boolean, seqs);
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(scan({"21", "-", "+"}), std::make_pair(false, V{0, 1, 2, 3, 4}));
  EXPECT_EQ(scan({k, "-", "+"}), std::make_pair(false, V{0, 1, 2, 3, 4}));
  EXPECT_EQ(scan({"21", "-", "+", "COUNT", "5"}), std::make_pair(false, V{0, 1, 2, 3, 4}));
  EXPECT_EQ(scan({"21", "-", "+", "COUNT", "2"}), std::make_pair(true, V{0, 1}));
  EXPECT_EQ(scan({"21", "2", "+", "COUNT", "2"}), std::make_pair(true, V{2, 3}));
  EXPECT_EQ(scan({"21", "4", "+", "COUNT", "2"}), std::make_pair(false, V{4}));
  // Beyond the watermark: empty, has_more false.
  EXPECT_EQ(scan({"21", "5", "+"}), std::make_pair(false, V{}));
  EXPECT_EQ(scan({"21", "500", "+"}), std::make_pair(false, V{}));
  // End inclusive; has_more counts events beyond end.
  EXPECT_EQ(scan({"21", "1", "2"}), std::make_pair(true, V{1, 2}));
  EXPECT_EQ(scan({"21", "1", "4"}), std::make_pair(false, V{1, 2, 3, 4}));
  EXPECT_EQ(scan({"21", "1", "99"}), std::make_pair(false, V{1, 2, 3, 4}));
  EXPECT_EQ(scan({"21", "-", "+", "COUNT", "0"}), std::make_pair(true, V{}));
  EXPECT_EQ(scan({"21", "3", "1"}), std::make_pair(true, V{}));
  // Empty partition.
  EXPECT_EQ(scan({"0", "-", "+"}), std::make_pair(false, V{}));
  // Paging the way the inspector does: next start = last + 1 while has_more.
  std::vector<int64_t> all;
  std::string start = "0";
  for (int guard = 0; guard < 10; ++guard) {
    auto [more, seqs] = scan({"21", start, "+", "COUNT", "2"});
    all.insert(all.end(), seqs.begin(), seqs.end());
    if (!more) break;
    start = std::to_string(seqs.back() + 1);
  }
  EXPECT_EQ(all, (V{0, 1, 2, 3, 4}));
}

TEST_F(DataCommandsTest, ConcurrentAppendsFinishOnWriterThreads) {
  ctx_.config.append.strict_versioning = false;
  constexpr int kN = 200;
  std::vector<ReplyPtr> replies;
  for (int i = 0; i < kN; ++i) {
    const std::string stream = "s" + std::to_string(i % 8);
    std::vector<std::string> args = {"EAPPEND", stream, "E"};
    std::vector<std::string_view> views(args.begin(), args.end());
    replies.push_back(std::make_shared<Reply>(3));
    CommandContext c{ctx_, session_, Args(views), replies.back()};
    cmd_eappend(c);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<std::vector<int64_t>> versions(8);
  for (int i = 0; i < kN; ++i) {
    while (!replies[i]->done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ASSERT_TRUE(replies[i]->done());
    RespValue v = Parse(replies[i]->bytes());
    ASSERT_EQ(v.type, RespType::Map) << v.str;
    versions[i % 8].push_back(Val(v, "stream_version").integer);
  }
  for (auto& vs : versions) {
    std::sort(vs.begin(), vs.end());
    for (size_t j = 0; j < vs.size(); ++j) EXPECT_EQ(vs[j], static_cast<int64_t>(j));
  }
  EXPECT_EQ(ctx_.stats.events_appended.load(), static_cast<uint64_t>(kN));
}

TEST_F(DataCommandsTest, ScansAcrossSegmentRollover) {
  Open(DatabaseBuilder().segment_size(4096));
  const std::string k = std::string(kUser123Key);
  constexpr int kEvents = 60;  // ~300 bytes each: many segments
  for (int i = 0; i < kEvents; ++i) {
    const std::string stream = i % 2 == 0 ? "user-123" : "u2";
    const int version = i / 2;
    Append({stream, "E", "PARTITION_KEY", k, "EXPECTED_VERSION",
            version == 0 ? "empty" : std::to_string(version - 1), "PAYLOAD",
            std::string(200, static_cast<char>('a' + i % 26))});
  }
  // EPSCAN pages of 7 over the whole partition.
  std::vector<int64_t> seqs;
  std::string start = "-";
  for (int guard = 0; guard < 100; ++guard) {
    RespValue v = RunParsed(cmd_epscan, {"EPSCAN", k, start, "+", "COUNT", "7"});
    ASSERT_EQ(v.type, RespType::Map) << v.str;
    for (const RespValue& e : Val(v, "events").children) {
      seqs.push_back(Val(e, "partition_sequence").integer);
      const int64_t i = seqs.back();
      EXPECT_EQ(Val(e, "payload").str, std::string(200, static_cast<char>('a' + i % 26)));
    }
    if (!Val(v, "has_more").boolean) break;
    start = std::to_string(seqs.back() + 1);
  }
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(seqs[i], i);

  // ESCAN pages of 4 over one stream.
  std::vector<int64_t> versions;
  start = "-";
  for (int guard = 0; guard < 100; ++guard) {
    RespValue v =
        RunParsed(cmd_escan, {"ESCAN", "u2", start, "+", "COUNT", "4", "PARTITION_KEY", k});
    ASSERT_EQ(v.type, RespType::Map) << v.str;
    for (const RespValue& e : Val(v, "events").children) {
      versions.push_back(Val(e, "stream_version").integer);
      EXPECT_EQ(Val(e, "stream_id").str, "u2");
    }
    if (!Val(v, "has_more").boolean) break;
    start = std::to_string(versions.back() + 1);
  }
  ASSERT_EQ(versions.size(), static_cast<size_t>(kEvents / 2));
  for (int i = 0; i < kEvents / 2; ++i) EXPECT_EQ(versions[i], i);
  EXPECT_EQ(Run(cmd_esver, {"ESVER", "u2", "PARTITION_KEY", k}),
            ":" + std::to_string(kEvents / 2 - 1) + "\r\n");
  EXPECT_EQ(Run(cmd_epseq, {"EPSEQ", "21"}), ":" + std::to_string(kEvents - 1) + "\r\n");
  // An event in an old segment is found by id.
  RespValue first = RunParsed(cmd_epscan, {"EPSCAN", "21", "0", "0"});
  const std::string id = Val(Val(first, "events").children.at(0), "event_id").str;
  EXPECT_EQ(Val(RunParsed(cmd_eget, {"EGET", id}), "partition_sequence").integer, 0);
}

TEST_F(DataCommandsTest, CrLfInStreamIdSanitizedInSimpleStrings) {
  const std::string sid = "a\r\nb";
  const std::string k = partition_key_for_stream(sid).to_string();
  Append({sid, "E", "EXPECTED_VERSION", "empty"});
  EXPECT_EQ(Run(cmd_eappend, {"EAPPEND", sid, "E", "EXPECTED_VERSION", "empty"}),
            Err("WRONGVER current stream version is 0 but expected empty for partition key " + k +
                " and stream id a  b"));
  // EMAPPEND's stream_id is a simple string: sanitized, and the reply still parses.
  const std::string reply = Run(cmd_emappend, {"EMAPPEND", k, sid, "F", "EXPECTED_VERSION", "0"});
  RespValue v = Parse(reply);
  ASSERT_EQ(v.type, RespType::Map) << reply;
  EXPECT_EQ(Val(Val(v, "events").children.at(0), "stream_id").str, "a  b");
  // Events carry the raw bytes as blobs.
  RespValue scan = RunParsed(cmd_escan, {"ESCAN", sid, "-", "+"});
  ASSERT_EQ(Val(scan, "events").children.size(), 2u);
  EXPECT_EQ(Val(Val(scan, "events").children[0], "stream_id").str, sid);
  // Error messages quoting the input are sanitized too.
  EXPECT_EQ(Run(cmd_escan, {"ESCAN", "s", "x\r\ny", "+"}),
            Err("INVALIDARG invalid start version 'x  y': expected a non-negative integer"));
}

TEST_F(DataCommandsTest, ReadsRunOnTheExecutorWithCopiedArguments) {
  // A deferred executor: jobs run after the handler returned and the arguments are gone.
  class Deferred : public ReadExecutor {
   public:
    void post(std::function<void()> job) override { jobs.push_back(std::move(job)); }
    std::vector<std::function<void()>> jobs;
  } deferred;
  Append({"user-123", "A", "EXPECTED_VERSION", "empty"});
  ctx_.reads = &deferred;
  std::vector<std::string> args = {"ESCAN", "user-123", "-", "+", "COUNT", "5"};
  std::vector<std::string_view> views(args.begin(), args.end());
  auto reply = std::make_shared<Reply>(3);
  CommandContext c{ctx_, session_, Args(views), reply};
  cmd_escan(c);
  EXPECT_FALSE(reply->done());
  for (auto& a : args) a.assign(100, 'Z');
  ASSERT_EQ(deferred.jobs.size(), 1u);
  deferred.jobs[0]();
  ASSERT_TRUE(reply->done());
  RespValue v = Parse(reply->bytes());
  EXPECT_EQ(Val(v, "events").children.size(), 1u);
}

TEST_F(DataCommandsTest, PointReadsRunInlineScansOnTheExecutor) {
  class Deferred : public ReadExecutor {
   public:
    void post(std::function<void()> job) override { jobs.push_back(std::move(job)); }
    std::vector<std::function<void()>> jobs;
  } deferred;
  RespValue a = Append({"user-123", "A", "EXPECTED_VERSION", "empty"});
  ctx_.reads = &deferred;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"EGET", Val(a, "event_id").str},
        std::vector<std::string>{"ESVER", "user-123"}, std::vector<std::string>{"EPSEQ", "21"}}) {
    std::vector<std::string_view> views(args.begin(), args.end());
    auto reply = std::make_shared<Reply>(3);
    CommandContext c{ctx_, session_, Args(views), reply};
    run_command(*find_command(args[0]), c);
    EXPECT_TRUE(reply->done()) << args[0];
    EXPECT_NE(reply->bytes().front(), '-') << args[0] << ": " << reply->bytes();
  }
  EXPECT_TRUE(deferred.jobs.empty());
}

TEST(DataArguments, Grammar) {
  EXPECT_TRUE(keyword_is("expected_VERSION", "EXPECTED_VERSION"));
  EXPECT_FALSE(keyword_is("EXPECTED_VERSIONS", "EXPECTED_VERSION"));
  EXPECT_EQ(parse_u64("+5", "n").value(), 5u);
  EXPECT_EQ(parse_u64("18446744073709551615", "n").value(), 18446744073709551615ull);
  EXPECT_FALSE(parse_u64("18446744073709551616", "n").has_value());
  EXPECT_FALSE(parse_u64("", "n").has_value());
  EXPECT_FALSE(parse_u64("++5", "n").has_value());
  EXPECT_FALSE(parse_u64("5 ", "n").has_value());
  EXPECT_FALSE(parse_reply_u64("9223372036854775808", "n").has_value());
  EXPECT_EQ(parse_reply_u64("9223372036854775807", "n").value(), 9223372036854775807ull);
  EXPECT_EQ(parse_count("10001").value(), kMaxScanCount);
  EXPECT_EQ(parse_timestamp_ms("9223372036854").value(), 9223372036854000000ull);
  EXPECT_EQ(parse_expected_version("EXISTS").value(), ExpectedVersion::exists());
  EXPECT_EQ(parse_expected_version("Empty").value(), ExpectedVersion::empty());
  EXPECT_EQ(parse_expected_version("7").value(), ExpectedVersion::exact(7));
  EXPECT_EQ(parse_range_start("-", "version").value(), 0u);
  EXPECT_EQ(parse_range_end("+", "version").value(), std::nullopt);
  EXPECT_EQ(parse_range_end("3", "version").value(), std::optional<uint64_t>(3));
  EXPECT_EQ(parse_partition_selector(" 550e8400-e29b-41d4-a716-446655440000 ", 32).value(), 25);
  EXPECT_EQ(parse_partition_selector("urn:uuid:550e8400-e29b-41d4-a716-446655440000", 32).value(),
            25);
  EXPECT_EQ(parse_partition_selector("31", 32).value(), 31);
  EXPECT_EQ(parse_stream_id(std::string(64, 'x')).value().size(), 64u);
  EXPECT_EQ(parse_event_name(std::string(255, 'x')).value().size(), 255u);
  EXPECT_EQ(quote_arg(std::string(200, 'q')), "'" + std::string(128, 'q') + "...'");
}

}  // namespace
}  // namespace sierra::server
