# Two commands for a fresh machine: `make run` and `make test`.
# The cargo target directory lives outside the clone so that fresh clones
# (CI) reuse one build cache; override CARGO_TARGET_DIR to move it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trade-assurance/target
export CARGO_INCREMENTAL ?= 0

# rust-toolchain.toml pins the compiler. A machine that has that release
# under another name (its `stable`, say) builds with it as it is, rather
# than rustup downloading it again (tools/rust-toolchain.sh).
ifeq ($(origin RUSTUP_TOOLCHAIN),undefined)
RUST_ALIAS := $(shell tools/rust-toolchain.sh 2>/dev/null)
ifneq ($(RUST_ALIAS),)
export RUSTUP_TOOLCHAIN := $(RUST_ALIAS)
endif
endif

# Python tools (moto server) live in a project venv, pinned by
# tools/requirements.lock, installed by `make test` itself.
VENV := .venv
PYTHON ?= python3
VENV_STAMP := $(VENV)/.installed-$(shell cat tools/requirements.lock 2>/dev/null | cksum | cut -d' ' -f1)

# Where the reliability tests leave their figures (RELIABILITY.md quotes them).
FIGURES := $(CARGO_TARGET_DIR)/figures

# Nothing here may reach real AWS: a region, dummy credentials, no
# instance-metadata lookups, and the venv's Python for the moto server.
TEST_ENV := AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	AWS_EC2_METADATA_DISABLED=true TA_PYTHON=$(CURDIR)/$(VENV)/bin/python \
	TA_FIGURES_DIR=$(FIGURES)

.PHONY: test run token demo fmt fmt-check lint lint-template unit diagram help venv fuzz bench bench-venv

help:
	@echo "make run    - the local stack on 127.0.0.1:\$${PORT:-3000}"
	@echo "make token  - a token for it: make token SUB=buyer-1 ROLE=buyer"
	@echo "make test   - fmt check, clippy -D warnings, the whole test suite"
	@echo "make fmt    - format the code"
	@echo "make fuzz   - fuzz each target FUZZ_SECONDS=60 on nightly (not part of make test)"
	@echo "make bench  - release bootstraps measured; rewrites BENCHMARKS.md (not part of make test)"

## The whole suite, as CI runs it.
test: venv fmt-check lint lint-template unit

venv: $(VENV_STAMP)

$(VENV_STAMP): tools/requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r tools/requirements.lock
	touch $@

fmt-check:
	$(CARGO) fmt --all -- --check

