// Incremental parser of client requests (RESP2/RESP3 arrays and Redis-style inline commands)
// from a connection's read buffer into argument views. No I/O, no per-command allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/limits.hpp"

namespace sierra::resp {

enum class ParseStatus : uint8_t {
  NeedMore,  // no complete command buffered yet
  Command,   // args() holds one command
  Error,     // protocol error: reply "-ERR " + error() and close the connection
};

struct ParseResult {
  ParseStatus status = ParseStatus::NeedMore;
  // Bytes the caller must drop from the front of its buffer before the next parse() call.
  // Command: the whole frame (plus any ignored bytes before it). NeedMore: ignored bytes
  // (empty inline lines, `*-1` null arrays), usually 0. Error: 0.
  std::size_t consumed = 0;
  // NeedMore only: if nonzero, the buffer (after dropping `consumed`) must hold at least this many
  // bytes before parsing can progress (known while reading a bulk body). Bounded by the limits.
  std::size_t want = 0;
};

// A frame starting with '*' is an array whose elements may be blob ($), simple (+), verbatim (=,
// format prefix stripped), number (:) or big number (() frames; `*-1` is ignored. Any other
// first byte starts an inline command line (as in Redis): split on whitespace with "..." and
// '...' quoting, terminated by \r\n or \n; blank lines are ignored.
//
// Usage:
//   ParseResult r = parser.parse(std::string_view(buf).substr(read_off));
//   if (r.status == ParseStatus::Command) handle(parser.args());
//   read_off += r.consumed;           // only after the args are no longer needed
// Between calls returning NeedMore the caller may append bytes and may move (reallocate or
// compact) the buffer, but the unconsumed bytes must be passed again, unchanged, at the front.
class RequestParser {
 public:
  explicit RequestParser(Limits limits = {});

  ParseResult parse(std::string_view buf);

  // The last parsed command. Views point into the buffer given to parse() (or, for inline
  // commands, into parser-owned storage); valid until that buffer changes or parse() is called.
  // Empty for `*0\r\n` (the caller replies with an error).
  [[nodiscard]] std::span<const std::string_view> args() const { return args_; }

  // Message after an Error, e.g. "Protocol error: invalid bulk length".
  [[nodiscard]] std::string_view error() const { return error_; }

  // True if part of a frame is buffered (on EOF such a connection just closes).
  [[nodiscard]] bool in_frame() const { return mode_ != Mode::Idle; }

  [[nodiscard]] const Limits& limits() const { return limits_; }

  // Forgets any partial frame and the last command/error.
  void reset();

 private:
  enum class Mode : uint8_t { Idle, Multibulk, Inline };
  struct Slice {
    std::size_t off;  // relative to the frame start
    std::size_t len;
  };

  ParseResult fail(std::string_view msg);
  ParseResult need_more(std::size_t want);
  // Returns false and sets state on error/need-more; `out` receives the result to return.
  bool parse_multibulk(std::string_view f, ParseResult& out);
  bool parse_inline(std::string_view f, ParseResult& out);
  ParseResult finish_command(std::size_t frame_len);

  Limits limits_;
  Mode mode_ = Mode::Idle;
  bool header_done_ = false;
  std::size_t start_ = 0;      // frame start within the buffer (after ignored bytes)
  std::size_t pos_ = 0;        // next unparsed byte, relative to start_
  std::size_t remaining_ = 0;  // elements still to parse in the current array
  std::vector<Slice> slices_;
  std::vector<std::string_view> args_;
  std::string inline_buf_;           // unescaped inline arguments
  std::vector<std::size_t> bounds_;  // inline argument [begin, end) pairs in inline_buf_
  std::string error_;
};

}  // namespace sierra::resp
