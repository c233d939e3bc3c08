// Index files of closed segments. Layout, checksums and the reasons for them: docs/INDEX_FORMAT.md.
#include "engine/index/index_files.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "engine/crc32c.hpp"
#include "engine/index/bloom.hpp"
#include "engine/index/mphf.hpp"

namespace sierra {

static_assert(std::endian::native == std::endian::little, "index files are little-endian");

namespace {

// ---- common layout --------------------------------------------------------------------------

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 64;
constexpr size_t kHeaderCrcOffset = 60;  // header CRC covers header[0..60) ++ MPHF ++ Bloom
constexpr size_t kTrailerSize = 8;       // [file crc u32][magic]
constexpr size_t kListEntrySize = 16;    // (u64, u64)
constexpr uint64_t kLargeList = 64 * 1024;

constexpr std::array<char, 4> kEventMagic{'E', 'I', 'D', 'X'};
constexpr std::array<char, 4> kPartitionMagic{'P', 'I', 'D', 'X'};
constexpr std::array<char, 4> kStreamMagic{'S', 'I', 'D', 'X'};

// Event record: [event_id 16][offset u64][crc u32 over 0..24).
constexpr size_t kEventRecordSize = 28;
constexpr size_t kEventRecordCrc = 24;

// Partition record: [pid u16][reserved u16][list crc u32][seq min u64][seq max u64][count u64]
//                   [list offset u64][crc u32 over 0..40).
constexpr size_t kPartitionRecordSize = 44;
constexpr size_t kPartitionRecordCrc = 40;

// Stream record: [pid u16][id len u8][reserved u8][list crc u32][stream id 64, NUL-padded]
//                [partition key 16][version min u64][version max u64][count u64]
//                [list offset u64][crc u32 over 0..120).
constexpr size_t kStreamRecordSize = 124;
constexpr size_t kStreamRecordCrc = 120;

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

struct Header {
  std::array<char, 4> magic{};
  uint32_t version = 0;
  uint64_t key_count = 0;
  uint64_t mphf_length = 0;
  uint64_t bloom_length = 0;
  uint64_t records_offset = 0;
  uint64_t values_offset = 0;
  uint64_t file_length = 0;
  uint32_t record_size = 0;
  uint32_t header_crc = 0;

  void encode(uint8_t* p) const {
    std::memcpy(p, magic.data(), 4);
    store(p + 4, version);
    store(p + 8, key_count);
    store(p + 16, mphf_length);
    store(p + 24, bloom_length);
    store(p + 32, records_offset);
    store(p + 40, values_offset);
    store(p + 48, file_length);
    store(p + 56, record_size);
    store(p + 60, header_crc);
  }
  static Header decode(const uint8_t* p) {
    Header h;
    std::memcpy(h.magic.data(), p, 4);
    h.version = load<uint32_t>(p + 4);
    h.key_count = load<uint64_t>(p + 8);
    h.mphf_length = load<uint64_t>(p + 16);
    h.bloom_length = load<uint64_t>(p + 24);
    h.records_offset = load<uint64_t>(p + 32);
    h.values_offset = load<uint64_t>(p + 40);
    h.file_length = load<uint64_t>(p + 48);
    h.record_size = load<uint32_t>(p + 56);
    h.header_crc = load<uint32_t>(p + 60);
    return h;
  }
};

std::string magic_str(const std::array<char, 4>& m) {
  return std::string(m.data(), 4);
}

std::unexpected<Error> corrupt(const std::filesystem::path& path, const std::string& what,
                               uint64_t offset = 0) {
  return make_error(Errc::CorruptIndex, path.string() + ": " + what, offset);
}

// pread that reports a short read (the file shrank after open) as index corruption.
Status read_at(const File& f, void* buf, size_t n, uint64_t offset) {
  auto r = f.pread_exact(buf, n, offset);
  if (!r && r.error().code == Errc::CorruptRecord) {
    return corrupt(f.path(), "unexpected end of file reading " + std::to_string(n) + " bytes",
                   offset);
  }
  return r;
}

// Serialisation buffer of a whole index file; the caller fills MPHF/Bloom/records/values and
// `finish` writes the header with its CRC and the trailer with the whole-file CRC.
struct FileImage {
  Header header;
  std::vector<uint8_t> bytes;

