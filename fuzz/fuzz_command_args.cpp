// libFuzzer target: the server's command argument parsers (src/server/commands/arguments.hpp).
//
// The input is split on '\n' into tokens (a command's arguments as the RESP parser delivers
// them: arbitrary bytes, NULs included). Each token goes through every parser; results are
// checked against simple reference semantics (decimal range, clamping, UUID round trip,
// partition ranges), and an ArgCursor walks the token list the way the command handlers do.
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "server/commands/arguments.hpp"

using namespace sierra;
using namespace sierra::server;

namespace {

// Reference: optional '+', then 1+ ASCII digits, value < 2^64.
std::optional<uint64_t> ref_u64(std::string_view t) {
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (t.empty()) return std::nullopt;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || p != t.data() + t.size()) return std::nullopt;
  return v;
}

void check_token(std::string_view t, uint16_t partitions) {
  const auto ref = ref_u64(t);

  auto u = parse_u64(t, "value");
  FUZZ_CHECK(u.has_value() == ref.has_value());
  if (u) FUZZ_CHECK(*u == *ref);
  if (!u) FUZZ_CHECK(!u.error().message.empty());

  auto r = parse_reply_u64(t, "value");
  FUZZ_CHECK(r.has_value() == (ref && *ref <= kMaxReplyInteger));

  auto c = parse_count(t);
  if (c) FUZZ_CHECK(*c <= kMaxScanCount && *c == std::min<uint64_t>(*ref, kMaxScanCount));

  if (auto id = parse_uuid(t, "event id")) {
    auto again = Uuid::parse(id->to_string());
    FUZZ_CHECK(again.has_value() && *again == *id);
  }

  if (auto s = parse_stream_id(t)) {
    FUZZ_CHECK(!s->empty() && s->size() <= 64 && s->find('\0') == std::string_view::npos);
  }
  if (auto n = parse_event_name(t)) FUZZ_CHECK(!n->empty() && n->size() <= kMaxEventNameBytes);

  if (auto ev = parse_expected_version(t)) {
    if (ev->kind == ExpectedVersion::Kind::Exact) FUZZ_CHECK(ref && *ref == ev->value);
  }

  if (auto ts = parse_timestamp_ms(t)) FUZZ_CHECK(*ts < (uint64_t{1} << 63));

  if (auto s = parse_range_start(t, "sequence")) FUZZ_CHECK(t == "-" || (ref && *ref == *s));
  if (auto e = parse_range_end(t, "sequence"))
    FUZZ_CHECK(t == "+" ? !e->has_value() : e->has_value());

  if (auto p = parse_partition_selector(t, partitions)) FUZZ_CHECK(*p < partitions);

  (void)keyword_is(t, "PARTITION_KEY");
  auto q = quote_arg(t, 8);
  FUZZ_CHECK(q.size() <= 8 + 5);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const uint16_t partitions = static_cast<uint16_t>(1 + in.u16() % 65535);
  const std::string body = in.rest();

  std::vector<std::string> storage;
  size_t start = 0;
  while (start <= body.size() && storage.size() < 256) {
    size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    storage.emplace_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  std::vector<std::string_view> tokens(storage.begin(), storage.end());
  for (auto t : tokens) check_token(t, partitions);

  // A handler-style walk: stream id, then keyword options with values, then finish().
  ArgCursor cur(tokens);
  bool seen_version = false, seen_count = false;
  if (auto s = cur.next("stream id"); s) {
    (void)parse_stream_id(*s);
    while (!cur.at_end()) {
      const size_t before = cur.remaining();
      auto kw = cur.next("option");
      FUZZ_CHECK(kw.has_value());
      FUZZ_CHECK(cur.remaining() == before - 1);
      if (keyword_is(*kw, "EXPECTED_VERSION")) {
        if (!mark_once(seen_version, "EXPECTED_VERSION")) break;
        auto v = cur.next("expected version");
        if (!v || !parse_expected_version(*v)) break;
      } else if (keyword_is(*kw, "COUNT")) {
        if (!mark_once(seen_count, "COUNT")) break;
        auto v = cur.next("count");
        if (!v || !parse_count(*v)) break;
      } else {
        auto e = unexpected_argument(*kw, "EXPECTED_VERSION or COUNT");
        FUZZ_CHECK(!e.error().message.empty());
        break;
      }
    }
    auto fin = cur.finish();
    FUZZ_CHECK(fin.has_value() == cur.at_end());
  } else {
    FUZZ_CHECK(tokens.empty());
  }
  return 0;
}
