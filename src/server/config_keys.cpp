#include "server/config_keys.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <type_traits>

#include "server/config_text.hpp"

namespace sierra::server::config_keys {
namespace {

// ---------------------------------------------------------------------------------------------
// Rules of single keys.

std::string check_dir(Config& c) {
  return trim(c.dir).empty() ? "must not be empty" : "";
}

// "ip:port" or "[ipv6]:port"; an IP literal (no host names), port 0..65535. Fills client_host
// and client_port.
std::string check_client_address(Config& c) {
  std::string_view s = c.network.client_address;
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return "expected host:port or [ipv6]:port (got " + quote(s) + ")";
    }
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
      return "not an IPv6 address: " + quote(host) + " (got " + quote(s) + ")";
    }
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return "expected host:port (got " + quote(s) + ")";
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return "an IPv6 address must be in brackets, e.g. [::1]:9090 (got " + quote(s) + ")";
    }
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) {
      return "host must be an IP address such as 0.0.0.0 or 127.0.0.1 (got " + quote(s) + ")";
    }
  }
  uint32_t p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535) {
    return "port must be a number 0..65535 (got " + quote(s) + ")";
  }
  c.network.client_host = host;
  c.network.client_port = static_cast<uint16_t>(p);
  return "";
}

std::string check_cluster_address(Config& c) {
  if (c.network.cluster_address.starts_with("/")) return "";
  return "must be a multiaddr such as /ip4/0.0.0.0/tcp/0 (got " + quote(c.network.cluster_address) +
         ")";
}

// ---------------------------------------------------------------------------------------------
// The table. Rules that involve several keys are in build() (config.cpp); computed defaults are
// filled there too, and named here in default_doc.

using C = Config;

