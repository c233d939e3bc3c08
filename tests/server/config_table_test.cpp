// The configuration key table (server/config_keys.hpp): its rows are well formed, and every
// consumer (environment, describe(), --help, the documentation table) covers every row.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "server/config.hpp"
#include "server/config_keys.hpp"
#include "support/temp_dir.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
namespace keys = config_keys;
using Env = std::map<std::string, std::string>;

// Runs the loader in an empty temporary working directory (no ./sierra.toml to pick up).
class ConfigTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = fs::current_path();
    fs::current_path(dir_.path());
  }
  void TearDown() override {
    std::error_code ec;
    fs::current_path(old_, ec);
  }

  static std::expected<Config, ConfigError> load(std::vector<std::string> args,
                                                 const Env& env = {}) {
    args.insert(args.begin(), "sierradb");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return load_config(static_cast<int>(args.size()), argv.data(), env);
  }

 private:
  test_support::TempDir dir_{"sierra-config-table"};
  fs::path old_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(ConfigTableTest, RowsAreWellFormedAndUnique) {
  std::set<std::string_view> names;
  std::set<std::string> envs;
  std::set<std::string_view> flags;
  std::set<const void*> members;  // no two keys share a Config member
  Config c;
  ASSERT_FALSE(keys::keys().empty());
  for (const auto& k : keys::keys()) {
    SCOPED_TRACE(std::string(k.key));
    EXPECT_TRUE(names.insert(k.key).second) << "duplicate key";
    EXPECT_TRUE(envs.insert(keys::env_name(k.key)).second) << "duplicate env var";
    EXPECT_FALSE(k.doc.empty()) << "every key has a one-line doc";
    EXPECT_EQ(k.flag.empty(), k.metavar.empty()) << "a flag needs a metavar and vice versa";
    if (!k.flag.empty()) {
      EXPECT_TRUE(keys::flag_name(k.flag).starts_with("--")) << k.flag;
      EXPECT_TRUE(flags.insert(keys::flag_name(k.flag)).second) << "duplicate flag";
    }
    EXPECT_EQ(keys::find(k.key), &k);
    const void* m = std::visit([&](const auto& f) -> const void* { return &f.get(c); }, k.field);
    EXPECT_TRUE(members.insert(m).second) << "shares its member with another key";
    if (k.range.max) {
      EXPECT_LE(k.range.min, *k.range.max);
    }
  }
  EXPECT_EQ(keys::find("nope"), nullptr);
  EXPECT_EQ(keys::env_name("network.client_address"), "SIERRA_NETWORK__CLIENT_ADDRESS");
  EXPECT_EQ(keys::env_name("network.client_address", "_"), "SIERRA_NETWORK_CLIENT_ADDRESS");
  EXPECT_EQ(keys::flag_name("-l,--log-level,--log"), "--log-level");
  EXPECT_EQ(keys::flag_name("--partitions"), "--partitions");
}

// Setting every key through its environment variable to its default value, as describe()
// prints it, loads the same configuration as setting nothing.
TEST_F(ConfigTableTest, EveryKeyRoundTripsThroughItsEnvironmentVariable) {
  auto plain = load({});
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  Env env;
  for (const auto& k : keys::keys()) {
    std::string v = keys::format_value(k, *plain);
    if (v != "auto") env[keys::env_name(k.key)] = v;  // unset lists print as "auto"
  }
  ASSERT_GT(env.size(), 25u);
  auto set = load({}, env);
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_TRUE(set->warnings.empty()) << set->warnings.front();
  EXPECT_EQ(describe(*set), describe(*plain));
}

// A non-default value set through the environment reaches the key's own member: describe()
// shows it under that key, for every integer key whose range allows a value other than the
// default (checked one key at a time; a cross-key rule may reject some, which are skipped).
TEST_F(ConfigTableTest, EveryIntegerKeyLandsInItsOwnMember) {
  auto plain = load({});
  ASSERT_TRUE(plain.has_value());
  const std::string before = describe(*plain);
  int checked = 0;
  for (const auto& k : keys::keys()) {
    const std::string def = keys::format_value(k, *plain);
    if (def.empty() || !std::all_of(def.begin(), def.end(),
                                    [](unsigned char c) { return std::isdigit(c) != 0; })) {
      continue;  // not an integer key
    }
    const uint64_t value = std::stoull(def) == k.range.min ? k.range.min + 1 : k.range.min;
    if (k.range.max && value > *k.range.max) continue;
    auto r = load({}, {{keys::env_name(k.key), std::to_string(value)}});
    if (!r) {
      // Only cross-key rules may refuse a value inside the key's own range.
      EXPECT_FALSE(contains(r.error().message, "must be between")) << r.error().message;
      continue;
    }
    SCOPED_TRACE(std::string(k.key));
    EXPECT_EQ(keys::format_value(k, *r), std::to_string(value));
    EXPECT_TRUE(contains(describe(*r), std::string(k.key) + "=" + std::to_string(value) + " "));
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST_F(ConfigTableTest, DescribeHelpAndDocCoverEveryKey) {
  auto plain = load({});
  ASSERT_TRUE(plain.has_value());
  const std::string d = describe(*plain);
  auto help = load({"--help"});
  ASSERT_FALSE(help.has_value());
  const std::string table = keys::markdown_table();
  for (const auto& k : keys::keys()) {
    SCOPED_TRACE(std::string(k.key));
    EXPECT_TRUE(contains(d, std::string(k.key) + "=" + keys::format_value(k, *plain)));
    EXPECT_TRUE(contains(table, "| `" + std::string(k.key) + "` |"));
    EXPECT_TRUE(contains(table, "`" + keys::env_name(k.key) + "`"));
    if (!k.flag.empty()) {
      EXPECT_TRUE(contains(help.error().message, std::string(keys::flag_name(k.flag))));
      EXPECT_TRUE(contains(help.error().message, "(" + std::string(k.key) + ")"));
      EXPECT_TRUE(contains(table, std::string(keys::flag_name(k.flag))));
    }
  }
  EXPECT_TRUE(contains(table, "| `nodes` |"));
  // Computed defaults are named, not shown as the default-constructed value.
  EXPECT_TRUE(contains(table, "| `replication.factor` | u8 | `clamp(node.count, 1, 3)` |"));
  EXPECT_TRUE(contains(table, "| `segment.size_bytes` | u64 | `268435456` (256 MiB) |"));
  EXPECT_TRUE(contains(table, "131072..10737418240 (128 KiB..10 GiB)"));
}

TEST_F(ConfigTableTest, PrintConfigDocPrintsTheTableAndExitsZero) {
  auto r = load({"--print-config-doc", "--partitions", "0"});  // nothing else is validated
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().exit_code, 0);
  std::string table = keys::markdown_table();
  ASSERT_TRUE(table.ends_with("\n"));
  table.pop_back();  // main() prints the message and a newline
  EXPECT_EQ(r.error().message, table);
  EXPECT_TRUE(r.error().message.starts_with("| key | type | default | env var | CLI flag |"));
}

}  // namespace
}  // namespace sierra::server
