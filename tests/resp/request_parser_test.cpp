#include "resp/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sierra::resp {
namespace {

using Args = std::vector<std::string>;

struct Outcome {
  std::vector<Args> commands;
  bool error = false;
  std::string message;
  bool operator==(const Outcome&) const = default;
};

// Simulates a connection: append `chunk` bytes at a time, parse everything available, compact
// the buffer by erasing consumed bytes (which also moves the unconsumed tail).
Outcome Feed(std::string_view input, std::size_t chunk, Limits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::string buf;
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    buf.append(input.substr(i, chunk));
    for (;;) {
      const ParseResult r = parser.parse(buf);
      EXPECT_LE(r.consumed, buf.size());
      if (r.status == ParseStatus::Error) {
        out.error = true;
        out.message = std::string(parser.error());
        return out;
      }
      if (r.status == ParseStatus::Command) {
        Args a;
        for (std::string_view v : parser.args()) a.emplace_back(v);
        out.commands.push_back(std::move(a));
      }
      buf.erase(0, r.consumed);
      if (r.status == ParseStatus::NeedMore) break;
    }
  }
  return out;
}

Outcome FeedAll(std::string_view input, Limits limits = {}) {
  return Feed(input, input.empty() ? 1 : input.size(), limits);
}

std::string Bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string Cmd(const Args& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += Bulk(a);
  return out;
}

std::string ErrorOf(std::string_view input, Limits limits = {}) {
  const Outcome o = FeedAll(input, limits);
  EXPECT_TRUE(o.error) << "input: " << input;
  return o.message;
}

TEST(RespRequestParser, ArrayOfBulkStrings) {
  RequestParser p;
  const std::string in = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  const ParseResult r = p.parse(in);
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(r.consumed, in.size());
  ASSERT_EQ(p.args().size(), 3u);
  EXPECT_EQ(p.args()[0], "SET");
  EXPECT_EQ(p.args()[1], "key");
  EXPECT_EQ(p.args()[2], "value");
  // Views point into the caller's buffer (no copies).
  EXPECT_EQ(p.args()[2].data(), in.data() + in.find("value"));
  EXPECT_FALSE(p.in_frame());
}

TEST(RespRequestParser, Resp3ElementTypesAsArguments) {
  const std::string in =
      "*8\r\n$4\r\nECHO\r\n+simple\r\n=8\r\ntxt:verb\r\n:42\r\n:-7\r\n:+9\r\n"
      "(123456789012345678901234567890\r\n(-5\r\n";
  const Outcome o = FeedAll(in);
  ASSERT_FALSE(o.error) << o.message;
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], (Args{"ECHO", "simple", "verb", "42", "-7", "9",
                                 "123456789012345678901234567890", "-5"}));
}

TEST(RespRequestParser, VerbatimAnyFormatAndEmptyBody) {
  const Outcome o = FeedAll("*2\r\n=4\r\ntxt:\r\n=7\r\nmkd:a\r\n\r\n");
  ASSERT_FALSE(o.error) << o.message;
  EXPECT_EQ(o.commands[0], (Args{"", "a\r\n"}));
}

TEST(RespRequestParser, EmptyBulkAndEmptySimple) {
  const Outcome o = FeedAll("*2\r\n$0\r\n\r\n+\r\n");
  ASSERT_FALSE(o.error) << o.message;
  EXPECT_EQ(o.commands[0], (Args{"", ""}));
}

TEST(RespRequestParser, EmptyArrayYieldsEmptyCommand) {
  RequestParser p;
  const ParseResult r = p.parse("*0\r\n");
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(r.consumed, 4u);
  EXPECT_TRUE(p.args().empty());
}

TEST(RespRequestParser, NullArrayIsIgnored) {
  RequestParser p;
  ParseResult r = p.parse("*-1\r\n");
  EXPECT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_EQ(r.consumed, 5u);  // the caller drops the ignored frame

  const std::string in = "*-1\r\n*-1\r\n*1\r\n$4\r\nPING\r\n";
  r = p.parse(in);
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(r.consumed, in.size());
  ASSERT_EQ(p.args().size(), 1u);
  EXPECT_EQ(p.args()[0], "PING");
}

TEST(RespRequestParser, IgnoredPrefixThenPartialFrame) {
  RequestParser p;
  std::string buf = "*-1\r\n\r\n*1\r\n$4\r\nPI";
  ParseResult r = p.parse(buf);
  ASSERT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_EQ(r.consumed, 7u);
  buf.erase(0, r.consumed);
  buf += "NG\r\n";
  r = p.parse(buf);
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(r.consumed, buf.size());
  EXPECT_EQ(p.args()[0], "PING");
}

TEST(RespRequestParser, PartialFrameThenMoreBytes) {
  RequestParser p;
  std::string buf = "*2\r\n$3\r\nfo";
  ParseResult r = p.parse(buf);
  EXPECT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_TRUE(p.in_frame());
  buf += "o\r\n$3\r\nbar\r\n";
  // Force the buffer to move: state must be offset-based, not pointer-based.
  std::string moved = buf;
  buf.clear();
  buf.shrink_to_fit();
  r = p.parse(moved);
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(r.consumed, moved.size());
  EXPECT_EQ(p.args()[0], "foo");
  EXPECT_EQ(p.args()[1], "bar");
  EXPECT_FALSE(p.in_frame());
}

TEST(RespRequestParser, WantHintForBulkBody) {
  RequestParser p;
  const ParseResult r = p.parse("*1\r\n$10\r\nab");
  EXPECT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_EQ(r.want, 4u + 5u + 10u + 2u);
}

TEST(RespRequestParser, FrameSplitAtEveryPosition) {
  const std::string in = "*3\r\n$7\r\nEAPPEND\r\n+s-1\r\n$5\r\na\r\nb\n\r\n";
  const Outcome whole = FeedAll(in);
  ASSERT_EQ(whole.commands.size(), 1u);
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    RequestParser p;
    std::string buf = in.substr(0, cut);
    ParseResult r = p.parse(buf);
    if (cut < in.size()) {
      ASSERT_EQ(r.status, ParseStatus::NeedMore) << cut;
      buf.erase(0, r.consumed);
      buf += in.substr(cut);
      r = p.parse(buf);
    }
    ASSERT_EQ(r.status, ParseStatus::Command) << cut;
    EXPECT_EQ(p.args()[2], "a\r\nb\n") << cut;
  }
}

std::string MixedStream() {
  std::string s;
  s += Cmd({"HELLO", "3"});
  s += "PING\r\n";
  s += "*-1\r\n";
  s += Cmd({"EAPPEND", "user-1", "Ev", "PAYLOAD", std::string("\0\r\n\xff", 4)});
  s += "\r\n";
  s += "ECHO \"a b\" 'c'\n";
  s += "*0\r\n";
  s += "*2\r\n+ESVER\r\n=9\r\ntxt:abcde\r\n";
  s += "*3\r\n$5\r\nEPSEQ\r\n:12\r\n(99999999999999999999999\r\n";
  return s;
}

TEST(RespRequestParser, ByteAtATimeEqualsAllAtOnce) {
  const std::string in = MixedStream();
  const Outcome all = FeedAll(in);
  ASSERT_FALSE(all.error) << all.message;
  ASSERT_EQ(all.commands.size(), 7u);
  EXPECT_EQ(all.commands[0], (Args{"HELLO", "3"}));
  EXPECT_EQ(all.commands[1], (Args{"PING"}));
  EXPECT_EQ(all.commands[2][4], std::string("\0\r\n\xff", 4));
  EXPECT_EQ(all.commands[3], (Args{"ECHO", "a b", "c"}));
  EXPECT_TRUE(all.commands[4].empty());
  EXPECT_EQ(all.commands[5], (Args{"ESVER", "abcde"}));
  EXPECT_EQ(all.commands[6], (Args{"EPSEQ", "12", "99999999999999999999999"}));
  for (std::size_t chunk : {1, 2, 3, 5, 7, 13, 64}) {
    EXPECT_EQ(Feed(in, chunk), all) << "chunk " << chunk;
  }
}

TEST(RespRequestParser, TenThousandPipelinedCommands) {
  std::string in;
  for (int i = 0; i < 10000; ++i) {
    in += Cmd({"EAPPEND", "stream-" + std::to_string(i), "Ev", "PAYLOAD", std::to_string(i * 7)});
  }
  RequestParser p;
  std::size_t off = 0;
  int n = 0;
  for (;;) {
    const ParseResult r = p.parse(std::string_view(in).substr(off));
    if (r.status != ParseStatus::Command) {
      EXPECT_EQ(r.status, ParseStatus::NeedMore);
      break;
    }
    ASSERT_EQ(p.args().size(), 5u);
    ASSERT_EQ(p.args()[1], "stream-" + std::to_string(n));
    ASSERT_EQ(p.args()[4], std::to_string(n * 7));
    off += r.consumed;
    ++n;
  }
  EXPECT_EQ(n, 10000);
  EXPECT_EQ(off, in.size());
  // Also when fed in odd-sized chunks with compaction.
  const Outcome chunked = Feed(in, 4093);
  EXPECT_EQ(chunked.commands.size(), 10000u);
}

TEST(RespRequestParser, BinaryPayloadWithEveryByteValue) {
  std::string payload;
  for (int rep = 0; rep < 4; ++rep) {
    for (int b = 0; b < 256; ++b) payload.push_back(static_cast<char>(b));
    payload += "\r\n*1\r\n$3\r\n";
  }
  const std::string in = Cmd({"EAPPEND", "s", "e", "PAYLOAD", payload, "METADATA", "\r\n"});
  for (std::size_t chunk : {std::size_t{1}, std::size_t{17}, in.size()}) {
    const Outcome o = Feed(in, chunk);
    ASSERT_FALSE(o.error) << o.message;
    ASSERT_EQ(o.commands.size(), 1u);
    EXPECT_EQ(o.commands[0][4], payload);
    EXPECT_EQ(o.commands[0][6], "\r\n");
  }
}

TEST(RespRequestParser, InlineCommands) {
  EXPECT_EQ(FeedAll("PING\r\n").commands, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(FeedAll("PING\n").commands, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(FeedAll("  ECHO\thello   world \r\n").commands,
            (std::vector<Args>{{"ECHO", "hello", "world"}}));
  // Empty and blank lines are ignored.
  EXPECT_EQ(FeedAll("\r\n\n   \r\nPING\r\n").commands, (std::vector<Args>{{"PING"}}));
  // No terminator yet.
  EXPECT_TRUE(FeedAll("PING").commands.empty());
  EXPECT_FALSE(FeedAll("PING").error);
  // Lines starting with other RESP type bytes are inline too (as in Redis).
  EXPECT_EQ(FeedAll("+PING\r\n").commands, (std::vector<Args>{{"+PING"}}));
}

TEST(RespRequestParser, InlineQuoting) {
  const Outcome o =
      FeedAll("SET \"a b\" 'c d' \"x\\x41\\n\\t\\\\\\\"\" 'it\\'s' \"\" '' foo\"bar baz\"\r\n");
  ASSERT_FALSE(o.error) << o.message;
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0], (Args{"SET", "a b", "c d", "xA\n\t\\\"", "it's", "", "", "foobar baz"}));
  // Single quotes keep backslashes except \'.
  EXPECT_EQ(FeedAll("ECHO 'a\\nb'\n").commands[0], (Args{"ECHO", "a\\nb"}));
  // \x with non-hex digits is a plain escape of 'x'.
  EXPECT_EQ(FeedAll("ECHO \"\\xZZ\"\n").commands[0], (Args{"ECHO", "xZZ"}));
}

TEST(RespRequestParser, InlineUnbalancedQuotes) {
  const std::string msg = "Protocol error: unbalanced quotes in request";
  EXPECT_EQ(ErrorOf("ECHO \"abc\r\n"), msg);
  EXPECT_EQ(ErrorOf("ECHO 'abc\r\n"), msg);
  EXPECT_EQ(ErrorOf("ECHO \"abc\"def\r\n"), msg);
  EXPECT_EQ(ErrorOf("ECHO 'abc'def\r\n"), msg);
}

TEST(RespRequestParser, InlineLengthLimit) {
  Limits lim;
  lim.max_inline_len = 100;
  // The limit counts the line without its terminator.
  EXPECT_EQ(FeedAll(std::string(100, 'a') + "\n", lim).commands.size(), 1u);
  EXPECT_EQ(FeedAll(std::string(100, 'a') + "\r\n", lim).commands.size(), 1u);
  EXPECT_EQ(Feed(std::string(100, 'a') + "\r\n", 1, lim).commands.size(), 1u);
  EXPECT_EQ(ErrorOf(std::string(101, 'a') + "\n", lim), "Protocol error: too big inline request");
  EXPECT_EQ(ErrorOf(std::string(101, 'a') + "\r\n", lim), "Protocol error: too big inline request");
  EXPECT_EQ(ErrorOf(std::string(101, 'a'), lim), "Protocol error: too big inline request");
  EXPECT_EQ(Feed(std::string(101, 'a'), 1, lim).message, "Protocol error: too big inline request");
  // Default limit: 64 KiB.
  EXPECT_EQ(ErrorOf(std::string((64 << 10) + 1, 'a')), "Protocol error: too big inline request");
}

