# Two commands for a fresh machine: `make run` and `make test`.
# The cargo target directory lives outside the clone so that fresh clones
# (CI) reuse one build cache; override CARGO_TARGET_DIR to move it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trade-assurance/target
export CARGO_INCREMENTAL ?= 0

.PHONY: test run fmt fmt-check lint unit diagram help

help:
	@echo "make run    - the local stack on 127.0.0.1:\$${PORT:-3000} (not there yet)"
	@echo "make test   - fmt check, clippy -D warnings, the whole test suite"
	@echo "make fmt    - format the code"

## The whole suite, as CI runs it.
test: fmt-check lint unit

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

fmt:
	$(CARGO) fmt --all

## Print the lifecycle diagram generated from the transition table.
diagram:
	@$(CARGO) run -q -p domain --example lifecycle_diagram

run:
	@echo "make run: the local stack is not built yet."
	@echo "It arrives with the storage adapters and the Lambda functions (see README.md, Status)."
	@echo "Until then, 'make test' exercises the domain crate."
	@exit 2
