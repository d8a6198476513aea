# One entry point per task; CI calls `make test` through .ci/run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?= serve
# Debian's Chromium drives the browser tests (tests/web/test_browser.py); apt needs root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench load chromium clean

# `make run` installs what running needs (the web extra); `make test` adds the test tools.
$(VENV)/.run-installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[web]'
	touch $@

$(BIN)/rigfit: pyproject.toml $(VENV)/.run-installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.run-installed  ## install, then start the web app on http://127.0.0.1:8000 (or ARGS="fit ...")
	$(BIN)/rigfit $(ARGS)

lint: $(BIN)/rigfit
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium; \
	} || { echo "error: could not install Debian's chromium, which the browser tests need" >&2; exit 1; }

test: lint chromium  ## install, lint, type-check and run the whole suite
	$(BIN)/python -m rigfit.catalog
	$(BIN)/pytest

bench: $(BIN)/rigfit
	$(BIN)/python scripts/bench.py

load: $(BIN)/rigfit  ## load benchmark of the web app on loopback (docs/benchmarks.md)
	$(BIN)/python scripts/load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
