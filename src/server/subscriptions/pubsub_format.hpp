// The Redis pub/sub form of subscription deliveries (docs/CLIENTS.md, "Pub/sub channels"), the
// one push shape node-redis, ioredis and redis-py all hand to the application: a SUBSCRIBE to a
// channel the server gives a meaning to (sierradb:stream:<id>, sierradb:partition:<n>,
// sierradb:partitions) is confirmed by `subscribe <channel> <count>`, and each event arrives as
// `message <channel> <blob>` whose blob is the event as one JSON object (binary-safe: metadata
// and payload that are not valid UTF-8 are sent base64-encoded under *_base64 keys instead).
// Frames are RESP3 pushes (`>3`) or, after HELLO 2, RESP2 arrays (`*3`), as Redis sends them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ids.hpp"
#include "engine/segment/record.hpp"

namespace sierra::server {

inline constexpr std::string_view kStreamChannelPrefix = "sierradb:stream:";
inline constexpr std::string_view kPartitionChannelPrefix = "sierradb:partition:";
inline constexpr std::string_view kAllPartitionsChannel = "sierradb:partitions";

// What a channel name selects.
struct ChannelTarget {
  enum class Kind { Stream, Partition, AllPartitions } kind = Kind::Stream;
  std::string stream_id;      // Kind::Stream
  PartitionId partition = 0;  // Kind::Partition
};
// Parses a channel name; nullopt if it is not one of ours (or the partition is out of range).
std::optional<ChannelTarget> parse_channel(std::string_view channel, uint16_t partition_count);

// `subscribe|unsubscribe <channel> <count>` (blob strings and an integer, as Redis).
std::string encode_pubsub_event(int protocol, std::string_view kind, std::string_view channel,
                                uint64_t count);
// `message <channel> <json>`.
void encode_pubsub_message(std::string& out, int protocol, std::string_view channel,
                           std::string_view subscription_id, uint64_t cursor, const EventRecord& e);

// The event as a JSON object (exposed for tests): event_id, partition_key, partition_id,
// transaction_id, partition_sequence, stream_version, timestamp (ms), stream_id, event_name,
// metadata or metadata_base64, payload or payload_base64, subscription_id, cursor.
std::string event_json(const EventRecord& e, std::string_view subscription_id, uint64_t cursor);

bool is_valid_utf8(std::string_view s);

}  // namespace sierra::server
