// Limited repair of a data directory: index rebuilds and live-tail truncation.
#include "engine/check/repair.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/bucket/closed_segment.hpp"
#include "engine/file.hpp"
#include "engine/index/index_files.hpp"
#include "engine/segment/format.hpp"
#include "engine/segment/paths.hpp"
#include "engine/segment/segment_reader.hpp"
#include "engine/segment/segment_writer.hpp"

namespace sierra {

namespace {

namespace fs = std::filesystem;
using Outcome = RepairStep::Outcome;

// Copies bytes [from, to) of `path` to a new sibling file "<path>.damaged-<from>" (".N" is
// appended if that exists), fsyncs it and its directory; returns its path.
Result<fs::path> save_bytes(const fs::path& path, uint64_t from, uint64_t to) {
  auto src = File::open(path, File::Mode::ReadOnly);
  if (!src) return std::unexpected(src.error());
  const std::string base = path.string() + ".damaged-" + std::to_string(from);
  fs::path target = base;
  Result<File> dst = make_error(Errc::Io, "no free name for " + base);
  for (int n = 0; n < 100; ++n) {
    target = n == 0 ? fs::path(base) : fs::path(base + "." + std::to_string(n));
    std::error_code ec;
    if (fs::exists(target, ec)) continue;
    dst = File::open(target, File::Mode::CreateNew);
    break;
  }
  if (!dst) return std::unexpected(dst.error());
  std::vector<uint8_t> buf(std::min<uint64_t>(to - from, 1024 * 1024));
  for (uint64_t at = from; at < to;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - at));
    if (auto st = src->pread_exact(buf.data(), n, at); !st) return std::unexpected(st.error());
    if (auto st = dst->pwrite_all(buf.data(), n, at - from); !st) {
      return std::unexpected(st.error());
    }
    at += n;
  }
  if (auto st = dst->sync(); !st) return std::unexpected(st.error());
  if (auto st = sync_directory(target.parent_path()); !st) return std::unexpected(st.error());
  return target;
}

// Rebuilds the index files of closed segment (b, s) from its data.
RepairStep rebuild_indexes(const fs::path& dir, const CheckReport& found, BucketId b, SegmentId s) {
  if (found.damaged_data.contains({b, s})) {
    return {
        {b, s}, Outcome::CannotRepair, "its data is damaged, index files are not rebuilt from it"};
  }
  auto reader = SegmentReader::open(get_path(dir, b, s, SegmentKind::Events), b, s);
  if (!reader) return {{b, s}, Outcome::CannotRepair, reader.error().to_string()};
  auto built = build_indexes_from_segment(*reader);
  if (!built) return {{b, s}, Outcome::CannotRepair, built.error().to_string()};
  if (auto st = write_index_files(dir, b, s, *built); !st) {
    return {{b, s}, Outcome::Failed, st.error().to_string()};
  }
  return {{b, s}, Outcome::Repaired, "index files rebuilt from the segment"};
}

// Truncates the live segment (b, s) after its last intact transaction, saving the dropped bytes
// first if acknowledged transactions are among them.
RepairStep truncate_live_tail(const fs::path& dir, const CheckReport& found, BucketId b,
                              SegmentId s) {
  if (!found.meta) {
    return {{b, s}, Outcome::CannotRepair, "the segment size is unknown without a valid meta.json"};
  }
  const uint64_t segment_size = found.meta->segment_size;
  const fs::path path = get_path(dir, b, s, SegmentKind::Events);
  auto live = inspect_live_segment(path, b, s, segment_size);
  if (!live) return {{b, s}, Outcome::Failed, live.error().to_string()};
  // Acknowledged data is about to be dropped: keep a copy of it first.
  std::optional<fs::path> saved;
  if (live->later_batch_offset) {
    auto copy = save_bytes(path, live->valid_end, live->file_size_before);
    if (!copy) {
      return {{b, s}, Outcome::Failed, "cannot save the damaged tail: " + copy.error().to_string()};
    }
    saved = *copy;
  }
  RecoveryReport report;
  auto writer =
      SegmentWriter::open(dir, b, s, segment_size, &report, OnAcknowledgedDamage::Truncate);
  if (!writer) return {{b, s}, Outcome::Failed, writer.error().to_string()};
  if (auto st = (*writer)->close(); !st) return {{b, s}, Outcome::Failed, st.error().to_string()};
  if (saved) {
    return {{b, s},
            Outcome::Repaired,
            "truncated " + std::to_string(report.bytes_dropped) +
                " bytes at the damaged record at offset " + std::to_string(report.valid_end) +
                " (acknowledged transactions after it are dropped); the dropped bytes are saved "
                "in " +
                saved->string()};
  }
  return {{b, s},
          Outcome::Repaired,
          "truncated " + std::to_string(report.bytes_dropped) + " bytes of torn tail at offset " +
              std::to_string(report.valid_end)};
}