  FileImage(const std::array<char, 4>& magic, uint64_t keys, std::span<const uint8_t> mphf,
            std::span<const uint8_t> bloom, uint32_t record_size, uint64_t values_bytes) {
    header.magic = magic;
    header.version = kFormatVersion;
    header.key_count = keys;
    header.mphf_length = mphf.size();
    header.bloom_length = bloom.size();
    header.records_offset = kHeaderSize + mphf.size() + bloom.size();
    header.values_offset = header.records_offset + keys * record_size;
    header.file_length = header.values_offset + values_bytes + kTrailerSize;
    header.record_size = record_size;
    bytes.assign(header.file_length, 0);
    std::copy(mphf.begin(), mphf.end(), bytes.begin() + kHeaderSize);
    std::copy(bloom.begin(), bloom.end(), bytes.begin() + kHeaderSize + mphf.size());
  }
  uint8_t* record(uint64_t slot) {
    return bytes.data() + header.records_offset + slot * header.record_size;
  }

  Status finish(const std::filesystem::path& path, const std::shared_ptr<Env>& env) {
    header.encode(bytes.data());
    uint32_t crc = crc32c::value(bytes.data(), kHeaderCrcOffset);
    crc = crc32c::extend(crc, bytes.data() + kHeaderSize, header.mphf_length + header.bloom_length);
    header.header_crc = crc;
    store(bytes.data() + kHeaderCrcOffset, crc);
    const uint64_t body = header.file_length - kTrailerSize;
    store(bytes.data() + body, crc32c::value(bytes.data(), body));
    std::memcpy(bytes.data() + body + 4, header.magic.data(), 4);
    return write_file_atomically(path, bytes, env);
  }
};

// Appends a (u64, u64) list at `pos` of `out`; returns its CRC-32C.
uint32_t put_list(uint8_t* out, const std::vector<SeqOffset>& list) {
  uint8_t* p = out;
  for (const auto& e : list) {
    store(p, e.position);
    store(p + 8, e.offset);
    p += kListEntrySize;
  }
  return crc32c::value(out, list.size() * kListEntrySize);
}

// An opened file, its checked header and the bytes of MPHF ++ Bloom (already CRC-checked).
struct Opened {
  File file;
  Header header;
  std::vector<uint8_t> mphf_and_bloom;
};

Result<Opened> open_checked(const std::filesystem::path& path, const std::array<char, 4>& magic,
                            uint32_t record_size, const std::shared_ptr<Env>& env) {
  auto file = File::open(path, File::Mode::ReadOnly, env);
  if (!file) return std::unexpected(file.error());
  auto size = file->size();
  if (!size) return std::unexpected(size.error());
  if (*size < kHeaderSize + kTrailerSize) {
    return corrupt(path, "file of " + std::to_string(*size) + " bytes is shorter than " +
                             std::to_string(kHeaderSize + kTrailerSize));
  }
  std::array<uint8_t, kHeaderSize> raw{};
  if (auto r = read_at(*file, raw.data(), raw.size(), 0); !r) return std::unexpected(r.error());
  const Header h = Header::decode(raw.data());
  if (h.magic != magic) {
    return corrupt(path,
                   "bad magic '" + magic_str(h.magic) + "', expected '" + magic_str(magic) + "'");
  }
  if (h.version != kFormatVersion) {
    return corrupt(path, "unsupported format version " + std::to_string(h.version));
  }
  // Bound the lengths by the real size before allocating anything from them.
  if (h.mphf_length > *size || h.bloom_length > *size ||
      kHeaderSize + h.mphf_length + h.bloom_length + kTrailerSize > *size) {
    return corrupt(path, "MPHF/Bloom lengths exceed the file size");
  }
  Opened o;
  o.mphf_and_bloom.resize(h.mphf_length + h.bloom_length);
  if (auto r = read_at(*file, o.mphf_and_bloom.data(), o.mphf_and_bloom.size(), kHeaderSize); !r) {
    return std::unexpected(r.error());
  }
  uint32_t crc = crc32c::value(raw.data(), kHeaderCrcOffset);
  crc = crc32c::extend(crc, o.mphf_and_bloom.data(), o.mphf_and_bloom.size());
  if (crc != h.header_crc) {
    return corrupt(path, "header checksum mismatch (header, MPHF or Bloom filter damaged)");
  }
  // The header is authentic; check that it describes this file (truncation, appended bytes).
  if (h.file_length != *size) {
    return corrupt(path, "file is " + std::to_string(*size) + " bytes, header says " +
                             std::to_string(h.file_length) + " (truncated or extended)");
  }
  if (h.record_size != record_size) {
    return corrupt(path, "record size " + std::to_string(h.record_size) + ", expected " +
                             std::to_string(record_size));
  }
  if (h.records_offset != kHeaderSize + h.mphf_length + h.bloom_length ||
      h.key_count > (*size - h.records_offset) / record_size ||
      h.values_offset != h.records_offset + h.key_count * record_size ||
      h.values_offset + kTrailerSize > *size) {
    return corrupt(path, "inconsistent section offsets in header");
  }
  o.file = std::move(*file);
  o.header = h;
  return o;
}

// Whole-file check: re-reads the header and streams the file through CRC-32C.
Status verify_file(const File& f, const std::array<char, 4>& magic) {
  const auto& path = f.path();
  auto size = f.size();
  if (!size) return std::unexpected(size.error());
  if (*size < kHeaderSize + kTrailerSize) return corrupt(path, "file too short");
  std::array<uint8_t, kHeaderSize> raw{};
  if (auto r = read_at(f, raw.data(), raw.size(), 0); !r) return r;
  const Header h = Header::decode(raw.data());
  if (h.magic != magic) return corrupt(path, "bad magic");
  if (h.file_length != *size) {
    return corrupt(path, "file is " + std::to_string(*size) + " bytes, header says " +
                             std::to_string(h.file_length));
  }
  const uint64_t body = *size - kTrailerSize;
  std::vector<uint8_t> buf(std::min<uint64_t>(body, 1 << 20));
  uint32_t crc = 0;
  for (uint64_t pos = 0; pos < body;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), body - pos));
    if (auto r = read_at(f, buf.data(), n, pos); !r) return r;
    crc = crc32c::extend(crc, buf.data(), n);
    pos += n;
  }
  std::array<uint8_t, kTrailerSize> trailer{};
  if (auto r = read_at(f, trailer.data(), trailer.size(), body); !r) return r;
  if (std::memcmp(trailer.data() + 4, magic.data(), 4) != 0) {
    return corrupt(path, "bad trailer magic", body + 4);
  }
  if (load<uint32_t>(trailer.data()) != crc) {
    return corrupt(path, "whole-file checksum mismatch", body);
  }
  return {};
}

