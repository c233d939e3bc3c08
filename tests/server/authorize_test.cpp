// The one permission check run before every command (commands/authorize.hpp): NOAUTH before
// AUTH, NOPERM by class and by stream pattern, user refresh after a reload, and AUTH / HELLO
// AUTH / ACL through run_command.
#include "server/commands/authorize.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "server/commands/command.hpp"

namespace sierra::server {
namespace {

auth::UserDirectory Directory() {
  auth::AuthSpec spec;
  spec.requirepass = "secret";
  spec.users.push_back({"admin", true, {"adminpw"}, false, {"all"}, std::nullopt});
  spec.users.push_back({"reader", true, {"readpw"}, false, {"read"}, std::nullopt});
  spec.users.push_back({"orders",
                        true,
                        {"orderspw"},
                        false,
                        {"read", "write"},
                        std::vector<std::string>{"orders-*"}});
  spec.users.push_back(
      {"subs", true, {"subspw"}, false, {"subscribe"}, std::vector<std::string>{"orders-*"}});
  auto dir = auth::UserDirectory::build(spec);
  EXPECT_TRUE(dir.has_value()) << dir.error();
  return std::move(*dir);
}

struct AuthorizeTest : ::testing::Test {
  ServerContext server;
  Session session;
  void SetUp() override { server.users.replace(Directory()); }