## cfn-lint (pinned in tools/requirements.in) on the SAM template: its own
## rules, then the serverless rules (cfn-lint-serverless); the rules left
## off are listed, with their reasons, in the template's cfn-lint metadata.
lint-template: venv
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/cfn-lint -a cfn_lint_serverless.rules -- infra/template.yaml

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Every function binary in one build (the Runtime API tests run them), every
# test target (no doc-tests: there are none), then one closing line that
# totals every test binary's result.
unit: venv
	@mkdir -p "$(CARGO_TARGET_DIR)"
	$(CARGO) build --workspace --bins --locked
	rm -rf "$(FIGURES)"
	$(TEST_ENV) $(CARGO) test --workspace --locked --lib --bins --tests 2>&1 | tee "$(CARGO_TARGET_DIR)/test-output.log"
	@echo "figures of this run (RELIABILITY.md):"; cat "$(FIGURES)"/*.txt 2>/dev/null || echo "  none recorded"
	@awk '/^test result:/ { p += $$4; f += $$6; i += $$8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i; exit (p == 0 || f > 0) }' "$(CARGO_TARGET_DIR)/test-output.log"

fmt:
	$(CARGO) fmt --all

## Print the lifecycle diagram generated from the transition table.
diagram:
	@$(CARGO) run -q -p domain --example lifecycle_diagram

## The local stack on 127.0.0.1:$PORT (default 3000; PORT=0: any free port),
## embedded in-memory backend. A debug build, the one `make test` makes, so
## both share one cache: the first build compiles the dependencies once
## (a few minutes), later ones take seconds. The stack prints its quickstart.
LOCAL_STACK := $(CARGO_TARGET_DIR)/debug/local-stack

run:
	@echo "building local-stack (the first build takes a few minutes) ..."
	$(CARGO) build --locked -p local-stack
	@exec "$(LOCAL_STACK)" serve

## A token for the local stack's JWT authorizer (LOCAL_JWT_SECRET), e.g.
##   TOKEN=$(make -s token SUB=buyer-1 ROLE=buyer)
## ROLE: buyer, supplier, arbiter, or several comma-separated.
SUB ?= buyer-1
ROLE ?= buyer
TTL ?= 3600

token:
	@$(CARGO) build --quiet --locked -p local-stack
	@"$(LOCAL_STACK)" token --sub "$(SUB)" --role "$(ROLE)" --ttl-seconds "$(TTL)"

## Walk orders through every step against a running stack (`make run`, its
## sandbox provider on: PROVIDER_SANDBOX=auto, the default), moving only the
## business clock; the sandbox confirms every payment and refund.
demo:
	@python3 tools/demo.py

## Fuzz each target (fuzz/fuzz_targets/) for FUZZ_SECONDS on nightly with a
## pinned cargo-fuzz (installed under ~/.cache/trade-assurance/tools), in a
## target directory of its own (sanitizer builds would thrash the shared
## one), from the seeds (fuzz/seeds/<target>, made by fuzz/seeds.py) and the
## corpus. New inputs land in fuzz/corpus/<target>, which is then minimised
## (cargo fuzz cmin, a set cover of the edges) so that what is committed
## stays small; `make test` replays both (shared/http-api/tests/fuzz_corpus.rs).
## A crash leaves its input in fuzz/artifacts/<target>/ (fix it, add it to
## the seeds as a regression) and fails the run after the other targets.
## One line per target in $(CARGO_TARGET_DIR)/fuzz-summary.txt.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := webhook request_body money
FUZZ_TOOLS := $(HOME)/.cache/trade-assurance/tools
FUZZ_TARGET_DIR := $(HOME)/.cache/trade-assurance/fuzz-target
CARGO_FUZZ_VERSION := 0.13.1

fuzz:
	@if [ "$$("$(FUZZ_TOOLS)/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $(CARGO_FUZZ_VERSION)" ]; then \
		env -u CARGO_TARGET_DIR $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION) --root "$(FUZZ_TOOLS)"; \
	fi
	@rustup toolchain list | grep -q '^nightly' || { echo "make fuzz needs a nightly toolchain: rustup toolchain install nightly"; exit 1; }
	@mkdir -p "$(CARGO_TARGET_DIR)" "$(FUZZ_TARGET_DIR)"
	@: > "$(CARGO_TARGET_DIR)/fuzz-summary.txt"
	@failed=0; cd fuzz; export PATH="$(FUZZ_TOOLS)/bin:$$PATH" CARGO_TARGET_DIR="$(FUZZ_TARGET_DIR)"; \
	for t in $(FUZZ_TARGETS); do \
		log="$(FUZZ_TARGET_DIR)/fuzz-$$t.log"; \
		before=$$(ls corpus/$$t | wc -l); \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s (log: $$log) ..."; \
		if cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 -close_fd_mask=1 > "$$log" 2>&1; then \
			crash=none; \
		else \
			crash="FOUND, see $$log and fuzz/artifacts/$$t/"; failed=1; \
		fi; \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' "$$log" | tail -n 1); \
		cargo +nightly fuzz cmin $$t corpus/$$t -- -set_cover_merge=1 -use_counters=0 -close_fd_mask=1 \
			> "$(FUZZ_TARGET_DIR)/cmin-$$t.log" 2>&1 || true; \
		after=$$(ls corpus/$$t | wc -l); \
		echo "fuzz $$t: $${runs:-?} executions in $(FUZZ_SECONDS) s, corpus $$before -> $$after inputs (after cmin), crash: $$crash" \
			| tee -a "$(CARGO_TARGET_DIR)/fuzz-summary.txt"; \
	done; \
	exit $$failed

## Benchmarks (not part of `make test`): release bootstraps of every
## function and a hello-world floor built with cargo-lambda (pinned in
## tools/bench-requirements.lock, installed into .venv) in a target
## directory of their own; cold init, size and peak RSS against the Runtime
## API emulator (bench/cold); warm handler latency (criterion,
## shared/http-api/benches); DynamoDB calls, capacity units and cost on moto
## (bench/capacity). Rewrites BENCHMARKS.md and bench/init-time.svg.
## The harnesses themselves run as debug builds (they time other processes
## or count calls); the bootstraps and the criterion bench are release.
## The first run compiles the release dependencies and links 23 fat-LTO
## binaries: expect half an hour on 2 cores; later runs reuse the cache.
BENCH_TARGET_DIR := $(HOME)/.cache/trade-assurance/bench-target
BENCH_OUT := $(CARGO_TARGET_DIR)/bench
BENCH_SAMPLES ?= 20
# The functions run with SSL_CERT_FILE set, as the template sets it on
# Lambda (there /etc/pki/tls/certs/ca-bundle.crt): this host's bundle.
BENCH_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat tools/bench-requirements.lock 2>/dev/null | cksum | cut -d' ' -f1)
BENCH_PACKAGES := hello-lambda $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml))

bench-venv: $(BENCH_STAMP)

$(BENCH_STAMP): tools/bench-requirements.lock $(VENV_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r tools/bench-requirements.lock
	touch $@

bench: venv bench-venv
	@mkdir -p "$(BENCH_OUT)"
	python3 tools/benchmarks.py --stamp "$(BENCH_OUT)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGO_TARGET_DIR="$(BENCH_TARGET_DIR)" \
		cargo-lambda lambda build --release --target x86_64-unknown-linux-gnu \
		--output-format zip --lambda-dir "$(BENCH_TARGET_DIR)/lambda" \
		$(addprefix -p ,$(BENCH_PACKAGES))
	$(CARGO) build --locked -p bench-cold -p bench-capacity
	$(TEST_ENV) "$(CARGO_TARGET_DIR)/debug/bench-cold" --bootstraps "$(BENCH_TARGET_DIR)/lambda" \
		--samples $(BENCH_SAMPLES) --env SSL_CERT_FILE=$(BENCH_CA_BUNDLE) \
		--markdown "$(BENCH_OUT)/cold.md" --json "$(BENCH_OUT)/cold.json" \
		--chart bench/init-time.svg > "$(BENCH_OUT)/cold.log"
	$(TEST_ENV) "$(CARGO_TARGET_DIR)/debug/bench-capacity" \
		--markdown "$(BENCH_OUT)/capacity.md" --json "$(BENCH_OUT)/capacity.json" > "$(BENCH_OUT)/capacity.log"
	$(CARGO) bench --locked -p http-api --bench hot_paths > "$(BENCH_OUT)/warm.log"
	python3 tools/bench_warm.py --criterion-dir "$(CARGO_TARGET_DIR)/criterion" \
		--markdown "$(BENCH_OUT)/warm.md" --json "$(BENCH_OUT)/warm.json"
	python3 tools/benchmarks.py "$(BENCH_OUT)" > BENCHMARKS.md
	@echo "BENCHMARKS.md and bench/init-time.svg rewritten; the raw figures are in $(BENCH_OUT)"