// Reads and checks a value list; `values_begin` bounds it from below.
Result<std::vector<SeqOffset>> read_list(const File& f, uint64_t values_begin, uint64_t offset,
                                         uint64_t count, uint32_t expected_crc) {
  std::vector<SeqOffset> out;
  if (count == 0) {
    if (expected_crc != 0) return corrupt(f.path(), "empty list with a non-zero checksum");
    return out;
  }
  if (offset < values_begin || count > (UINT64_MAX - offset) / kListEntrySize) {
    return corrupt(f.path(), "value list offset out of range", offset);
  }
  const uint64_t bytes = count * kListEntrySize;
  if (bytes > kLargeList) {  // bound big lists by the file before allocating for them
    auto size = f.size();
    if (!size) return std::unexpected(size.error());
    if (offset + bytes + kTrailerSize > *size) {
      return corrupt(f.path(), "value list extends past the end of the file", offset);
    }
  }
  std::vector<uint8_t> raw(bytes);
  if (auto r = read_at(f, raw.data(), raw.size(), offset); !r) return std::unexpected(r.error());
  if (crc32c::value(raw.data(), raw.size()) != expected_crc) {
    return corrupt(f.path(), "value list checksum mismatch", offset);
  }
  out.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    out[i].position = load<uint64_t>(raw.data() + i * kListEntrySize);
    out[i].offset = load<uint64_t>(raw.data() + i * kListEntrySize + 8);
  }
  return out;
}

bool record_crc_ok(const uint8_t* rec, size_t crc_offset) {
  return crc32c::value(rec, crc_offset) == load<uint32_t>(rec + crc_offset);
}

std::string_view uuid_key(const Uuid& u) {
  return {reinterpret_cast<const char*>(u.bytes.data()), u.bytes.size()};
}

