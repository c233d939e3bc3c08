// Appends RESP3 (default) or RESP2-downgraded replies to a connection's output buffer.
// Aggregates are written as a header followed by their elements, e.g. map(2) then k, v, k, v.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sierra::resp {

// Encodes replies into `out` (appending). Protocol 3 uses native RESP3 types; protocol 2 (after
// an explicit HELLO 2) maps them onto RESP2: map -> flat array of 2N, null -> $-1,
// boolean -> :1/:0, double -> bulk text, push -> array, verbatim -> bulk.
class ReplyWriter {
 public:
  explicit ReplyWriter(std::string& out, int protocol = 3) : out_(&out), protocol_(protocol) {}

  [[nodiscard]] int protocol() const { return protocol_; }
  void set_protocol(int protocol) { protocol_ = protocol; }
  [[nodiscard]] std::string& buffer() { return *out_; }

  // +text (CR and LF replaced by spaces).
  void simple(std::string_view text);
  // -CODE message (CR/LF sanitized). An empty code writes just -message.
  void error(std::string_view code, std::string_view message);
  // $len + bytes (binary safe).
  void bulk(std::string_view bytes);
  // :n
  void integer(int64_t value);
  // ,x (shortest round-trip text, inf / -inf / nan); RESP2: bulk string of the same text.
  void dbl(double value);
  // #t / #f; RESP2 :1 / :0.
  void boolean(bool value);
  // _ ; RESP2 $-1.
  void null();
  // *n
  void array(std::size_t n);
  // %n ; RESP2 *2n. Follow with n key/value pairs.
  void map(std::size_t n);
  // >n ; RESP2 *n.
  void push(std::size_t n);
  // =len fmt:text (fmt is 3 bytes, default "txt"); RESP2: bulk string of text.
  void verbatim(std::string_view text, std::string_view format = "txt");
  // Pre-encoded bytes, appended unchanged (e.g. a constant "+key\r\n", the same in RESP2 and 3).
  void raw(std::string_view bytes) { out_->append(bytes); }
  // Capacity hint for replies whose size is known in advance.
  void reserve(std::size_t total_bytes) { out_->reserve(total_bytes); }

 private:
  void header(char type, uint64_t n);
  void sanitized(std::string_view text);

  std::string* out_;
  int protocol_;
};

}  // namespace sierra::resp
