# kefu — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench e2e install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kefu needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Set everything up (venv, dependencies, database, demo data) and start the service.
run: $(STAMP)
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

clean:
	rm -rf $(VENV) var build *.egg-info
