// The shared argument grammar of the data commands (PROTOCOL.md §3): keywords matched without
// regard to ASCII case, option groups in any order and each at most once, u64 numbers, UUIDs,
// scan range values, partition selectors, expected versions, timestamps, stream ids and event
// names. Every failure is an ArgError whose text follows the code INVALIDARG on the wire.
//
// Choices where the specification leaves room:
//   - Numbers that become reply values (counts, versions, sequences) must be <= i64 max, since
//     replies carry signed 64-bit integers (PROTOCOL §11 row 22).
//   - An event name must be 1..=255 bytes (PROTOCOL §11 row 26: empty names are rejected).
//   - Any repeated option is an error, whatever the first value was (PROTOCOL §11 row 21).
//   - Texts quoted from the input are cut at 128 bytes ("..." appended), except the stream id
//     in the length error, which is quoted up to 1024 bytes.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/ids.hpp"
#include "engine/transaction.hpp"

namespace sierra::server {

// A bad argument; reply `INVALIDARG <message>`.
struct ArgError {
  std::string message;
};
template <class T>
using ArgResult = std::expected<T, ArgError>;

inline std::unexpected<ArgError> arg_error(std::string message) {
  return std::unexpected(ArgError{std::move(message)});
}

inline constexpr uint64_t kMaxReplyInteger = 9223372036854775807ull;  // i64 max
inline constexpr uint64_t kDefaultScanCount = 100;
inline constexpr uint64_t kMaxScanCount = 10000;  // larger COUNT values are clamped to this
inline constexpr size_t kMaxEventNameBytes = 255;

// ASCII case-insensitive equality with an upper-case keyword. Inline: a command's options are
// matched against several keywords each (EAPPEND: ~15 calls, 6 % of a pipelined append's
// instructions when this was an out-of-line call that upper-cased both sides).
inline bool keyword_is(std::string_view token, std::string_view keyword) {
  if (token.size() != keyword.size()) return false;
  for (size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) != keyword[i]) return false;
  }
  return true;
}

// 'text' for messages: quoted, cut at `max` bytes with "..." appended.
std::string quote_arg(std::string_view text, size_t max = 128);

// Decimal u64 as Rust's u64::from_str: optional leading '+', then digits only (no '-', no
// spaces, no overflow). `what` names the argument in messages ("count", "start version").
ArgResult<uint64_t> parse_u64(std::string_view token, std::string_view what);
// parse_u64 limited to i64 max (values echoed in replies).
ArgResult<uint64_t> parse_reply_u64(std::string_view token, std::string_view what);

// Any of Uuid::parse's forms (hyphenated, simple, braced, urn), surrounding whitespace trimmed.
ArgResult<Uuid> parse_uuid(std::string_view token, std::string_view what);

// 1..=64 bytes, no NUL, with the exact upstream texts of PROTOCOL §2.1.
ArgResult<std::string_view> parse_stream_id(std::string_view token);

// 1..=255 bytes.
ArgResult<std::string_view> parse_event_name(std::string_view token);

// n | any | exists | empty (keywords in any case).
ArgResult<ExpectedVersion> parse_expected_version(std::string_view token);

// Milliseconds since the epoch -> nanoseconds (< 2^63).
ArgResult<uint64_t> parse_timestamp_ms(std::string_view token);

// Scan bounds. `unit` is "version" (ESCAN) or "sequence" (EPSCAN).
// Start: '-' = 0, '+' is an error, else a number.
ArgResult<uint64_t> parse_range_start(std::string_view token, std::string_view unit);
// End: '+' = open (nullopt), '-' is an error, else an inclusive number.
ArgResult<std::optional<uint64_t>> parse_range_end(std::string_view token, std::string_view unit);

// EPSCAN/EPSEQ selector: a UUID partition key (hash % partition_count), else a partition id
// which must be < partition_count.
ArgResult<PartitionId> parse_partition_selector(std::string_view token, uint16_t partition_count);

// COUNT value: a number, clamped to kMaxScanCount.
ArgResult<uint64_t> parse_count(std::string_view token);

// Sequential reader over a command's arguments (excluding the command name).
class ArgCursor {
 public:
  explicit ArgCursor(std::span<const std::string_view> args) : args_(args) {}

  bool at_end() const { return pos_ >= args_.size(); }
  size_t remaining() const { return args_.size() - pos_; }
  // The next token without consuming it (at_end() must be false).
  std::string_view peek() const { return args_[pos_]; }
  // The next token, or `unexpected end of input: expected <what>`.
  ArgResult<std::string_view> next(std::string_view what);
  // Succeeds only if every argument was consumed.
  ArgResult<void> finish() const;

 private:
  std::span<const std::string_view> args_;
  size_t pos_ = 0;
};

// `<what> already specified` if `seen`, else marks it seen.
ArgResult<void> mark_once(bool& seen, std::string_view what);

// `unexpected argument 'tok': expected <expected>`.
std::unexpected<ArgError> unexpected_argument(std::string_view token, std::string_view expected);

}  // namespace sierra::server
