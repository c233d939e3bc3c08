#include "server/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace sierra::server {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

using test_support::TempDir;

// Changes the working directory for the scope (for ./sierra.toml discovery).
class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedCwd() {
    std::error_code ec;
    fs::current_path(old_, ec);
  }
  ScopedCwd(const ScopedCwd&) = delete;
  ScopedCwd& operator=(const ScopedCwd&) = delete;

 private:
  fs::path old_;
};

std::expected<Config, ConfigError> load(std::vector<std::string> args, const Env& env = {}) {
  args.insert(args.begin(), "sierradb");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return load_config(static_cast<int>(args.size()), argv.data(), env);
}

// Loads and expects success; fails the test with the error text otherwise.
Config load_ok(std::vector<std::string> args, const Env& env = {}) {
  auto r = load(std::move(args), env);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : Config{};
}

// Loads and expects a configuration error (exit 2, one line, "config error: " prefix).
std::string load_err(std::vector<std::string> args, const Env& env = {}) {
  auto r = load(std::move(args), env);
  EXPECT_FALSE(r.has_value());
  if (r) return {};
  EXPECT_EQ(r.error().exit_code, 2);
  EXPECT_TRUE(r.error().message.starts_with("config error: ")) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  return r.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v) {
    if (contains(s, needle)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

TEST(ConfigTest, DefaultsWithNoSources) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());  // no ./sierra.toml here
  Config c = load_ok({});
  EXPECT_EQ(c.dir, "./data");
  EXPECT_TRUE(c.append.strict_versioning);
  EXPECT_EQ(c.bucket.count, 4);
  EXPECT_FALSE(c.bucket.ids.has_value());
  EXPECT_EQ(c.partition.count, 32);
  EXPECT_FALSE(c.partition.ids.has_value());
  EXPECT_EQ(c.segment.size_bytes, 268435456u);
  EXPECT_TRUE(c.segment.compression);
  EXPECT_EQ(c.network.client_address, "0.0.0.0:9090");
  EXPECT_EQ(c.network.client_host, "0.0.0.0");
  EXPECT_EQ(c.network.client_port, 9090);
  EXPECT_EQ(c.cache.capacity_bytes, 268435456u);
  EXPECT_EQ(c.sync.interval_ms, 0u);
  EXPECT_EQ(c.sync.idle_interval_ms, 0u);
  EXPECT_EQ(c.sync.max_batch_size, 1000u);
  EXPECT_EQ(c.node.count, 1u);
  EXPECT_EQ(c.node.index, 0u);
  EXPECT_EQ(c.replication.factor, 1);
  EXPECT_EQ(c.owned_buckets, (std::vector<uint16_t>{0, 1, 2, 3}));
  EXPECT_EQ(c.threads.write, 4);
  EXPECT_GE(c.threads.read, 4);
  EXPECT_LE(c.threads.read, 32);
  EXPECT_EQ(c.limits.max_clients, 10000u);
  EXPECT_EQ(c.limits.max_bulk_bytes, 256 * kMiB);  // 512 MiB capped to the segment size
  EXPECT_EQ(c.limits.max_array_len, 1048576u);
  EXPECT_EQ(c.limits.max_pending_reply_bytes, 64 * kMiB);
  EXPECT_EQ(c.log.level, LogLevel::Info);
  EXPECT_EQ(c.config_file, "");
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ConfigTest, DefaultConstructedMatchesLoadedDefaults) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  Config loaded = load_ok({});
  Config plain;
  plain.threads.read = loaded.threads.read;  // derived from the core count
  EXPECT_EQ(describe(plain), describe(loaded));
}

TEST(ConfigTest, CliFlagsAlone) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  Config c =
      load_ok({"--dir", "/var/lib/sierra", "--client-address", "127.0.0.1:7000", "--log-level",
               "debug", "--partitions", "64", "--buckets", "8", "--segment-size", "1048576",
               "--strict-versioning", "false", "--node-count", "1", "--node-index", "0"});
  EXPECT_EQ(c.dir, "/var/lib/sierra");
  EXPECT_EQ(c.network.client_host, "127.0.0.1");
  EXPECT_EQ(c.network.client_port, 7000);
  EXPECT_EQ(c.log.level, LogLevel::Debug);
  EXPECT_EQ(c.partition.count, 64);
  EXPECT_EQ(c.bucket.count, 8);
  EXPECT_EQ(c.segment.size_bytes, 1048576u);
  EXPECT_EQ(c.limits.max_bulk_bytes, 1048576u);  // capped to the segment
  EXPECT_FALSE(c.append.strict_versioning);
  EXPECT_EQ(c.owned_buckets.size(), 8u);
  EXPECT_EQ(c.threads.write, 8);
}

