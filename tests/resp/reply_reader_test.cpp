#include "resp/reply_reader.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_writer.hpp"

namespace sierra::resp {
namespace {

struct Read {
  std::vector<RespValue> values;
  bool error = false;
  std::string message;
};

// Feeds `chunk` bytes at a time, dropping consumed bytes after every call.
Read ReadAll(std::string_view input, std::size_t chunk, Limits limits = {}) {
  ReplyReader reader(limits);
  Read out;
  std::string buf;
  if (chunk == 0) chunk = input.empty() ? 1 : input.size();
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    buf.append(input.substr(i, chunk));
    for (;;) {
      const ReadResult r = reader.parse(buf);
      EXPECT_LE(r.consumed, buf.size());
      if (r.status == ReadStatus::Error) {
        out.error = true;
        out.message = std::string(reader.error());
        return out;
      }
      buf.erase(0, r.consumed);
      if (r.status == ReadStatus::NeedMore) break;
      out.values.push_back(reader.take());
    }
  }
  return out;
}

RespValue One(std::string_view input) {
  const Read r = ReadAll(input, 0);
  EXPECT_FALSE(r.error) << r.message;
  EXPECT_EQ(r.values.size(), 1u) << input;
  return r.values.empty() ? RespValue{} : r.values[0];
}

std::string ErrorOf(std::string_view input, Limits limits = {}) {
  const Read r = ReadAll(input, 0, limits);
  EXPECT_TRUE(r.error) << input;
  return r.message;
}

TEST(RespReplyReader, Scalars) {
  RespValue v = One("+OK\r\n");
  EXPECT_EQ(v.type, RespType::SimpleString);
  EXPECT_EQ(v.str, "OK");

  v = One("-WRONGVER current stream version is 0\r\n");
  EXPECT_EQ(v.type, RespType::Error);
  EXPECT_TRUE(v.is_error());
  EXPECT_EQ(v.str, "WRONGVER current stream version is 0");

  v = One("$5\r\na\r\nbc\r\n");
  EXPECT_EQ(v.type, RespType::BlobString);
  EXPECT_EQ(v.str, "a\r\nbc");

  v = One("!9\r\nERR oops!\r\n");
  EXPECT_EQ(v.type, RespType::BlobError);
  EXPECT_EQ(v.str, "ERR oops!");

  v = One(":-9223372036854775808\r\n");
  EXPECT_EQ(v.type, RespType::Integer);
  EXPECT_EQ(v.integer, INT64_MIN);
  EXPECT_EQ(One(":+5\r\n").integer, 5);

  v = One(",0.5\r\n");
  EXPECT_EQ(v.type, RespType::Double);
  EXPECT_EQ(v.dbl, 0.5);
  EXPECT_EQ(One(",1e+300\r\n").dbl, 1e300);
  EXPECT_EQ(One(",-inf\r\n").dbl, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(One(",nan\r\n").dbl));

  EXPECT_TRUE(One("#t\r\n").boolean);
  EXPECT_EQ(One("#f\r\n").type, RespType::Boolean);
  EXPECT_FALSE(One("#f\r\n").boolean);

  EXPECT_EQ(One("_\r\n").type, RespType::Null);
  EXPECT_EQ(One("$-1\r\n").type, RespType::Null);
  EXPECT_EQ(One("*-1\r\n").type, RespType::Null);

  v = One("(-3492890328409238509324850943850943825024385\r\n");
  EXPECT_EQ(v.type, RespType::BigNumber);
  EXPECT_EQ(v.str, "-3492890328409238509324850943850943825024385");

  v = One("=15\r\ntxt:Some string\r\n");
  EXPECT_EQ(v.type, RespType::Verbatim);
  EXPECT_EQ(v.format, "txt");
  EXPECT_EQ(v.str, "Some string");
  EXPECT_TRUE(v.is_string());
}

TEST(RespReplyReader, Aggregates) {
  RespValue v = One("*3\r\n:1\r\n*0\r\n%1\r\n+k\r\n~2\r\n#t\r\n_\r\n");
  ASSERT_EQ(v.type, RespType::Array);
  ASSERT_EQ(v.children.size(), 3u);
  EXPECT_EQ(v.children[0].integer, 1);
  EXPECT_EQ(v.children[1].type, RespType::Array);
  EXPECT_TRUE(v.children[1].children.empty());
  const RespValue& m = v.children[2];
  ASSERT_EQ(m.type, RespType::Map);
  ASSERT_EQ(m.children.size(), 2u);
  const RespValue* set = m.find("k");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->type, RespType::Set);
  EXPECT_EQ(set->children.size(), 2u);
  EXPECT_EQ(m.find("missing"), nullptr);
  EXPECT_EQ(v.find("k"), nullptr);  // not a map

  v = One(">3\r\n+subscribe\r\n+id\r\n:1\r\n");
  EXPECT_EQ(v.type, RespType::Push);
  EXPECT_EQ(v.children.size(), 3u);
  EXPECT_EQ(One("%0\r\n").type, RespType::Map);
}

