# Thin wrapper over CMake. The real build is CMakeLists.txt.
#   make              build into build/ (programs in build/bin/)
#   make test         install missing packages, build, run every test through ctest
#   make asan-test    the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench        install wrk and nginx-light, build, run the benchmarks in bench/
#   make farm-demo    install missing packages, build, run the narrated demo (scripts/farm-demo.sh)
#   make format       clang-format the tree

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
WERROR     ?= OFF
CMAKE_ARGS ?=

.PHONY: all build deps bench-deps test asan-test bench farm-demo format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DFARM_WERROR=$(WERROR) $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	cmake -S . -B $(BUILD) -DFARM_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

asan-test: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFARM_SANITIZE=ON -DFARM_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

bench-deps:
	@scripts/install-deps.sh --bench

bench: bench-deps build
	$(BUILD)/bin/bench-machinekey
	BUILD=$(BUILD) bench/bench_simnode.sh
	BUILD=$(BUILD) bench/bench_lb.sh

farm-demo: deps build
	FARM_BIN=$(abspath $(BUILD))/bin scripts/farm-demo.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