TEST(ConfigTest, CliShortFlagsAndEqualsSyntax) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("x.toml", "partition.count = 16\n");
  Config c = load_ok({"-d", "d1", "-c", file, "-l", "warn", "--buckets=2"});
  EXPECT_EQ(c.dir, "d1");
  EXPECT_EQ(c.config_file, file);
  EXPECT_EQ(c.partition.count, 16);
  EXPECT_EQ(c.log.level, LogLevel::Warn);
  EXPECT_EQ(c.bucket.count, 2);
  // Upstream spelling of the log flag is accepted too.
  EXPECT_EQ(load_ok({"--log", "error"}).log.level, LogLevel::Error);
}

TEST(ConfigTest, EnvironmentAloneWithDoubleUnderscoreNesting) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  Config c = load_ok({}, {{"SIERRA_DIR", "/env/dir"},
                          {"SIERRA_NETWORK__CLIENT_ADDRESS", "[::1]:6379"},
                          {"SIERRA_PARTITION__COUNT", "128"},
                          {"SIERRA_BUCKET__COUNT", "16"},
                          {"SIERRA_BUCKET__IDS", "3,1, 2"},
                          {"SIERRA_APPEND__STRICT_VERSIONING", "false"},
                          {"SIERRA_SYNC__INTERVAL_MS", "2"},
                          {"SIERRA_SYNC__MAX_BATCH_SIZE", "50"},
                          {"SIERRA_LIMITS__MAX_CLIENTS", "12"},
                          {"SIERRA_LOG__LEVEL", "TRACE"},
                          {"PATH", "/usr/bin"}});
  EXPECT_EQ(c.dir, "/env/dir");
  EXPECT_EQ(c.network.client_host, "::1");
  EXPECT_EQ(c.network.client_port, 6379);
  EXPECT_EQ(c.partition.count, 128);
  EXPECT_EQ(c.bucket.count, 16);
  EXPECT_EQ(c.bucket.ids, (std::vector<uint16_t>{3, 1, 2}));
  EXPECT_EQ(c.owned_buckets, (std::vector<uint16_t>{1, 2, 3}));
  EXPECT_EQ(c.threads.write, 3);
  EXPECT_FALSE(c.append.strict_versioning);
  EXPECT_EQ(c.sync.interval_ms, 2u);
  EXPECT_EQ(c.sync.idle_interval_ms, 20u);  // min(10 * interval, 1000)
  EXPECT_EQ(c.sync.max_batch_size, 50u);
  EXPECT_EQ(c.limits.max_clients, 12u);
  EXPECT_EQ(c.log.level, LogLevel::Trace);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ConfigTest, EnvironmentSingleUnderscoreIsNotNestingAndWarns) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  Config c =
      load_ok({}, {{"SIERRA_NETWORK_CLIENT_ADDRESS", "127.0.0.1:1"}, {"SIERRA_WHATEVER", "x"}});
  EXPECT_EQ(c.network.client_address, "0.0.0.0:9090");
  EXPECT_TRUE(any_contains(c.warnings, "did you mean SIERRA_NETWORK__CLIENT_ADDRESS"));
  EXPECT_TRUE(any_contains(c.warnings, "SIERRA_WHATEVER"));
}

TEST(ConfigTest, EmptyEnvironmentValueCountsAsUnset) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  Config c = load_ok({}, {{"SIERRA_PARTITION__COUNT", ""}, {"SIERRA_DIR", ""}});
  EXPECT_EQ(c.partition.count, 32);
  EXPECT_EQ(c.dir, "./data");
}

