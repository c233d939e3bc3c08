// The shared argument grammar (server/commands/arguments.hpp): each parser's accepted forms,
// its boundaries and its exact error texts (they follow INVALIDARG on the wire).
#include "server/commands/arguments.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sierra::server {
namespace {

template <class T>
std::string Err(const ArgResult<T>& r) {
  EXPECT_FALSE(r.has_value());
  return r.has_value() ? std::string("<no error>") : r.error().message;
}

constexpr std::string_view kKey = "550e8400-e29b-41d4-a716-446655440000";

TEST(Arguments, KeywordIsCaseInsensitiveAndExact) {
  EXPECT_TRUE(keyword_is("count", "COUNT"));
  EXPECT_TRUE(keyword_is("CoUnT", "COUNT"));
  EXPECT_FALSE(keyword_is("COUNTS", "COUNT"));
  EXPECT_FALSE(keyword_is("COUN", "COUNT"));
  EXPECT_FALSE(keyword_is("", "COUNT"));
  // Only ASCII letters fold: '_' and digits compare as they are.
  EXPECT_TRUE(keyword_is("partition_key", "PARTITION_KEY"));
  EXPECT_FALSE(keyword_is("partition-key", "PARTITION_KEY"));
}

TEST(Arguments, QuoteArgCutsLongTexts) {
  EXPECT_EQ(quote_arg("abc"), "'abc'");
  EXPECT_EQ(quote_arg(""), "''");
  EXPECT_EQ(quote_arg(std::string(128, 'a')), "'" + std::string(128, 'a') + "'");
  EXPECT_EQ(quote_arg(std::string(129, 'a')), "'" + std::string(128, 'a') + "...'");
  EXPECT_EQ(quote_arg("abcdef", 3), "'abc...'");
}

TEST(Arguments, ParseU64) {
  EXPECT_EQ(parse_u64("0", "n").value(), 0u);
  EXPECT_EQ(parse_u64("+7", "n").value(), 7u);
  EXPECT_EQ(parse_u64("007", "n").value(), 7u);
  EXPECT_EQ(parse_u64("18446744073709551615", "n").value(), 18446744073709551615ull);
  EXPECT_EQ(Err(parse_u64("18446744073709551616", "count")),
            "invalid count '18446744073709551616': number too large");
  for (std::string_view bad : {"", "+", "-1", " 1", "1 ", "1.0", "0x10", "++1", "1e3"}) {
    EXPECT_EQ(Err(parse_u64(bad, "count")),
              "invalid count " + quote_arg(bad) + ": expected a non-negative integer")
        << bad;
  }
}

TEST(Arguments, ParseReplyU64StopsAtI64Max) {
  EXPECT_EQ(parse_reply_u64("9223372036854775807", "v").value(), 9223372036854775807ull);
  EXPECT_EQ(Err(parse_reply_u64("9223372036854775808", "start version")),
            "invalid start version '9223372036854775808': number too large (maximum "
            "9223372036854775807)");
  EXPECT_EQ(Err(parse_reply_u64("x", "cursor")),
            "invalid cursor 'x': expected a non-negative integer");
}

TEST(Arguments, ParseUuidForms) {
  const Uuid expected = *Uuid::parse(kKey);
  for (std::string form : {std::string(kKey), std::string("550e8400e29b41d4a716446655440000"),
                           "{" + std::string(kKey) + "}", "urn:uuid:" + std::string(kKey),
                           " " + std::string(kKey) + " "}) {
    auto u = parse_uuid(form, "event id");
    ASSERT_TRUE(u.has_value()) << form;
    EXPECT_EQ(*u, expected) << form;
  }
  EXPECT_EQ(Err(parse_uuid("nope", "event id")), "invalid event id 'nope': expected a UUID");
  EXPECT_EQ(Err(parse_uuid("", "partition key")), "invalid partition key '': expected a UUID");
}

TEST(Arguments, ParseStreamId) {
  EXPECT_EQ(parse_stream_id("s").value(), "s");
  EXPECT_EQ(parse_stream_id(std::string(64, 'x')).value().size(), 64u);
  EXPECT_EQ(Err(parse_stream_id("")),
            "stream id must be between 1 and 64 characters in length, but got 0 for ''");
  EXPECT_EQ(Err(parse_stream_id(std::string(65, 'x'))),
            "stream id must be between 1 and 64 characters in length, but got 65 for '" +
                std::string(65, 'x') + "'");
  // The length error quotes up to 1024 bytes.
  EXPECT_EQ(Err(parse_stream_id(std::string(2000, 'y'))),
            "stream id must be between 1 and 64 characters in length, but got 2000 for '" +
                std::string(1024, 'y') + "...'");
  EXPECT_EQ(Err(parse_stream_id(std::string("a\0b", 3))), "stream id cannot contain null bytes");
}

TEST(Arguments, ParseEventName) {
  EXPECT_EQ(parse_event_name("E").value(), "E");
  EXPECT_EQ(parse_event_name(std::string(255, 'n')).value().size(), 255u);
  EXPECT_EQ(Err(parse_event_name("")),
            "event name must be between 1 and 255 bytes in length, but got 0");
  EXPECT_EQ(Err(parse_event_name(std::string(256, 'n'))),
            "event name must be between 1 and 255 bytes in length, but got 256");
}

TEST(Arguments, ParseExpectedVersion) {
  EXPECT_EQ(parse_expected_version("any").value(), ExpectedVersion::any());
  EXPECT_EQ(parse_expected_version("EXISTS").value(), ExpectedVersion::exists());
  EXPECT_EQ(parse_expected_version("eMpTy").value(), ExpectedVersion::empty());
  EXPECT_EQ(parse_expected_version("0").value(), ExpectedVersion::exact(0));
  EXPECT_EQ(parse_expected_version("+12").value(), ExpectedVersion::exact(12));
  EXPECT_EQ(Err(parse_expected_version("-1")),
            "invalid expected version '-1': expected a version number, any, exists or empty");
  EXPECT_EQ(Err(parse_expected_version("anyway")),
            "invalid expected version 'anyway': expected a version number, any, exists or "
            "empty");
  EXPECT_EQ(Err(parse_expected_version("9223372036854775808")),
            "invalid expected version '9223372036854775808': number too large (maximum "
            "9223372036854775807)");
}

TEST(Arguments, ParseTimestampMs) {
  EXPECT_EQ(parse_timestamp_ms("0").value(), 0u);
  EXPECT_EQ(parse_timestamp_ms("1718000000000").value(), 1718000000000000000ull);
  EXPECT_EQ(parse_timestamp_ms("9223372036854").value(), 9223372036854000000ull);
  EXPECT_EQ(Err(parse_timestamp_ms("9223372036855")),
            "invalid timestamp '9223372036855': must be below 9223372036854 milliseconds (2^63 "
            "ns)");
  EXPECT_EQ(Err(parse_timestamp_ms("1718000000000000000")),
            "invalid timestamp format: expected milliseconds, got nanoseconds");
  EXPECT_EQ(Err(parse_timestamp_ms("-5")),
            "invalid timestamp '-5': expected a non-negative integer");
}

TEST(Arguments, ParseRangeBounds) {
  EXPECT_EQ(parse_range_start("-", "version").value(), 0u);
  EXPECT_EQ(parse_range_start("5", "version").value(), 5u);
  EXPECT_EQ(Err(parse_range_start("+", "version")), "start version cannot be '+'");
  EXPECT_EQ(Err(parse_range_start("x", "sequence")),
            "invalid start sequence 'x': expected a non-negative integer");
  EXPECT_EQ(parse_range_end("+", "version").value(), std::nullopt);
  EXPECT_EQ(parse_range_end("9", "version").value(), std::optional<uint64_t>(9));
  EXPECT_EQ(Err(parse_range_end("-", "sequence")), "end sequence cannot be '-'");
  EXPECT_EQ(Err(parse_range_end("9223372036854775808", "version")),
            "invalid end version '9223372036854775808': number too large (maximum "
            "9223372036854775807)");
}

TEST(Arguments, ParsePartitionSelector) {
  EXPECT_EQ(parse_partition_selector("0", 32).value(), 0);
  EXPECT_EQ(parse_partition_selector("31", 32).value(), 31);
  EXPECT_EQ(parse_partition_selector("+3", 32).value(), 3);
  // A partition key UUID selects hash % partition count.
  const Uuid key = *Uuid::parse(kKey);
  EXPECT_EQ(parse_partition_selector(kKey, 32).value(), partition_id_for_key(key, 32));
  EXPECT_EQ(parse_partition_selector(kKey, 7).value(), partition_id_for_key(key, 7));
  EXPECT_EQ(Err(parse_partition_selector("32", 32)),
            "partition id 32 out of range (partition count 32)");
  EXPECT_EQ(Err(parse_partition_selector("99999999999999999999", 32)),
            "partition id 99999999999999999999 out of range (partition count 32)");
  EXPECT_EQ(Err(parse_partition_selector("p1", 32)),
            "invalid partition 'p1': expected a partition id or a partition key UUID");
  EXPECT_EQ(Err(parse_partition_selector("", 32)),
            "invalid partition '': expected a partition id or a partition key UUID");
}

TEST(Arguments, ParseCountClamps) {
  EXPECT_EQ(parse_count("0").value(), 0u);
  EXPECT_EQ(parse_count("10000").value(), kMaxScanCount);
  EXPECT_EQ(parse_count("10001").value(), kMaxScanCount);
  EXPECT_EQ(parse_count("9223372036854775807").value(), kMaxScanCount);
  EXPECT_EQ(Err(parse_count("-1")), "invalid count '-1': expected a non-negative integer");
}

TEST(Arguments, CursorWalksAndFinishes) {
  const std::vector<std::string_view> tokens = {"a", "b"};
  ArgCursor cur(tokens);
  EXPECT_FALSE(cur.at_end());
  EXPECT_EQ(cur.remaining(), 2u);
  EXPECT_EQ(cur.peek(), "a");
  EXPECT_EQ(cur.next("first").value(), "a");
  EXPECT_EQ(Err(cur.finish()), "unexpected argument 'b': expected end of input");
  EXPECT_EQ(cur.next("second").value(), "b");
  EXPECT_TRUE(cur.at_end());
  EXPECT_EQ(cur.remaining(), 0u);
  EXPECT_TRUE(cur.finish().has_value());
  EXPECT_EQ(Err(cur.next("event name")), "unexpected end of input: expected event name");
}

TEST(Arguments, MarkOnceAndUnexpected) {
  bool seen = false;
  EXPECT_TRUE(mark_once(seen, "count").has_value());
  EXPECT_TRUE(seen);
  EXPECT_EQ(Err(mark_once(seen, "count")), "count already specified");
  EXPECT_EQ(unexpected_argument("LIMIT", "COUNT").error().message,
            "unexpected argument 'LIMIT': expected COUNT");
  EXPECT_EQ(arg_error("x").error().message, "x");
}

}  // namespace
}  // namespace sierra::server
