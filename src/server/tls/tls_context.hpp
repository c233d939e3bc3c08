// Builds the OpenSSL contexts of TLS connections (asio::ssl): the server's from its certificate,
// key and optional CA (for client certificates), and a client's (tests, peer nodes). TLS 1.2 and
// newer only. Errors are values: one line naming the config key and the file, for the
// "config error" line and exit code 2 at start.
#pragma once

#include <expected>
#include <optional>
#include <string>

#include <asio/ssl/context.hpp>

namespace sierra::server::tls {

// The tls.* configuration keys that build a context.
struct TlsSettings {
  std::string cert_file;               // tls.cert_file: PEM certificate chain (leaf first)
  std::string key_file;                // tls.key_file: PEM private key, not encrypted
  std::optional<std::string> ca_file;  // tls.ca_file: PEM CAs trusted for client certificates
  bool require_client_cert = false;    // tls.require_client_cert: needs ca_file
};

// A server context: certificate chain and key loaded and checked to match, TLS >= 1.2, and with
// require_client_cert, peers must present a certificate signed by a CA of ca_file. Errors, e.g.
//   "tls.key_file /etc/sierra/key.pem: cannot read (No such file or directory)"
//   "tls.key_file /etc/sierra/key.pem: does not match the certificate of tls.cert_file ..."
std::expected<asio::ssl::context, std::string> make_server_context(const TlsSettings& settings);

// The client side, as a test or a peer node uses it.
struct TlsClientSettings {
  std::optional<std::string> ca_file;    // verify the server against these CAs; nullopt: no check
  std::optional<std::string> cert_file;  // client certificate (with key_file), for mutual TLS
  std::optional<std::string> key_file;
};

// A client context (TLS >= 1.2); verifies the server's chain when ca_file is set (the host
// name is checked by the caller with asio::ssl::host_name_verification).
std::expected<asio::ssl::context, std::string> make_client_context(
    const TlsClientSettings& settings);

}  // namespace sierra::server::tls