TEST(ConfigTest, FileAlone) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("conf.toml", R"(
dir = "/file/dir"

[append]
strict_versioning = false

[bucket]
count = 8
ids = [0, 2, 4, 6]

[partition]
count = 64

[segment]
size_bytes = 131072
compression = false

[network]
client_address = "127.0.0.1:9999"
cluster_enabled = false

[cache]
capacity_bytes = 0

[sync]
interval_ms = 3
idle_interval_ms = 100
max_batch_size = 10
min_bytes = 0

[threads]
read = 7
write = 2

[limits]
max_clients = 5
max_bulk_bytes = 1000
max_array_len = 77
max_pending_reply_bytes = 1048576

[log]
level = "error"

[replication]
factor = 1
)");
  Config c = load_ok({"--config", file});
  EXPECT_EQ(c.config_file, file);
  EXPECT_EQ(c.dir, "/file/dir");
  EXPECT_FALSE(c.append.strict_versioning);
  EXPECT_EQ(c.bucket.count, 8);
  EXPECT_EQ(c.owned_buckets, (std::vector<uint16_t>{0, 2, 4, 6}));
  EXPECT_EQ(c.partition.count, 64);
  EXPECT_EQ(c.segment.size_bytes, 131072u);
  EXPECT_FALSE(c.segment.compression);
  EXPECT_EQ(c.network.client_port, 9999);
  EXPECT_FALSE(c.network.cluster_enabled);
  EXPECT_EQ(c.cache.capacity_bytes, 0u);
  EXPECT_EQ(c.sync.interval_ms, 3u);
  EXPECT_EQ(c.sync.idle_interval_ms, 100u);
  EXPECT_EQ(c.sync.max_batch_size, 10u);
  EXPECT_EQ(c.sync.min_bytes, 0u);
  EXPECT_EQ(c.threads.read, 7);
  EXPECT_EQ(c.threads.write, 2);
  EXPECT_EQ(c.limits.max_clients, 5u);
  EXPECT_EQ(c.limits.max_bulk_bytes, 1000u);
  EXPECT_EQ(c.limits.max_array_len, 77u);
  EXPECT_EQ(c.limits.max_pending_reply_bytes, 1048576u);
  EXPECT_EQ(c.log.level, LogLevel::Error);
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
}

TEST(ConfigTest, FileDottedKeysAtTopLevel) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("c.toml",
                               "partition.count = 8\nnetwork.client_address = "
                               "\"127.0.0.1:1\"\n");
  Config c = load_ok({"-c", file});
  EXPECT_EQ(c.partition.count, 8);
  EXPECT_EQ(c.network.client_port, 1);
}

TEST(ConfigTest, FileFromSierraConfigEnv) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("e.toml", "dir = \"from-env-file\"\n");
  Config c = load_ok({}, {{"SIERRA_CONFIG", file}});
  EXPECT_EQ(c.dir, "from-env-file");
  EXPECT_EQ(c.config_file, file);
}

TEST(ConfigTest, FileDiscoveredInWorkingDirectory) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  tmp.write("sierra.toml", "dir = \"cwd-file\"\n");
  Config c = load_ok({});
  EXPECT_EQ(c.dir, "cwd-file");
  EXPECT_EQ(c.config_file, "./sierra.toml");
}

TEST(ConfigTest, FileDiscoveredInXdgConfigHome) {
  TempDir tmp;
  TempDir work;
  ScopedCwd cwd(work.path());
  tmp.write("xdg/sierradb/sierra.toml", "dir = \"xdg-file\"\n");
  EXPECT_EQ(load_ok({}, {{"XDG_CONFIG_HOME", (tmp.path() / "xdg").string()}}).dir, "xdg-file");
  tmp.write("home/.config/sierradb/sierra.toml", "dir = \"home-file\"\n");
  EXPECT_EQ(load_ok({}, {{"HOME", (tmp.path() / "home").string()}}).dir, "home-file");
  // ./sierra.toml wins over the XDG file; only one file is read.
  work.write("sierra.toml", "partition.count = 8\n");
  Config c = load_ok({}, {{"XDG_CONFIG_HOME", (tmp.path() / "xdg").string()}});
  EXPECT_EQ(c.dir, "./data");
  EXPECT_EQ(c.partition.count, 8);
}

TEST(ConfigTest, ExplicitConfigFileMustExist) {
  TempDir tmp;
  std::string missing = (tmp.path() / "nope.toml").string();
  EXPECT_TRUE(contains(load_err({"--config", missing}), missing));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_CONFIG", missing}}), missing));
}

