// Server configuration: one validated Config built from CLI flags, per-node overrides,
// SIERRA_* environment variables, a TOML file and defaults (PROTOCOL.md §8: upstream's keys and
// precedence; DECISIONS.md D2/D3: 32 partitions, 4 buckets, 256 MiB segments, group commit).
// Every key is one row of the key table (config_keys.hpp), which also drives --help, describe()
// and the key table of docs/CONFIGURATION.md (`sierradb --print-config-doc`).
//
// Precedence, highest first:
//   1. CLI flags;
//   2. the [[nodes]] entry at node.index in the config file, flattened to dotted keys;
//   3. environment: SIERRA_<KEY> with "__" as nesting separator (SIERRA_NETWORK__CLIENT_ADDRESS);
//   4. the config file: --config (or SIERRA_CONFIG), else ./sierra.toml, else
//      $XDG_CONFIG_HOME/sierradb/sierra.toml (~/.config/sierradb/sierra.toml), first found only;
//   5. defaults.
//
// load_config never throws. It returns either a Config, or a ConfigError that carries the text
// to print and the process exit code: 0 for --help/--version/--print-config-doc (print to
// stdout), 2 for every configuration problem (print to stderr; one line
// "config error: <key>: <reason>").
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log.hpp"
#include "server/auth/users.hpp"

namespace sierra::server {

using LogLevel = sierra::LogLevel;  // one set of levels for the server and the engine

// "trace", "debug", "info", "warn", "error".
std::string_view to_string(LogLevel level);

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// All values are validated and resolved: computed defaults (threads, replication.factor,
// owned buckets, sync.idle_interval_ms, the capped limits.max_bulk_bytes) are filled in.
// A default-constructed Config equals the single-node defaults, except threads.read, which
// load_config derives from the core count.
struct Config {
  std::string dir = "./data";  // deliberately local (not ~/.local/share/sierradb/db)

  struct Append {
    bool strict_versioning = true;
  } append;

  struct Bucket {
    uint16_t count = 4;
    std::optional<std::vector<uint16_t>> ids;  // as configured; see owned_buckets
  } bucket;

  struct Cache {
    uint64_t capacity_bytes = 256 * kMiB;
  } cache;

  struct Heartbeat {  // cluster only; parsed and validated, unused on a single node
    uint64_t interval_ms = 1000;
    uint64_t timeout_ms = 6000;
  } heartbeat;

  struct Network {
    bool cluster_enabled = true;                         // cluster only
    std::string cluster_address = "/ip4/0.0.0.0/tcp/0";  // cluster only
    std::string client_address = "0.0.0.0:9090";         // as given
    std::string client_host = "0.0.0.0";                 // IP literal, without brackets
    uint16_t client_port = 9090;                         // 0 = any free port
    bool mdns = false;                                   // cluster only
  } network;

  struct Node {
    uint32_t count = 1;
    uint32_t index = 0;
  } node;

  struct Partition {
    uint16_t count = 32;
    std::optional<std::vector<uint16_t>> ids;  // as configured (cluster only)
  } partition;

  struct Replication {
    uint8_t factor = 1;
    uint64_t buffer_size = 1000;
    uint64_t buffer_timeout_ms = 8000;
    uint64_t catchup_timeout_ms = 2000;
  } replication;

  struct Segment {
    uint64_t size_bytes = 256 * kMiB;
    bool compression = true;
  } segment;

  struct Sync {
    uint64_t interval_ms = 0;        // longest an append waits for company (D3: 0 = never)
    uint64_t idle_interval_ms = 0;   // resolved: configured, else min(10 * interval_ms, 1000)
    uint64_t max_batch_size = 1000;  // flush_interval_events: cap on events per group commit
    uint64_t min_bytes = 4096;
  } sync;

  struct Threads {
    uint16_t read = 4;   // resolved: configured, else clamp(2 * cores, 4, 32)
    uint16_t write = 4;  // resolved: configured, else owned_buckets.size()
  } threads;

  struct Limits {
    uint32_t max_clients = 10000;
    uint64_t max_bulk_bytes = 256 * kMiB;  // resolved: configured (512 MiB) capped to segment size
    uint32_t max_array_len = 1048576;
    uint64_t max_pending_reply_bytes = 64 * kMiB;  // per connection
  } limits;

  struct Log {
    LogLevel level = LogLevel::Info;
  } log;

  // Security (docs/SECURITY.md). requirepass: the "default" user's password, plain or
  // "#<sha256 hex>", "" = none. users: the file-only [[users]] array of tables.
  std::string requirepass;
  bool protected_mode = true;
  std::vector<auth::UserSpec> users;

  struct Tls {
    uint16_t port = 0;         // 0 = no TLS listener
    bool client_port = false;  // the network.client_address listener speaks TLS only
    std::string cert_file;
    std::string key_file;
    std::string ca_file;  // "" = none
    bool require_client_cert = false;
    uint64_t handshake_timeout_ms = 10000;

    bool enabled() const { return port != 0 || client_port; }
  } tls;

  // Derived: the buckets this node owns (bucket.ids if set, else its share of the buckets plus
  // the replica ranges of the replication.factor-1 nodes before it), sorted ascending.
  std::vector<uint16_t> owned_buckets = {0, 1, 2, 3};

  // Provenance: the config file that was read ("" if none), and non-fatal findings (unknown
  // keys in the file or environment, ignored per-node keys). Log them at warn level.
  std::string config_file;
  std::vector<std::string> warnings;
};

struct ConfigError {
  int exit_code = 2;  // 0: --help / --version / --print-config-doc (to stdout); 2: bad config
  // Help/version/doc text, or one line "config error: <key>: <reason> [<source>]"; no trailing
  // newline. <source> names where the bad value came from: "--partitions",
  // "env SIERRA_PARTITION__COUNT", "file ./sierra.toml", "nodes[1] in ./sierra.toml".
  std::string message;
};

// Builds the configuration. `env` is the process environment (see capture_environment); it is
// injected so tests need not touch the real one. The default config file ./sierra.toml is looked
// up relative to the current directory; XDG_CONFIG_HOME and HOME are taken from `env`.
std::expected<Config, ConfigError> load_config(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& env);

// A copy of the real process environment (all variables).
std::map<std::string, std::string> capture_environment();

// One line for the start-up log: every key as key=value, e.g.
// "dir=./data network.client_address=0.0.0.0:9090 partition.count=32 ...".
std::string describe(const Config& config);

// The authentication part of the configuration (requirepass and [[users]]).
auth::AuthSpec auth_spec(const Config& config);

// The buckets a node owns when bucket.ids is not set (see Config::owned_buckets).
std::vector<uint16_t> assign_buckets(uint16_t bucket_count, uint32_t node_count,
                                     uint32_t node_index, uint32_t replication_factor);

}  // namespace sierra::server