const KeySpec kKeys[] = {
    {.key = "dir",
     .field = member<&C::dir>(),
     .check = check_dir,
     .flag = "-d,--dir",
     .metavar = "PATH",
     .doc = "Data directory",
     .rule = "not empty",
     .type_doc = "path"},
    {.key = "append.strict_versioning",
     .field = member<&C::append, &C::Append::strict_versioning>(),
     .flag = "--strict-versioning",
     .metavar = "BOOL",
     .doc = "Appends must give an exact expected version (no `any`/`exists`)"},
    {.key = "partition.count",
     .field = member<&C::partition, &C::Partition::count>(),
     .range = {1, 65535},
     .flag = "--partitions",
     .metavar = "N",
     .doc = "Number of partitions",
     .rule = "≥ `node.count`, ≥ `bucket.count`; fixed per data dir"},
    {.key = "bucket.count",
     .field = member<&C::bucket, &C::Bucket::count>(),
     .range = {1, 65535},
     .flag = "--buckets",
     .metavar = "N",
     .doc = "Number of buckets",
     .rule = "≤ `partition.count`; fixed per data dir"},
    {.key = "bucket.ids",
     .field = member<&C::bucket, &C::Bucket::ids>(),
     .doc = "The buckets this node owns",
     .rule = "if set: not empty, no duplicates, each < `bucket.count`",
     .default_doc = "unset (computed)"},
    {.key = "partition.ids",
     .field = member<&C::partition, &C::Partition::ids>(),
     .doc = "The partitions this node owns (cluster only)",
     .rule = "if set: no duplicates, each < `partition.count`",
     .default_doc = "unset"},
    {.key = "cache.capacity_bytes",
     .field = member<&C::cache, &C::Cache::capacity_bytes>(),
     .doc = "Cache capacity in bytes (0 = no cache)"},
    {.key = "heartbeat.interval_ms",
     .field = member<&C::heartbeat, &C::Heartbeat::interval_ms>(),
     .range = {1, std::nullopt},
     .doc = "Heartbeat interval (cluster only)"},
    {.key = "heartbeat.timeout_ms",
     .field = member<&C::heartbeat, &C::Heartbeat::timeout_ms>(),
     .range = {1, std::nullopt},
     .doc = "Heartbeat timeout (cluster only)",
     .rule = "> `heartbeat.interval_ms`"},
    {.key = "network.cluster_enabled",
     .field = member<&C::network, &C::Network::cluster_enabled>(),
     .doc = "Whether this node may be part of a cluster",
     .rule = "if false, `node.count` must be 1"},
    {.key = "network.cluster_address",
     .field = member<&C::network, &C::Network::cluster_address>(),
     .check = check_cluster_address,
     .flag = "--cluster-address",
     .metavar = "MULTIADDR",
     .doc = "Cluster listen multiaddr (cluster only)",
     .rule = "starts with `/`",
     .type_doc = "multiaddr"},
    {.key = "network.client_address",
     .field = member<&C::network, &C::Network::client_address>(),
     .check = check_client_address,
     .flag = "--client-address",
     .metavar = "IP:PORT",
     .doc = "Client listen address",
     .rule = "IP literal (IPv6 in brackets: `[::1]:9090`), port 0..65535 (0 = any free port); "
             "host names are rejected",
     .type_doc = "`ip:port`"},
    {.key = "network.mdns",
     .field = member<&C::network, &C::Network::mdns>(),
     .flag = "--mdns",
     .metavar = "BOOL",
     .doc = "Discover peers by mDNS (cluster only)"},
    {.key = "node.count",
     .field = member<&C::node, &C::Node::count>(),
     .range = {1, std::nullopt},
     .flag = "-n,--node-count",
     .metavar = "N",
     .scope = Scope::NotPerNode,
     .doc = "Number of nodes",
     .default_doc = "number of `[[nodes]]`, else 1"},
    {.key = "node.index",
     .field = member<&C::node, &C::Node::index>(),
     .flag = "-i,--node-index",
     .metavar = "N",
     .scope = Scope::NotPerNode,
     .doc = "Index of this node",
     .rule = "< `node.count`; required when `node.count` > 1; a `[[nodes]]` entry must exist for "
             "it when the file has any"},
    {.key = "replication.factor",
     .field = member<&C::replication, &C::Replication::factor>(),
     .range = {1, 255},
     .doc = "Copies of each bucket",
     .rule = "≤ `node.count`",
     .default_doc = "`clamp(node.count, 1, 3)`"},
    {.key = "replication.buffer_size",
     .field = member<&C::replication, &C::Replication::buffer_size>(),
     .range = {1, std::nullopt},
     .doc = "Replication buffer size (cluster only)"},
    {.key = "replication.buffer_timeout_ms",
     .field = member<&C::replication, &C::Replication::buffer_timeout_ms>(),
     .range = {1, std::nullopt},
     .doc = "Replication buffer timeout (cluster only)"},
    {.key = "replication.catchup_timeout_ms",
     .field = member<&C::replication, &C::Replication::catchup_timeout_ms>(),
     .range = {1, std::nullopt},
     .doc = "Replication catch-up timeout (cluster only)"},
    {.key = "segment.size_bytes",
     .field = member<&C::segment, &C::Segment::size_bytes>(),
     .range = {128 * kKiB, 10 * kGiB},
     .flag = "--segment-size",
     .metavar = "BYTES",
     .doc = "Segment file size in bytes",
     .rule = "fixed per data dir"},
    {.key = "segment.compression",
     .field = member<&C::segment, &C::Segment::compression>(),
     .doc = "Compress event payloads"},
    {.key = "sync.interval_ms",
     .field = member<&C::sync, &C::Sync::interval_ms>(),
     .range = {0, 10000},
     .doc = "Longest an append waits for company before its group commit (D3 "
            "`flush_interval_duration`); 0 = never wait on purpose"},
    {.key = "sync.idle_interval_ms",
     .field = member<&C::sync, &C::Sync::idle_interval_ms>(),
     .range = {0, 60000},
     .doc = "Sync interval when idle",
     .rule = "≥ `sync.interval_ms` (upstream had this check inverted)",
     .default_doc = "`min(10 × sync.interval_ms, 1000)`"},
    {.key = "sync.max_batch_size",
     .field = member<&C::sync, &C::Sync::max_batch_size>(),
     .range = {1, 1000000},
     .doc = "Most events in one group commit (D3 `flush_interval_events`)"},
    {.key = "sync.min_bytes",
     .field = member<&C::sync, &C::Sync::min_bytes>(),
     .doc = "Minimum bytes for a sync"},
    {.key = "threads.read",
     .field = member<&C::threads, &C::Threads::read>(),
     .range = {1, 1024},
     .doc = "Threads of the pool that runs scans (point reads run on the network threads)",
     .default_doc = "`clamp(2 × cores, 4, 32)`"},
    {.key = "threads.write",
     .field = member<&C::threads, &C::Threads::write>(),
     .range = {1, 1024},
     .doc = "Writer threads",
     .rule = "must divide the number of owned buckets",
     .default_doc = "number of owned buckets"},
    {.key = "limits.max_clients",
     .field = member<&C::limits, &C::Limits::max_clients>(),
     .range = {1, 1000000},
     .doc = "Simultaneous connections; lowered at start to what the open-files limit allows (the "
            "limit minus the descriptors already open minus 128 kept for the engine), and logged; "
            "clients beyond it get `-ERR max number of clients reached`"},
    {.key = "limits.max_bulk_bytes",
     .field = member<&C::limits, &C::Limits::max_bulk_bytes>(),
     .range = {1, std::nullopt},
     .doc = "Largest bulk string in a request",
     .rule = "the effective value is capped to `segment.size_bytes` (an event can never be larger "
             "than a segment)",
     .default_doc = "`536870912` (512 MiB)"},
    {.key = "limits.max_array_len",
     .field = member<&C::limits, &C::Limits::max_array_len>(),
     .range = {1, std::nullopt},
     .doc = "Most elements in one request array"},
    {.key = "limits.max_pending_reply_bytes",
     .field = member<&C::limits, &C::Limits::max_pending_reply_bytes>(),
     .range = {64 * kKiB, std::nullopt},
     .doc = "Per connection, unsent reply bytes past which the server stops reading that client's "
            "requests until it reads its replies (backpressure; the client is not dropped)"},
    {.key = "log.level",
     .field = member<&C::log, &C::Log::level>(),
     .flag = "-l,--log-level,--log",
     .metavar = "LEVEL",
     .doc = "Log level",
     .rule = "`trace`, `debug`, `info`, `warn` (or `warning`), `error`; any case",
     .type_doc = "string"},
    {.key = "requirepass",
     .field = member<&C::requirepass>(),
     .doc = "Password of the `default` user (AUTH <password>), plain or `#` + its SHA-256 in hex; "
            "see docs/SECURITY.md",
     .rule = "`#` + 64 hex digits, or plain text; prefer the hash; never shown",
     .default_doc = "none",
     .secret = true},
    {.key = "protected_mode",
     .field = member<&C::protected_mode>(),
     .doc = "With no password and no user configured, accept loopback clients only",
     .rule = "`false` is logged as a warning at start"},
    {.key = "tls.port",
     .field = member<&C::tls, &C::Tls::port>(),
     .doc = "A second client listener, on the IP of `network.client_address`, speaking TLS only",
     .rule = "0 = none; needs `tls.cert_file` and `tls.key_file`"},
    {.key = "tls.client_port",
     .field = member<&C::tls, &C::Tls::client_port>(),
     .doc = "Make the `network.client_address` listener itself TLS only",
     .rule = "needs `tls.cert_file` and `tls.key_file`"},
    {.key = "tls.cert_file",
     .field = member<&C::tls, &C::Tls::cert_file>(),
     .doc = "PEM certificate chain of the server, leaf first",
     .type_doc = "path",
     .default_doc = "none"},
    {.key = "tls.key_file",
     .field = member<&C::tls, &C::Tls::key_file>(),
     .doc = "PEM private key of the server, not encrypted",
     .type_doc = "path",
     .default_doc = "none"},
    {.key = "tls.ca_file",
     .field = member<&C::tls, &C::Tls::ca_file>(),
     .doc = "PEM CAs whose client certificates are accepted (verified when presented)",
     .type_doc = "path",
     .default_doc = "none"},
    {.key = "tls.require_client_cert",
     .field = member<&C::tls, &C::Tls::require_client_cert>(),
     .doc = "Refuse TLS clients without a certificate signed by `tls.ca_file`",
     .rule = "needs `tls.ca_file`"},
    {.key = "tls.handshake_timeout_ms",
     .field = member<&C::tls, &C::Tls::handshake_timeout_ms>(),
     .range = {1, 600000},
     .doc = "A TLS connection whose handshake takes longer is closed"},
};

