# The two commands of the README, and the gates CI calls.
#   make run    install into .venv and serve on http://127.0.0.1:5000 (SQLite, no config)
#   make test   the whole suite, on SQLite and PostgreSQL
#   make check  lint + format check + types + tests (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test check lint typecheck format migrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/auth-server serve

migrate: $(STAMP)
	$(BIN)/auth-server migrate

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python -m bench.has_permission

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
