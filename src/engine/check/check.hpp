// `sierradb check <dir> [--repair]`: an offline verifier of a data directory. Reads the files
// directly (the database must not be running on the directory) and checks meta.json, every
// segment header, every record's checksums, transaction integrity, the index files of closed
// segments against their segments, gapless partition sequences and stream versions, and
// consecutive log positions per bucket. Prints one line per problem and a summary line.
// With --repair: rebuilds missing/damaged index files of closed segments from their data,
// truncates a torn tail of the live segment (and a damaged record of the live segment followed
// by acknowledged transactions, after saving the dropped bytes to
// "<segment file>.damaged-<offset>"), then checks again. Never modifies a closed segment's data.
//
// Exit codes: 0 healthy, 1 problems found (after repair: problems left), 2 usage error.
#pragma once

#include <ostream>
#include <span>
#include <string>

namespace sierra::server {

// `args`: the arguments after the command name, e.g. {"/data", "--repair"}.
int run_check(std::span<const std::string> args, std::ostream& out);

// argv wrapper for both `sierradb check ...` and `sierradb-check ...`: skips argv[0] and a
// leading "check"; prints the report (and usage errors) to stdout.
int run_check(int argc, char** argv);

}  // namespace sierra::server