// Integer member types, named as the documentation names them.
template <class T>
constexpr std::string_view int_name() {
  if constexpr (std::is_same_v<T, uint8_t>) return "u8";
  if constexpr (std::is_same_v<T, uint16_t>) return "u16";
  if constexpr (std::is_same_v<T, uint32_t>) return "u32";
  return "u64";
}

template <class T>
constexpr bool kIsInt = std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t> ||
                        std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>;

std::string type_of(const KeySpec& spec) {
  if (!spec.type_doc.empty()) return std::string(spec.type_doc);
  return std::visit(
      [](const auto& f) -> std::string {
        using T = std::remove_cvref_t<decltype(f.get(std::declval<Config&>()))>;
        if constexpr (std::is_same_v<T, bool>) return "bool";
        if constexpr (kIsInt<T>) return std::string(int_name<T>());
        if constexpr (std::is_same_v<T, U16List>) return "[u16]";
        return "string";
      },
      spec.field);
}

// "256 MiB" for byte counts that are a whole number of KiB/MiB/GiB, else "".
std::string human_bytes(uint64_t n) {
  if (n == 0) return "";
  if (n % kGiB == 0) return std::to_string(n / kGiB) + " GiB";
  if (n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  if (n % kKiB == 0) return std::to_string(n / kKiB) + " KiB";
  return "";
}

bool is_bytes(const KeySpec& spec) {
  return spec.key.ends_with("_bytes");
}

std::optional<uint64_t> int_value(const KeySpec& spec, const Config& cfg) {
  return std::visit(
      [&](const auto& f) -> std::optional<uint64_t> {
        using T = std::remove_cvref_t<decltype(f.cget(cfg))>;
        if constexpr (kIsInt<T>) return static_cast<uint64_t>(f.cget(cfg));
        return std::nullopt;
      },
      spec.field);
}

// "`256`", with " (256 MiB)" for byte counts.
std::string default_of(const KeySpec& spec) {
  if (!spec.default_doc.empty()) return std::string(spec.default_doc);
  const Config defaults;
  std::string out = "`" + format_value(spec, defaults) + "`";
  if (auto n = int_value(spec, defaults); n && is_bytes(spec) && !human_bytes(*n).empty()) {
    out += " (" + human_bytes(*n) + ")";
  }
  return out;
}

// "1..65535", "≥ 1", "any" (unsigned integers), with the sizes for byte counts; "" otherwise.
std::string range_of(const KeySpec& spec) {
  if (!int_value(spec, Config{})) return "";
  const Range& r = spec.range;
  const bool human = is_bytes(spec) && !human_bytes(r.min).empty();
  if (r.max) {
    std::string out = std::to_string(r.min) + ".." + std::to_string(*r.max);
    if (human && !human_bytes(*r.max).empty()) {
      out += " (" + human_bytes(r.min) + ".." + human_bytes(*r.max) + ")";
    }
    return out;
  }
  if (r.min == 0) return "any";
  return "≥ " + std::to_string(r.min) + (human ? " (" + human_bytes(r.min) + ")" : "");
}

std::string rule_of(const KeySpec& spec) {
  std::string range = range_of(spec);
  if (range.empty() || range == "any") {
    return spec.rule.empty() ? range : std::string(spec.rule);
  }
  return spec.rule.empty() ? range : range + "; " + std::string(spec.rule);
}

// "`-l`, `--log-level LEVEL` (alias `--log`)".
std::string flag_doc(const KeySpec& spec) {
  if (spec.flag.empty()) return "";
  std::vector<std::string_view> shorts;
  std::vector<std::string_view> longs;
  std::string_view rest = spec.flag;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view name = rest.substr(0, comma);
    (name.starts_with("--") ? longs : shorts).push_back(name);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  std::string out;
  for (std::string_view s : shorts) out += "`" + std::string(s) + "`, ";
  if (!longs.empty()) out += "`" + std::string(longs[0]) + " " + std::string(spec.metavar) + "`";
  for (size_t i = 1; i < longs.size(); ++i) {
    out += (i == 1 ? " (alias `" : ", `") + std::string(longs[i]) + "`";
    if (i + 1 == longs.size()) out += ")";
  }
  return out;
}

std::string env_doc(const KeySpec& spec) {
  return "`" + env_name(spec.key) + "`";
}

}  // namespace

