// libFuzzer target: a data.evts file = valid 64-byte header + the fuzz input.
//
// Opens it with SegmentReader and walks it record by record and transaction by transaction
// (header_only both ways), reads records/transactions at input-chosen offsets, then runs
// SegmentWriter::open (the live-segment recovery scan, which truncates the torn tail) and checks
// the recovered file: its report is consistent, and a fresh reader walks it to the end without
// errors. Never crash.
//
// When the input starts with 'S' (dropped), every record reachable by walking the length fields
// gets its body CRC and confirmation CRC recomputed (layout: src/engine/segment/format.hpp), so
// mutations of kinds, lengths, counts and transaction structure get past the checksums.
#include <cstring>
#include <filesystem>
#include <optional>

#include "engine/crc32c.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_writer.hpp"
#include "fuzz_util.hpp"

namespace sf = sierra::segment_format;
using namespace sierra;

namespace {

// Walks the segment; returns false if an error was reported before the end.
bool walk(const std::shared_ptr<SegmentReader>& reader, bool transactions, bool header_only) {
  auto it = reader->iter(sf::kHeaderSize);
  uint64_t last = 0;
  for (int i = 0; i < 100000; ++i) {
    if (transactions) {
      auto tx = it.next_transaction(header_only);
      if (!tx) return false;
      if (!*tx) return true;
      FUZZ_CHECK(!(*tx)->events.empty() || (*tx)->commit.has_value());
      FUZZ_CHECK((*tx)->end_offset <= reader->visible_end());
    } else {
      auto rec = it.next_record(header_only);
      if (!rec) return false;
      if (!*rec) return true;
      FUZZ_CHECK(record_end(**rec) <= reader->visible_end());
    }
    FUZZ_CHECK(it.position() > last);  // progress
    last = it.position();
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto base = fuzz::scratch_dir() / "segfile";
  std::error_code ec;
  std::filesystem::remove_all(base, ec);
  auto dir = ensure_segment_dir(base, 0, 0);
  FUZZ_CHECK(dir.has_value());
  const auto path = get_path(base, 0, 0, SegmentKind::Events);

  sf::SegmentHeader h;
  h.bucket_id = 0;
  h.segment_id = 0;
  h.created_at_ns = 1;
  auto header = sf::encode_header(h);
  std::vector<uint8_t> file(header.begin(), header.end());
  const bool reseal = size > 0 && data[0] == 'S';  // the marker byte is not written
  file.insert(file.end(), data + (reseal ? 1 : 0), data + size);
  if (reseal) {
    size_t pos = sf::kHeaderSize;
    while (pos + sf::kMinRecordSize <= file.size()) {
      uint8_t* p = file.data() + pos;
      const uint32_t len =
          uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
      if (len < sf::kMinRecordSize || len > file.size() - pos) break;
      uint32_t c = crc32c::extend(0, p, sf::kCrcOffset);
      c = crc32c::extend(c, p + sf::kConfirmationEnd, len - sf::kConfirmationEnd);
      std::memcpy(p + sf::kCrcOffset, &c, 4);
      uint32_t cc = crc32c::extend(0, p + sf::kTxidOffset, 16);
      cc = crc32c::extend(cc, p + sf::kConfirmationOffset, 1);
      std::memcpy(p + sf::kConfirmationCrcOffset, &cc, 4);
      pos += len;
    }
  }
  fuzz::write_file(path, file.data(), file.size());

  {
    auto reader = SegmentReader::open(path, 0, 0);
    FUZZ_CHECK(reader.has_value());
    FUZZ_CHECK((*reader)->visible_end() == file.size());
    walk(*reader, false, false);
    walk(*reader, false, true);
    walk(*reader, true, false);
    walk(*reader, true, true);
    // Reads at offsets taken from the input (aligned and not).
    for (size_t i = 0; i + 2 <= size && i < 16; i += 2) {
      uint64_t off = sf::kHeaderSize + (static_cast<uint64_t>(data[i]) | (data[i + 1] << 8));
      (void)(*reader)->read_record(off, i & 2);
      (void)(*reader)->read_transaction(off, i & 4);
    }
    (void)(*reader)->read_record(file.size());
    (void)(*reader)->read_record(UINT64_MAX - 3);
    (void)(*reader)->read_transaction(UINT64_MAX - 3);
  }

  // Recovery of the same file as a live segment.
  const uint64_t segment_size = size > 0 && (data[0] & 1) ? file.size() + 64 : (64u << 20);
  RecoveryReport report;
  auto writer = SegmentWriter::open(base, 0, 0, segment_size, &report);
  if (writer) {
    FUZZ_CHECK(report.valid_end >= sf::kHeaderSize);
    FUZZ_CHECK(report.valid_end <= report.file_size_before);
    FUZZ_CHECK(report.file_size_before == file.size());
    FUZZ_CHECK(report.bytes_dropped == report.file_size_before - report.valid_end);
    FUZZ_CHECK((*writer)->end_offset() == report.valid_end);
    (void)(*writer)->close();
    writer->reset();
    FUZZ_CHECK(std::filesystem::file_size(path) == report.valid_end);
    auto reader = SegmentReader::open(path, 0, 0);
    FUZZ_CHECK(reader.has_value());
    // What recovery kept must read back cleanly, as transactions.
    FUZZ_CHECK(walk(*reader, true, false));
    FUZZ_CHECK(walk(*reader, false, false));
  }
  return 0;
}
