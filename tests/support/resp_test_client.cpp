#include "support/resp_test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace sierra::test_support {

using resp::RespType;
using resp::RespValue;

namespace {

template <class Args>
std::string encode_args(const Args& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out.append(a);
    out += "\r\n";
  }
  return out;
}

// Milliseconds left until `deadline`, at least 0, as poll() takes them.
int millis_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

std::string encode_command(std::initializer_list<std::string_view> args) {
  return encode_args(args);
}
std::string encode_command(const std::vector<std::string>& args) {
  return encode_args(args);
}

bool is_push(const RespValue& v) {
  return (v.type == RespType::Push || v.type == RespType::Array) && !v.children.empty() &&
         v.children[0].type == RespType::SimpleString &&
         (v.children[0].str == "message" || v.children[0].str == "subscribe" ||
          v.children[0].str == "unsubscribe" || v.children[0].str == "error");
}

RespTestClient::RespTestClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) close();
}

void RespTestClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RespTestClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<RespValue> RespTestClient::read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (off_ < buf_.size()) {
      resp::ReadResult r = reader_.parse(std::string_view(buf_).substr(off_));
      off_ += r.consumed;
      if (r.status == resp::ReadStatus::Value) return reader_.take();
      if (r.status == resp::ReadStatus::Error) {
        failure_ = "protocol error";
        return std::nullopt;
      }
    }
    buf_.erase(0, off_);
    off_ = 0;
    const int left = millis_until(deadline);
    pollfd p{fd_, POLLIN, 0};
    if (left == 0 || ::poll(&p, 1, left) <= 0) {
      failure_ = "read timed out";
      return std::nullopt;
    }
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      failure_ = "connection closed";
      return std::nullopt;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

std::optional<RespValue> RespTestClient::read_reply(std::chrono::milliseconds timeout) {
  for (;;) {
    auto v = read(timeout);
    if (!v || !is_push(*v)) return v;
    pushes_.push_back(std::move(*v));
  }
}

std::optional<RespValue> RespTestClient::next_push(std::chrono::milliseconds timeout) {
  if (!pushes_.empty()) {
    RespValue v = std::move(pushes_.front());
    pushes_.pop_front();
    return v;
  }
  for (;;) {
    auto v = read(timeout);
    if (!v || is_push(*v)) return v;
    replies_.push_back(std::move(*v));
  }
}

bool RespTestClient::closed_by_peer(std::chrono::milliseconds timeout) {
  if (off_ < buf_.size()) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char tmp[256];
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

void RespTestClient::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace sierra::test_support
