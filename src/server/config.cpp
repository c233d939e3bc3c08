#include "server/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <CLI/CLI.hpp>
// The Debian package (3.3.0) ships <toml++/toml.h> and a compiled libtomlplusplus built with
// exceptions; its CMake target adds -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1. The no-exception
// parse_result API is therefore not available; parse errors are caught below.
#include <toml++/toml.h>

#include "server/config_keys.hpp"
#include "server/config_text.hpp"

#ifndef SIERRA_VERSION
#define SIERRA_VERSION "0.0.0-dev"
#endif

extern char** environ;

namespace sierra::server {
namespace {

namespace keys = config_keys;
using keys::KeySpec;

bool is_known_key(std::string_view key) {
  return keys::find(key) != nullptr;
}

// ---------------------------------------------------------------------------------------------
// Raw values, as a source provides them, before conversion.

enum class VType { Text, Bool, Integer, Float, String, Array, Table, Other };

struct Value {
  VType type = VType::Text;
  std::string text;  // Text (CLI/env, to be parsed) or String (TOML)
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::vector<Value> items;  // Array
  std::string origin;        // "--partitions", "env SIERRA_DIR", "file x.toml", ...
};

using Layer = std::map<std::string, Value, std::less<>>;

Value text_value(std::string text, std::string origin) {
  Value v;
  v.type = VType::Text;
  v.text = std::move(text);
  v.origin = std::move(origin);
  return v;
}

std::string_view type_name(VType t) {
  switch (t) {
    case VType::Text:
    case VType::String:
      return "a string";
    case VType::Bool:
      return "a boolean";
    case VType::Integer:
      return "an integer";
    case VType::Float:
      return "a float";
    case VType::Array:
      return "an array";
    case VType::Table:
      return "a table";
    case VType::Other:
      return "a date/time";
  }
  return "a value";
}

std::string show(const Value& v) {
  switch (v.type) {
    case VType::Text:
    case VType::String:
      return quote(v.text);
    case VType::Bool:
      return v.boolean ? "true" : "false";
    case VType::Integer:
      return std::to_string(v.integer);
    case VType::Float: {
      std::ostringstream s;
      s << v.floating;
      return s.str();
    }
    case VType::Array: {
      std::string out = "[";
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ", ";
        out += show(v.items[i]);
      }
      return out + "]";
    }
    case VType::Table:
      return "{...}";
    case VType::Other:
      return "<date/time>";
  }
  return "?";
}

Value from_toml(const toml::node& n, const std::string& origin) {
  Value v;
  v.origin = origin;
  switch (n.type()) {
    case toml::node_type::string:
      v.type = VType::String;
      v.text = n.as_string()->get();
      break;
    case toml::node_type::integer:
      v.type = VType::Integer;
      v.integer = n.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      v.type = VType::Float;
      v.floating = n.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      v.type = VType::Bool;
      v.boolean = n.as_boolean()->get();
      break;
    case toml::node_type::array:
      v.type = VType::Array;
      for (const toml::node& item : *n.as_array()) v.items.push_back(from_toml(item, origin));
      break;
    case toml::node_type::table:
      v.type = VType::Table;
      break;
    default:
      v.type = VType::Other;
      break;
  }
  return v;
}

// Flattens a TOML table to dotted keys. A known key is taken as a leaf whatever its type (so a
// table where a number belongs is a type error, not an unknown key).
void flatten(const toml::table& table, const std::string& prefix, const std::string& origin,
             Layer& out, std::vector<std::string>& unknown) {
  for (auto&& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (is_known_key(key)) {
      out[key] = from_toml(node, origin);
    } else if (const toml::table* sub = node.as_table()) {
      flatten(*sub, key, origin, out, unknown);
    } else {
      unknown.push_back(std::move(key));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors.

ConfigError error_for(std::string_view key, std::string_view reason, std::string_view origin) {
  std::string msg = "config error: ";
  msg += key;
  msg += ": ";
  msg += reason;
  if (!origin.empty()) {
    msg += " [";
    msg += origin;
    msg += "]";
  }
  return ConfigError{2, std::move(msg)};
}

// `open_max`: max is only the type's limit, so a value below min reads "must be at least".
std::string range_reason(uint64_t min, uint64_t max, bool open_max, bool too_small,
                         std::string_view got) {
  std::string r;
  if (!open_max) {
    r = "must be between " + std::to_string(min) + " and " + std::to_string(max);
  } else if (too_small) {
    r = "must be at least " + std::to_string(min);
  } else {
    r = "must be at most " + std::to_string(max);
  }
  r += " (got ";
  r += got;
  r += ")";
  return r;
}

// Integer in [min, max]; the error reason (without key) on failure.
std::expected<uint64_t, std::string> to_uint(const Value& v, uint64_t min, uint64_t max,
                                             bool open_max = false) {
  uint64_t n = 0;
  if (v.type == VType::Text) {
    std::string t = trim(v.text);
    if (!t.empty() && t[0] == '-' && t.size() > 1 &&
        std::all_of(t.begin() + 1, t.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return std::unexpected(range_reason(min, max, open_max, true, t));
    }
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (t.empty() || ec == std::errc::invalid_argument || ptr != t.data() + t.size()) {
      return std::unexpected("expected a non-negative integer (got " + quote(v.text) + ")");
    }
    if (ec == std::errc::result_out_of_range) {
      return std::unexpected(range_reason(min, max, open_max, false, t));
    }
  } else if (v.type == VType::Integer) {
    if (v.integer < 0) {
      return std::unexpected(range_reason(min, max, open_max, true, std::to_string(v.integer)));
    }
    n = static_cast<uint64_t>(v.integer);
  } else {
    return std::unexpected("expected an integer, got " + std::string(type_name(v.type)) + " (" +
                           show(v) + ")");
  }
  if (n < min || n > max) {
    return std::unexpected(range_reason(min, max, open_max, n < min, std::to_string(n)));
  }
  return n;
}

std::expected<bool, std::string> to_bool(const Value& v) {
  if (v.type == VType::Bool) return v.boolean;
  if (v.type == VType::Text) {
    std::string t = lower(trim(v.text));
    if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "0" || t == "no" || t == "off") return false;
    return std::unexpected("expected true or false (got " + quote(v.text) + ")");
  }
  return std::unexpected("expected a boolean, got " + std::string(type_name(v.type)) + " (" +
                         show(v) + ")");
}

std::expected<std::string, std::string> to_string_value(const Value& v) {
  if (v.type == VType::Text || v.type == VType::String) return v.text;
  return std::unexpected("expected a string, got " + std::string(type_name(v.type)) + " (" +
                         show(v) + ")");
}

// A list of u16: a TOML array of integers, or comma-separated text ("0,1,2" or "[0, 1, 2]").
std::expected<std::vector<uint16_t>, std::string> to_u16_list(const Value& v) {
  std::vector<Value> items;
  if (v.type == VType::Array) {
    items = v.items;
  } else if (v.type == VType::Text) {
    std::string t = trim(v.text);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = trim(t.substr(1, t.size() - 2));
    if (!t.empty()) {
      size_t start = 0;
      while (true) {
        size_t comma = t.find(',', start);
        items.push_back(text_value(t.substr(start, comma - start), v.origin));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
  } else {
    return std::unexpected("expected a list of integers, got " + std::string(type_name(v.type)) +
                           " (" + show(v) + ")");
  }
  std::vector<uint16_t> out;
  for (size_t i = 0; i < items.size(); ++i) {
    auto n = to_uint(items[i], 0, 65535);
    if (!n) return std::unexpected("element " + std::to_string(i) + ": " + n.error());
    out.push_back(static_cast<uint16_t>(*n));
  }
  return out;
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  std::string l = lower(trim(s));
  if (l == "trace") return LogLevel::Trace;
  if (l == "debug") return LogLevel::Debug;
  if (l == "info") return LogLevel::Info;
  if (l == "warn" || l == "warning") return LogLevel::Warn;
  if (l == "error") return LogLevel::Error;
  return std::nullopt;
}

// Reads typed values out of the merged layer; remembers the first error and then does nothing.
class Reader {
 public:
  explicit Reader(const Layer& merged) : merged_(merged) {}

  const Value* find(std::string_view key) const {
    auto it = merged_.find(key);
    return it == merged_.end() ? nullptr : &it->second;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  template <class T>
  void uint(std::string_view key, T& out, uint64_t min = 0,
            std::optional<uint64_t> max = std::nullopt) {
    if (error) return;
    const Value* v = find(key);
    if (!v) return;
    auto n = to_uint(*v, min, max.value_or(std::numeric_limits<T>::max()), !max.has_value());
    if (!n) return fail(key, n.error(), v->origin);
    out = static_cast<T>(*n);
  }

  void boolean(std::string_view key, bool& out) {
    if (error) return;
    const Value* v = find(key);
    if (!v) return;
    auto b = to_bool(*v);
    if (!b) return fail(key, b.error(), v->origin);
    out = *b;
  }

  void string(std::string_view key, std::string& out) {
    if (error) return;
    const Value* v = find(key);
    if (!v) return;
    auto s = to_string_value(*v);
    if (!s) return fail(key, s.error(), v->origin);
    out = std::move(*s);
  }

  void u16_list(std::string_view key, std::optional<std::vector<uint16_t>>& out) {
    if (error) return;
    const Value* v = find(key);
    if (!v) return;
    auto l = to_u16_list(*v);
    if (!l) return fail(key, l.error(), v->origin);
    out = std::move(*l);
  }

  // Reads the key's value into its member of `cfg` if a source set it, then applies its rule.
  void read(const KeySpec& spec, Config& cfg) {
    if (error) return;
    if (has(spec.key)) std::visit([&](const auto& f) { read_into(spec, f.get(cfg)); }, spec.field);
    if (error || spec.check == nullptr) return;
    if (std::string reason = spec.check(cfg); !reason.empty()) fail(spec.key, reason);
  }

  std::string origin(std::string_view key) const {
    const Value* v = find(key);
    return v ? v->origin : std::string();
  }

  // Cross-field failure, attributed to `key` (and its source when a source set it).
  void fail(std::string_view key, std::string_view reason) { fail(key, reason, origin(key)); }
  void fail(std::string_view key, std::string_view reason, std::string_view origin) {
    if (!error) error = error_for(key, reason, origin);
  }

  std::optional<ConfigError> error;

 private:
  void read_into(const KeySpec& spec, std::string& out) { string(spec.key, out); }
  void read_into(const KeySpec& spec, bool& out) { boolean(spec.key, out); }
  void read_into(const KeySpec& spec, keys::U16List& out) { u16_list(spec.key, out); }
  template <class T>
  requires(std::is_unsigned_v<T> && !std::is_same_v<T, bool>) void read_into(const KeySpec& spec,
                                                                             T& out) {
    uint(spec.key, out, spec.range.min, spec.range.max);
  }
  void read_into(const KeySpec& spec, LogLevel& out) {
    std::string level;
    string(spec.key, level);
    if (error) return;
    if (auto l = parse_log_level(level)) {
      out = *l;
    } else {
      fail(spec.key, "must be one of trace, debug, info, warn, error (got " + quote(level) + ")");
    }
  }

  const Layer& merged_;
};

// Returns the index of the first value seen twice, if any.
std::optional<uint16_t> first_duplicate(const std::vector<uint16_t>& v) {
  std::set<uint16_t> seen;
  for (uint16_t x : v) {
    if (!seen.insert(x).second) return x;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Sources.

struct CliResult {
  Layer layer;
  std::optional<std::string> config_path;
};

std::expected<CliResult, ConfigError> parse_cli(int argc, const char* const* argv) {
  CLI::App app{"SierraDB: an event store speaking RESP3.", "sierradb"};
  app.set_version_flag("-V,--version", std::string("sierradb ") + SIERRA_VERSION,
                       "Print version and exit");
  app.set_help_flag("-h,--help", "Print help and exit");
  app.footer(
      "Every key can also be set in the config file (TOML) or the environment as\n"
      "SIERRA_<KEY> with '__' for '.', e.g. SIERRA_NETWORK__CLIENT_ADDRESS=127.0.0.1:9090.\n"
      "Precedence: flags > [[nodes]] entry > environment > file > defaults.\n"
      "See docs/CONFIGURATION.md.");
  std::string config_path;
  CLI::Option* config_option = app.add_option("-c,--config", config_path,
                                              "TOML config file [default: ./sierra.toml, then "
                                              "$XDG_CONFIG_HOME/sierradb/sierra.toml]")
                                   ->type_name("FILE");
  bool print_doc = false;
  app.add_flag("--print-config-doc", print_doc,
               "Print the key table of docs/CONFIGURATION.md (markdown) and exit");
  struct KeyFlag {
    const KeySpec* spec;
    CLI::Option* option;
    std::string value;
  };
  std::vector<KeyFlag> flags;
  flags.reserve(keys::keys().size());  // options keep pointers to `value`
  for (const KeySpec& k : keys::keys()) {
    if (k.flag.empty()) continue;
    KeyFlag& f = flags.emplace_back(KeyFlag{&k, nullptr, {}});
    f.option = app.add_option(std::string(k.flag), f.value, keys::flag_help(k))
                   ->type_name(std::string(k.metavar));
  }

  const char* fallback[] = {"sierradb", nullptr};
  if (argc <= 0 || argv == nullptr) {
    argc = 1;
    argv = fallback;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return std::unexpected(ConfigError{0, trim(app.help())});
  } catch (const CLI::CallForAllHelp&) {
    return std::unexpected(ConfigError{0, trim(app.help())});
  } catch (const CLI::CallForVersion& e) {
    return std::unexpected(ConfigError{0, e.what()});
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    return std::unexpected(
        ConfigError{2, "config error: command line: " + trim(what) + " (see --help)"});
  }

  if (print_doc) return std::unexpected(ConfigError{0, trim(keys::markdown_table())});

  CliResult out;
  if (config_option->count() > 0) out.config_path = config_path;
  for (const KeyFlag& f : flags) {
    if (f.option->count() == 0) continue;
    out.layer[std::string(f.spec->key)] =
        text_value(f.value, std::string(keys::flag_name(f.spec->flag)));
  }
  return out;
}

struct EnvResult {
  Layer layer;
  std::optional<std::string> config_path;
};

EnvResult read_env(const std::map<std::string, std::string>& env,
                   std::vector<std::string>& warnings) {
  EnvResult out;
  for (const auto& [name, value] : env) {
    if (!name.starts_with("SIERRA_") || value.empty()) continue;  // empty = unset
    if (name == "SIERRA_CONFIG") {
      out.config_path = value;
      continue;
    }
    std::string key;
    std::string_view rest = std::string_view(name).substr(7);
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '_' && i + 1 < rest.size() && rest[i + 1] == '_') {
        key += '.';
        ++i;
      } else {
        key += static_cast<char>(std::tolower(static_cast<unsigned char>(rest[i])));
      }
    }
    if (is_known_key(key)) {
      out.layer[key] = text_value(value, "env " + name);
      continue;
    }
    std::string warning = "ignoring unknown environment variable " + name;
    // Upstream documents single-underscore names that never worked (PROTOCOL §8.2): suggest.
    for (const KeySpec& k : keys::keys()) {
      if (keys::env_name(k.key, "_") == name) {
        warning += " (did you mean " + keys::env_name(k.key) + "?)";
        break;
      }
    }
    warnings.push_back(std::move(warning));
  }
  return out;
}

// The file-only [[users]] array of tables (docs/SECURITY.md): each entry's keys are read into
// an auth::UserSpec; the rules between them are UserDirectory::build's.
std::expected<std::vector<auth::UserSpec>, ConfigError> read_users(const toml::node& node,
                                                                   const std::string& path) {
  const std::string origin = "file " + path;
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    return std::unexpected(error_for("users", "expected an array of tables ([[users]])", origin));
  }
  std::vector<auth::UserSpec> users;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "users[" + std::to_string(i) + "]";
    auth::UserSpec spec;
    auto strings =
        [&](const toml::node& n,
            std::string_view key) -> std::expected<std::vector<std::string>, ConfigError> {
      std::vector<std::string> out;
      const toml::array* a = n.as_array();
      if (a == nullptr) {
        return std::unexpected(
            error_for(where + "." + std::string(key), "expected an array of strings", origin));
      }
      for (const toml::node& item : *a) {
        if (!item.is_string()) {
          return std::unexpected(
              error_for(where + "." + std::string(key), "expected an array of strings", origin));
        }
        out.push_back(item.as_string()->get());
      }
      return out;
    };
    for (auto&& [k, value] : *arr->get(i)->as_table()) {
      const std::string_view key = k.str();
      auto bad = [&](std::string_view expected) {
        return std::unexpected(
            error_for(where + "." + std::string(key), "expected " + std::string(expected), origin));
      };
      if (key == "name" || key == "password") {
        if (!value.is_string()) return bad("a string");
        (key == "name" ? spec.name : spec.passwords.emplace_back()) = value.as_string()->get();
      } else if (key == "enabled" || key == "nopass") {
        if (!value.is_boolean()) return bad("true or false");
        (key == "enabled" ? spec.enabled : spec.nopass) = value.as_boolean()->get();
      } else if (key == "passwords" || key == "commands" || key == "streams") {
        auto list = strings(value, key);
        if (!list) return std::unexpected(list.error());
        if (key == "passwords") {
          spec.passwords.insert(spec.passwords.end(), list->begin(), list->end());
        } else if (key == "commands") {
          spec.commands = std::move(*list);
        } else {
          spec.streams = std::move(*list);
        }
      } else {
        return std::unexpected(error_for(where + "." + std::string(key),
                                         "unknown key (name, enabled, password, passwords, "
                                         "nopass, commands, streams)",
                                         origin));
      }
    }
    users.push_back(std::move(spec));
  }
  return users;
}

struct FileResult {
  Layer layer;
  std::vector<auth::UserSpec> users;  // [[users]] entries
  std::vector<Layer> nodes;           // flattened [[nodes]] entries
  std::string path;                   // "" if no file
};

std::expected<FileResult, ConfigError> read_file(const std::string& path,
                                                 std::vector<std::string>& warnings) {
  FileResult out;
  out.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(
        ConfigError{2, "config error: config file " + quote(path) + ": cannot be read (" +
                           std::error_code(errno, std::generic_category()).message() + ")"});
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  toml::table root;
  try {
    root = toml::parse(content, path);
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    const auto& b = e.source().begin;
    return std::unexpected(ConfigError{2, "config error: " + path + ":" + std::to_string(b.line) +
                                              ":" + std::to_string(b.column) + ": " + desc});
  }

  const std::string origin = "file " + path;
  std::vector<std::string> unknown;
  if (const toml::node* nodes = root.get("nodes")) {
    const toml::array* arr = nodes->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      return std::unexpected(error_for("nodes",
                                       "expected an array of tables ([[nodes]]), got " +
                                           std::string(type_name(from_toml(*nodes, origin).type)),
                                       origin));
    }
    for (size_t i = 0; i < arr->size(); ++i) {
      const std::string node_origin = "nodes[" + std::to_string(i) + "] in " + path;
      Layer layer;
      std::vector<std::string> node_unknown;
      flatten(*arr->get(i)->as_table(), "", node_origin, layer, node_unknown);
      for (auto it = layer.begin(); it != layer.end();) {
        const KeySpec* spec = keys::find(it->first);
        if (spec && spec->scope == keys::Scope::NotPerNode) {
          warnings.push_back("ignoring " + it->first + " in " + node_origin +
                             " (node.count and node.index cannot be overridden per node)");
          it = layer.erase(it);
        } else {
          ++it;
        }
      }
      for (const auto& k : node_unknown) {
        warnings.push_back("ignoring unknown key " + k + " in " + node_origin);
      }
      out.nodes.push_back(std::move(layer));
    }
    root.erase("nodes");
  }
  if (const toml::node* users = root.get("users")) {
    auto parsed = read_users(*users, path);
    if (!parsed) return std::unexpected(parsed.error());
    out.users = std::move(*parsed);
    root.erase("users");
  }
  flatten(root, "", origin, out.layer, unknown);
  for (const auto& k : unknown) warnings.push_back("ignoring unknown key " + k + " in " + path);
  return out;
}

// The file to read when no --config / SIERRA_CONFIG is given: first that exists, or "".
std::string default_config_file(const std::map<std::string, std::string>& env) {
  std::error_code ec;
  if (std::filesystem::is_regular_file("sierra.toml", ec)) return "./sierra.toml";
  std::filesystem::path xdg;
  if (auto it = env.find("XDG_CONFIG_HOME"); it != env.end() && !it->second.empty()) {
    xdg = it->second;
  } else if (auto h = env.find("HOME"); h != env.end() && !h->second.empty()) {
    xdg = std::filesystem::path(h->second) / ".config";
  }
  if (!xdg.empty()) {
    auto p = xdg / "sierradb" / "sierra.toml";
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

// Highest precedence last.
Layer merge(std::initializer_list<const Layer*> layers) {
  Layer out;
  for (const Layer* l : layers) {
    for (const auto& [k, v] : *l) out[k] = v;
  }
  return out;
}

std::expected<Config, ConfigError> build(int argc, const char* const* argv,
                                         const std::map<std::string, std::string>& env) {
  Config cfg;
  std::vector<std::string> warnings;

  auto cli = parse_cli(argc, argv);
  if (!cli) return std::unexpected(cli.error());
  EnvResult envr = read_env(env, warnings);

  FileResult file;
  std::optional<std::string> explicit_path = cli->config_path ? cli->config_path : envr.config_path;
  if (explicit_path && explicit_path->empty()) {
    return std::unexpected(error_for("config", "empty path", cli->config_path ? "--config" : ""));
  }
  std::string path = explicit_path ? *explicit_path : default_config_file(env);
  if (!path.empty()) {
    auto f = read_file(path, warnings);
    if (!f) return std::unexpected(f.error());
    file = std::move(*f);
  }

  // node.count / node.index decide which [[nodes]] entry applies; they come from the sources
  // other than the entries themselves.
  Layer base = merge({&file.layer, &envr.layer, &cli->layer});
  Reader pre(base);
  for (const KeySpec& k : keys::keys()) {
    if (k.scope == keys::Scope::NotPerNode) pre.read(k, cfg);
  }
  if (pre.error) return std::unexpected(*pre.error);
  if (!pre.has("node.count") && !file.nodes.empty()) {
    cfg.node.count = static_cast<uint32_t>(file.nodes.size());
  }
  if (!pre.has("node.index") && cfg.node.count > 1) {
    return std::unexpected(error_for("node.index",
                                     "required when node.count > 1 (node.count is " +
                                         std::to_string(cfg.node.count) + "); set --node-index",
                                     ""));
  }
  if (cfg.node.index >= cfg.node.count) {
    return std::unexpected(error_for("node.index",
                                     "must be less than node.count (" +
                                         std::to_string(cfg.node.count) + ") (got " +
                                         std::to_string(cfg.node.index) + ")",
                                     pre.origin("node.index")));
  }
  Layer no_override;
  const Layer* override_layer = &no_override;
  if (!file.nodes.empty()) {
    if (cfg.node.index >= file.nodes.size()) {
      return std::unexpected(error_for("nodes",
                                       "has " + std::to_string(file.nodes.size()) +
                                           " entries, none for node.index " +
                                           std::to_string(cfg.node.index),
                                       "file " + file.path));
    }
    override_layer = &file.nodes[cfg.node.index];
  }

  Layer merged = merge({&file.layer, &envr.layer, override_layer, &cli->layer});
  Reader r(merged);

  for (const KeySpec& k : keys::keys()) {
    if (k.scope == keys::Scope::Any) r.read(k, cfg);
  }
  if (r.error) return std::unexpected(*r.error);

  // ---- cross-field rules (the rules of single keys are in the key table) ----
  cfg.users = std::move(file.users);
  if (auto dir = auth::UserDirectory::build(auth_spec(cfg)); !dir) {
    r.fail(cfg.users.empty() ? "requirepass" : "users", dir.error());
  }
  if (cfg.tls.enabled()) {
    if (cfg.tls.cert_file.empty()) r.fail("tls.cert_file", "required when TLS is on");
    if (cfg.tls.key_file.empty()) r.fail("tls.key_file", "required when TLS is on");
  }
  if (cfg.tls.require_client_cert && cfg.tls.ca_file.empty()) {
    r.fail("tls.require_client_cert", "needs tls.ca_file (the CAs that sign client certificates)");
  }
  if (cfg.heartbeat.timeout_ms <= cfg.heartbeat.interval_ms) {
    r.fail("heartbeat.timeout_ms", "must be greater than heartbeat.interval_ms (" +
                                       std::to_string(cfg.heartbeat.interval_ms) + ") (got " +
                                       std::to_string(cfg.heartbeat.timeout_ms) + ")");
  }
  if (!cfg.network.cluster_enabled && cfg.node.count != 1) {
    r.fail("node.count", "must be 1 when network.cluster_enabled is false (got " +
                             std::to_string(cfg.node.count) + ")");
  }
  if (cfg.bucket.count > cfg.partition.count) {
    r.fail("bucket.count", "must not exceed partition.count (" +
                               std::to_string(cfg.partition.count) + ") (got " +
                               std::to_string(cfg.bucket.count) + ")");
  }
  if (cfg.partition.count < cfg.node.count) {
    r.fail("partition.count", "must be at least node.count (" + std::to_string(cfg.node.count) +
                                  ") (got " + std::to_string(cfg.partition.count) + ")");
  }
  if (!r.has("replication.factor")) {
    cfg.replication.factor = static_cast<uint8_t>(std::clamp<uint32_t>(cfg.node.count, 1, 3));
  }
  if (cfg.replication.factor > cfg.node.count) {
    r.fail("replication.factor", "must not exceed node.count (" + std::to_string(cfg.node.count) +
                                     ") (got " + std::to_string(cfg.replication.factor) + ")");
  }
  if (cfg.bucket.ids) {
    const auto& ids = *cfg.bucket.ids;
    if (ids.empty()) r.fail("bucket.ids", "must not be empty when set");
    if (auto d = first_duplicate(ids)) {
      r.fail("bucket.ids", "duplicate bucket " + std::to_string(*d) + " (got " + join(ids) + ")");
    }
    for (uint16_t id : ids) {
      if (id >= cfg.bucket.count) {
        r.fail("bucket.ids", "bucket " + std::to_string(id) + " is not less than bucket.count (" +
                                 std::to_string(cfg.bucket.count) + ") (got " + join(ids) + ")");
      }
    }
  }
  if (cfg.partition.ids) {
    const auto& ids = *cfg.partition.ids;
    if (auto d = first_duplicate(ids)) {
      r.fail("partition.ids",
             "duplicate partition " + std::to_string(*d) + " (got " + join(ids) + ")");
    }
    for (uint16_t id : ids) {
      if (id >= cfg.partition.count) {
        r.fail("partition.ids",
               "partition " + std::to_string(id) + " is not less than partition.count (" +
                   std::to_string(cfg.partition.count) + ") (got " + join(ids) + ")");
      }
    }
  }
  const bool idle_set = r.has("sync.idle_interval_ms");
  if (idle_set && cfg.sync.idle_interval_ms < cfg.sync.interval_ms) {
    // Upstream rejects idle >= interval (inverted, PROTOCOL §11 row 19); the sane rule is this.
    r.fail("sync.idle_interval_ms", "must be at least sync.interval_ms (" +
                                        std::to_string(cfg.sync.interval_ms) + ") (got " +
                                        std::to_string(cfg.sync.idle_interval_ms) + ")");
  }
  if (r.error) return std::unexpected(*r.error);

  // ---- computed defaults and derived values ----
  if (cfg.bucket.ids) {
    cfg.owned_buckets = *cfg.bucket.ids;
    std::sort(cfg.owned_buckets.begin(), cfg.owned_buckets.end());
  } else {
    cfg.owned_buckets =
        assign_buckets(cfg.bucket.count, cfg.node.count, cfg.node.index, cfg.replication.factor);
    if (cfg.owned_buckets.empty()) {
      r.fail("bucket.count", "node " + std::to_string(cfg.node.index) +
                                 " would own no bucket: bucket.count (" +
                                 std::to_string(cfg.bucket.count) + ") < node.count (" +
                                 std::to_string(cfg.node.count) + ")");
      return std::unexpected(*r.error);
    }
  }
  const auto owned = static_cast<uint16_t>(cfg.owned_buckets.size());
  if (!r.has("threads.write")) cfg.threads.write = owned;
  if (cfg.threads.write > owned || owned % cfg.threads.write != 0) {
    r.fail("threads.write", "must divide the number of owned buckets (" + std::to_string(owned) +
                                ") (got " + std::to_string(cfg.threads.write) + ")");
    return std::unexpected(*r.error);
  }
  unsigned cores = std::thread::hardware_concurrency();
  if (!r.has("threads.read")) {
    cfg.threads.read = static_cast<uint16_t>(std::clamp<unsigned>(2 * std::max(cores, 1u), 4, 32));
  }
  if (!idle_set) cfg.sync.idle_interval_ms = std::min<uint64_t>(10 * cfg.sync.interval_ms, 1000);
  // As configured (default 512 MiB), capped: an event can never be larger than a segment.
  const uint64_t max_bulk = r.has("limits.max_bulk_bytes") ? cfg.limits.max_bulk_bytes : 512 * kMiB;
  cfg.limits.max_bulk_bytes = std::min(max_bulk, cfg.segment.size_bytes);

  cfg.config_file = file.path;
  cfg.warnings = std::move(warnings);
  return cfg;
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return "trace";
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

std::vector<uint16_t> assign_buckets(uint16_t bucket_count, uint32_t node_count,
                                     uint32_t node_index, uint32_t replication_factor) {
  std::vector<uint16_t> out;
  if (node_count == 0 || node_index >= node_count) return out;
  const uint32_t base = bucket_count / node_count;
  const uint32_t extra = bucket_count % node_count;
  std::set<uint16_t> owned;
  const uint32_t copies = std::clamp<uint32_t>(replication_factor, 1, node_count);
  for (uint32_t k = 0; k < copies; ++k) {
    // This node's own range, then the ranges of the copies-1 nodes before it (wrapping).
    const uint32_t n = (node_index + node_count - k) % node_count;
    const uint32_t start = n * base + std::min(n, extra);
    const uint32_t len = base + (n < extra ? 1 : 0);
    for (uint32_t b = start; b < start + len; ++b) owned.insert(static_cast<uint16_t>(b));
  }
  out.assign(owned.begin(), owned.end());
  return out;
}

std::expected<Config, ConfigError> load_config(int argc, const char* const* argv,
                                               const std::map<std::string, std::string>& env) {
  try {
    return build(argc, argv, env);
  } catch (const std::exception& e) {
    return std::unexpected(ConfigError{2, std::string("config error: ") + e.what()});
  } catch (...) {
    return std::unexpected(ConfigError{2, "config error: unexpected failure"});
  }
}

std::map<std::string, std::string> capture_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

auth::AuthSpec auth_spec(const Config& config) {
  auth::AuthSpec spec;
  if (!config.requirepass.empty()) spec.requirepass = config.requirepass;
  spec.users = config.users;
  return spec;
}

std::string describe(const Config& c) {
  std::string out;
  for (const KeySpec& k : keys::keys()) {
    out += std::string(k.key) + "=" + keys::format_value(k, c) + " ";
  }
  out += "owned_buckets=" + join(c.owned_buckets);
  out += " config_file=" + (c.config_file.empty() ? std::string("none") : c.config_file);
  return out;
}

}  // namespace sierra::server