std::string stream_key(PartitionId pid, std::string_view stream_id) {
  std::string k(2 + stream_id.size(), '\0');
  store(reinterpret_cast<uint8_t*>(k.data()), pid);
  std::memcpy(k.data() + 2, stream_id.data(), stream_id.size());
  return k;
}

// Checks that `slot` is a valid, unused slot while writing (guards against MPHF bugs).
Status claim_slot(std::optional<uint32_t> slot, std::vector<bool>& used) {
  if (!slot || *slot >= used.size() || used[*slot]) {
    return make_error(Errc::InvalidArgument, "MPHF is not perfect over the index keys");
  }
  used[*slot] = true;
  return {};
}

}  // namespace

// ---- event index ----------------------------------------------------------------------------

EventIndexFile::~EventIndexFile() = default;

Status EventIndexFile::write(const std::filesystem::path& path, const LiveEventIndex& index,
                             const std::shared_ptr<Env>& env) {
  std::vector<const LiveEventIndex::Map::value_type*> entries;
  std::vector<std::string_view> keys;
  entries.reserve(index.size());
  keys.reserve(index.size());
  for (const auto& e : index.entries()) {
    entries.push_back(&e);
    keys.push_back(uuid_key(e.first));
  }
  auto mphf = Mphf::build(keys);
  if (!mphf) return std::unexpected(mphf.error());

  FileImage img(kEventMagic, keys.size(), mphf->bytes(), {}, kEventRecordSize, 0);
  std::vector<bool> used(keys.size(), false);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto slot = mphf->slot(keys[i]);
    if (auto r = claim_slot(slot, used); !r) return r;
    uint8_t* rec = img.record(*slot);
    std::memcpy(rec, entries[i]->first.bytes.data(), 16);
    store(rec + 16, entries[i]->second);
    store(rec + kEventRecordCrc, crc32c::value(rec, kEventRecordCrc));
  }
  return img.finish(path, env);
}

Result<std::unique_ptr<EventIndexFile>> EventIndexFile::open(const std::filesystem::path& path,
                                                             const std::shared_ptr<Env>& env) {
  auto o = open_checked(path, kEventMagic, kEventRecordSize, env);
  if (!o) return std::unexpected(o.error());
  if (o->header.bloom_length != 0 ||
      o->header.values_offset + kTrailerSize != o->header.file_length) {
    return corrupt(path, "unexpected Bloom filter or value section in an event index");
  }
  auto mphf = Mphf::deserialize(o->mphf_and_bloom, o->header.key_count);
  if (!mphf) return corrupt(path, mphf.error().message);
  // Private constructor: make_unique cannot reach it; ownership is taken immediately.
  std::unique_ptr<EventIndexFile> f(new EventIndexFile());
  f->file_ = std::move(o->file);
  f->count_ = o->header.key_count;
  f->records_offset_ = o->header.records_offset;
  f->mphf_ = std::make_unique<Mphf>(std::move(*mphf));
  return f;
}

Result<std::optional<uint64_t>> EventIndexFile::get(const Uuid& event_id) const {
  const auto slot = mphf_->slot(uuid_key(event_id));
  if (!slot) return std::optional<uint64_t>{};
  std::array<uint8_t, kEventRecordSize> rec{};
  const uint64_t at = records_offset_ + uint64_t{*slot} * kEventRecordSize;
  if (auto r = read_at(file_, rec.data(), rec.size(), at); !r) return std::unexpected(r.error());
  if (!record_crc_ok(rec.data(), kEventRecordCrc)) {
    return corrupt(file_.path(),
                   "event record checksum mismatch (slot " + std::to_string(*slot) + ")", at);
  }
  if (std::memcmp(rec.data(), event_id.bytes.data(), 16) != 0) return std::optional<uint64_t>{};
  return std::optional<uint64_t>(load<uint64_t>(rec.data() + 16));
}

Status EventIndexFile::verify() const {
  return verify_file(file_, kEventMagic);
}

