// sierradb-check: the offline data directory verifier, also reachable as `sierradb check`.
// Usage: sierradb-check <dir> [--repair]; exit 0 healthy, 1 problems, 2 usage error.
#include "engine/check/command.hpp"

int main(int argc, char** argv) {
  return sierra::run_check(argc, argv);
}
