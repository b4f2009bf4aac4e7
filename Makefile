# vfed: the entry points CI uses (.ci/run runs `make lint` and `make test`).
# `make` alone lists the targets.

CARGO ?= cargo
# Extra arguments for `make run` (to `vfed demo`) and `make bench`.
ARGS ?=
# Where `make run` keeps the demo's PKI, stores and demo.json.
DEMO_DIR ?= ./vfed-demo
# Full output of the last `make test`, for CI logs.
TEST_LOG ?= target/make-test.log

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
export CARGO

.PHONY: help deps build-deps build run test lint fmt bench bench-deps clean

help: ## List the targets
	@echo "vfed make targets (CARGO=$(CARGO)):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-8s %s\n", $$1, $$2 }'
	@echo "Variables: DEMO_DIR=$(DEMO_DIR) (the demo's data, for run and clean; vfedctl --demo DEMO_DIR)"
	@echo "           ARGS (extra arguments to vfed demo or vfed-bench), CARGO, TEST_LOG=$(TEST_LOG)"
	@echo "Examples: make run ARGS='--reset'   make run DEMO_DIR=/tmp/vfed   make bench ARGS='--help'"

deps: ## Install the Debian packages the tests need (apt-get, as root; quiet if present)
	@scripts/install-deps.sh test

build-deps:
	@scripts/install-deps.sh build

build: build-deps ## Build vfed and vfedctl (release)
	$(CARGO) build --release --bin vfed --bin vfedctl

run: build ## Run the demo city (540500 + Naidong 540502 + Zhanang 540521) in DEMO_DIR
	$(CARGO) run --release --bin vfed -- demo --data-dir $(DEMO_DIR) $(ARGS)

# Every test of every crate, with their own etcd servers (started by the
# harness). The summary at the end adds up the `test result:` lines.
test: deps ## Run every test (installs what the tests need first)
	@mkdir -p $(dir $(TEST_LOG))
	@status=0; \
	RUST_BACKTRACE=1 $(CARGO) test --workspace --all-targets --locked --no-fail-fast 2>&1 \
		| tee $(TEST_LOG) || status=$$?; \
	awk -v status=$$status ' \
		/^test result: / { runs++; \
			for (i = 1; i <= NF; i++) { n = $$i + 0; \
				if ($$(i+1) ~ /^passed/) p += n; \
				if ($$(i+1) ~ /^failed/) f += n; \
				if ($$(i+1) ~ /^ignored/) g += n } } \
		END { verdict = (status == 0 && f == 0) ? "ok" : "FAILED"; \
			printf "\nmake test: %d test runs, full log in $(TEST_LOG)\n", runs; \
			printf "test result: %s. %d passed; %d failed; %d ignored (all test binaries)\n", verdict, p, f, g }' \
		$(TEST_LOG); \
	exit $$status

# Also a step of `make test` (tests/tests/helm_chart.rs), which adds vfed's own check
# of each rendered configuration.
chart-test: deps ## Test the Helm chart offline: lint, render, validate, golden diff, negatives
	@scripts/chart-test.sh $(ARGS)

lint: build-deps ## Check formatting and run clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench-deps:
	@scripts/install-deps.sh bench

bench: bench-deps ## Run the benchmarks (vfed-bench; pass options with ARGS=...)
	$(CARGO) run --release -p vfed-bench -- $(ARGS)

clean: ## Remove build output and the demo data directory (DEMO_DIR)
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
