#include "resp/reply_reader.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "resp/detail.hpp"

namespace sierra::resp {

namespace {

constexpr std::size_t kMaxLengthLine = 32;

}  // namespace

const RespValue* RespValue::find(std::string_view key) const {
  if (type != RespType::Map) return nullptr;
  for (std::size_t i = 0; i + 1 < children.size(); i += 2) {
    if (children[i].is_string() && children[i].str == key) return &children[i + 1];
  }
  return nullptr;
}

ReplyReader::ReplyReader(Limits limits) : limits_(limits) {}

void ReplyReader::reset() {
  stack_.clear();
  result_ = RespValue{};
  error_.clear();
}

ReplyReader::Step ReplyReader::fail(std::string_view msg) {
  error_.assign("Protocol error: ");
  error_.append(msg);
  stack_.clear();
  return Step::Error;
}

ReadResult ReplyReader::parse(std::string_view buf) {
  error_.clear();
  std::size_t pos = 0;
  for (;;) {
    if (pos >= buf.size()) return {ReadStatus::NeedMore, pos};
    RespValue value;
    Frame open{};
    switch (parse_item(buf, pos, value, open)) {
      case Step::NeedMore:
        return {ReadStatus::NeedMore, pos};
      case Step::Error:
        return {ReadStatus::Error, 0};
      case Step::Open:
        if (stack_.size() >= limits_.max_depth) {
          fail("reply nested too deeply");
          return {ReadStatus::Error, 0};
        }
        if (open.remaining == 0) {
          if (open.attribute) break;
          if (deliver(std::move(open.value))) return {ReadStatus::Value, pos};
          break;
        }
        stack_.push_back(std::move(open));
        break;
      case Step::Scalar:
        if (deliver(std::move(value))) return {ReadStatus::Value, pos};
        break;
    }
  }
}

bool ReplyReader::deliver(RespValue&& v) {
  RespValue cur = std::move(v);
  for (;;) {
    if (stack_.empty()) {
      result_ = std::move(cur);
      return true;
    }
    Frame& top = stack_.back();
    top.value.children.push_back(std::move(cur));
    if (--top.remaining > 0) return false;
    const bool attribute = top.attribute;
    cur = std::move(top.value);
    stack_.pop_back();
    if (attribute) return false;  // attribute complete: dropped, the real value follows
  }
}

ReplyReader::Step ReplyReader::parse_item(std::string_view buf, std::size_t& pos, RespValue& out,
                                          Frame& open) {
  const char type = buf[pos];
  switch (type) {
    case '+':
    case '-':
    case ':':
    case ',':
    case '#':
    case '_':
    case '(': {
      const detail::Line line = detail::find_line(buf, pos + 1, limits_.max_inline_len);
      if (line.kind == detail::Line::Incomplete) return Step::NeedMore;
      if (line.kind == detail::Line::TooLong) return fail("line too long");
      if (line.kind == detail::Line::BadTerminator) return fail("line not terminated by CRLF");
      const std::string_view text = buf.substr(pos + 1, line.end - pos - 1);
      switch (type) {
        case '+':
          out.type = RespType::SimpleString;
          out.str.assign(text);
          break;
        case '-':
          out.type = RespType::Error;
          out.str.assign(text);
          break;
        case ':': {
          const bool plus = !text.empty() && text[0] == '+';
          const auto v = detail::parse_i64(plus ? text.substr(1) : text);
          if (!v || (plus && text.size() > 1 && text[1] == '-')) return fail("invalid integer");
          out.type = RespType::Integer;
          out.integer = *v;
          break;
        }
        case ',': {
          std::string_view t = text;
          if (!t.empty() && t[0] == '+') t.remove_prefix(1);
          double d = 0;
          const auto res = std::from_chars(t.data(), t.data() + t.size(), d);
          if (t.empty() || res.ec != std::errc{} || res.ptr != t.data() + t.size()) {
            return fail("invalid double");
          }
          out.type = RespType::Double;
          out.dbl = d;
          out.str.assign(text);
          break;
        }
        case '#':
          if (text != "t" && text != "f") return fail("invalid boolean");
          out.type = RespType::Boolean;
          out.boolean = text == "t";
          break;
        case '_':
          if (!text.empty()) return fail("invalid null");
          out.type = RespType::Null;
          break;
        default:  // '('
          if (!detail::is_big_number(text)) return fail("invalid big number");
          out.type = RespType::BigNumber;
          out.str.assign(text);
          break;
      }
      pos = line.end + 2;
      return Step::Scalar;
    }
    case '$':
    case '!':
    case '=': {
      const detail::Line line = detail::find_line(buf, pos + 1, kMaxLengthLine);
      if (line.kind == detail::Line::Incomplete) return Step::NeedMore;
      if (line.kind != detail::Line::Ok) return fail("invalid bulk length");
      const auto len = detail::parse_i64(buf.substr(pos + 1, line.end - pos - 1));
      if (type == '$' && len && *len == -1) {
        out.type = RespType::Null;
        pos = line.end + 2;
        return Step::Scalar;
      }
      if (!len || *len < 0 || static_cast<uint64_t>(*len) > limits_.max_bulk_len) {
        return fail("invalid bulk length");
      }
      const auto n = static_cast<std::size_t>(*len);
      const std::size_t body = line.end + 2;
      if (buf.size() < body + n + 2) return Step::NeedMore;
      if (buf[body + n] != '\r' || buf[body + n + 1] != '\n') {
        return fail("bulk string not terminated by CRLF");
      }
      const std::string_view bytes = buf.substr(body, n);
      if (type == '=') {
        if (n < 4 || bytes[3] != ':') return fail("invalid verbatim string");
        out.type = RespType::Verbatim;
        out.format.assign(bytes.substr(0, 3));
        out.str.assign(bytes.substr(4));
      } else {
        out.type = type == '$' ? RespType::BlobString : RespType::BlobError;
        out.str.assign(bytes);
      }
      pos = body + n + 2;
      return Step::Scalar;
    }
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
      const detail::Line line = detail::find_line(buf, pos + 1, kMaxLengthLine);
      if (line.kind == detail::Line::Incomplete) return Step::NeedMore;
      if (line.kind != detail::Line::Ok) return fail("invalid aggregate length");
      const auto len = detail::parse_i64(buf.substr(pos + 1, line.end - pos - 1));
      if (type == '*' && len && *len == -1) {
        out.type = RespType::Null;
        pos = line.end + 2;
        return Step::Scalar;
      }
      if (!len || *len < 0 || static_cast<uint64_t>(*len) > limits_.max_array_len) {
        return fail("invalid aggregate length");
      }
      const auto n = static_cast<std::size_t>(*len);
      const bool pairs = type == '%' || type == '|';
      switch (type) {
        case '*':
          open.value.type = RespType::Array;
          break;
        case '%':
          open.value.type = RespType::Map;
          break;
        case '~':
          open.value.type = RespType::Set;
          break;
        case '>':
          open.value.type = RespType::Push;
          break;
        default:
          open.value.type = RespType::Map;
          break;
      }
      open.remaining = pairs ? n * 2 : n;
      open.attribute = type == '|';
      pos = line.end + 2;
      return Step::Open;
    }
    default: {
      std::string msg = "unexpected reply type byte '";
      msg += detail::show_byte(type);
      msg += '\'';
      return fail(msg);
    }
  }
}

}  // namespace sierra::resp
