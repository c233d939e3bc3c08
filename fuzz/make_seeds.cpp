// Writes the generated part of the seed corpora (fuzz/corpus/<target>/gen-*): encoded segment
// records and transactions, and small index files written by the engine's own writers.
// Built and run by hand: fuzz/build.sh builds it as build-fuzz/make_seeds; run
// `build-fuzz/make_seeds fuzz/corpus` and commit the result (keep the corpus small).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/index/index_files.hpp"
#include "engine/segment/format.hpp"

using namespace sierra;
namespace sf = sierra::segment_format;
namespace fs = std::filesystem;

static void put(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes,
                int prefix = -1) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  if (prefix >= 0) out.put(static_cast<char>(prefix));
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

static std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus-dir>\n");
    return 2;
  }
  const fs::path root = argv[1];
  const Uuid key = uuid_v5(kPartitionKeyNamespace, "stream-0");
  const PartitionId pid = partition_id_for_key(key, 1024);

  std::vector<std::string> streams = {"stream-0", "stream-0", "orders-1"};
  std::vector<EventToWrite> evs;
  for (size_t i = 0; i < streams.size(); ++i) {
    EventToWrite e;
    e.event_id = new_event_id(partition_hash(key));
    e.partition_key = key;
    e.partition_id = pid;
    e.partition_sequence = i;
    e.stream_version = i == 2 ? 0 : i;
    e.timestamp_ns = 1700000000000000000ull + i;
    e.stream_id = streams[i];
    e.event_name = "Created";
    e.metadata = i ? "{\"m\":1}" : "";
    e.payload = "{\"amount\":42}";
    evs.push_back(e);
  }

  std::vector<uint8_t> single, multi;
  std::vector<uint32_t> offs;
  TransactionHeader tx1{1, 0, new_transaction_id(true)};
  if (!sf::encode_transaction(single, tx1, evs[0].timestamp_ns, std::span(evs).first(1), &offs))
    return 1;
  offs.clear();
  TransactionHeader tx2{2, 0, new_transaction_id(false)};
  if (!sf::encode_transaction(multi, tx2, evs[2].timestamp_ns, std::span(evs).subspan(1), &offs))
    return 1;

  // Records: a single event, the first event of a pair, the commit record.
  put(root / "fuzz_segment_record", "gen-single-event", single);
  put(root / "fuzz_segment_record", "gen-multi-first",
      std::vector<uint8_t>(multi.begin(), multi.begin() + offs.at(1)));
  const uint32_t commit_at =
      offs.back() + sf::peek_record_length(std::span(multi).subspan(offs.back()));
  put(root / "fuzz_segment_record", "gen-commit",
      std::vector<uint8_t>(multi.begin() + commit_at, multi.end()));
  sf::SegmentHeader h{sf::kFormatVersion, 3, 7, 1700000000000000000ull};
  auto hb = sf::encode_header(h);
  put(root / "fuzz_segment_record", "gen-header", std::vector<uint8_t>(hb.begin(), hb.end()));

  // Segment bodies (the target prepends the header).
  std::vector<uint8_t> both = single;
  both.insert(both.end(), multi.begin(), multi.end());
  put(root / "fuzz_segment_file", "gen-two-transactions", both);
  std::vector<uint8_t> torn(both.begin(), both.end() - 7);
  put(root / "fuzz_segment_file", "gen-torn-tail", torn);
  put(root / "fuzz_segment_file", "gen-single", single);

  // Index files (first byte selects the kind: 0 eidx, 1 pidx, 2 sidx).
  const fs::path tmp = fs::temp_directory_path() / "sierra-make-seeds";
  fs::create_directories(tmp);
  LiveEventIndex ei;
  LivePartitionIndex pi;
  LiveStreamIndex si;
  uint64_t off = sf::kHeaderSize;
  for (size_t i = 0; i < evs.size(); ++i, off += 200) {
    ei.insert(evs[i].event_id, off);
    pi.insert(evs[i].partition_id, evs[i].partition_sequence, off);
    (void)si.insert(evs[i].partition_id, evs[i].stream_id, key, evs[i].stream_version, off);
  }
  pi.insert(7, 0, 1000);
  if (!EventIndexFile::write(tmp / "index.eidx", ei)) return 1;
  if (!PartitionIndexFile::write(tmp / "partition.pidx", pi)) return 1;
  if (!StreamIndexFile::write(tmp / "stream.sidx", si)) return 1;
  put(root / "fuzz_index_files", "gen-eidx", slurp(tmp / "index.eidx"), 0);
  put(root / "fuzz_index_files", "gen-pidx", slurp(tmp / "partition.pidx"), 1);
  put(root / "fuzz_index_files", "gen-sidx", slurp(tmp / "stream.sidx"), 2);
  fs::remove_all(tmp);
  return 0;
}
