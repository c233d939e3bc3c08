#include "server/tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

namespace sierra::server::tls {

namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct FileClose {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// The first queued OpenSSL error as text (the queue is then cleared), or "unknown error".
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Never prompt on the terminal for a key's passphrase: an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

std::string where(std::string_view key, const std::string& path) {
  return std::string(key) + " " + path;
}

// Empty when the file can be opened for reading; else the error line.
std::string check_readable(std::string_view key, const std::string& path) {
  if (path.empty()) return std::string(key) + ": not set";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return where(key, path) + ": is a directory";
  std::unique_ptr<std::FILE, FileClose> file(std::fopen(path.c_str(), "rb"));
  if (!file) return where(key, path) + ": cannot read (" + std::strerror(errno) + ")";
  return {};
}

// TLS 1.2 and newer only, no compression.
void restrict_protocols(asio::ssl::context& ctx) {
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx.native_handle(), no_passphrase);
}

// Loads a PEM chain and its key into ctx, checking that they belong together.
std::string load_identity(SSL_CTX* ctx, std::string_view cert_key, const std::string& cert_file,
                          std::string_view key_key, const std::string& key_file) {
  if (auto error = check_readable(cert_key, cert_file); !error.empty()) return error;
  if (auto error = check_readable(key_key, key_file); !error.empty()) return error;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return where(cert_key, cert_file) + ": not a PEM certificate (" + openssl_error() + ")";
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(key_file.c_str(), "r"));
  if (!bio) return where(key_key, key_file) + ": cannot read (" + openssl_error() + ")";
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return where(key_key, key_file) + ": not an unencrypted PEM private key (" + openssl_error() +
           ")";
  }
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr || X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return where(key_key, key_file) + ": does not match the certificate of " +
           where(cert_key, cert_file);
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    return where(key_key, key_file) + ": " + openssl_error();
  }
  return {};
}

std::string load_ca(SSL_CTX* ctx, std::string_view ca_key, const std::string& ca_file) {
  if (auto error = check_readable(ca_key, ca_file); !error.empty()) return error;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return where(ca_key, ca_file) + ": no PEM certificate (" + openssl_error() + ")";
  }
  return {};
}

}  // namespace

std::expected<asio::ssl::context, std::string> make_server_context(const TlsSettings& settings) {
  if (settings.require_client_cert && !settings.ca_file) {
    return std::unexpected(std::string(
        "tls.require_client_cert: needs tls.ca_file (the CAs that sign client certificates)"));
  }
  try {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    restrict_protocols(ctx);
    SSL_CTX* native = ctx.native_handle();
    if (auto error = load_identity(native, "tls.cert_file", settings.cert_file, "tls.key_file",
                                   settings.key_file);
        !error.empty()) {
      return std::unexpected(error);
    }
    if (settings.ca_file) {
      if (auto error = load_ca(native, "tls.ca_file", *settings.ca_file); !error.empty()) {
        return std::unexpected(error);
      }
      // Tell clients which CAs we accept, so they pick the right certificate.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file->c_str())) {
        SSL_CTX_set_client_CA_list(native, names);
      }
      ERR_clear_error();
      int mode = SSL_VERIFY_PEER;  // a presented client certificate is always checked
      if (settings.require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(native, mode, nullptr);
      static constexpr unsigned char kSessionContext[] = "sierradb";
      SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
    }
    return ctx;
  } catch (const std::system_error& e) {
    return std::unexpected(std::string("tls: cannot create an OpenSSL context (") + e.what() + ")");
  }
}

std::expected<asio::ssl::context, std::string> make_client_context(
    const TlsClientSettings& settings) {
  if (settings.cert_file.has_value() != settings.key_file.has_value()) {
    return std::unexpected(std::string("tls client: cert_file and key_file go together"));
  }
  try {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    restrict_protocols(ctx);
    SSL_CTX* native = ctx.native_handle();
    if (settings.cert_file) {
      if (auto error = load_identity(native, "tls client cert_file", *settings.cert_file,
                                     "tls client key_file", *settings.key_file);
          !error.empty()) {
        return std::unexpected(error);
      }
    }
    if (settings.ca_file) {
      if (auto error = load_ca(native, "tls client ca_file", *settings.ca_file); !error.empty()) {
        return std::unexpected(error);
      }
      SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
  } catch (const std::system_error& e) {
    return std::unexpected(std::string("tls: cannot create an OpenSSL context (") + e.what() + ")");
  }
}

}  // namespace sierra::server::tls
