# skuflow — `make run` and `make test` bootstrap everything they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

KAFKA_PORT ?= 9092
export PATH := $(HOME)/.cargo/bin:$(PATH)  # rustup's cargo, also where a login shell has not set it

.PHONY: run test lint typecheck unit slow clean help kafka-up kafka-down bench

help:
	@echo "make run    - simulated distributor -> dataflow -> RocksDB -> API on http://127.0.0.1:$(PORT)"
	@echo "make test   - lint, type checks and every test suite (slow ones included)"
	@echo "make kafka-up / kafka-down - a local single-node KRaft broker on 127.0.0.1:$(KAFKA_PORT)"
	@echo "make bench  - benchmarks beside same-run baselines (BENCH_ARGS='--events 200000 --rounds 2')"

NATIVE := operators/native
NATIVE_SRC := $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(wildcard $(NATIVE)/src/*.rs)

# The install builds the native core too (Rust, by setuptools-rust; cargo must be on PATH).
$(STAMP): pyproject.toml $(NATIVE_SRC)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "skuflow needs Python 3.11 (found " + sys.version.split()[0] + ")")'
	@command -v cargo >/dev/null || { echo "skuflow's native core needs Rust: https://rustup.rs (cargo on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(BIN)/skuflow up --port $(PORT) --policy deploy/policy.example.yaml

lint: $(STAMP)
	$(BIN)/ruff check operators serving dataflows connectors schemas tests
	$(BIN)/ruff format --check operators serving dataflows connectors schemas tests
	cargo fmt --manifest-path $(NATIVE)/Cargo.toml --check
	cargo clippy --quiet --release --manifest-path $(NATIVE)/Cargo.toml -- -D warnings

typecheck: $(STAMP)
	$(BIN)/mypy operators serving

unit: $(STAMP)
	$(BIN)/pytest -m "not slow"

slow: $(STAMP)
	$(BIN)/pytest -m slow

test: lint typecheck $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

kafka-up:
	@KAFKA_PORT=$(KAFKA_PORT) deploy/kafka/kafka.sh up

kafka-down:
	@KAFKA_PORT=$(KAFKA_PORT) deploy/kafka/kafka.sh down

clean:
	rm -rf $(VENV) .skuflow .pytest_cache .mypy_cache .ruff_cache .hypothesis $(NATIVE)/target operators/_native.*.so
