// libFuzzer target: closed-segment index files (index.eidx, partition.pidx, stream.sidx).
//
// The first input byte picks the file kind; the rest is written as that file and opened with
// EventIndexFile / PartitionIndexFile / StreamIndexFile. On success: lookups (with keys taken
// from the input, from the file's own listing, and absent keys), all(), offsets(), verify().
// Errors are fine; crashes, hangs and sanitizer reports are not.
//
// Bits 6/7 of the first byte re-seal the header CRC (over header[0,60) ++ MPHF ++ Bloom) and the
// trailer's whole-file CRC, so that mutations reach the MPHF (cmph) and Bloom loaders and the
// record readers instead of stopping at the checksums (layout: src/engine/index/index_files.cpp).
#include <filesystem>
#include <string>

#include "engine/crc32c.hpp"
#include "engine/index/index_files.hpp"
#include "fuzz_util.hpp"

using namespace sierra;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const uint8_t kind = (control & 0x3f) % 3;
  std::vector<uint8_t> buf(data + 1, data + size);
  size = buf.size();
  auto le64 = [&](size_t at) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | buf[at + i];
    return v;
  };
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) buf[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  if ((control & 0x80) && size >= 64) {
    const uint64_t mphf = le64(16), bloom = le64(24);
    if (mphf <= size && bloom <= size && 64 + mphf + bloom <= size) {
      uint32_t crc = crc32c::value(buf.data(), 60);
      crc = crc32c::extend(crc, buf.data() + 64, mphf + bloom);
      put32(60, crc);
    }
  }
  if ((control & 0x40) && size >= 8) put32(size - 8, crc32c::value(buf.data(), size - 8));
  data = buf.data();
  const auto dir = fuzz::scratch_dir();
  Uuid key{};
  for (size_t i = 0; i < 16 && i < size; ++i) key.bytes[i] = data[size - 1 - i];
  const PartitionId pid = size >= 2 ? static_cast<PartitionId>(data[0] | (data[1] << 8)) : 0;

  switch (kind) {
    case 0: {
      const auto path = dir / "index.eidx";
      fuzz::write_file(path, data, size);
      auto f = EventIndexFile::open(path);
      if (!f) return 0;
      (void)(*f)->get(key);
      (void)(*f)->get(Uuid{});
      (void)(*f)->verify();
      if (auto all = (*f)->all()) {
        FUZZ_CHECK(all->size() == (*f)->key_count());
        size_t n = 0;
        for (const auto& [id, off] : *all) {
          if (++n > 64) break;
          auto got = (*f)->get(id);
          (void)off;
          (void)got;
        }
      }
      break;
    }
    case 1: {
      const auto path = dir / "partition.pidx";
      fuzz::write_file(path, data, size);
      auto f = PartitionIndexFile::open(path);
      if (!f) return 0;
      (void)(*f)->summary(pid);
      (void)(*f)->offsets(pid);
      (void)(*f)->verify();
      size_t n = 0;
      for (const auto& s : (*f)->summaries()) {
        if (++n > 64) break;
        FUZZ_CHECK((*f)->summary(s.partition_id).has_value());
        (void)(*f)->offsets(s.partition_id);
      }
      break;
    }
    default: {
      const auto path = dir / "stream.sidx";
      fuzz::write_file(path, data, size);
      auto f = StreamIndexFile::open(path);
      if (!f) return 0;
      const std::string sid(reinterpret_cast<const char*>(data), std::min<size_t>(size, 12));
      (void)(*f)->get(pid, sid);
      (void)(*f)->offsets(pid, sid);
      (void)(*f)->get(0, "stream-0");
      (void)(*f)->offsets(0, "stream-0");
      (void)(*f)->verify();
      break;
    }
  }
  return 0;
}
