# The two commands the README promises: `make sample` and `make test`.
# Both create .venv from nothing but Python 3.11, make and git.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sample test lint typecheck layers pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

sample: $(STAMP)
	$(BIN)/repertory sample shop

test: lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check actors runtime supervisors samples tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict actors runtime supervisors samples

# The import rules of DESIGN.md (contracts in pyproject.toml).
layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -q

$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
