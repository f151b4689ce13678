# Two commands for a fresh machine: `make run` and `make test`.
# The cargo target directory lives outside the clone so that fresh clones
# (CI) reuse one build cache; override CARGO_TARGET_DIR to move it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trade-assurance/target
export CARGO_INCREMENTAL ?= 0

# Python tools (moto server) live in a project venv, pinned by
# tools/requirements.lock, installed by `make test` itself.
VENV := .venv
PYTHON ?= python3
VENV_STAMP := $(VENV)/.installed-$(shell cat tools/requirements.lock 2>/dev/null | cksum | cut -d' ' -f1)

# Nothing here may reach real AWS: a region, dummy credentials, no
# instance-metadata lookups, and the venv's Python for the moto server.
TEST_ENV := AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	AWS_EC2_METADATA_DISABLED=true TA_PYTHON=$(CURDIR)/$(VENV)/bin/python

.PHONY: test run token demo fmt fmt-check lint lint-template unit diagram help venv

help:
	@echo "make run    - the local stack on 127.0.0.1:\$${PORT:-3000}"
	@echo "make token  - a token for it: make token SUB=buyer-1 ROLE=buyer"
	@echo "make test   - fmt check, clippy -D warnings, the whole test suite"
	@echo "make fmt    - format the code"

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

## cfn-lint (pinned in tools/requirements.in) on the SAM template.
lint-template: venv
	$(VENV)/bin/cfn-lint infra/template.yaml

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Every function binary in one build (the Runtime API tests run them), every
# test target (no doc-tests: there are none), then one closing line that
# totals every test binary's result.
unit: venv
	@mkdir -p "$(CARGO_TARGET_DIR)"
	$(CARGO) build --workspace --bins --locked
	$(TEST_ENV) $(CARGO) test --workspace --locked --lib --bins --tests 2>&1 | tee "$(CARGO_TARGET_DIR)/test-output.log"
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

## Walk an order through every step against a running stack (`make run`).
demo:
	@python3 tools/demo.py
