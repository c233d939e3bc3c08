// The byte stream of one client connection: a plain TCP socket, or a TLS stream over one
// (asio::ssl, already past its handshake). The connection code reads and writes through it and
// is the same for both; the plain path costs one branch per read and write.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <optional>
#include <utility>

namespace sierra::server {

class ClientStream {
 public:
  using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

  explicit ClientStream(asio::ip::tcp::socket socket) : plain_(std::move(socket)) {}
  explicit ClientStream(TlsStream stream)
      : plain_(stream.get_executor()), tls_(std::move(stream)) {}

  bool is_tls() const { return tls_.has_value(); }
  asio::any_io_executor get_executor() {
    return tls_ ? tls_->get_executor() : plain_.get_executor();
  }
  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  // Writes all of `buffers` (asio::async_write).
  template <class Buffers, class Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(plain_, buffers, std::forward<Handler>(handler));
    }
  }

  // Shuts the TCP connection down and closes it (no TLS close_notify: the peer sees EOF, as
  // with Redis).
  void close() {
    asio::error_code ec;
    socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  asio::ip::tcp::socket plain_;  // unused (never opened) when tls_ is set
  std::optional<TlsStream> tls_;
};

}  // namespace sierra::server
