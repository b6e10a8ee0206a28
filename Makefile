# Thin wrapper over CMake: the two commands a newcomer needs are `make demo` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build/asan
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all setup build build-asan test test-fast test-asan deploy-check demo lint bench bundle clean

all: build

setup:
	@bash scripts/setup.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRW_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer (the tests
# that run C code: the Node-only suites of sample-cli and the browser page are not repeated).
# First the offline checks of the deployment files (seconds, no build needed).
ASAN_EXCLUDE ?= ^(sample_cli|browser)\.
test: setup
	@$(MAKE) --no-print-directory deploy-check
	@$(MAKE) --no-print-directory test-fast
	@$(MAKE) --no-print-directory test-asan

test-fast: build
	cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -E '$(ASAN_EXCLUDE)' $(CTEST_ARGS)

# k8s/, infra/, cloudbuild.yaml and images/*/Dockerfile checked offline: rendered,
# schema-validated, linted, and each check shown to refuse a broken copy (docs/deploy.md).
deploy-check:
	@bash scripts/deploy-check.sh

# Sets up what is missing, builds, and runs the control service with local runners.
demo: setup build
	@bash scripts/build-bundle.sh
	@bash scripts/demo.sh

lint: build
	@bash scripts/lint.sh

bench: setup build
	@bash bench/run.sh
	@bash bench/replicas.sh

# The sample CLI as a reproducible zip: build/bundles/sample-cli.zip (+ .sha256).
bundle: setup
	@bash scripts/build-bundle.sh

clean:
	rm -rf $(BUILD)
