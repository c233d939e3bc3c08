#include "server/auth/users.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sierra::server::auth {
namespace {

UserDirectory build_ok(const AuthSpec& spec) {
  auto dir = UserDirectory::build(spec);
  EXPECT_TRUE(dir) << dir.error();
  return dir ? std::move(*dir) : *UserDirectory::build({});
}

std::string build_error(const AuthSpec& spec) {
  auto dir = UserDirectory::build(spec);
  EXPECT_FALSE(dir);
  return dir ? std::string() : dir.error();
}

AuthSpec shop_spec() {
  AuthSpec spec;
  spec.users.push_back({.name = "admin", .passwords = {"root-pw"}, .commands = {"all"}});
  spec.users.push_back({.name = "reader",
                        .passwords = {"r1", "#" + to_hex(hash_password("r2"))},
                        .commands = {"read", "subscribe"}});
  spec.users.push_back({.name = "orders",
                        .passwords = {"o-pw"},
                        .commands = {"read", "write"},
                        .streams = std::vector<std::string>{"orders-*", "audit"}});
  spec.users.push_back(
      {.name = "gone", .enabled = false, .passwords = {"gone-pw"}, .commands = {"all"}});
  return spec;
}

TEST(UserDirectory, NothingConfiguredIsOpenDefault) {
  UserDirectory dir = build_ok({});
  EXPECT_FALSE(dir.auth_configured());
  const User* initial = dir.initial_user();
  ASSERT_NE(initial, nullptr);
  EXPECT_EQ(initial->name, "default");
  EXPECT_TRUE(initial->nopass);
  EXPECT_TRUE(permits(*initial, CommandClass::write, "anything"));
  EXPECT_TRUE(permits(*initial, CommandClass::admin, std::nullopt));
  // nopass: any password is accepted, as Redis does.
  EXPECT_TRUE(dir.authenticate("default", "whatever"));
  EXPECT_EQ(dir.acl_list(), std::vector<std::string>{"user default on nopass ~* +@all"});
}

TEST(UserDirectory, RequirepassSetsTheDefaultUsersPassword) {
  UserDirectory dir = build_ok({.requirepass = "foobared"});
  EXPECT_TRUE(dir.auth_configured());
  EXPECT_EQ(dir.initial_user(), nullptr);
  auto ok = dir.authenticate("default", "foobared");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)->name, "default");
  EXPECT_TRUE(permits(**ok, CommandClass::admin, std::nullopt));
  EXPECT_EQ(dir.authenticate("default", "foobare").error(), AuthError::WrongPass);
  EXPECT_EQ(dir.authenticate("default", "").error(), AuthError::WrongPass);
  // The same, given as a hash.
  UserDirectory hashed = build_ok({.requirepass = "#" + to_hex(hash_password("foobared"))});
  EXPECT_TRUE(hashed.authenticate("default", "foobared"));
  EXPECT_FALSE(hashed.authenticate("default", "#" + to_hex(hash_password("foobared"))));
}

TEST(UserDirectory, UsersWithoutDefaultEntryDisableDefault) {
  UserDirectory dir = build_ok(shop_spec());
  EXPECT_TRUE(dir.auth_configured());
  EXPECT_EQ(dir.initial_user(), nullptr);
  const User* def = dir.find("default");
  ASSERT_NE(def, nullptr);
  EXPECT_FALSE(def->enabled);
  EXPECT_FALSE(permits(*def, CommandClass::read, "x"));
  EXPECT_FALSE(permits(*def, CommandClass::connection, std::nullopt));
  EXPECT_EQ(dir.authenticate("default", "").error(), AuthError::WrongPass);
  EXPECT_EQ(dir.size(), 5u);
}

TEST(UserDirectory, AnExplicitDefaultUserIsUsedAsWritten) {
  AuthSpec spec;
  spec.users.push_back({.name = "default", .nopass = true, .commands = {"read"}});
  UserDirectory dir = build_ok(spec);
  EXPECT_TRUE(dir.auth_configured());
  const User* initial = dir.initial_user();
  ASSERT_NE(initial, nullptr);
  EXPECT_TRUE(permits(*initial, CommandClass::read, "s"));
  EXPECT_FALSE(permits(*initial, CommandClass::write, "s"));

  spec.requirepass = "pw";
  EXPECT_NE(build_error(spec).find("requirepass"), std::string::npos);
}

