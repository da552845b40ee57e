# The two commands of the README's quick start:
#   make run    install and serve the API on the embedded default (SQLite, no servers)
#   make test   install and run lint, formatting, types and the whole test suite
# Tests that need real servers (redis-server, and S3/Mongo/LiveKit test servers that
# the suite starts itself) skip when a binary is missing, unless
# PULSE_REQUIRE_SERVICES=1 (CI) makes that a failure.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

run: install
	$(BIN)/pulse serve

lint: install-test
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py

# The dashboard's pages in docs/dashboard.md, taken in Debian's chromium (apt install
# chromium) with demo data, the same way the browser tests run.
screenshots: install-test
	$(BIN)/python -m tests.dashboard.screenshots docs/images/dashboard

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
