# Two commands for a new user: `make demo` and `make test` (static checks, then the tests).
# Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.quartz-installed
NATIVE_SOURCES := $(wildcard cpp/*.cpp cpp/*.hpp cpp/CMakeLists.txt)
# The demo keeps its state in the checkout so it never touches ~/.quartz.
DEMO_HOME ?= $(CURDIR)/.quartz/demo

.PHONY: setup demo lint test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(NATIVE_SOURCES)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	QUARTZ_HOME=$(DEMO_HOME) $(BIN)/quartz decide --dry-run

# Static checks (docs/static-checks.md): ruff, mypy (cache in .mypy_cache), layer contracts.
lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/python -m pytest -q

bench: setup
	@for b in scripts/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .quartz src/*.egg-info
