// The fixed input of the golden files in tests/engine/golden/ (README.md there): three
// transactions (a single event, a three-event transaction over two streams with metadata, a
// single event with binary metadata in another partition), encoded into one segment of bucket 3,
// segment 7, and the three index files of that segment. Everything is deterministic: ids,
// timestamps and the segment creation time are literals.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "engine/index/index_files.hpp"
#include "engine/index/live_index.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/record.hpp"

namespace sierra::golden {

inline constexpr BucketId kBucket = 3;
inline constexpr SegmentId kSegment = 7;
inline constexpr uint64_t kCreatedAt = 1'700'000'000'000'000'000ull;
inline constexpr uint64_t kCommitTimestamp = 1'700'000'000'500'000'000ull;

inline Uuid uuid(const char* text) {
  return *Uuid::parse(text);
}

inline Uuid key_a() {
  return partition_key_for_stream("golden-a");
}
inline Uuid key_c() {
  return partition_key_for_stream("golden-c");
}

// Event id i of a key: fixed time and random parts.
inline Uuid event_id(const Uuid& key, uint64_t i) {
  return event_id_from_parts(1'700'000'000'000ull + i, 0x123, partition_hash(key),
                             0x2ABCDEF0000ull + i);
}

struct Event {
  Uuid event_id;
  Uuid partition_key;
  PartitionId partition_id;
  uint64_t sequence;
  uint64_t version;
  uint64_t timestamp_ns;
  std::string stream_id;
  std::string event_name;
  std::string metadata;
  std::string payload;
};

struct Tx {
  uint64_t log_position;
  Uuid transaction_id;
  std::vector<Event> events;
};

inline std::vector<Tx> transactions() {
  const Uuid a = key_a();
  const Uuid c = key_c();
  return {
      {1,
       with_single_flag(uuid("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"), true),
       {{event_id(a, 0), a, 5, 0, 0, 1'700'000'000'000'000'001ull, "golden-a", "Created", "",
         "hello"}}},
      {2,
       with_single_flag(uuid("11223344-5566-4778-8899-aabbccddeeff"), false),
       {{event_id(a, 1), a, 5, 1, 1, 1'700'000'000'000'000'002ull, "golden-a", "Renamed",
         R"({"trace":"abc"})", R"({"name":"x"})"},
        {event_id(a, 2), a, 5, 2, 0, 1'700'000'000'000'000'003ull, "golden-b", "Linked", "", "b0"},
        {event_id(a, 3), a, 5, 3, 2, 1'700'000'000'000'000'004ull, "golden-a", "Closed", "", ""}}},
      {3,
       with_single_flag(uuid("99999999-8888-4777-a666-555555555555"), true),
       {{event_id(c, 0), c, 9, 0, 0, 1'700'000'000'000'000'005ull, "golden-c", "Binary",
         std::string("\x00\x01\x02meta", 7), std::string("\xff\x00\xfe", 3)}}},
  };
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes (atomically) data.evts, index.eidx, partition.pidx and stream.sidx into `dir` with the
// encoders (segment_format::encode_header/encode_transaction and the index files' write()). The
// index entries are built here from the offsets the encoder reports, not by decoding the segment.
inline Status write_golden(const std::filesystem::path& dir) {
  std::vector<uint8_t> seg;
  const auto header = segment_format::encode_header(
      {segment_format::kFormatVersion, kBucket, kSegment, kCreatedAt});
  seg.assign(header.begin(), header.end());
  LiveIndexes idx;
  bool first = true;
  for (const Tx& t : transactions()) {
    std::vector<EventToWrite> w;
    for (const Event& e : t.events) {
      w.push_back(EventToWrite{e.event_id, e.partition_key, e.partition_id, e.sequence, e.version,
                               e.timestamp_ns, e.stream_id, e.event_name, e.metadata, e.payload});
    }
    std::vector<uint32_t> rel;
    const uint64_t start = seg.size();
    auto st = segment_format::encode_transaction(
        seg, TransactionHeader{t.log_position, 0, t.transaction_id}, kCommitTimestamp, w, &rel,
        first);
    if (!st) return st;
    first = false;
    if (rel.size() != t.events.size()) {
      return make_error(Errc::InvalidArgument, "the encoder reported " +
                                                   std::to_string(rel.size()) + " offsets for " +
                                                   std::to_string(t.events.size()) + " events");
    }
    for (size_t i = 0; i < t.events.size(); ++i) {
      const Event& e = t.events[i];
      const uint64_t off = start + rel[i];
      idx.events.insert(e.event_id, off);
      idx.partitions.insert(e.partition_id, e.sequence, off);
      auto s = idx.streams.insert(e.partition_id, e.stream_id, e.partition_key, e.version, off);
      if (!s) return std::unexpected(s.error());
    }
  }
  std::filesystem::create_directories(dir);
  if (auto w = write_file_atomically(dir / "data.evts", seg); !w) return w;
  if (auto w = EventIndexFile::write(dir / "index.eidx", idx.events); !w) return w;
  if (auto w = PartitionIndexFile::write(dir / "partition.pidx", idx.partitions); !w) return w;
  return StreamIndexFile::write(dir / "stream.sidx", idx.streams);
}

inline constexpr const char* kFiles[] = {"data.evts", "index.eidx", "partition.pidx",
                                         "stream.sidx"};

}  // namespace sierra::golden
