#include "server/commands/routing_key.hpp"

#include "server/commands/arguments.hpp"

namespace sierra::server {

std::optional<RoutingKey> routing_key(const CommandSpec& spec, Args args) {
  const KeySpec& k = spec.key;
  if (k.index == 0 || args.size() <= k.index) return std::nullopt;
  RoutingKey key{k.kind, args[k.index]};
  if (k.override_keyword.empty()) return key;
  if (k.stream_list) {
    // <stream> [PARTITION_KEY <uuid>] ...: only the first stream's own option counts.
    const std::size_t at = k.index + 1u;
    if (at + 1 < args.size() && keyword_is(args[at], k.override_keyword)) {
      key = RoutingKey{k.override_kind, args[at + 1]};
    }
    return key;
  }
  // Options are `<keyword> <value>` pairs from options_from on.
  for (std::size_t i = k.options_from; i + 1 < args.size(); i += 2) {
    if (keyword_is(args[i], k.override_keyword)) return RoutingKey{k.override_kind, args[i + 1]};
  }
  return key;
}

std::optional<PartitionId> routing_partition(const RoutingKey& key, uint16_t partition_count) {
  switch (key.kind) {
    case KeyKind::StreamId: {
      auto sid = parse_stream_id(key.value);
      if (!sid) return std::nullopt;
      return partition_id_for_key(partition_key_for_stream(*sid), partition_count);
    }
    case KeyKind::PartitionKey: {
      auto k = parse_uuid(key.value, "partition key");
      if (!k) return std::nullopt;
      return partition_id_for_key(*k, partition_count);
    }
    case KeyKind::EventId: {
      auto id = parse_uuid(key.value, "event id");
      if (!id) return std::nullopt;
      return partition_id_for_hash(partition_hash(*id), partition_count);
    }
    case KeyKind::PartitionSelector: {
      auto p = parse_partition_selector(key.value, partition_count);
      if (!p) return std::nullopt;
      return *p;
    }
  }
  return std::nullopt;
}

}  // namespace sierra::server
