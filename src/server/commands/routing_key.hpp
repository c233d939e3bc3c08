// Where a request goes: the value that selects its partition (and so its bucket and node), read
// from the arguments with the command's key spec (CommandSpec::key) without parsing the command.
#pragma once

#include <optional>
#include <string_view>

#include "engine/ids.hpp"
#include "server/commands/command.hpp"

namespace sierra::server {

struct RoutingKey {
  KeyKind kind = KeyKind::StreamId;
  std::string_view value;  // a view into the request's arguments

  bool operator==(const RoutingKey&) const = default;
};

// The routing key of `args` (args[0] is the name), or nullopt for commands without one (and
// for requests too short to hold it). Values are not validated: the handler still rejects a
// malformed key. ESUB: the first stream (its PARTITION_KEY if one follows it).
std::optional<RoutingKey> routing_key(const CommandSpec& spec, Args args);

// The partition `key` selects among `partition_count`, computed as the handlers do; nullopt if
// the value is malformed (the handler rejects it) or selects several partitions (EPSUB's `*`,
// ranges and lists).
std::optional<PartitionId> routing_partition(const RoutingKey& key, uint16_t partition_count);

}  // namespace sierra::server
