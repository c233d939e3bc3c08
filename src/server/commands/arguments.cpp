#include "server/commands/arguments.hpp"

#include <limits>

namespace sierra::server {

namespace {

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  size_t n = 0;
  for (auto p : parts) n += p.size();
  out.reserve(n);
  for (auto p : parts) out.append(p);
  return out;
}

}  // namespace

std::string quote_arg(std::string_view text, size_t max) {
  std::string out = "'";
  if (text.size() > max) {
    out.append(text.substr(0, max));
    out.append("...");
  } else {
    out.append(text);
  }
  out.push_back('\'');
  return out;
}

ArgResult<uint64_t> parse_u64(std::string_view token, std::string_view what) {
  std::string_view digits = token;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  if (digits.empty()) {
    return arg_error(
        cat({"invalid ", what, " ", quote_arg(token), ": expected a non-negative integer"}));
  }
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return arg_error(
          cat({"invalid ", what, " ", quote_arg(token), ": expected a non-negative integer"}));
    }
    const auto d = static_cast<uint64_t>(c - '0');
    if (value > (kMax - d) / 10) {
      return arg_error(cat({"invalid ", what, " ", quote_arg(token), ": number too large"}));
    }
    value = value * 10 + d;
  }
  return value;
}

ArgResult<uint64_t> parse_reply_u64(std::string_view token, std::string_view what) {
  auto v = parse_u64(token, what);
  if (!v) return v;
  if (*v > kMaxReplyInteger) {
    return arg_error(cat({"invalid ", what, " ", quote_arg(token),
                          ": number too large (maximum 9223372036854775807)"}));
  }
  return v;
}

ArgResult<Uuid> parse_uuid(std::string_view token, std::string_view what) {
  if (auto u = Uuid::parse(token)) return *u;
  return arg_error(cat({"invalid ", what, " ", quote_arg(token), ": expected a UUID"}));
}

ArgResult<std::string_view> parse_stream_id(std::string_view token) {
  if (token.empty() || token.size() > kStreamIdMaxBytes) {
    return arg_error(cat({"stream id must be between 1 and 64 characters in length, but got ",
                          std::to_string(token.size()), " for ", quote_arg(token, 1024)}));
  }
  if (token.find('\0') != std::string_view::npos) {
    return arg_error("stream id cannot contain null bytes");
  }
  return token;
}

ArgResult<std::string_view> parse_event_name(std::string_view token) {
  if (token.empty() || token.size() > kMaxEventNameBytes) {
    return arg_error(cat({"event name must be between 1 and 255 bytes in length, but got ",
                          std::to_string(token.size())}));
  }
  return token;
}

ArgResult<ExpectedVersion> parse_expected_version(std::string_view token) {
  if (keyword_is(token, "ANY")) return ExpectedVersion::any();
  if (keyword_is(token, "EXISTS")) return ExpectedVersion::exists();
  if (keyword_is(token, "EMPTY")) return ExpectedVersion::empty();
  std::string_view digits = token;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  bool numeric = !digits.empty();
  for (char c : digits) numeric &= (c >= '0' && c <= '9');
  if (!numeric) {
    return arg_error(cat({"invalid expected version ", quote_arg(token),
                          ": expected a version number, any, exists or empty"}));
  }
  auto v = parse_reply_u64(token, "expected version");
  if (!v) return std::unexpected(v.error());
  return ExpectedVersion::exact(*v);
}

ArgResult<uint64_t> parse_timestamp_ms(std::string_view token) {
  auto ms = parse_u64(token, "timestamp");
  if (!ms) return ms;
  constexpr uint64_t kNsPerMs = 1'000'000;
  if (*ms > std::numeric_limits<uint64_t>::max() / kNsPerMs) {
    return arg_error("invalid timestamp format: expected milliseconds, got nanoseconds");
  }
  const uint64_t ns = *ms * kNsPerMs;
  if (ns >= (uint64_t{1} << 63)) {
    return arg_error(cat({"invalid timestamp ", quote_arg(token),
                          ": must be below 9223372036854 milliseconds (2^63 ns)"}));
  }
  return ns;
}

ArgResult<uint64_t> parse_range_start(std::string_view token, std::string_view unit) {
  if (token == "-") return uint64_t{0};
  if (token == "+") return arg_error(cat({"start ", unit, " cannot be '+'"}));
  return parse_reply_u64(token, cat({"start ", unit}));
}

ArgResult<std::optional<uint64_t>> parse_range_end(std::string_view token, std::string_view unit) {
  if (token == "+") return std::optional<uint64_t>{};
  if (token == "-") return arg_error(cat({"end ", unit, " cannot be '-'"}));
  auto v = parse_reply_u64(token, cat({"end ", unit}));
  if (!v) return std::unexpected(v.error());
  return std::optional<uint64_t>(*v);
}

ArgResult<PartitionId> parse_partition_selector(std::string_view token, uint16_t partition_count) {
  if (auto key = Uuid::parse(token)) return partition_id_for_key(*key, partition_count);
  std::string_view digits = token;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  bool numeric = !digits.empty();
  for (char c : digits) numeric &= (c >= '0' && c <= '9');
  if (!numeric) {
    return arg_error(cat({"invalid partition ", quote_arg(token),
                          ": expected a partition id or a partition key UUID"}));
  }
  auto id = parse_u64(token, "partition id");
  if (!id || *id >= partition_count) {
    return arg_error(
        cat({"partition id ", id ? std::to_string(*id) : std::string(token),
             " out of range (partition count ", std::to_string(partition_count), ")"}));
  }
  return static_cast<PartitionId>(*id);
}

ArgResult<uint64_t> parse_count(std::string_view token) {
  auto v = parse_reply_u64(token, "count");
  if (!v) return v;
  return *v > kMaxScanCount ? kMaxScanCount : *v;
}

ArgResult<std::string_view> ArgCursor::next(std::string_view what) {
  if (at_end()) return arg_error(cat({"unexpected end of input: expected ", what}));
  return args_[pos_++];
}

ArgResult<void> ArgCursor::finish() const {
  if (!at_end()) return unexpected_argument(args_[pos_], "end of input");
  return {};
}

ArgResult<void> mark_once(bool& seen, std::string_view what) {
  if (seen) return arg_error(cat({what, " already specified"}));
  seen = true;
  return {};
}

std::unexpected<ArgError> unexpected_argument(std::string_view token, std::string_view expected) {
  return arg_error(cat({"unexpected argument ", quote_arg(token), ": expected ", expected}));
}

}  // namespace sierra::server
