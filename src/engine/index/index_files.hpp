// Immutable index files of a closed segment (docs/FORMAT.md): index.eidx, partition.pidx,
// stream.sidx. Each holds a minimal perfect hash function (CMPH, BDZ) over its keys, fixed-size
// records addressed by the MPHF slot, and value lists; the stream index adds a Bloom filter.
//
// Memory: an open file keeps only its header, MPHF and (stream index) Bloom filter in memory;
// records and lists are read with pread and verified with their own CRC-32C on every lookup.
// Open verifies the header and the in-memory parts; `verify()` checks the whole-file checksum.
// Files are written via write_file_atomically (temp file, fsync, rename, fsync dir).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/error.hpp"
#include "engine/file.hpp"
#include "engine/ids.hpp"
#include "engine/index/live_index.hpp"

namespace sierra {

class Mphf;  // index/mphf.hpp

class EventIndexFile {
 public:
  static Status write(const std::filesystem::path& path, const LiveEventIndex& index,
                      const std::shared_ptr<Env>& env = Env::real());
  // CorruptIndex on any header/MPHF/checksum problem; Io if the file cannot be read.
  static Result<std::unique_ptr<EventIndexFile>> open(
      const std::filesystem::path& path, const std::shared_ptr<Env>& env = Env::real());
  ~EventIndexFile();

  Result<std::optional<uint64_t>> get(const Uuid& event_id) const;
  uint64_t key_count() const { return count_; }
  Status verify() const;  // whole-file checksum
  // Every (event id, offset) pair; for `sierradb check` and tests.
  Result<std::vector<std::pair<Uuid, uint64_t>>> all() const;

 private:
  EventIndexFile() = default;
  File file_;
  uint64_t count_ = 0;
  uint64_t records_offset_ = 0;
  std::unique_ptr<Mphf> mphf_;
};

// Summary of one partition in one segment (kept in memory for every closed segment: it is
// small, one record per partition present in the segment).
struct PartitionSummary {
  PartitionId partition_id = 0;
  uint64_t sequence_min = 0;
  uint64_t sequence_max = 0;
  uint64_t count = 0;
};

class PartitionIndexFile {
 public:
  static Status write(const std::filesystem::path& path, const LivePartitionIndex& index,
                      const std::shared_ptr<Env>& env = Env::real());
  static Result<std::unique_ptr<PartitionIndexFile>> open(
      const std::filesystem::path& path, const std::shared_ptr<Env>& env = Env::real());
  ~PartitionIndexFile();

  std::optional<PartitionSummary> summary(PartitionId pid) const;
  const std::vector<PartitionSummary>& summaries() const { return summaries_; }  // ascending pid
  // The (sequence, offset) list of a partition in this segment; empty if absent.
  Result<std::vector<SeqOffset>> offsets(PartitionId pid) const;
  Status verify() const;

 private:
  PartitionIndexFile() = default;
  File file_;
  std::vector<PartitionSummary> summaries_;
  std::vector<uint64_t> list_offsets_;  // parallel to summaries_
  std::vector<uint32_t> list_crcs_;
};

struct StreamSummary {
  Uuid partition_key;
  uint64_t version_min = 0;
  uint64_t version_max = 0;
  uint64_t count = 0;
};

class StreamIndexFile {
 public:
  // The Bloom filter is sized from the index's key count.
  static Status write(const std::filesystem::path& path, const LiveStreamIndex& index,
                      const std::shared_ptr<Env>& env = Env::real());
  static Result<std::unique_ptr<StreamIndexFile>> open(
      const std::filesystem::path& path, const std::shared_ptr<Env>& env = Env::real());
  ~StreamIndexFile();

  // Bloom filter first (definitely absent -> nullopt without I/O), then MPHF + record.
  Result<std::optional<StreamSummary>> get(PartitionId pid, std::string_view stream_id) const;
  // (version, offset) list of the stream in this segment; nullopt if absent.
  Result<std::optional<std::vector<SeqOffset>>> offsets(PartitionId pid,
                                                        std::string_view stream_id) const;
  uint64_t key_count() const { return count_; }
  Status verify() const;

 private:
  StreamIndexFile() = default;
  File file_;
  uint64_t count_ = 0;
  uint64_t records_offset_ = 0;
  std::unique_ptr<Mphf> mphf_;
  std::vector<uint8_t> bloom_;
  uint32_t bloom_hashes_ = 0;
};

}  // namespace sierra
