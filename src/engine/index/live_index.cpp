#include "engine/index/live_index.hpp"

#include <algorithm>
#include <functional>

namespace sierra {

size_t StreamKeyHash::hash(PartitionId pid, std::string_view stream_id) {
  const size_t h = std::hash<std::string_view>{}(stream_id);
  // Mix in the partition id (boost::hash_combine style).
  return h ^ (size_t{pid} + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

std::optional<uint64_t> LiveEventIndex::get(const Uuid& event_id) const {
  auto it = map_.find(event_id);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void LivePartitionIndex::insert(PartitionId pid, uint64_t sequence, uint64_t offset) {
  auto [it, inserted] = map_.try_emplace(pid);
  PartitionEntry& e = it->second;
  if (inserted) {
    e.sequence_min = sequence;
    e.sequence_max = sequence;
  } else {
    e.sequence_min = std::min(e.sequence_min, sequence);
    e.sequence_max = std::max(e.sequence_max, sequence);
  }
  e.offsets.push_back(SeqOffset{sequence, offset});
}

const PartitionEntry* LivePartitionIndex::get(PartitionId pid) const {
  auto it = map_.find(pid);
  return it == map_.end() ? nullptr : &it->second;
}

Result<StreamEntry*> LiveStreamIndex::insert(PartitionId pid, std::string_view stream_id,
                                             const Uuid& partition_key, uint64_t version,
                                             uint64_t offset) {
  auto it = map_.find(StreamKeyRef{pid, stream_id});
  if (it == map_.end()) {
    StreamEntry& e = map_.try_emplace(StreamKey{pid, std::string(stream_id)}).first->second;
    e.partition_key = partition_key;
    e.version_min = version;
    e.version_max = version;
    e.offsets.push_back(SeqOffset{version, offset});
    return &e;
  }
  if (auto s = insert_into(it->second, pid, stream_id, partition_key, version, offset); !s) {
    return std::unexpected(s.error());
  }
  return &it->second;
}

Status LiveStreamIndex::insert_into(StreamEntry& e, PartitionId pid, std::string_view stream_id,
                                    const Uuid& partition_key, uint64_t version, uint64_t offset) {
  if (e.partition_key != partition_key) {
    return make_error(Errc::PartitionKeyMismatch,
                      "stream '" + std::string(stream_id) + "' in partition " +
                          std::to_string(pid) + " has partition key " +
                          e.partition_key.to_string() + ", not " + partition_key.to_string());
  }
  e.version_min = std::min(e.version_min, version);
  e.version_max = std::max(e.version_max, version);
  e.offsets.push_back(SeqOffset{version, offset});
  return {};
}

StreamEntry* LiveStreamIndex::find(PartitionId pid, std::string_view stream_id) {
  auto it = map_.find(StreamKeyRef{pid, stream_id});
  return it == map_.end() ? nullptr : &it->second;
}

const StreamEntry* LiveStreamIndex::get(PartitionId pid, std::string_view stream_id) const {
  auto it = map_.find(StreamKeyRef{pid, stream_id});
  return it == map_.end() ? nullptr : &it->second;
}

}  // namespace sierra
