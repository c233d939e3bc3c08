# SierraDB (C++) — top-level entry points. See README.md.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

# Debian packages the project needs (see the dependency table in README.md).
DEB_PACKAGES := cmake ninja-build g++ pkg-config \
  libasio-dev libcmph-dev libxxhash-dev uuid-dev libspdlog-dev libfmt-dev libcli11-dev \
  libtomlplusplus-dev nlohmann-json3-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev \
  redis-tools python3-redis clang libclang-rt-14-dev
# Node.js and npm are checked by command, not package: machines may carry a Node.js build whose
# package bundles npm (and conflicts with Debian's npm package).
DEB_COMMANDS := node:nodejs npm:npm

.PHONY: all deps build test run bench compare asan fuzz clean format

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

format:
	find src tests bench tools examples -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
