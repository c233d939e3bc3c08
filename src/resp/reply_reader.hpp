// Incremental parser of server replies (RESP2 and RESP3) into a RespValue tree; used by tests
// and client tools (load generator), not by the server's hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/limits.hpp"

namespace sierra::resp {

enum class RespType : uint8_t {
  SimpleString,  // +
  Error,         // -  (str = "CODE message")
  BlobString,    // $
  BlobError,     // !
  Integer,       // :
  Double,        // ,
  Boolean,       // #
  Null,          // _  and RESP2 $-1 / *-1
  BigNumber,     // (  (str = decimal text)
  Verbatim,      // =  (str = text without the "fmt:" prefix, format = "txt" etc.)
  Array,         // *
  Map,           // %  (children = k0, v0, k1, v1, ...)
  Set,           // ~
  Push,          // >
};

// One decoded reply node. Attributes (|) are parsed and discarded.
struct RespValue {
  RespType type = RespType::Null;
  std::string str;  // string-like types; Double keeps its wire text here too
  int64_t integer = 0;
  double dbl = 0;
  bool boolean = false;
  std::string format;               // Verbatim only
  std::vector<RespValue> children;  // aggregates; a map alternates key, value

  [[nodiscard]] bool is_string() const {
    return type == RespType::SimpleString || type == RespType::BlobString ||
           type == RespType::Verbatim;
  }
  [[nodiscard]] bool is_error() const {
    return type == RespType::Error || type == RespType::BlobError;
  }
  [[nodiscard]] bool is_aggregate() const {
    return type == RespType::Array || type == RespType::Map || type == RespType::Set ||
           type == RespType::Push;
  }
  // Map only: the value whose string key equals `key`, or nullptr.
  [[nodiscard]] const RespValue* find(std::string_view key) const;

  bool operator==(const RespValue&) const = default;
};

enum class ReadStatus : uint8_t {
  NeedMore,  // the reply is not complete yet
  Value,     // take() returns the reply
  Error,     // malformed input; error() says why; the stream cannot be resynchronised
};

struct ReadResult {
  ReadStatus status = ReadStatus::NeedMore;
  // Bytes the caller must drop from the front of its buffer before the next call (also on
  // NeedMore: completed parts of a large reply are absorbed into the reader's state).
  std::size_t consumed = 0;
};

// Feed it the unconsumed bytes each time more arrive; drop `consumed` bytes after every call.
class ReplyReader {
 public:
  explicit ReplyReader(Limits limits = {});

  ReadResult parse(std::string_view buf);
  // The reply completed by the last parse() returning Value (moved out).
  RespValue take() { return std::move(result_); }
  [[nodiscard]] std::string_view error() const { return error_; }
  // True if part of a reply has been absorbed.
  [[nodiscard]] bool in_value() const { return !stack_.empty(); }
  void reset();

 private:
  struct Frame {
    RespValue value;
    std::size_t remaining;  // children still expected
    bool attribute;         // discard when complete
  };
  enum class Step : uint8_t { Scalar, Open, NeedMore, Error };

  Step parse_item(std::string_view buf, std::size_t& pos, RespValue& out, Frame& open);
  // Attaches a completed value to the open aggregates; true when a top-level reply completed.
  bool deliver(RespValue&& v);
  Step fail(std::string_view msg);

  Limits limits_;
  std::vector<Frame> stack_;
  RespValue result_;
  std::string error_;
};

}  // namespace sierra::resp
