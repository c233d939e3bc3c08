#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (Debian clang 14) into build-fuzz/.
#
# Not part of the CMake build (that one uses g++). Usage: fuzz/build.sh [target...]
#
# clang 14 + libstdc++ 12: libstdc++'s <expected> is disabled for clang 14 (it checks
# __cpp_concepts >= 202002L, and clang 14 lacks P0848 "conditionally trivial special members",
# so the header's `= default` destructor/copy/move overloads end up deleted). We generate a
# patched copy of the system header in build-fuzz/compat/ that drops the trivial `= default`
# overloads and keeps the always-correct user-provided ones; the semantics are unchanged, the
# type is just never trivially copyable. The original header is not modified.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
CXX="${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}"
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$OUT/obj" "$OUT/compat"

# --- <expected> compatibility header -------------------------------------------------------
SYS_EXPECTED="$(echo '#include <expected>' | "$CXX" -std=c++2b -x c++ -E -M - 2>/dev/null \
  | tr ' \\' '\n\n' | grep '/expected$' | head -n1 || true)"
if [ -z "$SYS_EXPECTED" ]; then
  SYS_EXPECTED="$(ls /usr/include/c++/*/expected 2>/dev/null | sort -V | tail -n1)"
fi
[ -f "$SYS_EXPECTED" ] || { echo "fuzz/build.sh: no libstdc++ <expected> found" >&2; exit 1; }
sed -e 's/ && __cpp_concepts >= 202002L//' \
    -e '/^[[:space:]]*expected(const expected&) = default;/d' \
    -e '/^[[:space:]]*expected(expected&&) = default;/d' \
    -e '/^[[:space:]]*constexpr ~expected() = default;/d' \
    -e 's/!is_trivially_[a-z_]*_v<[_A-Za-z]*>/true/g' \
    "$SYS_EXPECTED" > "$OUT/compat/expected.tmp"
cmp -s "$OUT/compat/expected.tmp" "$OUT/compat/expected" 2>/dev/null \
  && rm "$OUT/compat/expected.tmp" || mv "$OUT/compat/expected.tmp" "$OUT/compat/expected"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CXXFLAGS="-std=c++2b -O1 -g $SAN -isystem $OUT/compat -I$ROOT/src -I$ROOT/fuzz -Wno-macro-redefined"
LIBS="-lcmph -luuid -lxxhash -lpthread"

# --- library sources, compiled once (instrumented for coverage, no fuzzer main) -------------
mapfile -t LIB_SOURCES < <(cd "$ROOT" && { find src/engine -name '*.cpp'; \
  echo src/resp/request_parser.cpp; echo src/resp/reply_reader.cpp; \
  echo src/resp/reply_writer.cpp; echo src/server/commands/arguments.cpp; } | sort)

objs=()
pids=()
for src in "${LIB_SOURCES[@]}"; do
  obj="$OUT/obj/$(echo "$src" | tr '/' '_' | sed 's/\.cpp$/.o/')"
  objs+=("$obj")
  if [ ! -f "$obj" ] || [ "$ROOT/$src" -nt "$obj" ] || [ "$OUT/compat/expected" -nt "$obj" ] \
     || [ -n "$(find "$ROOT/src" -name '*.hpp' -newer "$obj" -print -quit)" ]; then
    "$CXX" $CXXFLAGS -fsanitize=fuzzer-no-link -c "$ROOT/$src" -o "$obj" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done
rm -f "$OUT/libsierra_fuzz.a"
ar rcs "$OUT/libsierra_fuzz.a" "${objs[@]}"

# --- targets --------------------------------------------------------------------------------
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  mapfile -t TARGETS < <(cd "$ROOT/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//')
fi
for t in "${TARGETS[@]}"; do
  echo "fuzz/build.sh: $t"
  "$CXX" $CXXFLAGS -fsanitize=fuzzer "$ROOT/fuzz/$t.cpp" "$OUT/libsierra_fuzz.a" $LIBS -o "$OUT/$t"
done

# Seed generator (not a fuzz target; see fuzz/make_seeds.cpp).
if [ "$#" -eq 0 ] || [ "${FUZZ_BUILD_SEEDS:-0}" = 1 ]; then
  "$CXX" $CXXFLAGS "$ROOT/fuzz/make_seeds.cpp" "$OUT/libsierra_fuzz.a" $LIBS -o "$OUT/make_seeds"
fi