  // The refusal of `words` as "-CODE message", or "" when allowed.
  std::string Check(std::vector<std::string> words) {
    std::vector<std::string_view> args(words.begin(), words.end());
    const CommandSpec* spec = find_command(args[0]);
    EXPECT_NE(spec, nullptr) << words[0];
    auto refused = authorize(*spec, args, session, server.users);
    return refused ? "-" + std::string(refused->code) + " " + refused->message : "";
  }
  // Runs a command (one that finishes at once without the database) and returns its reply.
  std::string Run(std::vector<std::string> words) {
    std::vector<std::string_view> args(words.begin(), words.end());
    auto reply = std::make_shared<Reply>(2);
    CommandContext c{server, session, args, reply, nullptr};
    run_command(*find_command(args[0]), c);
    EXPECT_TRUE(reply->done());
    return reply->bytes();
  }
  void Login(std::string user, std::string pass) {
    ASSERT_EQ(Run({"AUTH", user, pass}), "+OK\r\n");
  }
};

constexpr std::string_view kNoAuth = "-NOAUTH Authentication required.";
constexpr std::string_view kNoKey = "-NOPERM No permissions to access a key";

TEST_F(AuthorizeTest, BeforeAuthOnlyHelloAuthPingQuit) {
  EXPECT_EQ(Check({"PING"}), "");
  EXPECT_EQ(Check({"HELLO", "3"}), "");
  EXPECT_EQ(Check({"AUTH", "x"}), "");
  EXPECT_EQ(Check({"QUIT"}), "");
  for (auto words : std::vector<std::vector<std::string>>{{"ESVER", "s"},
                                                          {"EAPPEND", "s", "E"},
                                                          {"INFO"},
                                                          {"CLIENT", "SETNAME", "x"},
                                                          {"ACL", "WHOAMI"},
                                                          {"ECHO", "x"}}) {
    EXPECT_EQ(Check(words), kNoAuth) << words[0];
  }
  EXPECT_EQ(Run({"ESVER", "s"}), std::string(kNoAuth) + "\r\n");
}

TEST_F(AuthorizeTest, WrongPasswordsAnswerWrongpassAlike) {
  const std::string wrong = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
  EXPECT_EQ(Run({"AUTH", "nope"}), wrong);
  EXPECT_EQ(Run({"AUTH", "admin", "nope"}), wrong);
  EXPECT_EQ(Run({"AUTH", "ghost", "adminpw"}), wrong);
  EXPECT_EQ(session.user, nullptr);
  EXPECT_EQ(Check({"ESVER", "s"}), kNoAuth);
}

TEST_F(AuthorizeTest, RequirepassLogsInAsDefault) {
  Login("default", "secret");
  EXPECT_EQ(Run({"ACL", "WHOAMI"}), "$7\r\ndefault\r\n");
  session = Session{};
  EXPECT_EQ(Run({"AUTH", "secret"}), "+OK\r\n");
  EXPECT_EQ(Check({"EAPPEND", "anything", "E"}), "");
}

TEST_F(AuthorizeTest, ReadOnlyUserCannotAppend) {
  Login("reader", "readpw");
  EXPECT_EQ(Check({"ESVER", "s"}), "");
  EXPECT_EQ(Check({"EPSCAN", "0", "-", "+"}), "");
  EXPECT_EQ(Check({"EAPPEND", "s", "E"}),
            "-NOPERM User reader has no permissions to run the 'eappend' command");
  EXPECT_EQ(Check({"ESUB", "s"}),
            "-NOPERM User reader has no permissions to run the 'esub' command");
  EXPECT_EQ(Check({"ACL", "LIST"}),
            "-NOPERM User reader has no permissions to run the 'acl|list' command");
  EXPECT_EQ(Check({"INFO"}), "-NOPERM User reader has no permissions to run the 'info' command");
  EXPECT_EQ(Check({"ACL", "WHOAMI"}), "");
}

TEST_F(AuthorizeTest, PrefixUserWritesOnlyItsStreams) {
  Login("orders", "orderspw");
  EXPECT_EQ(Check({"EAPPEND", "orders-1", "E", "PARTITION_KEY", "x"}), "");
  EXPECT_EQ(Check({"EAPPEND", "payments-1", "E"}), kNoKey);
  EXPECT_EQ(Check({"ESCAN", "orders-1", "-", "+"}), "");
  EXPECT_EQ(Check({"ESCAN", "users-1", "-", "+"}), kNoKey);
  // EMAPPEND: every stream of every event.
  EXPECT_EQ(Check({"EMAPPEND", "pk", "orders-1", "E", "PAYLOAD", "p", "orders-2", "E"}), "");
  EXPECT_EQ(Check({"EMAPPEND", "pk", "orders-1", "E", "EXPECTED_VERSION", "0", "users-1", "E"}),
            kNoKey);
  // Commands that may show any stream's events need every stream.
  EXPECT_EQ(Check({"EPSCAN", "0", "-", "+"}), kNoKey);
  EXPECT_EQ(Check({"EGET", "01a24d77-6202-9407-aad3-0371b2d4f6a1"}), kNoKey);
}

TEST_F(AuthorizeTest, SubscribeChecksEveryStreamOfTheList) {
  Login("subs", "subspw");
  EXPECT_EQ(Check({"ESUB", "orders-1", "PARTITION_KEY", "k", "orders-2", "FROM", "0"}), "");
  EXPECT_EQ(Check({"ESUB", "orders-1", "users-1", "WINDOW", "10"}), kNoKey);
  EXPECT_EQ(Check({"EPSUB", "*"}), kNoKey);
  EXPECT_EQ(Check({"EUNSUB", "some-id"}), "");  // acts on its own subscriptions only
}

TEST_F(AuthorizeTest, ReloadAppliesAndRemovedUsersAreClosed) {
  Login("reader", "readpw");
  // The reader becomes a writer: applies from the next command.
  auth::AuthSpec spec;
  spec.requirepass = "secret";
  spec.users.push_back({"reader", true, {"readpw"}, false, {"read", "write"}, std::nullopt});
  server.users.replace(std::move(*auth::UserDirectory::build(spec)));
  EXPECT_EQ(Check({"EAPPEND", "s", "E"}), "");
  // Removed: the connection is refused and closed.
  spec.users.clear();
  server.users.replace(std::move(*auth::UserDirectory::build(spec)));
  std::vector<std::string_view> args{"ESVER", "s"};
  auto refused = authorize(*find_command("ESVER"), args, session, server.users);
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(refused->close);
  EXPECT_EQ(session.user, nullptr);
}

TEST_F(AuthorizeTest, HelloAuthLogsInAndAFailureChangesNothing) {
  std::string out = Run({"HELLO", "2", "AUTH", "admin", "bad", "SETNAME", "n"});
  EXPECT_EQ(out, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(session.protocol, 3);
  EXPECT_EQ(session.name, "");
  out = Run({"HELLO", "2", "AUTH", "admin", "adminpw", "SETNAME", "n"});
  EXPECT_EQ(out.substr(0, 1), "*");
  EXPECT_EQ(session.protocol, 2);
  EXPECT_EQ(session.name, "n");
  EXPECT_EQ(Run({"ACL", "WHOAMI"}), "$5\r\nadmin\r\n");
  const std::string list = Run({"ACL", "LIST"});
  EXPECT_NE(list.find("user orders on #"), std::string::npos) << list;
  EXPECT_EQ(list.find("orderspw"), std::string::npos) << "no plain password in ACL LIST";
}

TEST_F(AuthorizeTest, NothingConfiguredEveryoneIsDefault) {
  server.users.replace(std::move(*auth::UserDirectory::build(auth::AuthSpec{})));
  session = Session{};
  EXPECT_EQ(Check({"EAPPEND", "s", "E"}), "");
  EXPECT_EQ(Run({"AUTH", "x"}).substr(0, 30), "-ERR AUTH <password> called wi");
}

TEST_F(AuthorizeTest, RepeatedFailuresCloseTheConnection) {
  // Without a client (no timer), delays are not held; the 20th consecutive failure closes.
  for (int i = 0; i < 19; ++i) {
    Run({"AUTH", "admin", "bad"});
    ASSERT_FALSE(session.close_after_reply) << i;
  }
  Run({"AUTH", "admin", "bad"});
  EXPECT_TRUE(session.close_after_reply);
}

}  // namespace
}  // namespace sierra::server
