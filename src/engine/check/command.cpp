// `sierradb check <dir> [--repair]`: arguments, usage, check / repair / check again.
#include "engine/check/command.hpp"

#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/check/check.hpp"
#include "engine/check/repair.hpp"

namespace sierra {

namespace {

namespace fs = std::filesystem;

constexpr int kExitHealthy = 0;
constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage =
    "usage: sierradb check <dir> [--repair]\n"
    "  Verifies a data directory offline (the server must not be running on it): meta.json,\n"
    "  segment headers, record checksums, transactions, index files, gapless sequences and\n"
    "  versions, consecutive log positions. Exit 0 healthy, 1 problems found, 2 usage error.\n"
    "  --repair  rebuild missing/damaged index files of closed segments from their data and\n"
    "            truncate a torn tail of the live segment, then check again. A damaged record\n"
    "            of the live segment followed by acknowledged transactions is truncated too,\n"
    "            after the dropped bytes are saved to <segment file>.damaged-<offset>. A closed\n"
    "            segment's data is never modified.\n";

int check_and_repair(const fs::path& dir, bool repair, std::ostream& out) {
  out << "checking " << dir.string() << "\n";
  const CheckReport first = check_directory(dir);
  print(first, out);
  if (first.healthy()) {
    out << "healthy\n";
    return kExitHealthy;
  }
  if (!repair) return kExitProblems;
  out << "repairing\n";
  print(repair_directory(dir, first), out);
  out << "checking again after repair\n";
  const CheckReport second = check_directory(dir);
  print(second, out);
  if (second.healthy()) {
    out << "healthy after repair\n";
    return kExitHealthy;
  }
  return kExitProblems;
}

}  // namespace

int run_check(std::span<const std::string> args, std::ostream& out) {
  try {
    std::optional<std::string> dir;
    bool repair = false;
    for (const std::string& a : args) {
      if (a == "--repair") {
        repair = true;
      } else if (a == "-h" || a == "--help") {
        out << kUsage;
        return kExitHealthy;
      } else if (a.starts_with("-") || dir) {
        out << "sierradb check: unexpected argument '" << a << "'\n" << kUsage;
        return kExitUsage;
      } else {
        dir = a;
      }
    }
    if (!dir) {
      out << "sierradb check: missing <dir>\n" << kUsage;
      return kExitUsage;
    }
    std::error_code ec;
    if (!fs::is_directory(*dir, ec)) {
      out << "sierradb check: " << *dir << " is not a directory\n";
      return kExitUsage;
    }
    return check_and_repair(*dir, repair, out);
  } catch (const std::exception& e) {
    out << "sierradb check: fatal: " << e.what() << "\n";
    return kExitProblems;
  }
}

int run_check(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (i == 1 && std::string_view(argv[i]) == "check") continue;
    args.emplace_back(argv[i]);
  }
  const int rc = run_check(args, std::cout);
  std::cout.flush();
  return rc;
}

}  // namespace sierra
