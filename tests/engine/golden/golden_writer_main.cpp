// golden_writer <dir>: writes the golden files (golden_input.hpp's write_golden) into <dir>.
// Only for a deliberate format change (README.md here); `cmake --build build --target
// update_golden` runs it on this folder. Not part of engine_tests: it is a generator, not a test.
#include <cstdio>

#include "engine/golden/golden_input.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: golden_writer <dir>\n");
    return 2;
  }
  if (auto s = sierra::golden::write_golden(argv[1]); !s) {
    std::fprintf(stderr, "golden_writer: %s\n", s.error().to_string().c_str());
    return 1;
  }
  std::printf("golden files written to %s\n", argv[1]);
  return 0;
}
