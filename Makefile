# rampart: make run · make test · make bench
# Each target sets up what it needs on a fresh Debian 12 machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-deps bench-deps lint bench clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) sh scripts/bootstrap.sh $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## make run: create the environment, install rampart, audit this host
run: $(STAMP)
	$(BIN)/rampart audit

## make test: install what the tests need, lint, type-check, run the tests
test: $(STAMP) test-deps lint
	$(BIN)/python -m pytest

test-deps:
	sh scripts/install-test-deps.sh

bench-deps:
	RAMPART_DEBIAN_PACKAGES="aide chkrootkit" sh scripts/install-test-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## make bench: rampart against the tools it replaces, side by side
bench: $(STAMP) test-deps bench-deps
	$(BIN)/python bench/bench_filter.py
	$(BIN)/python bench/regex_floor.py
	$(BIN)/python bench/bench_watch.py
	$(BIN)/python bench/bench_audit.py
	$(BIN)/python bench/bench_firewall.py
	$(BIN)/python bench/bench_vault.py
	$(BIN)/python bench/bench_hids.py
	$(BIN)/python bench/bench_rootcheck.py
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_fim.py

clean:
	rm -rf $(VENV) bench/out .pytest_cache .mypy_cache .ruff_cache
