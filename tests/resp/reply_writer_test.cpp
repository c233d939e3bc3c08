#include "resp/reply_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace sierra::resp {
namespace {

template <typename F>
std::string Encode(int protocol, F&& f) {
  std::string out;
  ReplyWriter w(out, protocol);
  f(w);
  return out;
}

TEST(RespReplyWriter, DefaultsToResp3) {
  std::string out;
  ReplyWriter w(out);
  EXPECT_EQ(w.protocol(), 3);
  w.set_protocol(2);
  EXPECT_EQ(w.protocol(), 2);
  EXPECT_EQ(&w.buffer(), &out);
}

TEST(RespReplyWriter, SimpleString) {
  for (int proto : {2, 3}) {
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.simple("PONG"); }), "+PONG\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.simple(""); }), "+\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.simple("a\r\nb\nc\rd"); }), "+a  b c d\r\n");
  }
}

TEST(RespReplyWriter, Error) {
  for (int proto : {2, 3}) {
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.error("ERR", "Protocol error: x"); }),
              "-ERR Protocol error: x\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.error("WRONGVER", "stream id bad\r\nid"); }),
              "-WRONGVER stream id bad  id\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.error("", "empty command"); }),
              "-empty command\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.error("A\nB", "m"); }), "-A B m\r\n");
  }
}

TEST(RespReplyWriter, BulkStringIsBinarySafe) {
  std::string payload;
  for (int b = 0; b < 256; ++b) payload.push_back(static_cast<char>(b));
  for (int proto : {2, 3}) {
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.bulk("user-123"); }), "$8\r\nuser-123\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.bulk(""); }), "$0\r\n\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.bulk("a\r\nb"); }), "$4\r\na\r\nb\r\n");
    EXPECT_EQ(Encode(proto, [&](ReplyWriter& w) { w.bulk(payload); }),
              "$256\r\n" + payload + "\r\n");
  }
}

TEST(RespReplyWriter, Integer) {
  for (int proto : {2, 3}) {
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.integer(0); }), ":0\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.integer(-42); }), ":-42\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.integer(INT64_MAX); }),
              ":9223372036854775807\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.integer(INT64_MIN); }),
              ":-9223372036854775808\r\n");
  }
}

TEST(RespReplyWriter, Double) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(0.0); }), ",0\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(0.5); }), ",0.5\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(-1.25); }), ",-1.25\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(0.1); }), ",0.1\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(1e300); }), ",1e+300\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(std::numeric_limits<double>::infinity()); }),
            ",inf\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(-std::numeric_limits<double>::infinity()); }),
            ",-inf\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(std::nan("")); }), ",nan\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.dbl(-std::nan("")); }), ",nan\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.dbl(0.5); }), "$3\r\n0.5\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.dbl(0.0); }), "$1\r\n0\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.dbl(-std::numeric_limits<double>::infinity()); }),
            "$4\r\n-inf\r\n");
}

TEST(RespReplyWriter, Boolean) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.boolean(true); }), "#t\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.boolean(false); }), "#f\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.boolean(true); }), ":1\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.boolean(false); }), ":0\r\n");
}

TEST(RespReplyWriter, Null) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.null(); }), "_\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.null(); }), "$-1\r\n");
}

TEST(RespReplyWriter, ArrayHeader) {
  for (int proto : {2, 3}) {
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.array(0); }), "*0\r\n");
    EXPECT_EQ(Encode(proto, [](ReplyWriter& w) { w.array(1048576); }), "*1048576\r\n");
  }
}

TEST(RespReplyWriter, MapHeader) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.map(0); }), "%0\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.map(11); }), "%11\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.map(0); }), "*0\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.map(11); }), "*22\r\n");
}

TEST(RespReplyWriter, PushHeader) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.push(3); }), ">3\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.push(3); }), "*3\r\n");
}

TEST(RespReplyWriter, Verbatim) {
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.verbatim("hello"); }), "=9\r\ntxt:hello\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.verbatim("# Cache\r\n", "mkd"); }),
            "=13\r\nmkd:# Cache\r\n\r\n");
  EXPECT_EQ(Encode(3, [](ReplyWriter& w) { w.verbatim("", "toolong"); }), "=4\r\ntxt:\r\n");
  EXPECT_EQ(Encode(2, [](ReplyWriter& w) { w.verbatim("hello"); }), "$5\r\nhello\r\n");
}

TEST(RespReplyWriter, RawAndAppending) {
  std::string out = "prefix";
  ReplyWriter w(out);
  w.raw("+OK\r\n");
  w.integer(1);
  EXPECT_EQ(out, "prefix+OK\r\n:1\r\n");
}

void WriteEscanReply(ReplyWriter& w) {
  w.map(2);
  w.simple("has_more");
  w.boolean(false);
  w.simple("events");
  w.array(1);
  w.map(3);
  w.simple("stream_id");
  w.bulk("user-123");
  w.simple("stream_version");
  w.integer(0);
  w.simple("metadata");
  w.bulk("");
}

TEST(RespReplyWriter, MapThenPairsInOrderResp3) {
  EXPECT_EQ(Encode(3, WriteEscanReply),
            "%2\r\n+has_more\r\n#f\r\n+events\r\n*1\r\n%3\r\n+stream_id\r\n$8\r\nuser-123\r\n"
            "+stream_version\r\n:0\r\n+metadata\r\n$0\r\n\r\n");
}

TEST(RespReplyWriter, MapThenPairsInOrderResp2) {
  EXPECT_EQ(Encode(2, WriteEscanReply),
            "*4\r\n+has_more\r\n:0\r\n+events\r\n*1\r\n*6\r\n+stream_id\r\n$8\r\nuser-123\r\n"
            "+stream_version\r\n:0\r\n+metadata\r\n$0\r\n\r\n");
}

TEST(RespReplyWriter, AppendReplyExample) {
  const std::string out = Encode(3, [](ReplyWriter& w) {
    w.map(6);
    w.simple("event_id");
    w.simple("0190a6b4-1b2c-7def-8000-000000000001");
    w.simple("partition_key");
    w.simple("7e124fe8-fe28-5398-bb95-53973100148f");
    w.simple("partition_id");
    w.integer(21);
    w.simple("partition_sequence");
    w.integer(0);
    w.simple("stream_version");
    w.integer(0);
    w.simple("timestamp");
    w.integer(1718000000000);
  });
  EXPECT_EQ(out,
            "%6\r\n+event_id\r\n+0190a6b4-1b2c-7def-8000-000000000001\r\n+partition_key\r\n"
            "+7e124fe8-fe28-5398-bb95-53973100148f\r\n+partition_id\r\n:21\r\n"
            "+partition_sequence\r\n:0\r\n+stream_version\r\n:0\r\n+timestamp\r\n"
            ":1718000000000\r\n");
}

TEST(RespReplyWriter, SubscriptionPush) {
  auto f = [](ReplyWriter& w) {
    w.push(3);
    w.simple("subscribe");
    w.simple("9b2c");
    w.integer(1);
  };
  EXPECT_EQ(Encode(3, f), ">3\r\n+subscribe\r\n+9b2c\r\n:1\r\n");
  EXPECT_EQ(Encode(2, f), "*3\r\n+subscribe\r\n+9b2c\r\n:1\r\n");
}

}  // namespace
}  // namespace sierra::resp
