// Password hashing and checking for AUTH: a password is kept only as its SHA-256 digest (as Redis
// ACL stores it, shown as "#<64 lowercase hex>"), and digests are compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sierra::server::auth {

// A SHA-256 digest of a password.
using PasswordDigest = std::array<std::uint8_t, 32>;

// SHA-256 of the password's bytes (OpenSSL libcrypto, EVP interface).
PasswordDigest hash_password(std::string_view password);

// The 64 lowercase hex digits of a digest, without the leading '#'.
std::string to_hex(const PasswordDigest& digest);

// Parses exactly 64 hex digits (either case), without '#'; nullopt if the text is anything else.
std::optional<PasswordDigest> parse_hex_digest(std::string_view hex);

// A password as written in the configuration: "#<64 hex digits>" is an already hashed password,
// any other non-empty text is a plain password, hashed here. Errors (as text for the config
// error line, never containing the password): empty, or '#' not followed by exactly 64 hex digits.
std::expected<PasswordDigest, std::string> parse_configured_password(std::string_view text);

// True when both byte strings are equal. The time taken depends only on the lengths, never on
// where the bytes differ (OpenSSL CRYPTO_memcmp). Different lengths compare unequal at once.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace sierra::server::auth
