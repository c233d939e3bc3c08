// The Redis pub/sub form of subscriptions (server/subscriptions/pubsub_format.hpp): the frames
// byte for byte in RESP3 and RESP2, the event JSON (UTF-8 as strings, other bytes as base64),
// channel names, and SUBSCRIBE / UNSUBSCRIBE over real sockets.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "engine/database.hpp"
#include "server/server.hpp"
#include "server/subscriptions/pubsub_format.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/resp_test_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using resp::RespType;
using namespace std::chrono_literals;
using Client = test_support::RespTestClient;

EventRecord sample_event() {
  EventRecord e;
  e.event_id = *Uuid::parse("0191c2a0-0000-7000-8000-000000000001");
  e.partition_key = *Uuid::parse("0191c2a0-0000-7000-8000-000000000002");
  e.tx.transaction_id = *Uuid::parse("0191c2a0-0000-7000-8000-000000000003");
  e.partition_id = 7;
  e.partition_sequence = 42;
  e.stream_version = 3;
  e.timestamp_ns = 1'700'000'000'123'456'789ull;
  e.stream_id = "orders-1";
  e.event_name = "Placed";
  e.metadata = "";
  e.payload = "{\"a\":\"x\\y\"}\n";
  return e;
}

TEST(PubsubFormat, EventJsonEscapesTextAndNumbers) {
  const std::string j = event_json(sample_event(), "sub-id", 9);
  EXPECT_EQ(j,
            "{\"event_id\":\"0191c2a0-0000-7000-8000-000000000001\","
            "\"partition_key\":\"0191c2a0-0000-7000-8000-000000000002\","
            "\"partition_id\":7,"
            "\"transaction_id\":\"0191c2a0-0000-7000-8000-000000000003\","
            "\"partition_sequence\":42,\"stream_version\":3,\"timestamp\":1700000000123,"
            "\"stream_id\":\"orders-1\",\"event_name\":\"Placed\",\"metadata\":\"\","
            "\"payload\":\"{\\\"a\\\":\\\"x\\\\y\\\"}\\n\","
            "\"subscription_id\":\"sub-id\",\"cursor\":9}");
}

TEST(PubsubFormat, NonUtf8BytesAreBase64) {
  EventRecord e = sample_event();
  e.payload = std::string("\xff\x00\x01", 3);
  e.metadata = "ab";
  const std::string j = event_json(e, "s", 0);
  EXPECT_NE(j.find("\"payload_base64\":\"/wAB\""), std::string::npos) << j;
  EXPECT_EQ(j.find("\"payload\":"), std::string::npos) << j;
  EXPECT_NE(j.find("\"metadata\":\"ab\""), std::string::npos) << j;
  e.payload = "\x01";
  EXPECT_NE(event_json(e, "s", 0).find("\"payload\":\"\\u0001\""), std::string::npos);
  e.payload = "x\xe2\x82";  // truncated 3-byte sequence
  EXPECT_NE(event_json(e, "s", 0).find("\"payload_base64\":\"eOKC\""), std::string::npos);
}

TEST(PubsubFormat, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));
}

TEST(PubsubFormat, FramesInResp3AndResp2) {
  EXPECT_EQ(encode_pubsub_event(3, "subscribe", "sierradb:stream:s", 1),
            ">3\r\n$9\r\nsubscribe\r\n$17\r\nsierradb:stream:s\r\n:1\r\n");
  EXPECT_EQ(encode_pubsub_event(2, "unsubscribe", "c", 0),
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n");
  const EventRecord e = sample_event();
  const std::string json = event_json(e, "id", 5);
  std::string out3;
  encode_pubsub_message(out3, 3, "ch", "id", 5, e);
  EXPECT_EQ(out3, ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$" + std::to_string(json.size()) + "\r\n" +
                      json + "\r\n");
  std::string out2;
  encode_pubsub_message(out2, 2, "ch", "id", 5, e);
  EXPECT_EQ(out2, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$" + std::to_string(json.size()) + "\r\n" +
                      json + "\r\n");
}

TEST(PubsubFormat, ChannelNames) {
  auto s = parse_channel("sierradb:stream:a:b", 32);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, ChannelTarget::Kind::Stream);
  EXPECT_EQ(s->stream_id, "a:b");
  auto p = parse_channel("sierradb:partition:31", 32);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ChannelTarget::Kind::Partition);
  EXPECT_EQ(p->partition, 31);
  EXPECT_FALSE(parse_channel("sierradb:partition:32", 32));
  EXPECT_FALSE(parse_channel("sierradb:partition:1x", 32));
  EXPECT_FALSE(parse_channel("sierradb:stream:", 32));
  EXPECT_FALSE(parse_channel("news", 32));
  auto all = parse_channel("sierradb:partitions", 32);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->kind, ChannelTarget::Kind::AllPartitions);
}

