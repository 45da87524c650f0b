# Every target sets .venv up from nothing when it is missing: `make demo` with the base install
# (SQLite, memory cache, lock and bus), `make test` and `make lint` with every driver and the tools.
PY ?= python3
DEMO_PORT ?= 3000
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
DEV := $(VENV)/.installed-dev

.PHONY: demo test bench lint clean setup

# pip's own lines are the progress: nothing here runs quietly, so the first `make demo` never sits silent.
$(BIN)/python:
	@echo "creating $(VENV) with $(PY) and updating its pip (first run only)..."
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(BASE): pyproject.toml | $(BIN)/python
	@echo "installing mega and its dependencies (about a minute the first time)..."
	$(BIN)/python -m pip install -e .
	touch $(BASE)

$(DEV): pyproject.toml | $(BIN)/python
	@echo "installing mega with every driver and the test tools (about two minutes the first time)..."
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(DEV) $(BASE)

setup: $(DEV)

demo: $(BASE)
	cd samples/simple && ../../$(BIN)/mega start --port $(DEMO_PORT)

test: $(DEV)
	$(BIN)/python -m pytest

bench: $(DEV)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python bench/http/run.py
	$(BIN)/python bench/cluster/run.py

lint: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist
