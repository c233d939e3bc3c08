// Fuzz-style robustness tests: random and mutated inputs never crash the RESP parsers, and
// chunked feeding always gives the same outcome as feeding everything at once.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "resp/reply_reader.hpp"
#include "resp/reply_writer.hpp"
#include "resp/request_parser.hpp"

namespace sierra::resp {
namespace {

struct ReqOutcome {
  std::vector<std::vector<std::string>> commands;
  bool error = false;
  std::string message;
  bool operator==(const ReqOutcome&) const = default;
};

ReqOutcome FeedRequests(std::string_view input, std::mt19937_64& rng, bool chunked,
                        const Limits& limits) {
  RequestParser parser(limits);
  ReqOutcome out;
  std::string buf;
  std::size_t i = 0;
  while (i < input.size()) {
    const std::size_t n =
        chunked ? std::uniform_int_distribution<std::size_t>(1, 9)(rng) : input.size();
    buf.append(input.substr(i, n));
    i += n;
    for (;;) {
      const ParseResult r = parser.parse(buf);
      if (r.consumed > buf.size()) {
        ADD_FAILURE() << "consumed beyond buffer";
        return out;
      }
      if (r.status == ParseStatus::Error) {
        out.error = true;
        out.message = std::string(parser.error());
        EXPECT_TRUE(out.message.starts_with("Protocol error: "));
        return out;
      }
      if (r.status == ParseStatus::Command) {
        EXPECT_GT(r.consumed, 0u);
        std::vector<std::string> args;
        for (std::string_view a : parser.args()) args.emplace_back(a);
        out.commands.push_back(std::move(args));
      }
      buf.erase(0, r.consumed);
      if (r.status == ParseStatus::NeedMore) break;
    }
  }
  return out;
}

struct RepOutcome {
  std::vector<RespValue> values;
  bool error = false;
  bool operator==(const RepOutcome&) const = default;
};

RepOutcome FeedReplies(std::string_view input, std::mt19937_64& rng, bool chunked,
                       const Limits& limits) {
  ReplyReader reader(limits);
  RepOutcome out;
  std::string buf;
  std::size_t i = 0;
  while (i < input.size()) {
    const std::size_t n =
        chunked ? std::uniform_int_distribution<std::size_t>(1, 9)(rng) : input.size();
    buf.append(input.substr(i, n));
    i += n;
    for (;;) {
      const ReadResult r = reader.parse(buf);
      if (r.consumed > buf.size()) {
        ADD_FAILURE() << "consumed beyond buffer";
        return out;
      }
      if (r.status == ReadStatus::Error) {
        out.error = true;
        return out;
      }
      buf.erase(0, r.consumed);
      if (r.status == ReadStatus::NeedMore) break;
      out.values.push_back(reader.take());
    }
  }
  return out;
}

// Random input biased towards protocol bytes so that the parsers get past the first line.
std::string RandomInput(std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet = "*$+-:=(,#_%~>|!\r\n\r\n0123456789-1 \"'\\xtxt";
  const std::size_t len = std::uniform_int_distribution<std::size_t>(0, 64)(rng);
  std::string s;
  s.reserve(len);
  for (std::size_t i = 0; i < len; ++i) {
    if (rng() % 4 == 0) {
      s.push_back(static_cast<char>(rng() & 0xff));
    } else {
      s.push_back(kAlphabet[rng() % kAlphabet.size()]);
    }
  }
  return s;
}

// A valid request stream or reply, then a few random byte edits.
std::string MutatedValid(std::mt19937_64& rng) {
  std::string s;
  const int kind = static_cast<int>(rng() % 3);
  if (kind == 0) {
    s = "*3\r\n$7\r\nEAPPEND\r\n+s\r\n=8\r\ntxt:data\r\nPING\r\n*2\r\n:1\r\n(22\r\n";
  } else if (kind == 1) {
    s = "ECHO \"a\\x41\" 'b c'\r\n*-1\r\n*0\r\n";
  } else {
    ReplyWriter w(s, rng() % 2 ? 3 : 2);
    w.map(2);
    w.simple("has_more");
    w.boolean(true);
    w.simple("events");
    w.array(2);
    w.bulk("x\r\ny");
    w.dbl(0.5);
    w.push(1);
    w.null();
    w.verbatim("v");
  }
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0:
        s[at] = static_cast<char>(rng() & 0xff);
        break;
      case 1:
        s.erase(at, 1);
        break;
      default:
        s.insert(at, 1, static_cast<char>(rng() & 0xff));
        break;
    }
  }
  return s;
}

TEST(RespFuzz, RandomInputsNeverCrashAndChunkingIsConsistent) {
  std::mt19937_64 rng(0x5eed);
  Limits small;
  small.max_bulk_len = 64;
  small.max_array_len = 16;
  small.max_inline_len = 48;
  small.max_depth = 8;
  int commands = 0;
  int values = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string input = (i % 2 == 0) ? RandomInput(rng) : MutatedValid(rng);
    const Limits& lim = (i % 3 == 0) ? small : Limits{};
    const ReqOutcome a = FeedRequests(input, rng, false, lim);
    const ReqOutcome b = FeedRequests(input, rng, true, lim);
    ASSERT_EQ(a, b) << "request input #" << i;
    commands += static_cast<int>(a.commands.size());
    const RepOutcome c = FeedReplies(input, rng, false, lim);
    const RepOutcome d = FeedReplies(input, rng, true, lim);
    ASSERT_EQ(c.error, d.error) << "reply input #" << i;
    ASSERT_EQ(c.values.size(), d.values.size()) << "reply input #" << i;
    values += static_cast<int>(c.values.size());
  }
  // The generators are meant to reach deep into both parsers.
  EXPECT_GT(commands, 1000);
  EXPECT_GT(values, 1000);
}

}  // namespace
}  // namespace sierra::resp
