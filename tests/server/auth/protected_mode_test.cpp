#include "server/auth/protected_mode.hpp"

#include <gtest/gtest.h>

namespace sierra::server::auth {
namespace {

asio::ip::address addr(const char* text) {
  return asio::ip::make_address(text);
}

TEST(ProtectedMode, Loopback) {
  EXPECT_TRUE(is_loopback(addr("127.0.0.1")));
  EXPECT_TRUE(is_loopback(addr("127.255.0.9")));
  EXPECT_TRUE(is_loopback(addr("::1")));
  EXPECT_TRUE(is_loopback(addr("::ffff:127.0.0.1")));
  EXPECT_FALSE(is_loopback(addr("128.0.0.1")));
  EXPECT_FALSE(is_loopback(addr("10.0.0.1")));
  EXPECT_FALSE(is_loopback(addr("0.0.0.0")));
  EXPECT_FALSE(is_loopback(addr("::")));
  EXPECT_FALSE(is_loopback(addr("::2")));
  EXPECT_FALSE(is_loopback(addr("::ffff:10.0.0.1")));
  EXPECT_FALSE(is_loopback(addr("fe80::1")));
}

TEST(ProtectedMode, RefusesOnlyRemoteClientsWhenNothingIsConfigured) {
  const auto remote = addr("192.168.1.20");
  const auto local = addr("127.0.0.1");
  EXPECT_TRUE(protected_mode_refuses(true, false, remote));
  EXPECT_FALSE(protected_mode_refuses(true, false, local));
  EXPECT_FALSE(protected_mode_refuses(true, true, remote));    // auth configured
  EXPECT_FALSE(protected_mode_refuses(false, false, remote));  // explicitly off
}

TEST(ProtectedMode, DeniedLineIsOneRespError) {
  const std::string_view line = kProtectedModeDenied;
  ASSERT_TRUE(line.starts_with("-DENIED "));
  ASSERT_TRUE(line.ends_with("\r\n"));
  EXPECT_EQ(line.find_first_of("\r\n"), line.size() - 2);
  EXPECT_NE(line.find("protected_mode = false"), std::string_view::npos);
}

}  // namespace
}  // namespace sierra::server::auth
