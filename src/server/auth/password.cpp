#include "server/auth/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

namespace sierra::server::auth {

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

PasswordDigest hash_password(std::string_view password) {
  PasswordDigest digest{};
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned int length = 0;
  // SHA-256 of an in-memory buffer fails only when OpenSSL cannot allocate; then the digest
  // stays all zero bytes, which no configured password hashes to in practice.
  if (ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), password.data(), password.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) == 1 && length == digest.size()) {
    return digest;
  }
  return PasswordDigest{};
}

std::string to_hex(const PasswordDigest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (std::uint8_t byte : digest) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0f]);
  }
  return out;
}

std::optional<PasswordDigest> parse_hex_digest(std::string_view hex) {
  PasswordDigest digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return digest;
}

std::expected<PasswordDigest, std::string> parse_configured_password(std::string_view text) {
  if (text.empty()) return std::unexpected(std::string("empty password"));
  if (text.front() == '#') {
    if (auto digest = parse_hex_digest(text.substr(1))) return *digest;
    return std::unexpected(
        std::string("a password starting with '#' must be '#' and 64 hex digits (a SHA-256 "
                    "hash, e.g. from: printf %s 'secret' | sha256sum)"));
  }
  return hash_password(text);
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sierra::server::auth