TEST(ConfigTest, PrecedenceCliOverEnvOverFileOverDefault) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("p.toml", R"(
dir = "file"
partition.count = 16
bucket.count = 2
log.level = "debug"
network.client_address = "127.0.0.1:1111"
append.strict_versioning = false
)");
  const Env env = {
      {"SIERRA_DIR", "env"}, {"SIERRA_PARTITION__COUNT", "8"}, {"SIERRA_LOG__LEVEL", "warn"}};

  // File over default.
  Config f = load_ok({"-c", file});
  EXPECT_EQ(f.dir, "file");
  EXPECT_EQ(f.partition.count, 16);
  EXPECT_EQ(f.bucket.count, 2);
  EXPECT_EQ(f.log.level, LogLevel::Debug);

  // Env over file (where set); file still over default elsewhere.
  Config e = load_ok({"-c", file}, env);
  EXPECT_EQ(e.dir, "env");
  EXPECT_EQ(e.partition.count, 8);
  EXPECT_EQ(e.log.level, LogLevel::Warn);
  EXPECT_EQ(e.bucket.count, 2);
  EXPECT_EQ(e.network.client_port, 1111);
  EXPECT_FALSE(e.append.strict_versioning);
  EXPECT_EQ(e.segment.size_bytes, 268435456u);  // default

  // CLI over env and file.
  Config c = load_ok({"-c", file, "--dir", "cli", "--partitions", "4", "--log-level", "error",
                      "--client-address", "127.0.0.1:2222", "--strict-versioning", "true"},
                     env);
  EXPECT_EQ(c.dir, "cli");
  EXPECT_EQ(c.partition.count, 4);
  EXPECT_EQ(c.log.level, LogLevel::Error);
  EXPECT_EQ(c.network.client_port, 2222);
  EXPECT_TRUE(c.append.strict_versioning);
  EXPECT_EQ(c.bucket.count, 2);  // still the file's
}

TEST(ConfigTest, CliConfigOverridesSierraConfigEnv) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string a = tmp.write("a.toml", "dir = \"a\"\n");
  std::string b = tmp.write("b.toml", "dir = \"b\"\n");
  EXPECT_EQ(load_ok({"-c", a}, {{"SIERRA_CONFIG", b}}).dir, "a");
}

TEST(ConfigTest, NodeOverrides) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("cluster.toml", R"(
bucket.count = 4
partition.count = 16
network.mdns = true
dir = "shared"

[[nodes]]
dir = "target/db-0"
network.client_address = "0.0.0.0:9090"

[[nodes]]
dir = "target/db-1"
network = { client_address = "0.0.0.0:9091" }
sync.max_batch_size = 7

[[nodes]]
dir = "target/db-2"
network.client_address = "0.0.0.0:9092"
node.index = 0
)");
  Config c = load_ok({"-c", file, "--node-index", "1"});
  EXPECT_EQ(c.node.count, 3u);  // number of [[nodes]]
  EXPECT_EQ(c.node.index, 1u);
  EXPECT_EQ(c.dir, "target/db-1");
  EXPECT_EQ(c.network.client_port, 9091);
  EXPECT_EQ(c.sync.max_batch_size, 7u);
  EXPECT_TRUE(c.network.mdns);
  EXPECT_EQ(c.replication.factor, 3);  // clamp(node.count, 1, 3)
  EXPECT_EQ(c.owned_buckets, (std::vector<uint16_t>{0, 1, 2, 3}));
  EXPECT_TRUE(any_contains(c.warnings, "node.index in nodes[2]"));

  // The override beats the environment; CLI beats the override.
  Config e = load_ok({"-c", file, "-i", "2", "--client-address", "127.0.0.1:1"},
                     {{"SIERRA_DIR", "env"}, {"SIERRA_SYNC__MAX_BATCH_SIZE", "9"}});
  EXPECT_EQ(e.dir, "target/db-2");
  EXPECT_EQ(e.sync.max_batch_size, 9u);  // no override for it in nodes[2]
  EXPECT_EQ(e.network.client_port, 1);

  // The index may come from the environment or the file.
  EXPECT_EQ(load_ok({"-c", file}, {{"SIERRA_NODE__INDEX", "0"}}).dir, "target/db-0");
  std::string with_index = tmp.write("c2.toml",
                                     "node.index = 2\n[[nodes]]\n[[nodes]]\n"
                                     "[[nodes]]\ndir = \"two\"\n");
  EXPECT_EQ(load_ok({"-c", with_index}).dir, "two");
}

