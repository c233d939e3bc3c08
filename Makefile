# SierraDB (C++) — top-level entry points. See README.md.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

# Debian packages the project needs (see the dependency table in README.md).
DEB_PACKAGES := cmake ninja-build g++ pkg-config \
  libasio-dev libcmph-dev libxxhash-dev uuid-dev libspdlog-dev libfmt-dev libcli11-dev \
  libtomlplusplus-dev nlohmann-json3-dev robin-map-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev \
  libssl-dev openssl redis-tools python3-redis clang clang-format libclang-rt-14-dev
# Node.js and npm are checked by command, not package: machines may carry a Node.js build whose
# package bundles npm (and conflicts with Debian's npm package).
DEB_COMMANDS := node:nodejs npm:npm

.PHONY: all deps build test run bench compare asan fuzz clean format format-check tsan sim

all: build

# Installs only what is missing; quiet when nothing is to be done.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for cp in $(DEB_COMMANDS); do \
	  command -v $${cp%%:*} >/dev/null 2>&1 || missing="$$missing $${cp#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# C-Raft 0.22.1 (libraft-dev) comes from bookworm-backports, pinned: bookworm's own is 0.15.
	@bash tools/deps/enable-backports.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIERRA_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

run: build
	mkdir -p data
	./$(BUILD_DIR)/sierradb --dir ./data --client-address 0.0.0.0:9090

bench: build
	./$(BUILD_DIR)/sierradb-microbench

# Side-by-side comparison with Redis Streams and PostgreSQL/Message DB (see BENCHMARKS.md).
compare: build
	bash bench/compare/run.sh

# kill -9 soak (tests/soak/soak.py): clients append while the server is SIGKILLed and restarted
# SOAK_CYCLES times, every acknowledged write is checked after each restart. Prints its seed;
# SOAK_SEED=<n> repeats a run's choices.
SOAK_CYCLES ?= 100
.PHONY: soak
soak: build
	python3 tests/soak/soak.py --server $(BUILD_DIR)/sierradb --cycles $(SOAK_CYCLES)

# Deterministic cluster simulation (tests/cluster/sim): SIM_SEEDS seeds of mixed faults on 3 and
# 5 nodes (Release), over the in-memory log and then over the real engine (BucketLog in temp
# directories through the SimDisk power-loss layer; SIM_FILES_SEEDS seeds, SIM_SEEDS unless set).
# A failing seed prints SIM_SEED=<n> (storage=files for the engine's); rerun one with
# SIM_SEED=<n> make sim.
SIM_SEEDS ?= 1000
SIM_FILES_SEEDS ?= $(SIM_SEEDS)
sim: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target cluster_tests
	SIM_SEEDS=$(SIM_SEEDS) SIM_FILES_SEEDS=$(SIM_FILES_SEEDS) ./$(BUILD_DIR)/tests/cluster_tests \
	  --gtest_filter='Sim.*MixedFaults'

asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIERRA_WERROR=ON -DSIERRA_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# libFuzzer targets in fuzz/ (clang): build, then run each for FUZZ_SECONDS with the seed corpora in
# fuzz/corpus/<target>/; new inputs go to build-fuzz/corpus/, crashes to build-fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard fuzz/fuzz_*.cpp)))
fuzz: deps
	bash fuzz/build.sh
	@mkdir -p build-fuzz/artifacts; fail=0; \
	scratch=$${TMPDIR:-/tmp}; [ -d /dev/shm ] && [ -w /dev/shm ] && scratch=/dev/shm; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; echo "== $$t ($(FUZZ_SECONDS)s)"; \
	  TMPDIR=$$scratch ./build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/$$t- \
	    build-fuzz/corpus/$$t fuzz/corpus/$$t > build-fuzz/$$t.log 2>&1 || { fail=1; echo "   FAILED (see build-fuzz/$$t.log)"; }; \
	  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec" build-fuzz/$$t.log | sed 's/^/   /'; \
	done; \
	ls build-fuzz/artifacts | sed 's/^/   artifact: /'; exit $$fail

# Every C++ file of the repo, formatted by .clang-format (format) or checked without change
# (format-check, run by .ci/run: fails and names the files that differ).
FORMAT_FILES = find src tests bench tools examples fuzz -name '*.cpp' -o -name '*.hpp' -o -name '*.c' -o -name '*.h'
format:
	$(FORMAT_FILES) | xargs clang-format -i

format-check: deps
	@$(FORMAT_FILES) | sort | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)

# ThreadSanitizer (GCC 12, build-tsan, RelWithDebInfo): every engine and server unit test
# (database concurrency, writer pool / group commit, crash and power-loss tests, subscriptions,
# servers with many connections; ~3 min on 2 cores) plus the integration tests that drive a
# TSan-built sierradb with real clients (500 connections, pipelines, redis-benchmark). A report
# fails the test: TSan exits with 66 (the integration helper checks the server's exit status).
# -Wno-tsan: GCC warns that it cannot instrument std::atomic_thread_fence, used by Asio's fenced
# blocks; Asio's handler queues are mutex-protected, which TSan does see.
# setarch -R: Debian 12's libtsan (GCC 12) aborts with "FATAL: ThreadSanitizer: unexpected memory
# mapping" on kernels that randomise mmap more (vm.mmap_rnd_bits=32, as on Ubuntu 23.10+ and
# recent kernels), because libraries land outside the ranges its shadow layout expects. Running
# without address-space randomisation (setarch -R, the usual workaround) avoids it; it applies
# to the test processes only, and is skipped where personality() is forbidden (some container
# seccomp profiles). Kernels with 28 bits, like this machine's, work either way.
# The fuzz corpus replays (label fuzz) are single-threaded and run under ASan in `make asan`.
# Suppressions for false positives go in tests/tsan.supp (one comment per entry), if it exists.
TSAN_DIR ?= build-tsan
TSAN_INTEGRATION ?= ^integration\.(redis_cli|redis_benchmark|redis_py|raw_socket)$$
tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIERRA_WERROR=ON \
	  -DSIERRA_TSAN=ON -DCMAKE_CXX_FLAGS=-Wno-tsan $(CMAKE_FLAGS)
	cmake --build $(TSAN_DIR) -j $(JOBS) --target engine_tests resp_tests server_tests tools_tests cluster_tests sierradb
	@norand=""; if setarch $$(uname -m) -R true 2>/dev/null; then norand="setarch $$(uname -m) -R"; fi; \
	opts="halt_on_error=0 second_deadlock_stack=1"; \
	if [ -f tests/tsan.supp ]; then opts="$$opts suppressions=$(CURDIR)/tests/tsan.supp"; fi; \
	cd $(TSAN_DIR) && export TSAN_OPTIONS="$$opts $${TSAN_OPTIONS:-}" && \
	$$norand ctest --output-on-failure -j $(JOBS) --timeout 900 -LE '^(integration|fuzz)$$' && \
	$$norand ctest --output-on-failure -j $(JOBS) --timeout 300 -R '$(TSAN_INTEGRATION)'
