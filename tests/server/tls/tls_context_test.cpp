#include "server/tls/tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "support/temp_dir.hpp"

#ifndef SIERRA_SOURCE_DIR
#error "SIERRA_SOURCE_DIR must name the source tree (set in CMakeLists.txt)"
#endif

namespace sierra::server::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Certificates made once for the suite by tests/server/tls/make_test_ca.sh, removed at the end.
class TlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_.emplace("sierra-tls-test");
    dir_ = tmp_->path();
    const std::string script = std::string(SIERRA_SOURCE_DIR) + "/tests/server/tls/make_test_ca.sh";
    const std::string command = "sh '" + script + "' '" + dir_.string() + "'";
    made_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() { tmp_.reset(); }
  void SetUp() override { ASSERT_TRUE(made_) << "make_test_ca.sh failed (is openssl installed?)"; }

  static std::string file(const std::string& name) { return (dir_ / name).string(); }
  static std::string write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
    return file(name);
  }
  static TlsSettings server_settings() {
    return {.cert_file = file("server.crt"), .key_file = file("server.key")};
  }

  static inline std::optional<test_support::TempDir> tmp_;
  static inline fs::path dir_;
  static inline bool made_ = false;
};

std::string error_of(const std::expected<asio::ssl::context, std::string>& result) {
  EXPECT_FALSE(result);
  return result ? std::string() : result.error();
}

// One TLS handshake between a server and a client on 127.0.0.1, bounded to 10 s.
struct Handshake {
  std::optional<asio::error_code> server, client;
};

Handshake handshake(asio::ssl::context& server_ctx, asio::ssl::context& client_ctx) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ssl::stream<asio::ip::tcp::socket> server(io, server_ctx);
  asio::ssl::stream<asio::ip::tcp::socket> client(io, client_ctx);
  client.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  Handshake result;
  acceptor.async_accept(server.lowest_layer(), [&](asio::error_code ec) {
    if (ec) {
      result.server = ec;
      return;
    }
    server.async_handshake(asio::ssl::stream_base::server, [&](asio::error_code hs) {
      result.server = hs;
      // Close the socket on failure so the client does not wait for more.
      if (hs) server.lowest_layer().close();
    });
  });
  client.lowest_layer().async_connect(acceptor.local_endpoint(), [&](asio::error_code ec) {
    if (ec) {
      result.client = ec;
      return;
    }
    client.async_handshake(asio::ssl::stream_base::client, [&](asio::error_code hs) {
      result.client = hs;
      if (hs) client.lowest_layer().close();
    });
  });
  io.run_for(10s);
  return result;
}

TEST_F(TlsContextTest, GoodServerContextHandshakes) {
  auto server_ctx = make_server_context(server_settings());
  ASSERT_TRUE(server_ctx) << server_ctx.error();
  auto client_ctx = make_client_context({.ca_file = file("ca.crt")});
  ASSERT_TRUE(client_ctx) << client_ctx.error();
  Handshake hs = handshake(*server_ctx, *client_ctx);
  ASSERT_TRUE(hs.server && hs.client) << "handshake did not finish in time";
  EXPECT_FALSE(*hs.server) << hs.server->message();
  EXPECT_FALSE(*hs.client) << hs.client->message();
}

TEST_F(TlsContextTest, ClientRejectsAServerItsCaDidNotSign) {
  // The client trusts only a stranger's self-signed certificate: the server's chain fails.
  auto server_ctx = make_server_context(server_settings());
  ASSERT_TRUE(server_ctx) << server_ctx.error();
  auto client_ctx = make_client_context({.ca_file = file("stranger.crt")});
  ASSERT_TRUE(client_ctx) << client_ctx.error();
  Handshake hs = handshake(*server_ctx, *client_ctx);
  ASSERT_TRUE(hs.client);
  EXPECT_TRUE(*hs.client);
}

TEST_F(TlsContextTest, MissingFilesAreNamed) {
  TlsSettings settings = server_settings();
  settings.cert_file = file("nope.crt");
  std::string error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.cert_file " + file("nope.crt") + ": cannot read (No such file"),
            std::string::npos)
      << error;

  settings = server_settings();
  settings.key_file = file("nope.key");
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.key_file " + file("nope.key") + ": cannot read"), std::string::npos)
      << error;

  settings = server_settings();
  settings.ca_file = file("nope-ca.crt");
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.ca_file " + file("nope-ca.crt") + ": cannot read"), std::string::npos)
      << error;

  settings = server_settings();
  settings.cert_file = dir_.string();
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("is a directory"), std::string::npos) << error;

  settings = server_settings();
  settings.key_file.clear();
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.key_file: not set"), std::string::npos) << error;
}

TEST_F(TlsContextTest, GarbageFilesAreRefused) {
  const std::string garbage = write("garbage.pem", "this is not PEM\n\x01\x02\x03");
  TlsSettings settings = server_settings();
  settings.key_file = garbage;
  std::string error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.key_file " + garbage + ": not an unencrypted PEM private key"),
            std::string::npos)
      << error;

  settings = server_settings();
  settings.cert_file = garbage;
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.cert_file " + garbage + ": not a PEM certificate"), std::string::npos)
      << error;

  settings = server_settings();
  settings.ca_file = garbage;
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("tls.ca_file " + garbage + ": no PEM certificate"), std::string::npos)
      << error;

  // A certificate given as the key is not a key either.
  settings = server_settings();
  settings.key_file = file("server.crt");
  error = error_of(make_server_context(settings));
  EXPECT_NE(error.find("not an unencrypted PEM private key"), std::string::npos) << error;
}

