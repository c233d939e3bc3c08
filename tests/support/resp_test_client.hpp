// Blocking RESP client for tests and benchmarks that drive an in-process server on a loopback port:
// commands go out as RESP arrays, replies and pushes come back decoded by resp::ReplyReader.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_reader.hpp"

namespace sierra::test_support {

// A command as clients send it: a RESP array of bulk strings.
std::string encode_command(std::initializer_list<std::string_view> args);
std::string encode_command(const std::vector<std::string>& args);

// A subscription push: a RESP3 push, or its RESP2 form, an array whose first element is the simple
// string message, subscribe, unsubscribe or error.
bool is_push(const resp::RespValue& v);

class RespTestClient {
 public:
  // How long a read waits by default: a hang fails the caller instead of blocking it.
  static constexpr std::chrono::milliseconds kDefaultTimeout{10'000};

  // Connects to 127.0.0.1:`port`; connected() says whether that worked.
  explicit RespTestClient(uint16_t port);
  ~RespTestClient() { close(); }
  RespTestClient(const RespTestClient&) = delete;
  RespTestClient& operator=(const RespTestClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  void close();

  // Writes all of `bytes` (blocking, no timeout); false if the connection failed.
  bool send(std::string_view bytes);
  bool send_cmd(std::initializer_list<std::string_view> args) { return send(encode_command(args)); }
  bool send_cmd(const std::vector<std::string>& args) { return send(encode_command(args)); }

  // The next value, reply or push, arriving within `timeout`; nullopt on timeout, EOF or a
  // malformed reply, and failure() then says which.
  std::optional<resp::RespValue> read(std::chrono::milliseconds timeout = kDefaultTimeout);

  // The next value that is not a push (is_push); pushes read meanwhile are queued for next_push().
  // `timeout` applies to each value read.
  std::optional<resp::RespValue> read_reply(std::chrono::milliseconds timeout = kDefaultTimeout);
  // The next push, queued ones first; replies read meanwhile are appended to replies().
  std::optional<resp::RespValue> next_push(std::chrono::milliseconds timeout = kDefaultTimeout);
  std::vector<resp::RespValue>& replies() { return replies_; }

  // Sends a command and returns its reply (read_reply).
  std::optional<resp::RespValue> call(std::initializer_list<std::string_view> args) {
    if (!send_cmd(args)) return std::nullopt;
    return read_reply();
  }
  std::optional<resp::RespValue> call(const std::vector<std::string>& args) {
    if (!send_cmd(args)) return std::nullopt;
    return read_reply();
  }

  // True if the server closes the connection (EOF or reset) within `timeout` with no further
  // bytes.
  bool closed_by_peer(std::chrono::milliseconds timeout = kDefaultTimeout);
  void shutdown_write();

  // Why the last read() returned nullopt: "read timed out", "connection closed" or
  // "protocol error".
  std::string_view failure() const { return failure_; }

 private:
  int fd_ = -1;
  std::string buf_;
  std::size_t off_ = 0;  // bytes of buf_ already parsed
  resp::ReplyReader reader_;
  std::deque<resp::RespValue> pushes_;
  std::vector<resp::RespValue> replies_;
  std::string_view failure_;
};

}  // namespace sierra::test_support
