# The two commands: `make demo` and `make test`. Each sets up what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# The environment is rebuilt when the lock or the project metadata changes.
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv demo test soak openapi lint typecheck unit infra-tests local-tests layers synth up bench lock clean

help:
	@echo "make demo   - set up, then run the platform's lifecycle on the local cloud"
	@echo "make test   - set up, then lint, type-check, build and size-check layers, run every test tier"
	@echo "make soak   - 32 clients for SOAK_SECONDS (default 60) against the predict function URL, signed (SOAK_FRONT_DOOR=rest: the REST API)"
	@echo "make up     - a long-lived local cloud (moto server + HTTP gateway) for the AWS CLI and curl"
	@echo "make synth  - the real CDK CLI: npx aws-cdk@2 synth (offline, no Docker)"
	@echo "make unit | infra-tests | local-tests - one test tier (ARGS passes pytest options)"
	@echo "make lint | typecheck | openapi | layers | lock - ruff+mypy; mypy; docs/openapi.json; build and size the layers; re-lock"
	@echo "make bench  - benchmarks; writes bench/results/results.md and .json (ARGS=--quick: small data, .local/bench-quick/)"

venv: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/dev.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --universal --python-version 3.11 --generate-hashes -o requirements/bench.lock

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: venv
	$(BIN)/mypy

# One tier at a time (make test runs them all): e.g. make unit ARGS="-k drift"
unit: venv
	$(BIN)/python -m pytest -n 2 tests/unit $(ARGS)

infra-tests: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/infra $(ARGS)

local-tests: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/localcloud tests/local $(ARGS)

layers: venv
	$(BIN)/python -m infra.layer_sizes

test: venv lint layers
	$(BIN)/python -m pytest -n 2 --dist loadfile tests
	$(MAKE) synth

# The load test (tests/soak, skipped by `make test`); writes bench/results/soak.json. e.g. make soak SOAK_SECONDS=10;
# SOAK_FRONT_DOOR=rest soaks the REST option instead of the default function URL.
soak: venv
	SOAK_SECONDS=$(or $(SOAK_SECONDS),60) SOAK_FRONT_DOOR=$(or $(SOAK_FRONT_DOOR),function_url) $(BIN)/python -m pytest -m soak -s -p no:cacheprovider tests/soak

# The published API description, from the handlers' own route declarations (tests fail when it is stale).
openapi: venv
	PYTHONPATH=functions $(BIN)/python -m infra.openapi > docs/openapi.json

synth: venv
	npx --yes aws-cdk@2 synth --no-notices --quiet > /dev/null
	@echo "cdk synth: cdk.out/$$($(BIN)/python -c 'import json;print(json.load(open("cdk.json"))["context"]["platform"]["stack_name"])').template.json"

demo: venv
	$(BIN)/python -m mlopsctl.demo

# e.g. make up ARGS="--port 4570 --api-port 4571 --speed 60"
up: venv
	$(BIN)/mlops up $(ARGS)

# Benchmarks run in their own environment: the baselines (pandera, Great Expectations) never enter
# the test or Lambda environments.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cat requirements/bench.lock pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)

$(BENCH_STAMP):
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BENCH_VENV)/bin/uv pip sync --quiet --python $(BENCH_VENV)/bin/python requirements/bench.lock
	@$(BENCH_VENV)/bin/uv pip install --quiet --python $(BENCH_VENV)/bin/python --no-deps -e .
	@rm -f $(BENCH_VENV)/.installed-*
	@touch $(BENCH_STAMP)

# e.g. make bench ARGS=--quick (small data: checks the harness; writes .local/bench-quick/), make bench ARGS=inference
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench $(ARGS)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
