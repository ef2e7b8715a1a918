# The two commands of the README, and the gates CI calls.
#   make run    install into .venv and serve on http://127.0.0.1:5000 (SQLite, no config)
#   make test   the whole suite, on SQLite and PostgreSQL
#   make check  lint + format check + types + tests (what CI runs)
#   make lock   re-resolve requirements/*.txt after a change to pyproject.toml's dependencies

PYTHON ?= python3
# Bytecode caches (gitignored __pycache__/) even where the shell sets
# PYTHONDONTWRITEBYTECODE: every auth-server process the suite starts, and every
# pytest worker's assertion rewriting, would otherwise compile the sources again.
unexport PYTHONDONTWRITEBYTECODE
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test check lint typecheck format migrate bench clean lock bytecode

# Everything from the hash-locked requirements/dev.txt, then the project itself (editable,
# no dependency resolution, built with the locked setuptools).
$(STAMP): pyproject.toml setup.py requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The lock files: dev (CI, `make`), main (the image) and build (setuptools for the wheel).
# An existing pin is kept unless pyproject.toml no longer allows it; `make lock
# UPGRADE=--upgrade` moves every pin to the newest allowed release.
UV_COMPILE = $(BIN)/uv pip compile --quiet --native-tls --universal --python-version 3.11 \
	--generate-hashes $(UPGRADE)
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/main.txt
	$(UV_COMPILE) requirements/build.in -c requirements/dev.txt -o requirements/build.txt

run: $(STAMP)
	$(BIN)/auth-server serve

migrate: $(STAMP)
	$(BIN)/auth-server migrate

# Every core plus one (pytest-xdist; tests/conftest.py sizes -n auto); PYTEST_ARGS=-n0 runs in one process.
PYTEST_ARGS ?= -n auto --dist worksteal
test: $(STAMP) bytecode
	$(BIN)/pytest $(PYTEST_ARGS)

# The project's bytecode (only what changed), written once before the suite starts its
# servers and CLI commands, so that they load it rather than each compile every module
# again. pip does the same for every installed dependency.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q app alembic

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
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