Result<std::vector<std::pair<Uuid, uint64_t>>> EventIndexFile::all() const {
  std::vector<std::pair<Uuid, uint64_t>> out;
  out.reserve(count_);
  constexpr uint64_t kChunk = 4096;
  std::vector<uint8_t> buf;
  for (uint64_t first = 0; first < count_; first += kChunk) {
    const uint64_t n = std::min(kChunk, count_ - first);
    buf.resize(n * kEventRecordSize);
    const uint64_t at = records_offset_ + first * kEventRecordSize;
    if (auto r = read_at(file_, buf.data(), buf.size(), at); !r) {
      return std::unexpected(r.error());
    }
    for (uint64_t i = 0; i < n; ++i) {
      const uint8_t* rec = buf.data() + i * kEventRecordSize;
      if (!record_crc_ok(rec, kEventRecordCrc)) {
        return corrupt(file_.path(), "event record checksum mismatch", at + i * kEventRecordSize);
      }
      Uuid id;
      std::memcpy(id.bytes.data(), rec, 16);
      out.emplace_back(id, load<uint64_t>(rec + 16));
    }
  }
  return out;
}

// ---- partition index ------------------------------------------------------------------------

PartitionIndexFile::~PartitionIndexFile() = default;

Status PartitionIndexFile::write(const std::filesystem::path& path, const LivePartitionIndex& index,
                                 const std::shared_ptr<Env>& env) {
  uint64_t values = 0;
  for (const auto& [pid, e] : index.entries()) values += e.offsets.size() * kListEntrySize;
  FileImage img(kPartitionMagic, index.size(), {}, {}, kPartitionRecordSize, values);
  uint64_t list_at = img.header.values_offset;
  uint64_t slot = 0;
  for (const auto& [pid, e] : index.entries()) {  // std::map: ascending partition id
    const uint32_t list_crc = put_list(img.bytes.data() + list_at, e.offsets);
    uint8_t* rec = img.record(slot++);
    store(rec, pid);
    store(rec + 4, list_crc);
    store(rec + 8, e.sequence_min);
    store(rec + 16, e.sequence_max);
    store(rec + 24, uint64_t{e.offsets.size()});
    store(rec + 32, list_at);
    store(rec + kPartitionRecordCrc, crc32c::value(rec, kPartitionRecordCrc));
    list_at += e.offsets.size() * kListEntrySize;
  }
  return img.finish(path, env);
}

Result<std::unique_ptr<PartitionIndexFile>> PartitionIndexFile::open(
    const std::filesystem::path& path, const std::shared_ptr<Env>& env) {
  auto o = open_checked(path, kPartitionMagic, kPartitionRecordSize, env);
  if (!o) return std::unexpected(o.error());
  const Header& h = o->header;
  if (h.mphf_length != 0 || h.bloom_length != 0) {
    return corrupt(path, "unexpected MPHF or Bloom filter in a partition index");
  }
  if (h.key_count > uint64_t{UINT16_MAX} + 1) {
    return corrupt(path, "more records than partition ids");
  }
  // The records are small (one per partition present) and all kept in memory: read and check
  // them now.
  std::vector<uint8_t> recs(h.key_count * kPartitionRecordSize);
  if (auto r = read_at(o->file, recs.data(), recs.size(), h.records_offset); !r) {
    return std::unexpected(r.error());
  }
  std::unique_ptr<PartitionIndexFile> f(new PartitionIndexFile());
  f->summaries_.reserve(h.key_count);
  const uint64_t values_end = h.file_length - kTrailerSize;
  for (uint64_t i = 0; i < h.key_count; ++i) {
    const uint8_t* rec = recs.data() + i * kPartitionRecordSize;
    const uint64_t at = h.records_offset + i * kPartitionRecordSize;
    if (!record_crc_ok(rec, kPartitionRecordCrc)) {
      return corrupt(path, "partition record checksum mismatch", at);
    }
    PartitionSummary s;
    s.partition_id = load<uint16_t>(rec);
    s.sequence_min = load<uint64_t>(rec + 8);
    s.sequence_max = load<uint64_t>(rec + 16);
    s.count = load<uint64_t>(rec + 24);
    const uint64_t list_offset = load<uint64_t>(rec + 32);
    if (!f->summaries_.empty() && f->summaries_.back().partition_id >= s.partition_id) {
      return corrupt(path, "partition records not in ascending id order", at);
    }
    if (s.count > 0 && (list_offset < h.values_offset || list_offset > values_end ||
                        s.count > (values_end - list_offset) / kListEntrySize)) {
      return corrupt(path, "partition value list out of range", at);
    }
    f->summaries_.push_back(s);
    f->list_offsets_.push_back(list_offset);
    f->list_crcs_.push_back(load<uint32_t>(rec + 4));
  }
  f->file_ = std::move(o->file);
  return f;
}