TEST(UserDirectory, Authenticate) {
  UserDirectory dir = build_ok(shop_spec());
  auto admin = dir.authenticate("admin", "root-pw");
  ASSERT_TRUE(admin);
  EXPECT_EQ((*admin)->name, "admin");
  // Either of several passwords, plain or hashed in the config.
  EXPECT_TRUE(dir.authenticate("reader", "r1"));
  EXPECT_TRUE(dir.authenticate("reader", "r2"));
  EXPECT_EQ(dir.authenticate("reader", "root-pw").error(), AuthError::WrongPass);
  // Another user's password does not open this one; names are case-sensitive.
  EXPECT_EQ(dir.authenticate("orders", "r1").error(), AuthError::WrongPass);
  EXPECT_EQ(dir.authenticate("Admin", "root-pw").error(), AuthError::WrongPass);
  EXPECT_EQ(dir.authenticate("nobody", "root-pw").error(), AuthError::WrongPass);
  // Disabled: only with the right password (a wrong one says WrongPass), same reply words.
  EXPECT_EQ(dir.authenticate("gone", "gone-pw").error(), AuthError::Disabled);
  EXPECT_EQ(dir.authenticate("gone", "nope").error(), AuthError::WrongPass);
  EXPECT_EQ(error_line(AuthError::Disabled), error_line(AuthError::WrongPass));
  EXPECT_EQ(error_line(AuthError::WrongPass),
            "WRONGPASS invalid username-password pair or user is disabled.");
}

TEST(UserDirectory, PermitsByClassAndStream) {
  UserDirectory dir = build_ok(shop_spec());
  const User& admin = *dir.find("admin");
  const User& reader = *dir.find("reader");
  const User& orders = *dir.find("orders");
  const User& gone = *dir.find("gone");

  for (const User* user : {&admin, &reader, &orders}) {
    EXPECT_TRUE(permits(*user, CommandClass::connection, std::nullopt)) << user->name;
  }
  EXPECT_TRUE(permits(admin, CommandClass::admin, std::nullopt));
  EXPECT_TRUE(permits(admin, CommandClass::write, "x"));
  EXPECT_TRUE(permits(admin, CommandClass::read, std::nullopt));

  EXPECT_TRUE(permits(reader, CommandClass::read, "orders-1"));
  EXPECT_TRUE(permits(reader, CommandClass::read, std::nullopt));
  EXPECT_TRUE(permits(reader, CommandClass::subscribe, std::nullopt));
  EXPECT_FALSE(permits(reader, CommandClass::write, "orders-1"));
  EXPECT_FALSE(permits(reader, CommandClass::admin, std::nullopt));

  EXPECT_TRUE(permits(orders, CommandClass::write, "orders-1"));
  EXPECT_TRUE(permits(orders, CommandClass::write, "orders-"));
  EXPECT_TRUE(permits(orders, CommandClass::read, "audit"));
  EXPECT_FALSE(permits(orders, CommandClass::write, "audit-2"));  // exact, not a prefix
  EXPECT_FALSE(permits(orders, CommandClass::write, "order-1"));
  EXPECT_FALSE(permits(orders, CommandClass::write, "payments"));
  EXPECT_FALSE(permits(orders, CommandClass::write, ""));
  // Not one stream (a partition scan): could show other streams' events.
  EXPECT_FALSE(permits(orders, CommandClass::read, std::nullopt));
  EXPECT_FALSE(permits(orders, CommandClass::subscribe, "orders-1"));  // class not granted

  EXPECT_FALSE(permits(gone, CommandClass::read, "x"));
  EXPECT_FALSE(permits(gone, CommandClass::connection, std::nullopt));
}

