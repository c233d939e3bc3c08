// The table of configuration keys: one row per key says where its value lives in Config, its
// type and range, its command-line flag, its defaults and rules as documented. load_config's
// sources (file, environment, flags), describe(), --help and the key table of
// docs/CONFIGURATION.md are all driven from it (config_keys.cpp), so adding a key is one row
// plus its Config member.
//
// What a row does not say lives in build() (config.cpp): rules between keys and computed
// defaults (a row names those in default_doc). The file-only [[nodes]] array of tables is not a
// row: its entries take these same keys (per-node overrides). A future array of tables with keys
// of its own ([[users]]) fits as a row whose field is a Field<std::vector<Entry>>, with a second
// span of rows over Entry (with a member<>-like helper rooted at Entry) that the file reader
// applies to each entry and markdown_table() lists under `name[].key`.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/config.hpp"

namespace sierra::server::config_keys {

// Where a key's value lives in Config: a reference to the member, for reading and writing.
template <class T>
struct Field {
  T& (*get)(Config&);
  const T& (*cget)(const Config&);
};

// Field for the member reached from Config through `Path` (pointers to members, outermost
// first): member<&Config::partition, &Config::Partition::count>().
template <auto... Path>
constexpr auto member() {
  using T = std::remove_cvref_t<decltype((std::declval<Config&>().*....*Path))>;
  return Field<T>{[](Config& c) -> T& { return (c.*....*Path); },
                  [](const Config& c) -> const T& { return (c.*....*Path); }};
}

using U16List = std::optional<std::vector<uint16_t>>;
using AnyField = std::variant<Field<std::string>, Field<bool>, Field<uint8_t>, Field<uint16_t>,
                              Field<uint32_t>, Field<uint64_t>, Field<U16List>, Field<LogLevel>>;

// An inclusive range for an integer key; `max` unset means the type's own limit (then a value
// too small reads "must be at least", one too large "must be at most").
struct Range {
  uint64_t min = 0;
  std::optional<uint64_t> max;
};

// Which sources may set a key.
enum class Scope : uint8_t {
  Any,         // file, [[nodes]] entry, environment, flag
  NotPerNode,  // not in a [[nodes]] entry: the key picks the entry (node.count, node.index)
};

struct KeySpec {
  std::string_view key;  // dotted: "network.client_address"; its env var is derived from it
  AnyField field;
  Range range{};  // integer keys only
  // Checked right after the key is read (its value in `cfg`): the reason it is bad, or "".
  // May also fill values derived from this key alone (client_host/client_port).
  std::string (*check)(Config& cfg) = nullptr;
  // Command-line flag, CLI11 spelling ("-d,--dir"), or "" for none; its metavar for --help.
  std::string_view flag = {};
  std::string_view metavar = {};
  Scope scope = Scope::Any;
  // Documentation: what the key is for (one line); the rules beyond the type and range;
  // the type when more precise than the C++ one ("path", "`ip:port`"); the default when not the
  // default-constructed Config's value (computed defaults).
  std::string_view doc = {};
  std::string_view rule = {};
  std::string_view type_doc = {};
  std::string_view default_doc = {};
  // A password: describe() and the documentation never show its value.
  bool secret = false;
};

// Every key, in the order they are read (which decides the first error reported) and listed.
std::span<const KeySpec> keys();
const KeySpec* find(std::string_view key);

// The environment variable for a key: SIERRA_ + upper case, `separator` for each dot.
std::string env_name(std::string_view key, std::string_view separator = "__");

// The long name a flag is reported by ("--log-level" for "-l,--log-level,--log").
std::string_view flag_name(std::string_view flag);

// A value as describe() and the documentation print it ("true", "32", "[0,1]", "auto", "info").
std::string format_value(const KeySpec& spec, const Config& cfg);

// The help line of a key's flag: "<doc> (<key>) [default: <default>]".
std::string flag_help(const KeySpec& spec);

// The markdown key table of docs/CONFIGURATION.md (header, one row per key, the file-only
// `nodes` row), ending in a newline.
std::string markdown_table();

}  // namespace sierra::server::config_keys