// Rewrites the header of segment (b, s) from its path's ids (created_at becomes 0: unknown),
// after saving the 64 bytes found to "<file>.damaged-0". Its records are not touched.
RepairStep rewrite_header(const fs::path& dir, BucketId b, SegmentId s) {
  namespace sf = segment_format;
  const fs::path path = get_path(dir, b, s, SegmentKind::Events);
  auto saved = save_bytes(path, 0, sf::kHeaderSize);
  if (!saved) {
    return {{b, s}, Outcome::Failed, "cannot save the old header: " + saved.error().to_string()};
  }
  auto f = File::open(path, File::Mode::ReadWrite);
  if (!f) return {{b, s}, Outcome::Failed, f.error().to_string()};
  sf::SegmentHeader h;
  h.bucket_id = b;
  h.segment_id = s;
  h.created_at_ns = 0;
  const auto bytes = sf::encode_header(h);
  if (auto st = f->pwrite_all(bytes.data(), bytes.size(), 0); !st) {
    return {{b, s}, Outcome::Failed, st.error().to_string()};
  }
  if (auto st = f->datasync(); !st) return {{b, s}, Outcome::Failed, st.error().to_string()};
  return {{b, s},
          Outcome::Repaired,
          "segment header rewritten (the old bytes are saved in " + saved->string() + ")"};
}

}  // namespace

bool RepairReport::complete() const {
  return unrepairable == 0 && std::all_of(steps.begin(), steps.end(), [](const RepairStep& s) {
           return s.outcome == Outcome::Repaired;
         });
}

RepairReport repair_directory(const fs::path& dir, const CheckReport& found) {
  RepairReport out;
  out.unrepairable = found.unrepairable;
  // Headers first: index rebuilds and tail truncation need a segment that opens.
  for (const auto& [b, s] : found.header_repairs) out.steps.push_back(rewrite_header(dir, b, s));
  for (const auto& [b, s] : found.index_repairs) {
    out.steps.push_back(rebuild_indexes(dir, found, b, s));
  }
  for (const auto& [b, s] : found.tail_repairs) {
    out.steps.push_back(truncate_live_tail(dir, found, b, s));
  }
  for (const auto& [b, s] : found.creation_leftovers) {
    std::error_code ec;
    std::filesystem::remove_all(segment_dir(dir, b, s), ec);
    if (ec) {
      out.steps.push_back({{b, s}, Outcome::Failed, "cannot remove it: " + ec.message()});
    } else {
      out.steps.push_back({{b, s}, Outcome::Repaired, "removed the interrupted segment creation"});
    }
  }
  return out;
}

void print(const RepairReport& report, std::ostream& out) {
  for (const RepairStep& step : report.steps) {
    const std::string where = segment_location(step.segment.first, step.segment.second);
    switch (step.outcome) {
      case Outcome::Repaired:
        out << "repaired " << where << ": " << step.detail << "\n";
        break;
      case Outcome::CannotRepair:
        out << "cannot repair " << where << ": " << step.detail << "\n";
        break;
      case Outcome::Failed:
        out << "repair failed for " << where << ": " << step.detail << "\n";
        break;
    }
  }
  if (report.unrepairable != 0) {
    out << report.unrepairable
        << " problem(s) cannot be repaired: --repair never modifies a closed segment's data or "
           "meta.json\n";
  }
}

}  // namespace sierra