TEST(UserDirectory, StarPatternMeansAllStreamsAndEmptyListNone) {
  AuthSpec spec;
  spec.users.push_back({.name = "star",
                        .passwords = {"a"},
                        .commands = {"read"},
                        .streams = std::vector<std::string>{"*"}});
  spec.users.push_back({.name = "none",
                        .passwords = {"b"},
                        .commands = {"read"},
                        .streams = std::vector<std::string>{}});
  UserDirectory dir = build_ok(spec);
  EXPECT_TRUE(permits(*dir.find("star"), CommandClass::read, std::nullopt));
  EXPECT_TRUE(permits(*dir.find("star"), CommandClass::read, "q"));
  EXPECT_FALSE(permits(*dir.find("none"), CommandClass::read, "q"));
  EXPECT_FALSE(permits(*dir.find("none"), CommandClass::read, std::nullopt));
}

TEST(UserDirectory, AclListShowsHashesNeverPasswords) {
  UserDirectory dir = build_ok(shop_spec());
  const std::vector<std::string> lines = dir.acl_list();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "user admin on #" + to_hex(hash_password("root-pw")) + " ~* +@all");
  EXPECT_EQ(lines[1], "user default off ~* +@all");
  EXPECT_EQ(lines[2], "user gone off #" + to_hex(hash_password("gone-pw")) + " ~* +@all");
  EXPECT_EQ(lines[3], "user orders on #" + to_hex(hash_password("o-pw")) +
                          " ~orders-* ~audit +@read +@write +@connection");
  EXPECT_EQ(lines[4], "user reader on #" + to_hex(hash_password("r1")) + " #" +
                          to_hex(hash_password("r2")) + " ~* +@read +@subscribe +@connection");
  for (const std::string& line : lines) {
    for (const char* plain : {"root-pw", "r1 ", "o-pw", "gone-pw"}) {
      EXPECT_EQ(line.find(plain), std::string::npos) << line;
    }
  }
}

TEST(UserDirectory, ConfigErrorsNameTheUser) {
  auto with_user = [](UserSpec user) {
    AuthSpec spec;
    spec.users.push_back(std::move(user));
    return spec;
  };
  EXPECT_NE(build_error(with_user({.name = "u", .passwords = {"p"}, .commands = {"wrte"}}))
                .find("user 'u': unknown command class 'wrte'"),
            std::string::npos);
  EXPECT_NE(build_error(with_user({.name = "u", .passwords = {"#12"}})).find("user 'u'"),
            std::string::npos);
  EXPECT_NE(build_error(with_user({.name = "u", .commands = {"read"}})).find("no password"),
            std::string::npos);
  EXPECT_NE(
      build_error(with_user({.name = "u", .passwords = {"p"}, .nopass = true})).find("exclusive"),
      std::string::npos);
  EXPECT_NE(build_error(with_user({.name = "u",
                                   .passwords = {"p"},
                                   .streams = std::vector<std::string>{"ord*ers"}}))
                .find("only at the end"),
            std::string::npos);
  EXPECT_NE(
      build_error(
          with_user({.name = "u", .passwords = {"p"}, .streams = std::vector<std::string>{""}}))
          .find("empty stream pattern"),
      std::string::npos);
  EXPECT_NE(build_error(with_user({.name = "", .passwords = {"p"}})).find("no name"),
            std::string::npos);
  EXPECT_NE(build_error(with_user({.name = "a b", .passwords = {"p"}})).find("white space"),
            std::string::npos);
  AuthSpec twice = shop_spec();
  twice.users.push_back({.name = "reader", .passwords = {"x"}});
  EXPECT_NE(build_error(twice).find("'reader' is defined twice"), std::string::npos);
  // A disabled user needs no password (a placeholder).
  EXPECT_TRUE(UserDirectory::build(with_user({.name = "later", .enabled = false})));
}

TEST(CommandClass, WordsRoundTrip) {
  for (CommandClass cls : {CommandClass::read, CommandClass::write, CommandClass::subscribe,
                           CommandClass::admin, CommandClass::connection}) {
    EXPECT_EQ(parse_command_class(to_string(cls)), cls);
  }
  EXPECT_FALSE(parse_command_class("all"));
  EXPECT_FALSE(parse_command_class("READ"));
}

}  // namespace
}  // namespace sierra::server::auth