TEST(ConfigTest, NodeIndexRules) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  EXPECT_TRUE(contains(load_err({"--node-count", "3"}), "config error: node.index: required"));
  EXPECT_TRUE(contains(load_err({"-n", "3", "-i", "3"}), "node.index: must be less than"));
  EXPECT_TRUE(contains(load_err({"-n", "0"}), "node.count: must be at least 1 (got 0)"));
  std::string file = tmp.write("n.toml", "[[nodes]]\ndir = \"a\"\n[[nodes]]\ndir = \"b\"\n");
  EXPECT_TRUE(contains(load_err({"-c", file, "-n", "3", "-i", "2"}), "nodes: has 2 entries"));
  std::string bad = tmp.write("b.toml", "nodes = 5\n");
  EXPECT_TRUE(contains(load_err({"-c", bad}), "config error: nodes: expected an array of tables"));
  Config c = load_ok({"-n", "3", "-i", "2", "--partitions", "6"});
  EXPECT_EQ(c.owned_buckets, (std::vector<uint16_t>{0, 1, 2, 3}));  // factor 3 holds all
}

TEST(ConfigTest, BadValueFromCliNamesKey) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  EXPECT_EQ(load_err({"--partitions", "0"}),
            "config error: partition.count: must be between 1 and 65535 (got 0) [--partitions]");
  EXPECT_TRUE(contains(load_err({"--partitions", "70000"}), "partition.count: must be between"));
  EXPECT_TRUE(contains(load_err({"--partitions", "abc"}),
                       "partition.count: expected a non-negative integer (got \"abc\")"));
  EXPECT_TRUE(contains(load_err({"--buckets", "-1"}), "bucket.count: must be between"));
  EXPECT_TRUE(contains(load_err({"--segment-size", "4096"}),
                       "segment.size_bytes: must be between 131072 and 10737418240 (got 4096)"));
  EXPECT_TRUE(contains(load_err({"--strict-versioning", "maybe"}),
                       "append.strict_versioning: expected true or false"));
  EXPECT_TRUE(contains(load_err({"--log-level", "verbose"}), "log.level: must be one of"));
  EXPECT_TRUE(contains(load_err({"--dir", ""}), "dir: must not be empty"));
}

TEST(ConfigTest, ClientAddressValidation) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  for (const char* bad : {"0.0.0.0", "0.0.0.0:", "0.0.0.0:99999", "0.0.0.0:port", "localhost:9090",
                          "::1:9090", "[::1]9090", "[nope]:1", "1.2.3:80"}) {
    std::string msg = load_err({"--client-address", bad});
    EXPECT_TRUE(contains(msg, "config error: network.client_address: ")) << bad << ": " << msg;
    EXPECT_TRUE(contains(msg, "[--client-address]")) << msg;
  }
  Config c = load_ok({"--client-address", "127.0.0.1:0"});
  EXPECT_EQ(c.network.client_port, 0);
  Config v6 = load_ok({"--client-address", "[::]:9090"});
  EXPECT_EQ(v6.network.client_host, "::");
}

TEST(ConfigTest, BadValueFromEnvNamesKeyAndVariable) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  EXPECT_EQ(load_err({}, {{"SIERRA_SEGMENT__SIZE_BYTES", "1000"}}),
            "config error: segment.size_bytes: must be between 131072 and 10737418240 (got "
            "1000) [env SIERRA_SEGMENT__SIZE_BYTES]");
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_BUCKET__IDS", "0,x"}}),
                       "bucket.ids: element 1: expected a non-negative integer"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_THREADS__READ", "0"}}),
                       "threads.read: must be between 1 and 1024 (got 0)"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_LIMITS__MAX_CLIENTS", "99999999999999999999999"}}),
                       "limits.max_clients: must be between"));
}

TEST(ConfigTest, BadValueFromFileNamesKeyAndFile) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("bad.toml", "[bucket]\ncount = 0\n");
  EXPECT_EQ(load_err({"-c", file}),
            "config error: bucket.count: must be between 1 and 65535 (got 0) [file " + file + "]");
  std::string neg = tmp.write("neg.toml", "sync.interval_ms = -5\n");
  EXPECT_TRUE(
      contains(load_err({"-c", neg}), "sync.interval_ms: must be between 0 and 10000 (got -5)"));
  std::string node = tmp.write("node.toml", "[[nodes]]\npartition.count = 0\n");
  EXPECT_TRUE(contains(load_err({"-c", node}),
                       "partition.count: must be between 1 and 65535 "
                       "(got 0) [nodes[0] in " +
                           node + "]"));
}