std::optional<PartitionSummary> PartitionIndexFile::summary(PartitionId pid) const {
  auto it =
      std::lower_bound(summaries_.begin(), summaries_.end(), pid,
                       [](const PartitionSummary& s, PartitionId p) { return s.partition_id < p; });
  if (it == summaries_.end() || it->partition_id != pid) return std::nullopt;
  return *it;
}

Result<std::vector<SeqOffset>> PartitionIndexFile::offsets(PartitionId pid) const {
  auto it =
      std::lower_bound(summaries_.begin(), summaries_.end(), pid,
                       [](const PartitionSummary& s, PartitionId p) { return s.partition_id < p; });
  if (it == summaries_.end() || it->partition_id != pid) return std::vector<SeqOffset>{};
  const auto i = static_cast<size_t>(it - summaries_.begin());
  // Open checked the list lies inside the value section; values start after the records.
  return read_list(file_, 0, list_offsets_[i], it->count, list_crcs_[i]);
}

Status PartitionIndexFile::verify() const {
  return verify_file(file_, kPartitionMagic);
}

// ---- stream index ---------------------------------------------------------------------------

StreamIndexFile::~StreamIndexFile() = default;

Status StreamIndexFile::write(const std::filesystem::path& path, const LiveStreamIndex& index,
                              const std::shared_ptr<Env>& env) {
  std::vector<const std::pair<const StreamKey, StreamEntry>*> entries;
  std::vector<std::string> key_store;
  entries.reserve(index.size());
  key_store.reserve(index.size());
  Bloom bloom = Bloom::with_capacity(index.size());
  uint64_t values = 0;
  for (const auto& e : index.entries()) {
    const auto& sid = e.first.stream_id;
    if (sid.empty() || sid.size() > kStreamIdMaxBytes) {
      return make_error(
          Errc::InvalidLength,
          "stream index: stream id of " + std::to_string(sid.size()) + " bytes (must be 1..64)");
    }
    entries.push_back(&e);
    key_store.push_back(stream_key(e.first.partition_id, sid));
    bloom.add(key_store.back());
    values += e.second.offsets.size() * kListEntrySize;
  }
  std::vector<std::string_view> keys(key_store.begin(), key_store.end());
  auto mphf = Mphf::build(keys);
  if (!mphf) return std::unexpected(mphf.error());
  const std::vector<uint8_t> bloom_bytes = bloom.serialize();

  FileImage img(kStreamMagic, keys.size(), mphf->bytes(), bloom_bytes, kStreamRecordSize, values);
  std::vector<const std::pair<const StreamKey, StreamEntry>*> by_slot(entries.size());
  std::vector<bool> used(keys.size(), false);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto slot = mphf->slot(keys[i]);
    if (auto r = claim_slot(slot, used); !r) return r;
    by_slot[*slot] = entries[i];
  }
  // Records and lists both in slot order.
  uint64_t list_at = img.header.values_offset;
  for (size_t slot = 0; slot < by_slot.size(); ++slot) {
    const StreamKey& k = by_slot[slot]->first;
    const StreamEntry& e = by_slot[slot]->second;
    const uint32_t list_crc = put_list(img.bytes.data() + list_at, e.offsets);
    uint8_t* rec = img.record(slot);
    store(rec, k.partition_id);
    rec[2] = static_cast<uint8_t>(k.stream_id.size());
    store(rec + 4, list_crc);
    std::memcpy(rec + 8, k.stream_id.data(), k.stream_id.size());
    std::memcpy(rec + 72, e.partition_key.bytes.data(), 16);
    store(rec + 88, e.version_min);
    store(rec + 96, e.version_max);
    store(rec + 104, uint64_t{e.offsets.size()});
    store(rec + 112, list_at);
    store(rec + kStreamRecordCrc, crc32c::value(rec, kStreamRecordCrc));
    list_at += e.offsets.size() * kListEntrySize;
  }
  return img.finish(path, env);
}