TEST(RespRequestParser, ProtocolErrors) {
  EXPECT_EQ(ErrorOf("*abc\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*-2\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*01\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*1\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*" + std::string(40, '1')), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*1\r\nx"), "Protocol error: expected '$', got 'x'");
  EXPECT_EQ(ErrorOf("*1\r\n*1\r\n$1\r\na\r\n"), "Protocol error: expected '$', got '*'");
  EXPECT_EQ(ErrorOf("*1\r\n%1\r\n"), "Protocol error: expected '$', got '%'");
  EXPECT_EQ(ErrorOf("*1\r\n_\r\n"), "Protocol error: expected '$', got '_'");
  EXPECT_EQ(ErrorOf("*1\r\n#t\r\n"), "Protocol error: expected '$', got '#'");
  EXPECT_EQ(ErrorOf(std::string("*1\r\n\0", 5)), "Protocol error: expected '$', got '\\x00'");
  EXPECT_EQ(ErrorOf("*1\r\n$abc\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$03\r\nabc\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$3\nabc\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$" + std::string(40, '9')), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$3\r\nfooXY"), "Protocol error: bulk string not terminated by CRLF");
  EXPECT_EQ(ErrorOf("*1\r\n=3\r\nabc\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(ErrorOf("*1\r\n=5\r\nabcde\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(ErrorOf("*1\r\n:abc\r\n"), "Protocol error: invalid number");
  EXPECT_EQ(ErrorOf("*1\r\n:\r\n"), "Protocol error: invalid number");
  EXPECT_EQ(ErrorOf("*1\r\n:+-1\r\n"), "Protocol error: invalid number");
  EXPECT_EQ(ErrorOf("*1\r\n:9223372036854775808\r\n"), "Protocol error: invalid number");
  EXPECT_EQ(ErrorOf("*1\r\n(1x\r\n"), "Protocol error: invalid big number");
  EXPECT_EQ(ErrorOf("*1\r\n+abc\n"), "Protocol error: line not terminated by CRLF");
}

TEST(RespRequestParser, NumberBoundaries) {
  const Outcome o = FeedAll("*2\r\n:9223372036854775807\r\n:-9223372036854775808\r\n");
  ASSERT_FALSE(o.error) << o.message;
  EXPECT_EQ(o.commands[0], (Args{"9223372036854775807", "-9223372036854775808"}));
}

TEST(RespRequestParser, HugeDeclaredBulkLengthErrorsWithoutWaiting) {
  RequestParser p;
  const ParseResult r = p.parse("*1\r\n$999999999999\r\n");
  ASSERT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(p.error(), "Protocol error: invalid bulk length");
  EXPECT_EQ(r.want, 0u);
  // Far beyond int64 as well.
  EXPECT_EQ(ErrorOf("*1\r\n$99999999999999999999999\r\n"), "Protocol error: invalid bulk length");
}

TEST(RespRequestParser, BulkLengthLimit) {
  Limits lim;
  lim.max_bulk_len = 10;
  EXPECT_EQ(FeedAll(Cmd({std::string(10, 'x')}), lim).commands.size(), 1u);
  EXPECT_EQ(ErrorOf(Cmd({std::string(11, 'x')}), lim), "Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n=15\r\ntxt:0123456789a\r\n", lim),
            "Protocol error: invalid bulk length");
  // Default: exactly 512 MiB is allowed (waits for the body), one more byte is not.
  RequestParser p;
  const ParseResult r = p.parse("*1\r\n$536870912\r\n");
  EXPECT_EQ(r.status, ParseStatus::NeedMore);
  EXPECT_EQ(r.want, 4u + 12u + 536870912u + 2u);
  EXPECT_EQ(ErrorOf("*1\r\n$536870913\r\n"), "Protocol error: invalid bulk length");
}

TEST(RespRequestParser, ArrayLengthLimit) {
  Limits lim;
  lim.max_array_len = 3;
  EXPECT_EQ(FeedAll(Cmd({"a", "b", "c"}), lim).commands.size(), 1u);
  EXPECT_EQ(ErrorOf(Cmd({"a", "b", "c", "d"}), lim), "Protocol error: invalid multibulk length");
  // Default: 1 048 576 accepted (waits for elements), one more rejected.
  RequestParser p;
  EXPECT_EQ(p.parse("*1048576\r\n").status, ParseStatus::NeedMore);
  EXPECT_EQ(ErrorOf("*1048577\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*999999999999\r\n"), "Protocol error: invalid multibulk length");
}

TEST(RespRequestParser, SimpleStringLineLimit) {
  Limits lim;
  lim.max_inline_len = 8;
  EXPECT_EQ(FeedAll("*1\r\n+12345678\r\n", lim).commands.size(), 1u);
  EXPECT_EQ(ErrorOf("*1\r\n+123456789\r\n", lim), "Protocol error: too big simple string");
}

TEST(RespRequestParser, ResetAfterErrorParsesAgain) {
  RequestParser p;
  EXPECT_EQ(p.parse("*1\r\nx").status, ParseStatus::Error);
  p.reset();
  EXPECT_TRUE(p.error().empty());
  const ParseResult r = p.parse("*1\r\n$4\r\nPING\r\n");
  ASSERT_EQ(r.status, ParseStatus::Command);
  EXPECT_EQ(p.args()[0], "PING");
}

TEST(RespRequestParser, LargeArrayFedInChunksStaysLinear) {
  // 200k one-byte arguments arriving 1 KiB at a time: the parser resumes where it stopped.
  std::string in = "*200000\r\n";
  for (int i = 0; i < 200000; ++i) in += "$1\r\nx\r\n";
  const Outcome o = Feed(in, 1024);
  ASSERT_FALSE(o.error) << o.message;
  ASSERT_EQ(o.commands.size(), 1u);
  EXPECT_EQ(o.commands[0].size(), 200000u);
}

}  // namespace
}  // namespace sierra::resp
