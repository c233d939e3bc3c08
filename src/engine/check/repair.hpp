// Limited repair of a data directory after check_directory: rewrites a segment header that does
// not verify from the ids its path gives (old bytes saved to "<segment file>.damaged-0"),
// rebuilds missing/damaged index files of closed segments from their data, truncates a torn tail
// of the live segment (and a damaged record of the live segment followed by acknowledged
// transactions, after saving the dropped bytes to "<segment file>.damaged-<offset>"), removes a
// highest segment whose creation never completed. Never modifies a closed segment's records or
// meta.json, and never rebuilds index files from damaged records (that would hide the damage
// from the database's quarantine). Offline only: the database must not run on the directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "engine/check/check.hpp"

namespace sierra {

// What happened to one segment the check marked repairable.
struct RepairStep {
  enum class Outcome : uint8_t {
    Repaired,
    CannotRepair,  // left alone: repairing it needs what is damaged or unknown
    Failed,        // tried, an operation failed
  };
  SegmentRef segment;
  Outcome outcome = Outcome::Repaired;
  std::string detail;  // what was done, or why not
};

struct RepairReport {
  std::vector<RepairStep> steps;  // index rebuilds first, then live tails
  uint64_t unrepairable = 0;      // problems of the check no repair applies to
  bool complete() const;          // every step repaired and nothing unrepairable
};

// Applies the repairs `found` (a check_directory report of `dir`) lists.
RepairReport repair_directory(const std::filesystem::path& dir, const CheckReport& found);

// One line per step ("repaired <where>: ...", "cannot repair <where>: ...", "repair failed for
// <where>: ..."), then a line if some problems cannot be repaired.
void print(const RepairReport& report, std::ostream& out);

}  // namespace sierra
