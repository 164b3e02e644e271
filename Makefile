# The two commands of the README:
#   make course   fresh venv, install, execute every chapter (build/chapters/*.ipynb + .html),
#                 regenerate the student versions in exercises/ with nbgrader, build the site (build/book/)
#   make test     run the test suite (library, notebooks, hygiene, widgets, real browser)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The venv's tools first on PATH: nbgrader calls `alembic`, the tests call `jupyter` and `nbgrader`.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv course test bench clean

venv: $(STAMP)

# Re-install only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[course,test]"
	touch $(STAMP)

course: venv
	$(BIN)/python scripts/build_course.py

test: venv
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

bench: venv
	@set -e; found=0; for f in benchmarks/*.py; do \
	  [ -e "$$f" ] || continue; found=1; echo "== $$f"; $(BIN)/python "$$f"; \
	done; [ $$found = 1 ] || echo "no benchmarks in benchmarks/"

clean:
	rm -rf build .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