Result<std::unique_ptr<StreamIndexFile>> StreamIndexFile::open(const std::filesystem::path& path,
                                                               const std::shared_ptr<Env>& env) {
  auto o = open_checked(path, kStreamMagic, kStreamRecordSize, env);
  if (!o) return std::unexpected(o.error());
  const Header& h = o->header;
  const std::span<const uint8_t> all(o->mphf_and_bloom);
  auto mphf = Mphf::deserialize(all.first(h.mphf_length), h.key_count);
  if (!mphf) return corrupt(path, mphf.error().message);
  auto bloom = Bloom::deserialize(all.subspan(h.mphf_length));
  if (!bloom) return corrupt(path, bloom.error().message);
  std::unique_ptr<StreamIndexFile> f(new StreamIndexFile());
  f->file_ = std::move(o->file);
  f->count_ = h.key_count;
  f->records_offset_ = h.records_offset;
  f->mphf_ = std::make_unique<Mphf>(std::move(*mphf));
  f->bloom_hashes_ = bloom->hash_count();
  f->bloom_ = std::move(*bloom).take_bitmap();
  return f;
}

namespace {

struct StreamRecord {
  StreamSummary summary;
  uint64_t list_offset = 0;
  uint32_t list_crc = 0;
};

// Shared by get() and offsets(): Bloom, MPHF, record read + check + key comparison.
Result<std::optional<StreamRecord>> find_stream(const File& file, const Mphf& mphf,
                                                std::span<const uint8_t> bloom,
                                                uint32_t bloom_hashes, uint64_t records_offset,
                                                PartitionId pid, std::string_view stream_id) {
  if (stream_id.empty() || stream_id.size() > kStreamIdMaxBytes) {
    return std::optional<StreamRecord>{};
  }
  const std::string key = stream_key(pid, stream_id);
  if (!Bloom::may_contain(bloom, bloom_hashes, key)) return std::optional<StreamRecord>{};
  const auto slot = mphf.slot(key);
  if (!slot) return std::optional<StreamRecord>{};
  std::array<uint8_t, kStreamRecordSize> rec{};
  const uint64_t at = records_offset + uint64_t{*slot} * kStreamRecordSize;
  if (auto r = read_at(file, rec.data(), rec.size(), at); !r) return std::unexpected(r.error());
  if (!record_crc_ok(rec.data(), kStreamRecordCrc)) {
    return corrupt(file.path(),
                   "stream record checksum mismatch (slot " + std::to_string(*slot) + ")", at);
  }
  const uint8_t len = rec[2];
  if (load<uint16_t>(rec.data()) != pid || len != stream_id.size() ||
      std::memcmp(rec.data() + 8, stream_id.data(), len) != 0) {
    return std::optional<StreamRecord>{};
  }
  StreamRecord out;
  std::memcpy(out.summary.partition_key.bytes.data(), rec.data() + 72, 16);
  out.summary.version_min = load<uint64_t>(rec.data() + 88);
  out.summary.version_max = load<uint64_t>(rec.data() + 96);
  out.summary.count = load<uint64_t>(rec.data() + 104);
  out.list_offset = load<uint64_t>(rec.data() + 112);
  out.list_crc = load<uint32_t>(rec.data() + 4);
  return std::optional<StreamRecord>(out);
}

}  // namespace

Result<std::optional<StreamSummary>> StreamIndexFile::get(PartitionId pid,
                                                          std::string_view stream_id) const {
  auto r = find_stream(file_, *mphf_, bloom_, bloom_hashes_, records_offset_, pid, stream_id);
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<StreamSummary>{};
  return std::optional<StreamSummary>((*r)->summary);
}

Result<std::optional<std::vector<SeqOffset>>> StreamIndexFile::offsets(
    PartitionId pid, std::string_view stream_id) const {
  auto r = find_stream(file_, *mphf_, bloom_, bloom_hashes_, records_offset_, pid, stream_id);
  if (!r) return std::unexpected(r.error());
  if (!*r) return std::optional<std::vector<SeqOffset>>{};
  const uint64_t values_begin = records_offset_ + count_ * kStreamRecordSize;
  auto list =
      read_list(file_, values_begin, (*r)->list_offset, (*r)->summary.count, (*r)->list_crc);
  if (!list) return std::unexpected(list.error());
  return std::optional<std::vector<SeqOffset>>(std::move(*list));
}

Status StreamIndexFile::verify() const {
  return verify_file(file_, kStreamMagic);
}

}  // namespace sierra