TEST(ConfigTest, TomlTypeErrorsNameTheKey) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  struct Case {
    const char* toml;
    const char* expected;
  };
  const Case cases[] = {
      {"partition.count = \"32\"",
       "config error: partition.count: expected an integer, got a string (\"32\")"},
      {"segment.size_bytes = 1.5", "segment.size_bytes: expected an integer, got a float"},
      {"dir = 5", "config error: dir: expected a string, got an integer (5)"},
      {"append.strict_versioning = \"yes\"",
       "append.strict_versioning: expected a boolean, got a string"},
      {"bucket.ids = [0, \"1\"]", "bucket.ids: element 1: expected an integer, got a string"},
      {"bucket.ids = 3", "bucket.ids: expected a list of integers, got an integer"},
      {"[partition.count]\nx = 1", "partition.count: expected an integer, got a table"},
      {"network.client_address = 9090",
       "network.client_address: expected a string, got an integer"},
      {"log.level = true", "log.level: expected a string, got a boolean"},
      {"sync.interval_ms = 1979-05-27", "sync.interval_ms: expected an integer, got a date/time"},
  };
  for (const auto& tc : cases) {
    std::string file = tmp.write("t.toml", std::string(tc.toml) + "\n");
    std::string msg = load_err({"-c", file});
    EXPECT_TRUE(contains(msg, tc.expected)) << tc.toml << " -> " << msg;
  }
}

TEST(ConfigTest, TomlSyntaxErrorGivesFileAndLine) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string file = tmp.write("syntax.toml", "dir = \"ok\"\npartition.count = = 3\n");
  std::string msg = load_err({"-c", file});
  EXPECT_TRUE(contains(msg, "config error: " + file + ":2:")) << msg;
}

TEST(ConfigTest, UnknownTomlKeysAreIgnoredWithWarnings) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  // The stale upstream sample file has top-level mdns / replication_factor keys.
  std::string file = tmp.write("u.toml", R"(
mdns = true
replication_factor = 3
partition.count = 8
partition.cuont = 9
[foo]
bar = 1
)");
  Config c = load_ok({"-c", file});
  EXPECT_EQ(c.partition.count, 8);
  EXPECT_EQ(c.warnings.size(), 4u);
  EXPECT_TRUE(any_contains(c.warnings, "ignoring unknown key mdns"));
  EXPECT_TRUE(any_contains(c.warnings, "ignoring unknown key replication_factor"));
  EXPECT_TRUE(any_contains(c.warnings, "ignoring unknown key partition.cuont"));
  EXPECT_TRUE(any_contains(c.warnings, "ignoring unknown key foo.bar"));
}

