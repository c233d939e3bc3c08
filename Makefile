# SierraDB (C++) — top-level entry points. See README.md.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

# Debian packages the project needs (see the dependency table in README.md).
DEB_PACKAGES := cmake ninja-build g++ pkg-config \
  libasio-dev libcmph-dev libxxhash-dev uuid-dev libspdlog-dev libfmt-dev libcli11-dev \
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev \
  redis-tools python3-redis
# Node.js and npm are checked by command, not package: machines may carry a Node.js build whose
# package bundles npm (and conflicts with Debian's npm package).
DEB_COMMANDS := node:nodejs npm:npm

.PHONY: all deps build test run bench compare asan clean format

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

asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIERRA_WERROR=ON -DSIERRA_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

format:
	find src tests bench tools examples -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