TEST(RespReplyReader, AttributesAreDiscarded) {
  RespValue v = One("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n");
  ASSERT_EQ(v.type, RespType::Array);
  ASSERT_EQ(v.children.size(), 2u);
  // Attribute inside an aggregate.
  v = One("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
  ASSERT_EQ(v.children.size(), 2u);
  EXPECT_EQ(v.children[0].integer, 1);
  EXPECT_EQ(One("|0\r\n+x\r\n").str, "x");
}

TEST(RespReplyReader, PipelinedRepliesAndConsumed) {
  ReplyReader r;
  const std::string in = "+A\r\n:1\r\n*2\r\n+B\r\n+C\r\n";
  std::string_view rest = in;
  std::vector<RespValue> got;
  for (;;) {
    const ReadResult res = r.parse(rest);
    rest.remove_prefix(res.consumed);
    if (res.status != ReadStatus::Value) break;
    got.push_back(r.take());
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(got[2].children[1].str, "C");
}

TEST(RespReplyReader, PartialAggregateIsAbsorbed) {
  ReplyReader r;
  std::string buf = "*3\r\n:1\r\n:2\r\n:";
  ReadResult res = r.parse(buf);
  EXPECT_EQ(res.status, ReadStatus::NeedMore);
  EXPECT_EQ(res.consumed, 12u);  // header and two complete children
  EXPECT_TRUE(r.in_value());
  buf.erase(0, res.consumed);
  buf += "3\r\n";
  res = r.parse(buf);
  ASSERT_EQ(res.status, ReadStatus::Value);
  EXPECT_EQ(res.consumed, buf.size());
  const RespValue v = r.take();
  ASSERT_EQ(v.children.size(), 3u);
  EXPECT_EQ(v.children[2].integer, 3);
  EXPECT_FALSE(r.in_value());
}

const char* kComplex =
    "%2\r\n+has_more\r\n#f\r\n+events\r\n*2\r\n%3\r\n+stream_id\r\n$8\r\nuser-123\r\n"
    "+payload\r\n$7\r\n{\"a\":1}\r\n+n\r\n:0\r\n%1\r\n+x\r\n=9\r\ntxt:a\r\nbc\r\n"
    ">4\r\n+message\r\n+id\r\n:1\r\n_\r\n-ERR no\r\n,0.25\r\n(12\r\n|1\r\n+a\r\n+b\r\n#t\r\n";

TEST(RespReplyReader, ByteAtATimeEqualsAllAtOnce) {
  const Read all = ReadAll(kComplex, 0);
  ASSERT_FALSE(all.error) << all.message;
  ASSERT_EQ(all.values.size(), 6u);
  for (std::size_t chunk : {1, 2, 3, 7, 16}) {
    const Read part = ReadAll(kComplex, chunk);
    ASSERT_FALSE(part.error) << part.message;
    EXPECT_EQ(part.values, all.values) << "chunk " << chunk;
  }
}

TEST(RespReplyReader, Errors) {
  EXPECT_EQ(ErrorOf("?\r\n"), "Protocol error: unexpected reply type byte '?'");
  EXPECT_EQ(ErrorOf(":abc\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(ErrorOf(":+-1\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(ErrorOf(",x\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(ErrorOf(",\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(ErrorOf("#x\r\n"), "Protocol error: invalid boolean");
  EXPECT_EQ(ErrorOf("_x\r\n"), "Protocol error: invalid null");
  EXPECT_EQ(ErrorOf("(1.5\r\n"), "Protocol error: invalid big number");
  EXPECT_EQ(ErrorOf("$-2\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("$?\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("$999999999999\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("$3\r\nabcd\r\n"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(ErrorOf("=3\r\nabc\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(ErrorOf("%-1\r\n"), "Protocol error: invalid aggregate length");
  EXPECT_EQ(ErrorOf("*99999999999\r\n"), "Protocol error: invalid aggregate length");
  EXPECT_EQ(ErrorOf("+OK\n"), "Protocol error: line not terminated by CRLF");
  Limits lim;
  lim.max_inline_len = 4;
  EXPECT_EQ(ErrorOf("+12345\r\n", lim), "Protocol error: line too long");
  lim.max_depth = 3;
  EXPECT_FALSE(ReadAll("*1\r\n*1\r\n*1\r\n:1\r\n", 0, lim).error);
  EXPECT_EQ(ErrorOf("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", lim),
            "Protocol error: reply nested too deeply");
}

TEST(RespReplyReader, DeepNestingWithinDefaultLimit) {
  std::string in;
  for (int i = 0; i < 100; ++i) in += "*1\r\n";
  in += ":7\r\n";
  const RespValue v = One(in);
  const RespValue* p = &v;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(p->children.size(), 1u);
    p = &p->children[0];
  }
  EXPECT_EQ(p->integer, 7);
}

// --- round trips: what ReplyWriter writes, ReplyReader reads back ---

void WriteEverything(ReplyWriter& w, const std::string& binary) {
  w.array(12);
  w.simple("simple");
  w.error("CODE", "message");
  w.bulk(binary);
  w.integer(-123456789012345);
  w.dbl(0.25);
  w.boolean(true);
  w.null();
  w.map(2);
  w.simple("k1");
  w.integer(1);
  w.bulk("k2");
  w.array(0);
  w.push(2);
  w.simple("message");
  w.boolean(false);
  w.verbatim("verbatim\r\ntext");
  w.map(0);
  w.integer(INT64_MAX);
}

TEST(RespReplyReader, RoundTripResp3) {
  std::string binary;
  for (int b = 0; b < 256; ++b) binary.push_back(static_cast<char>(b));
  std::string out;
  ReplyWriter w(out, 3);
  WriteEverything(w, binary);
  for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
    const Read r = ReadAll(out, chunk);
    ASSERT_FALSE(r.error) << r.message;
    ASSERT_EQ(r.values.size(), 1u);
    const RespValue& v = r.values[0];
    ASSERT_EQ(v.type, RespType::Array);
    ASSERT_EQ(v.children.size(), 12u);
    const auto& c = v.children;
    EXPECT_EQ(c[0].type, RespType::SimpleString);
    EXPECT_EQ(c[0].str, "simple");
    EXPECT_EQ(c[1].type, RespType::Error);
    EXPECT_EQ(c[1].str, "CODE message");
    EXPECT_EQ(c[2].type, RespType::BlobString);
    EXPECT_EQ(c[2].str, binary);
    EXPECT_EQ(c[3].integer, -123456789012345);
    EXPECT_EQ(c[4].type, RespType::Double);
    EXPECT_EQ(c[4].dbl, 0.25);
    EXPECT_EQ(c[5].type, RespType::Boolean);
    EXPECT_TRUE(c[5].boolean);
    EXPECT_EQ(c[6].type, RespType::Null);
    ASSERT_EQ(c[7].type, RespType::Map);
    ASSERT_NE(c[7].find("k1"), nullptr);
    EXPECT_EQ(c[7].find("k1")->integer, 1);
    ASSERT_NE(c[7].find("k2"), nullptr);
    EXPECT_EQ(c[7].find("k2")->type, RespType::Array);
    EXPECT_EQ(c[8].type, RespType::Push);
    ASSERT_EQ(c[8].children.size(), 2u);
    EXPECT_FALSE(c[8].children[1].boolean);
    EXPECT_EQ(c[9].type, RespType::Verbatim);
    EXPECT_EQ(c[9].str, "verbatim\r\ntext");
    EXPECT_EQ(c[10].type, RespType::Map);
    EXPECT_EQ(c[11].integer, INT64_MAX);
  }
}

TEST(RespReplyReader, RoundTripResp2) {
  const std::string binary("bin\r\n\0ary", 9);
  std::string out;
  ReplyWriter w(out, 2);
  WriteEverything(w, binary);
  const Read r = ReadAll(out, 1);
  ASSERT_FALSE(r.error) << r.message;
  ASSERT_EQ(r.values.size(), 1u);
  const auto& c = r.values[0].children;
  ASSERT_EQ(c.size(), 12u);
  EXPECT_EQ(c[2].str, binary);
  EXPECT_EQ(c[4].type, RespType::BlobString);  // double as text
  EXPECT_EQ(c[4].str, "0.25");
  EXPECT_EQ(c[5].type, RespType::Integer);  // boolean as :1
  EXPECT_EQ(c[5].integer, 1);
  EXPECT_EQ(c[6].type, RespType::Null);   // $-1
  EXPECT_EQ(c[7].type, RespType::Array);  // map flattened
  ASSERT_EQ(c[7].children.size(), 4u);
  EXPECT_EQ(c[7].children[0].str, "k1");
  EXPECT_EQ(c[7].children[3].type, RespType::Array);
  EXPECT_EQ(c[8].type, RespType::Array);  // push as array
  EXPECT_EQ(c[8].children[1].integer, 0);
  EXPECT_EQ(c[9].type, RespType::BlobString);  // verbatim as bulk
  EXPECT_EQ(c[9].str, "verbatim\r\ntext");
  EXPECT_EQ(c[10].type, RespType::Array);
  EXPECT_TRUE(c[10].children.empty());
}

TEST(RespReplyReader, RoundTripManyPipelinedReplies) {
  std::string out;
  ReplyWriter w(out);
  for (int i = 0; i < 10000; ++i) {
    w.map(2);
    w.simple("stream_version");
    w.integer(i);
    w.simple("payload");
    w.bulk(std::string(static_cast<std::size_t>(i % 50), static_cast<char>(i)));
  }
  const Read r = ReadAll(out, 1000);
  ASSERT_FALSE(r.error) << r.message;
  ASSERT_EQ(r.values.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(r.values[static_cast<std::size_t>(i)].find("stream_version")->integer, i);
    ASSERT_EQ(r.values[static_cast<std::size_t>(i)].find("payload")->str.size(),
              static_cast<std::size_t>(i % 50));
  }
}

}  // namespace
}  // namespace sierra::resp
