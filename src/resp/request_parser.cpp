#include "resp/request_parser.hpp"

#include <cstring>

#include "resp/detail.hpp"

namespace sierra::resp {

namespace {

// A length header line ("*N" / "$N") never needs more than this many bytes of digits.
constexpr std::size_t kMaxLengthLine = 32;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits an inline command line the way Redis' sdssplitargs does: whitespace-separated tokens,
// "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with \' only.
// A closing quote must be followed by whitespace or the end of the line. Appends the unescaped
// bytes of each argument to `out` and records their positions. Returns false on bad quoting.
bool split_inline(std::string_view line, std::string& out, std::vector<std::size_t>& bounds) {
  std::size_t i = 0;
  const std::size_t n = line.size();
  for (;;) {
    while (i < n && is_space(line[i])) ++i;
    if (i == n) return true;
    bounds.push_back(out.size());
    bool in_dq = false;
    bool in_sq = false;
    for (bool done = false; !done;) {
      if (in_dq) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
            hex_value(line[i + 3]) >= 0) {
          out.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < n) {
          char e = line[i + 1];
          switch (e) {
            case 'n':
              e = '\n';
              break;
            case 'r':
              e = '\r';
              break;
            case 't':
              e = '\t';
              break;
            case 'b':
              e = '\b';
              break;
            case 'a':
              e = '\a';
              break;
            default:
              break;
          }
          out.push_back(e);
          i += 2;
        } else if (c == '"') {
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          ++i;
          done = true;
        } else {
          out.push_back(c);
          ++i;
        }
      } else if (in_sq) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          out.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          ++i;
          done = true;
        } else {
          out.push_back(c);
          ++i;
        }
      } else {
        if (i == n) {
          done = true;
          continue;
        }
        const char c = line[i];
        if (is_space(c)) {
          done = true;
        } else if (c == '"') {
          in_dq = true;
          ++i;
        } else if (c == '\'') {
          in_sq = true;
          ++i;
        } else {
          out.push_back(c);
          ++i;
        }
      }
    }
    bounds.push_back(out.size());
  }
}

}  // namespace

RequestParser::RequestParser(Limits limits) : limits_(limits) {}

void RequestParser::reset() {
  mode_ = Mode::Idle;
  header_done_ = false;
  start_ = pos_ = remaining_ = 0;
  slices_.clear();
  args_.clear();
  inline_buf_.clear();
  error_.clear();
}

ParseResult RequestParser::fail(std::string_view msg) {
  error_.assign("Protocol error: ");
  error_.append(msg);
  mode_ = Mode::Idle;
  header_done_ = false;
  start_ = pos_ = remaining_ = 0;
  slices_.clear();
  args_.clear();
  return {ParseStatus::Error, 0, 0};
}

ParseResult RequestParser::need_more(std::size_t want) {
  // Ignored bytes before the current frame are handed back; all state is frame-relative.
  const std::size_t dropped = start_;
  start_ = 0;
  return {ParseStatus::NeedMore, dropped, want};
}

ParseResult RequestParser::finish_command(std::size_t frame_len) {
  const std::size_t consumed = start_ + frame_len;
  mode_ = Mode::Idle;
  header_done_ = false;
  start_ = pos_ = remaining_ = 0;
  return {ParseStatus::Command, consumed, 0};
}

ParseResult RequestParser::parse(std::string_view buf) {
  args_.clear();
  error_.clear();
  for (;;) {
    if (mode_ == Mode::Idle) {
      if (start_ >= buf.size()) return need_more(0);
      pos_ = 0;
      if (buf[start_] == '*') {
        mode_ = Mode::Multibulk;
        header_done_ = false;
        slices_.clear();
      } else {
        mode_ = Mode::Inline;
      }
    }
    ParseResult out;
    const std::string_view f = buf.substr(start_);
    const bool done = mode_ == Mode::Multibulk ? parse_multibulk(f, out) : parse_inline(f, out);
    if (done) return out;
    // Not done: an ignored frame (null array or empty inline line) was skipped; loop.
  }
}

