// The offline verifier of a data directory: reads the files directly (the database must not be
// running on the directory) and checks meta.json, every segment header, every record's
// checksums, transaction integrity, the index files of closed segments against their segments,
// gapless partition sequences and stream versions, and consecutive log positions per bucket.
// check_directory returns what it found as values (a CheckReport, which also says what
// repair_directory in check/repair.hpp can fix); print writes it as the `sierradb check` lines.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/ids.hpp"
#include "engine/meta.hpp"

namespace sierra {

// "bucket B segment S" (and " offset O"): where a finding is, as the report prints it.
std::string segment_location(BucketId bucket, SegmentId segment);
std::string segment_location(BucketId bucket, SegmentId segment, uint64_t offset);

// One thing the checker found, in the order found.
struct CheckFinding {
  enum class Kind : uint8_t {
    Problem,  // damage or inconsistency
    Note,     // worth knowing, not a problem (preallocated zero space after the live tail)
  };
  Kind kind = Kind::Problem;
  std::string location;     // "meta.json", "bucket 0 segment 2 offset 4096", ...
  std::string what;         // the problem, in words
  bool repairable = false;  // repair_directory can fix it
};

using SegmentRef = std::pair<BucketId, SegmentId>;

struct CheckReport {
  std::vector<CheckFinding> findings;
  uint64_t segments = 0;      // segments looked at
  uint64_t events = 0;        // committed events read
  uint64_t problems = 0;      // findings of kind Problem
  uint64_t unrepairable = 0;  // problems repair_directory cannot fix
  std::optional<Meta> meta;   // meta.json's settings, if it is valid

  // What repair_directory would do.
  std::set<SegmentRef> damaged_data;      // segments whose data is damaged (never rewritten)
  std::vector<SegmentRef> index_repairs;  // closed segments whose index files need rebuilding
  std::vector<SegmentRef> tail_repairs;   // live segments whose tail needs truncating
  // Segments whose header does not verify: rewritten from the path's ids (old bytes saved).
  std::vector<SegmentRef> header_repairs;
  // Highest segments left by an interrupted creation (no valid header, no record): removed.
  std::vector<SegmentRef> creation_leftovers;

  bool healthy() const { return problems == 0; }
};

// Checks the data directory `dir` (which must exist). Only reads.
CheckReport check_directory(const std::filesystem::path& dir);

// One line per finding ("problem: <location>: <what>" / "note: ..."), then the summary line
// "<segments> segments, <events> events, <problems> problems".
void print(const CheckReport& report, std::ostream& out);

}  // namespace sierra