TEST_F(TlsContextTest, KeyNotMatchingTheCertificate) {
  TlsSettings settings = server_settings();
  settings.key_file = file("client.key");
  const std::string error = error_of(make_server_context(settings));
  EXPECT_EQ(error, "tls.key_file " + file("client.key") +
                       ": does not match the certificate of tls.cert_file " + file("server.crt"));
}

TEST_F(TlsContextTest, RequireClientCertNeedsCa) {
  TlsSettings settings = server_settings();
  settings.require_client_cert = true;
  EXPECT_NE(error_of(make_server_context(settings)).find("tls.ca_file"), std::string::npos);
}

TEST_F(TlsContextTest, RequiredClientCertificate) {
  TlsSettings settings = server_settings();
  settings.ca_file = file("ca.crt");
  settings.require_client_cert = true;
  auto server_ctx = make_server_context(settings);
  ASSERT_TRUE(server_ctx) << server_ctx.error();

  auto with_cert = make_client_context(
      {.ca_file = file("ca.crt"), .cert_file = file("client.crt"), .key_file = file("client.key")});
  ASSERT_TRUE(with_cert) << with_cert.error();
  Handshake ok = handshake(*server_ctx, *with_cert);
  ASSERT_TRUE(ok.server && ok.client);
  EXPECT_FALSE(*ok.server) << ok.server->message();
  EXPECT_FALSE(*ok.client) << ok.client->message();

  // Without a certificate the server refuses (with TLS 1.3 the client may believe it finished).
  auto without = make_client_context({.ca_file = file("ca.crt")});
  ASSERT_TRUE(without) << without.error();
  Handshake refused = handshake(*server_ctx, *without);
  ASSERT_TRUE(refused.server);
  EXPECT_TRUE(*refused.server);
  EXPECT_NE(refused.server->message().find("certificate"), std::string::npos)
      << refused.server->message();

  // A certificate that tls.ca_file did not sign.
  auto stranger = make_client_context({.ca_file = file("ca.crt"),
                                       .cert_file = file("stranger.crt"),
                                       .key_file = file("stranger.key")});
  ASSERT_TRUE(stranger) << stranger.error();
  Handshake strange = handshake(*server_ctx, *stranger);
  ASSERT_TRUE(strange.server);
  EXPECT_TRUE(*strange.server);
  EXPECT_NE(strange.server->message().find("certificate"), std::string::npos)
      << strange.server->message();
}

TEST_F(TlsContextTest, Tls11ClientIsRefused) {
  auto server_ctx = make_server_context(server_settings());
  ASSERT_TRUE(server_ctx) << server_ctx.error();
  // A client that speaks TLS 1.1 at most (security level 0, so OpenSSL 3 lets it send one).
  asio::ssl::context old(asio::ssl::context::tls_client);
  SSL_CTX* native = old.native_handle();
  SSL_CTX_set_security_level(native, 0);
  ASSERT_EQ(SSL_CTX_set_cipher_list(native, "DEFAULT:@SECLEVEL=0"), 1);
  ASSERT_EQ(SSL_CTX_set_min_proto_version(native, TLS1_1_VERSION), 1);
  ASSERT_EQ(SSL_CTX_set_max_proto_version(native, TLS1_1_VERSION), 1);
  SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  Handshake hs = handshake(*server_ctx, old);
  ASSERT_TRUE(hs.server && hs.client);
  ASSERT_TRUE(*hs.server);
  EXPECT_TRUE(*hs.client);
  // The server saw the old hello and said why (not a connection that just went away).
  EXPECT_NE(hs.server->message().find("protocol"), std::string::npos) << hs.server->message();
}

TEST_F(TlsContextTest, GarbageInsteadOfAHelloFailsTheHandshake) {
  auto server_ctx = make_server_context(server_settings());
  ASSERT_TRUE(server_ctx) << server_ctx.error();
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ssl::stream<asio::ip::tcp::socket> server(io, *server_ctx);
  asio::ip::tcp::socket client(io);
  std::optional<asio::error_code> server_result;
  acceptor.async_accept(server.lowest_layer(), [&](asio::error_code ec) {
    if (ec) {
      server_result = ec;
      return;
    }
    server.async_handshake(asio::ssl::stream_base::server,
                           [&](asio::error_code hs) { server_result = hs; });
  });
  static constexpr std::string_view kGarbage = "PING\r\n*1\r\n$4\r\nPING\r\nGET / HTTP/1.1\r\n\r\n";
  client.async_connect(acceptor.local_endpoint(), [&](asio::error_code ec) {
    if (ec) return;
    asio::async_write(client, asio::buffer(kGarbage), [](asio::error_code, std::size_t) {});
  });
  io.run_for(10s);
  ASSERT_TRUE(server_result) << "the server still waits after garbage";
  EXPECT_TRUE(*server_result);
}

}  // namespace
}  // namespace sierra::server::tls