// Returns true when `out` holds the result to return; false after skipping an ignored frame.
bool RequestParser::parse_multibulk(std::string_view f, ParseResult& out) {
  if (!header_done_) {
    const detail::Line line = detail::find_line(f, 1, kMaxLengthLine);
    if (line.kind == detail::Line::Incomplete) {
      out = need_more(0);
      return true;
    }
    if (line.kind != detail::Line::Ok) {
      out = fail("invalid multibulk length");
      return true;
    }
    const auto n = detail::parse_i64(f.substr(1, line.end - 1));
    if (n && *n == -1) {  // null array: ignored
      start_ += line.end + 2;
      mode_ = Mode::Idle;
      return false;
    }
    if (!n || *n < 0 || static_cast<uint64_t>(*n) > limits_.max_array_len) {
      out = fail("invalid multibulk length");
      return true;
    }
    header_done_ = true;
    remaining_ = static_cast<std::size_t>(*n);
    pos_ = line.end + 2;
    if (slices_.capacity() < 16) slices_.reserve(16);
  }
  while (remaining_ > 0) {
    if (pos_ >= f.size()) {
      out = need_more(0);
      return true;
    }
    const char type = f[pos_];
    switch (type) {
      case '$':
      case '=': {
        const detail::Line line = detail::find_line(f, pos_ + 1, kMaxLengthLine);
        if (line.kind == detail::Line::Incomplete) {
          out = need_more(0);
          return true;
        }
        if (line.kind != detail::Line::Ok) {
          out = fail("invalid bulk length");
          return true;
        }
        const auto len = detail::parse_i64(f.substr(pos_ + 1, line.end - pos_ - 1));
        if (!len || *len < 0 || static_cast<uint64_t>(*len) > limits_.max_bulk_len) {
          out = fail("invalid bulk length");
          return true;
        }
        const auto n = static_cast<std::size_t>(*len);
        const std::size_t body = line.end + 2;
        if (f.size() < body + n + 2) {
          out = need_more(body + n + 2);
          return true;
        }
        if (f[body + n] != '\r' || f[body + n + 1] != '\n') {
          out = fail("bulk string not terminated by CRLF");
          return true;
        }
        if (type == '=') {
          if (n < 4 || f[body + 3] != ':') {
            out = fail("invalid verbatim string");
            return true;
          }
          slices_.push_back({body + 4, n - 4});
        } else {
          slices_.push_back({body, n});
        }
        pos_ = body + n + 2;
        break;
      }
      case '+':
      case ':':
      case '(': {
        const detail::Line line = detail::find_line(f, pos_ + 1, limits_.max_inline_len);
        if (line.kind == detail::Line::Incomplete) {
          out = need_more(0);
          return true;
        }
        if (line.kind == detail::Line::TooLong) {
          out = fail("too big simple string");
          return true;
        }
        if (line.kind == detail::Line::BadTerminator) {
          out = fail("line not terminated by CRLF");
          return true;
        }
        std::size_t off = pos_ + 1;
        std::size_t len = line.end - off;
        const std::string_view text = f.substr(off, len);
        if (type == ':' || type == '(') {
          const bool plus = !text.empty() && text[0] == '+';
          const std::string_view digits = plus ? text.substr(1) : text;
          const bool ok = type == ':' ? (!plus || digits.empty() || digits[0] != '-') &&
                                            detail::parse_i64(digits).has_value()
                                      : detail::is_big_number(text);
          if (!ok) {
            out = fail(type == ':' ? "invalid number" : "invalid big number");
            return true;
          }
          if (plus) {
            ++off;
            --len;
          }
        }
        slices_.push_back({off, len});
        pos_ = line.end + 2;
        break;
      }
      default: {
        std::string msg = "expected '$', got '";
        msg += detail::show_byte(type);
        msg += '\'';
        out = fail(msg);
        return true;
      }
    }
    --remaining_;
  }
  args_.reserve(slices_.size());
  for (const Slice& s : slices_) args_.push_back(f.substr(s.off, s.len));
  slices_.clear();
  out = finish_command(pos_);
  return true;
}

bool RequestParser::parse_inline(std::string_view f, ParseResult& out) {
  // pos_ remembers how far a previous call already scanned without finding '\n'.
  const std::size_t limit = limits_.max_inline_len;
  // The limit applies to the line without its "\r\n" / "\n" terminator.
  const std::size_t scan_end = f.size() < limit + 2 ? f.size() : limit + 2;
  const void* nl = pos_ < scan_end ? std::memchr(f.data() + pos_, '\n', scan_end - pos_) : nullptr;
  if (nl == nullptr) {
    if (f.size() > limit + 1 || (f.size() == limit + 1 && f[limit] != '\r')) {
      out = fail("too big inline request");
      return true;
    }
    pos_ = f.size();
    out = need_more(0);
    return true;
  }
  const auto idx = static_cast<std::size_t>(static_cast<const char*>(nl) - f.data());
  std::size_t line_len = idx;
  if (line_len > 0 && f[line_len - 1] == '\r') --line_len;
  if (line_len > limit) {
    out = fail("too big inline request");
    return true;
  }
  const std::string_view line = f.substr(0, line_len);

  inline_buf_.clear();
  inline_buf_.reserve(line.size());
  std::vector<std::size_t>& bounds = bounds_;
  bounds.clear();
  if (!split_inline(line, inline_buf_, bounds)) {
    out = fail("unbalanced quotes in request");
    return true;
  }
  if (bounds.empty()) {  // empty line: ignored, like Redis
    start_ += idx + 1;
    mode_ = Mode::Idle;
    return false;
  }
  const std::string_view data = inline_buf_;
  args_.reserve(bounds.size() / 2);
  for (std::size_t i = 0; i + 1 < bounds.size(); i += 2) {
    args_.push_back(data.substr(bounds[i], bounds[i + 1] - bounds[i]));
  }
  out = finish_command(idx + 1);
  return true;
}

}  // namespace sierra::resp
