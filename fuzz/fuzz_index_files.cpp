// libFuzzer target: closed-segment index files (index.eidx, partition.pidx, stream.sidx).
//
// The first input byte picks the file kind; the rest is written as that file and opened with
// EventIndexFile / PartitionIndexFile / StreamIndexFile. On success: lookups (with keys taken
// from the input, from the file's own listing, and absent keys), all(), offsets(), verify().
// Errors are fine; crashes, hangs and sanitizer reports are not.
#include <filesystem>
#include <string>

#include "engine/index/index_files.hpp"
#include "fuzz_util.hpp"

using namespace sierra;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t kind = data[0] % 3;
  ++data;
  --size;
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