TEST(ConfigTest, CrossFieldRules) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  EXPECT_TRUE(contains(load_err({"--buckets", "64"}),
                       "config error: bucket.count: must not exceed partition.count (32) (got 64) "
                       "[--buckets]"));
  EXPECT_TRUE(
      contains(load_err({}, {{"SIERRA_BUCKET__IDS", "1,1"}}), "bucket.ids: duplicate bucket 1"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_BUCKET__IDS", "0,4"}}),
                       "bucket.ids: bucket 4 is not less than bucket.count (4)"));
  EXPECT_TRUE(
      contains(load_err({}, {{"SIERRA_BUCKET__IDS", "[]"}}), "bucket.ids: must not be empty"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_PARTITION__IDS", "0,32"}}),
                       "partition.ids: partition 32 is not less than partition.count (32)"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_PARTITION__IDS", "5,5"}}),
                       "partition.ids: duplicate partition 5"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_THREADS__WRITE", "3"}}),
                       "threads.write: must divide the number of owned buckets (4) (got 3)"));
  EXPECT_TRUE(
      contains(load_err({}, {{"SIERRA_THREADS__WRITE", "8"}}), "threads.write: must divide"));
  EXPECT_EQ(load_ok({}, {{"SIERRA_THREADS__WRITE", "2"}}).threads.write, 2);
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_HEARTBEAT__TIMEOUT_MS", "1000"}}),
                       "heartbeat.timeout_ms: must be greater than heartbeat.interval_ms"));
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_REPLICATION__FACTOR", "2"}}),
                       "replication.factor: must not exceed node.count (1) (got 2)"));
  EXPECT_TRUE(contains(load_err({"-n", "2", "-i", "0"}, {{"SIERRA_NETWORK__CLUSTER_ENABLED", "0"}}),
                       "node.count: must be 1 when network.cluster_enabled is false"));
  EXPECT_TRUE(contains(load_err({"-n", "40", "-i", "0"}),
                       "partition.count: must be at least node.count (40) (got 32)"));
  EXPECT_TRUE(contains(load_err({"-n", "8", "-i", "7"}, {{"SIERRA_REPLICATION__FACTOR", "1"}}),
                       "bucket.count: node 7 would own no bucket"));
  // The idle interval must be >= the interval (upstream had this inverted).
  EXPECT_TRUE(contains(
      load_err({}, {{"SIERRA_SYNC__INTERVAL_MS", "10"}, {"SIERRA_SYNC__IDLE_INTERVAL_MS", "5"}}),
      "sync.idle_interval_ms: must be at least sync.interval_ms (10) (got 5)"));
  EXPECT_EQ(
      load_ok({}, {{"SIERRA_SYNC__INTERVAL_MS", "10"}, {"SIERRA_SYNC__IDLE_INTERVAL_MS", "10"}})
          .sync.idle_interval_ms,
      10u);
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_NETWORK__CLUSTER_ADDRESS", "tcp://x"}}),
                       "network.cluster_address: must be a multiaddr"));
}

TEST(ConfigTest, MaxBulkBytesIsCappedToSegmentSize) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  EXPECT_EQ(load_ok({"--segment-size", "1073741824"}).limits.max_bulk_bytes, 512 * kMiB);
  EXPECT_EQ(load_ok({"--segment-size", "131072"}).limits.max_bulk_bytes, 131072u);
  EXPECT_EQ(load_ok({}, {{"SIERRA_LIMITS__MAX_BULK_BYTES", "4096"}}).limits.max_bulk_bytes, 4096u);
  EXPECT_TRUE(contains(load_err({}, {{"SIERRA_LIMITS__MAX_PENDING_REPLY_BYTES", "10"}}),
                       "limits.max_pending_reply_bytes: must be at least 65536 (got 10)"));
}

TEST(ConfigTest, HelpAndVersion) {
  for (const char* flag : {"--help", "-h"}) {
    auto r = load({flag});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().exit_code, 0);
    for (const char* opt : {"--dir", "--client-address", "--config", "--log-level", "--partitions",
                            "--buckets", "--segment-size", "--strict-versioning", "--node-count",
                            "--node-index", "--version", "SIERRA_"}) {
      EXPECT_TRUE(contains(r.error().message, opt)) << opt;
    }
  }
  for (const char* flag : {"--version", "-V"}) {
    auto r = load({flag, "--partitions", "0"});  // nothing else is validated
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().exit_code, 0);
    EXPECT_TRUE(r.error().message.starts_with("sierradb ")) << r.error().message;
#ifdef SIERRA_VERSION
    EXPECT_TRUE(contains(r.error().message, SIERRA_VERSION));
#endif
  }
}

TEST(ConfigTest, CommandLineUsageErrors) {
  EXPECT_TRUE(contains(load_err({"--bogus"}), "config error: command line: "));
  EXPECT_TRUE(contains(load_err({"stray"}), "config error: command line: "));
  EXPECT_TRUE(contains(load_err({"--partitions"}), "config error: command line: "));
}

TEST(ConfigTest, NoArgvAtAll) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  auto r = load_config(0, nullptr, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->partition.count, 32);
}

TEST(ConfigTest, AssignBuckets) {
  using V = std::vector<uint16_t>;
  EXPECT_EQ(assign_buckets(4, 1, 0, 1), (V{0, 1, 2, 3}));
  // 4 buckets over 3 nodes: the first 4 % 3 = 1 node gets one extra.
  EXPECT_EQ(assign_buckets(4, 3, 0, 1), (V{0, 1}));
  EXPECT_EQ(assign_buckets(4, 3, 1, 1), (V{2}));
  EXPECT_EQ(assign_buckets(4, 3, 2, 1), (V{3}));
  // Factor 2: also the range of the node before (wrapping).
  EXPECT_EQ(assign_buckets(4, 3, 0, 2), (V{0, 1, 3}));
  EXPECT_EQ(assign_buckets(4, 3, 1, 2), (V{0, 1, 2}));
  EXPECT_EQ(assign_buckets(2, 3, 2, 1), (V{}));
  EXPECT_EQ(assign_buckets(4, 0, 0, 1), (V{}));
}

