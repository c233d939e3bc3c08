// In-memory indexes of the live segment of a bucket (its memtable): event id -> offset,
// partition id -> (sequence, offset) list, (partition id, stream id) -> (version, offset) list.
// Not synchronised: the bucket guards them (writer mutates under a unique lock, readers share).
// Offsets are within the one segment the index belongs to.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tsl/robin_map.h>

#include "engine/error.hpp"
#include "engine/ids.hpp"
#include "engine/segment/seq_offset.hpp"

namespace sierra {

struct PartitionEntry {
  uint64_t sequence_min = 0;
  uint64_t sequence_max = 0;
  std::vector<SeqOffset> offsets;  // ascending sequence
};

struct StreamKey {
  PartitionId partition_id = 0;
  std::string stream_id;
  bool operator==(const StreamKey&) const = default;
  auto operator<=>(const StreamKey&) const = default;
};
// A borrowed key for lookups that must not allocate a std::string (the append path looks up a
// stream for every event).
struct StreamKeyRef {
  PartitionId partition_id = 0;
  std::string_view stream_id;
};

// Transparent hash/equality over StreamKey and StreamKeyRef. The call operators are deliberately
// not noexcept: libstdc++ then stores each node's hash code, so walking a bucket's chain compares
// cached hashes instead of dereferencing every neighbour's string (a cache miss each at 100k+
// live streams).
struct StreamKeyHash {
  using is_transparent = void;
  size_t operator()(const StreamKey& k) const { return hash(k.partition_id, k.stream_id); }
  size_t operator()(const StreamKeyRef& k) const { return hash(k.partition_id, k.stream_id); }
  static size_t hash(PartitionId pid, std::string_view stream_id);
};
struct StreamKeyEqual {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return a.partition_id == b.partition_id && std::string_view(a.stream_id) == b.stream_id;
  }
};
template <class V>
using StreamMap = std::unordered_map<StreamKey, V, StreamKeyHash, StreamKeyEqual>;

struct StreamEntry {
  Uuid partition_key;
  uint64_t version_min = 0;
  uint64_t version_max = 0;
  std::vector<SeqOffset> offsets;  // (version, offset), ascending version
};

// Event id -> offset. An open-addressing table (tsl::robin_map): an append inserts one entry per
// event and EGET looks one up, and std::unordered_map's node per entry (an allocation, and a
// cache miss to reach it) plus its rehashes cost 5 % of the server's CPU under pipelined appends.
class LiveEventIndex {
 public:
  using Map = tsl::robin_map<Uuid, uint64_t, UuidHash>;
  void insert(const Uuid& event_id, uint64_t offset) { map_.insert_or_assign(event_id, offset); }
  std::optional<uint64_t> get(const Uuid& event_id) const;
  size_t size() const { return map_.size(); }
  const Map& entries() const { return map_; }

 private:
  Map map_;
};

class LivePartitionIndex {
 public:
  // Sequences must be inserted in ascending order per partition.
  void insert(PartitionId pid, uint64_t sequence, uint64_t offset);
  const PartitionEntry* get(PartitionId pid) const;
  size_t size() const { return map_.size(); }
  const std::map<PartitionId, PartitionEntry>& entries() const { return map_; }

 private:
  std::map<PartitionId, PartitionEntry> map_;
};

class LiveStreamIndex {
 public:
  // Adds (version, offset) to the stream's entry, creating the entry, and returns it. Entries are
  // never erased and the map is node-based, so the pointer stays valid as long as the index.
  // PartitionKeyMismatch if the stream exists with another partition key.
  Result<StreamEntry*> insert(PartitionId pid, std::string_view stream_id,
                              const Uuid& partition_key, uint64_t version, uint64_t offset);
  // The same, into an entry that insert() or find() of this index returned (no lookup). pid and
  // stream_id are the entry's, for the error message.
  static Status insert_into(StreamEntry& e, PartitionId pid, std::string_view stream_id,
                            const Uuid& partition_key, uint64_t version, uint64_t offset);
  const StreamEntry* get(PartitionId pid, std::string_view stream_id) const;
  StreamEntry* find(PartitionId pid, std::string_view stream_id);
  size_t size() const { return map_.size(); }
  const StreamMap<StreamEntry>& entries() const { return map_; }

 private:
  StreamMap<StreamEntry> map_;
};

// The three live indexes of one segment.
struct LiveIndexes {
  LiveEventIndex events;
  LivePartitionIndex partitions;
  LiveStreamIndex streams;
};

}  // namespace sierra
