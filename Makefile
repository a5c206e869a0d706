# Two commands for a new user: `make demo` and `make test` (static checks, then the tests).
# Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.quartz-installed
NATIVE_SOURCES := $(wildcard cpp/*.cpp cpp/*.hpp cpp/CMakeLists.txt)
# The demo keeps its state in the checkout so it never touches ~/.quartz.
DEMO_HOME ?= $(CURDIR)/.quartz/demo

# The dashboard's front end (docs/dashboard.md): built when npm is present, never committed.
WEB := src/quartz_cli/web
# npm with a Node.js that Vite supports (>= 20.19 or >= 22.12), else the bundle is skipped.
NPM := $(shell command -v npm >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||a===22&&b>=12||a===20&&b>=19?0:1)' 2>/dev/null && echo npm)
WEB_SOURCES := $(wildcard $(WEB)/app/src/*) $(WEB)/app/index.html $(WEB)/app/vite.config.ts \
	$(WEB)/app/tsconfig.json

.PHONY: setup demo lint test bench clean web

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(NATIVE_SOURCES)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) $(if $(NPM),web)

web: $(WEB)/dist/index.html

$(WEB)/app/node_modules/.package-lock.json: $(WEB)/app/package-lock.json
	cd $(WEB)/app && npm ci --no-audit --no-fund

$(WEB)/dist/index.html: $(WEB)/app/node_modules/.package-lock.json $(WEB_SOURCES)
	cd $(WEB)/app && npm run build

demo: setup
	QUARTZ_HOME=$(DEMO_HOME) $(BIN)/quartz decide --dry-run

# Static checks (docs/static-checks.md): ruff, mypy (cache in .mypy_cache), layer contracts.
lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every core runs test files side by side; then the tests marked `serial` (they load the whole
# machine or the broker's rate limit and check what that does) run alone.
test: setup lint
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -q -m serial

bench: setup
	@for b in scripts/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .quartz src/*.egg-info \
		$(WEB)/dist $(WEB)/app/node_modules