// ------------------------------------------------------------------ over a real server

class SubscribeTest : public test_support::HubServerTest {
 protected:
  SubscribeTest() : HubServerTest("sierra-pubsub-test") {}

  void SetUp() override { start(); }

  // Subscribes `c` to `channel` and checks the confirmation (a push in RESP3, an array in RESP2).
  void subscribe(Client& c, const std::string& channel, int64_t count, bool resp2) {
    ASSERT_TRUE(c.send_cmd({"SUBSCRIBE", channel}));
    auto r = c.read(5s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->type, resp2 ? RespType::Array : RespType::Push);
    ASSERT_EQ(r->children.size(), 3u);
    EXPECT_EQ(r->children[0].type, RespType::BlobString);
    EXPECT_EQ(r->children[0].str, "subscribe");
    EXPECT_EQ(r->children[1].str, channel);
    EXPECT_EQ(r->children[2].integer, count);
  }

  // The next `message` on `channel`: its JSON blob.
  std::string next_message(Client& c, const std::string& channel, bool resp2) {
    auto r = c.read(5s);
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_EQ(r->type, resp2 ? RespType::Array : RespType::Push);
    EXPECT_EQ(r->children.size(), 3u);
    if (r->children.size() != 3) return {};
    EXPECT_EQ(r->children[0].str, "message");
    EXPECT_EQ(r->children[1].str, channel);
    EXPECT_EQ(r->children[2].type, RespType::BlobString);
    return r->children[2].str;
  }

  // SUBSCRIBE to a stream and to every partition, append, UNSUBSCRIBE one.
  void stream_and_partition_channels(bool resp2) {
    Client sub(server_->port()), w(server_->port());
    if (resp2) {
      ASSERT_TRUE(sub.call({"HELLO", "2"}).has_value());
    }
    subscribe(sub, "sierradb:stream:ps-1", 1, resp2);
    subscribe(sub, "sierradb:partitions", 2, resp2);
    auto a = w.call({"EAPPEND", "ps-1", "First", "PAYLOAD", "hello"});
    ASSERT_TRUE(a && a->type == RespType::Map);
    const std::string seq = std::to_string(a->find("partition_sequence")->integer);
    // Both channels deliver it, in any order between the two.
    std::string m1, m2;
    for (int i = 0; i < 2; ++i) {
      auto r = sub.read(5s);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->children.size(), 3u);
      EXPECT_EQ(r->children[0].str, "message");
      (r->children[1].str == "sierradb:stream:ps-1" ? m1 : m2) = r->children[2].str;
    }
    EXPECT_NE(m1.find("\"event_name\":\"First\""), std::string::npos) << m1;
    EXPECT_NE(m1.find("\"payload\":\"hello\""), std::string::npos) << m1;
    EXPECT_NE(m1.find("\"stream_version\":0"), std::string::npos) << m1;
    EXPECT_NE(m2.find("\"partition_sequence\":" + seq), std::string::npos) << m2;
    // UNSUBSCRIBE one: confirmed with the channels left; then only the other delivers.
    ASSERT_TRUE(sub.send_cmd({"UNSUBSCRIBE", "sierradb:partitions"}));
    auto u = sub.read(5s);
    ASSERT_TRUE(u.has_value());
    ASSERT_EQ(u->children.size(), 3u);
    EXPECT_EQ(u->children[0].str, "unsubscribe");
    EXPECT_EQ(u->children[2].integer, 1);
    ASSERT_TRUE(w.call({"EAPPEND", "ps-1", "Second"}).has_value());
    const std::string m3 = next_message(sub, "sierradb:stream:ps-1", resp2);
    EXPECT_NE(m3.find("\"event_name\":\"Second\""), std::string::npos) << m3;
    EXPECT_FALSE(sub.read(200ms).has_value()) << "the unsubscribed channel still delivers";
  }
};

TEST_F(SubscribeTest, Resp3Pushes) {
  stream_and_partition_channels(/*resp2=*/false);
}

TEST_F(SubscribeTest, Resp2Arrays) {
  stream_and_partition_channels(/*resp2=*/true);
}

TEST_F(SubscribeTest, UnknownChannelIsAnError) {
  Client c(server_->port());
  auto r = c.call({"SUBSCRIBE", "news"});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_error());
  EXPECT_EQ(hub_->active(), 0u);
  // UNSUBSCRIBE with nothing subscribed: one confirmation with a null channel, count 0.
  ASSERT_TRUE(c.send_cmd({"UNSUBSCRIBE"}));
  auto u = c.read(5s);
  ASSERT_TRUE(u.has_value());
  ASSERT_EQ(u->children.size(), 3u);
  EXPECT_EQ(u->children[1].type, RespType::Null);
  EXPECT_EQ(u->children[2].integer, 0);
}

}  // namespace
}  // namespace sierra::server
