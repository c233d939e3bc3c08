// `sierradb check <dir> [--repair]` and `sierradb-check <dir> [--repair]`: argument handling and
// the check / repair / check-again sequence around check_directory and repair_directory.
// Prints the report (and usage errors) to `out`.
//
// Exit codes: 0 healthy, 1 problems found (after repair: problems left), 2 usage error.
#pragma once

#include <ostream>
#include <span>
#include <string>

namespace sierra {

// `args`: the arguments after the command name, e.g. {"/data", "--repair"}.
int run_check(std::span<const std::string> args, std::ostream& out);

// argv form: skips argv[0] and a leading "check"; prints to stdout.
int run_check(int argc, char** argv);

}  // namespace sierra