TEST(ConfigTest, DescribeListsEveryImportantKey) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  std::string d = describe(load_ok({"--dir", "/x"}));
  EXPECT_EQ(d.find('\n'), std::string::npos);
  for (const char* kv :
       {"dir=/x", "network.client_address=0.0.0.0:9090", "partition.count=32", "bucket.count=4",
        "owned_buckets=[0,1,2,3]", "segment.size_bytes=268435456", "append.strict_versioning=true",
        "sync.interval_ms=0", "sync.max_batch_size=1000", "threads.write=4", "node.count=1",
        "node.index=0", "replication.factor=1", "limits.max_clients=10000", "log.level=info",
        "config_file=none"}) {
    EXPECT_TRUE(contains(d, kv)) << kv << " in " << d;
  }
}

TEST(ConfigTest, CaptureEnvironment) {
  ASSERT_EQ(::setenv("SIERRA_CONFIG_TEST_PROBE", "a=b", 1), 0);
  auto env = capture_environment();
  ::unsetenv("SIERRA_CONFIG_TEST_PROBE");
  ASSERT_TRUE(env.contains("SIERRA_CONFIG_TEST_PROBE"));
  EXPECT_EQ(env["SIERRA_CONFIG_TEST_PROBE"], "a=b");
}

// ---------------------------------------------------------------------------------------------
// Security keys (docs/SECURITY.md): [[users]], requirepass, protected_mode, tls.*.

TEST(ConfigSecurityTest, UsersArrayOfTablesAndRequirepass) {
  TempDir tmp;
  std::string file = tmp.write("s.toml", R"(
requirepass = "#1b58ee375b42e41f0e48ef2ff27d10a5b1f6924a9acdcdba7cae868e7adce6bf"
protected_mode = false
[[users]]
name = "orders"
passwords = ["a", "b"]
commands = ["read", "write"]
streams = ["orders-*"]
[[users]]
name = "retired"
enabled = false
nopass = true
[tls]
port = 9443
cert_file = "c.pem"
key_file = "k.pem"
)");
  Config c = load_ok({"--config", file});
  EXPECT_FALSE(c.protected_mode);
  ASSERT_EQ(c.users.size(), 2u);
  EXPECT_EQ(c.users[0].name, "orders");
  EXPECT_EQ(c.users[0].passwords, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.users[0].streams, (std::vector<std::string>{"orders-*"}));
  EXPECT_FALSE(c.users[1].enabled);
  EXPECT_EQ(c.tls.port, 9443);
  EXPECT_TRUE(c.tls.enabled());
  // The password is never shown.
  const std::string shown = describe(c);
  EXPECT_TRUE(contains(shown, "requirepass=(hidden)")) << shown;
  EXPECT_FALSE(contains(shown, "1b58ee")) << shown;
}

TEST(ConfigSecurityTest, BadUsersAndTlsAreConfigErrors) {
  TempDir tmp;
  EXPECT_TRUE(contains(load_err({"--config", tmp.write("a.toml", "[[users]]\nname = \"x\"\n")}),
                       "config error: users: user 'x': has no password"));
  EXPECT_TRUE(
      contains(load_err({"--config", tmp.write("b.toml", "[[users]]\nname = \"x\"\ncolor = 1\n")}),
               "users[0].color: unknown key"));
  EXPECT_TRUE(contains(load_err({"--config", tmp.write("c.toml", "users = 3\n")}),
                       "users: expected an array of tables"));
  EXPECT_TRUE(contains(load_err({"--config", tmp.write("d.toml", "tls.port = 9443\n")}),
                       "tls.cert_file: required when TLS is on"));
  EXPECT_TRUE(contains(load_err({"--config", tmp.write("e.toml",
                                                       "tls.port = 1\ntls.cert_file = \"c\"\n"
                                                       "tls.key_file = \"k\"\n"
                                                       "tls.require_client_cert = true\n")}),
                       "tls.require_client_cert: needs tls.ca_file"));
}

}  // namespace
}  // namespace sierra::server
