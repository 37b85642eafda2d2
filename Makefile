# The two commands of the README, and a few more. CMake does the real build; this file
# only strings the steps together.
BUILD ?= build
CMAKE_FLAGS ?=
MODEL ?= fcn
EPOCHS ?=

.PHONY: all deps data build run test test-sanitize test-valgrind fuzz bench clean

all: build

deps:
	@scripts/install-deps.sh

data:
	@scripts/fetch-mnist.sh data/mnist

build:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $$(nproc)

# Installs what is missing, fetches MNIST, builds, trains the default model and prints
# its test accuracy.
run: deps data build
	$(BUILD)/mytorch train --model $(MODEL) $(if $(EPOCHS),--epochs $(EPOCHS))

# Builds and runs every test (unit, PyTorch parity, CLI, end to end on real MNIST).
test: deps data build
	$(BUILD)/mytorch_tests --all

# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)-sanitize -j $$(nproc)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)-sanitize/mytorch_tests

# The unit tests under valgrind memcheck (about 2 minutes on 2 cores). Built without
# -march=native (RelWithDebInfo), as valgrind does not know every AVX-512 instruction.
# The CLI processes the tests start are not traced: the ASan build above covers them.
test-valgrind: deps
	@cmake -S . -B $(BUILD)-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)-valgrind -j $$(nproc)
	valgrind --error-exitcode=1 --leak-check=full --suppressions=tests/valgrind.supp -q \
		$(BUILD)-valgrind/mytorch_tests

# Every libFuzzer harness for FUZZ_SECONDS each (clang; tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: deps data build
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-valgrind build-fuzz
