#include "server/auth/password.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <vector>

namespace sierra::server::auth {
namespace {

// Known answers (FIPS 180-2 / `printf %s abc | sha256sum`).
TEST(Password, Sha256KnownAnswers) {
  EXPECT_EQ(to_hex(hash_password("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(hash_password("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Redis's test password; the same digest as `ACL SETUSER u >foobared` shows in ACL LIST.
  EXPECT_EQ(to_hex(hash_password("foobared")),
            "1b58ee375b42e41f0e48ef2ff27d10a5b1f6924a9acdcdba7cae868e7adce6bf");
}

TEST(Password, HexRoundTripAndBadHex) {
  const PasswordDigest digest = hash_password("secret");
  const std::string hex = to_hex(digest);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(parse_hex_digest(hex), digest);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(parse_hex_digest(upper), digest);
  EXPECT_FALSE(parse_hex_digest(hex.substr(1)));
  EXPECT_FALSE(parse_hex_digest(hex + "0"));
  EXPECT_FALSE(parse_hex_digest("g" + hex.substr(1)));
  EXPECT_FALSE(parse_hex_digest(""));
}

TEST(Password, ConfiguredPlainOrHash) {
  const PasswordDigest digest = hash_password("secret");
  EXPECT_EQ(parse_configured_password("secret"), digest);
  EXPECT_EQ(parse_configured_password("#" + to_hex(digest)), digest);
  // A hash is used as is, never hashed again.
  EXPECT_NE(parse_configured_password("#" + to_hex(digest)), hash_password("#" + to_hex(digest)));

  auto empty = parse_configured_password("");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().find("empty"), std::string::npos);
  auto short_hash = parse_configured_password("#abc");
  ASSERT_FALSE(short_hash);
  EXPECT_NE(short_hash.error().find("64 hex"), std::string::npos);
  // The error never repeats the configured text (it may be a mistyped password).
  auto not_hex = parse_configured_password("#my-secret-password");
  ASSERT_FALSE(not_hex);
  EXPECT_EQ(not_hex.error().find("my-secret-password"), std::string::npos);
}

TEST(Password, ConstantTimeEqual) {
  const PasswordDigest a = hash_password("secret");
  PasswordDigest first = a;
  first.front() ^= 0x01;
  PasswordDigest last = a;
  last.back() ^= 0x80;
  EXPECT_TRUE(constant_time_equal(a, a));
  EXPECT_TRUE(constant_time_equal(a, PasswordDigest(a)));
  EXPECT_FALSE(constant_time_equal(a, first));
  EXPECT_FALSE(constant_time_equal(a, last));
  EXPECT_FALSE(constant_time_equal(first, a));
  // Different lengths: a prefix is not equal, nor is an empty string.
  std::vector<std::uint8_t> prefix(a.begin(), a.end() - 1);
  std::vector<std::uint8_t> longer(a.begin(), a.end());
  longer.push_back(0);
  EXPECT_FALSE(constant_time_equal(a, prefix));
  EXPECT_FALSE(constant_time_equal(prefix, a));
  EXPECT_FALSE(constant_time_equal(a, longer));
  EXPECT_FALSE(constant_time_equal(a, std::span<const std::uint8_t>()));
  EXPECT_TRUE(
      constant_time_equal(std::span<const std::uint8_t>(), std::span<const std::uint8_t>()));
}

}  // namespace
}  // namespace sierra::server::auth
