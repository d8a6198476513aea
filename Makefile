# One entry point per task; CI calls `make test` through .ci/run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?= fit deepseek-ai/DeepSeek-R1-Distill-Llama-70B --gpu rtx-4090 --gpus 2 --quant Q4_K_M --ctx 32k

.PHONY: run test lint bench clean

$(BIN)/rigfit: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/rigfit  ## install, then run rigfit (override with ARGS="...")
	$(BIN)/rigfit $(ARGS)

lint: $(BIN)/rigfit
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

test: lint  ## install, lint, type-check and run the whole suite
	$(BIN)/python -m rigfit.catalog
	$(BIN)/pytest

bench: $(BIN)/rigfit
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