std::span<const KeySpec> keys() {
  return kKeys;
}

const KeySpec* find(std::string_view key) {
  for (const KeySpec& k : kKeys) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

std::string env_name(std::string_view key, std::string_view separator) {
  std::string out = "SIERRA_";
  for (char c : key) {
    if (c == '.') {
      out += separator;
    } else {
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string_view flag_name(std::string_view flag) {
  size_t at = flag.find("--");
  if (at == std::string_view::npos) return flag;
  std::string_view name = flag.substr(at);
  return name.substr(0, name.find(','));
}

std::string format_value(const KeySpec& spec, const Config& cfg) {
  if (spec.secret) {
    const auto* f = std::get_if<Field<std::string>>(&spec.field);
    return f != nullptr && f->cget(cfg).empty() ? std::string() : std::string("(hidden)");
  }
  return std::visit(
      [&](const auto& f) -> std::string {
        const auto& v = f.cget(cfg);
        using T = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (kIsInt<T>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, U16List>) {
          return v ? join(*v) : std::string("auto");
        } else if constexpr (std::is_same_v<T, LogLevel>) {
          return std::string(to_string(v));
        } else {
          return v;
        }
      },
      spec.field);
}

std::string flag_help(const KeySpec& spec) {
  std::string out = std::string(spec.doc) + " (" + std::string(spec.key) +
                    ") [default: " + default_of(spec) + "]";
  std::erase(out, '`');
  return out;
}

std::string markdown_table() {
  std::string out =
      "| key | type | default | env var | CLI flag | meaning | rule |\n"
      "|---|---|---|---|---|---|---|\n";
  auto row = [&out](std::initializer_list<std::string> cells) {
    out += "|";
    for (const std::string& c : cells) out += c.empty() ? " |" : " " + c + " |";
    out += "\n";
  };
  for (const KeySpec& k : kKeys) {
    row({"`" + std::string(k.key) + "`", type_of(k), default_of(k), env_doc(k), flag_doc(k),
         std::string(k.doc), rule_of(k)});
  }
  // The file-only array of tables; its entries take the keys above (config.cpp, read_file).
  row({"`nodes`", "[table]", "none", "", "", "Per-node overrides, file only (see above)", ""});
  // The file-only [[users]] array of tables (config.cpp, read_users; docs/SECURITY.md).
  row({"`users[].name`", "string", "required", "", "", "A user (`[[users]]`, file only)",
       "unique, no white space"});
  row({"`users[].enabled`", "bool", "`true`", "", "", "A disabled user cannot log in", ""});
  row({"`users[].password`, `users[].passwords`", "string, [string]", "none", "", "",
       "Passwords, each plain or `#` + SHA-256 hex; any one logs in",
       "needed by an enabled user unless `nopass`"});
  row({"`users[].nopass`", "bool", "`false`", "", "", "Any password logs in",
       "exclusive with passwords"});
  row({"`users[].commands`", "[string]", "`[]`", "", "", "Command classes granted",
       "`read`, `write`, `subscribe`, `admin`, `connection`, `all`"});
  row({"`users[].streams`", "[string]", "every stream", "", "", "Stream-id patterns",
       "exact id, or prefix + trailing `*`; `\"*\"` = every stream"});
  return out;
}

}  // namespace sierra::server::config_keys
