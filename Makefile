# The two commands the README promises: `make sample` and `make test`.
# Both create .venv from nothing but Python 3.11, make and git.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sample test lint typecheck layers pytest fuzz e2e chromium bench chaos clean

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

# The security fuzzers (tests/cluster/test_security_fuzz.py) at 10,000 examples each
# instead of make test's 100; each prints the kinds of input it tried.
fuzz: $(STAMP)
	REPERTORY_FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -s --hypothesis-show-statistics \
		tests/cluster/test_security_fuzz.py

# The web view in a real browser (headless Chromium), apart from `make test`: it needs
# Chromium, which this installs from Debian when it is missing (as root; otherwise it
# says how). It also refreshes docs/web-view.png, the screenshot the README shows.
e2e: $(STAMP) chromium
	$(BIN)/pytest -q -m e2e tests/e2e

chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "make e2e needs Chromium: run 'sudo apt-get install -y chromium' (Debian/Ubuntu)" \
	         "or install Chromium and put it on PATH" >&2; exit 1; \
	  fi; }

$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python -m bench

# Five node processes under random faults for 60 s, then a table of invariants
# (samples/chaos). SEED=N replays a run; it exits non-zero when an invariant fails.
chaos: $(STAMP)
	$(BIN)/python -m samples.chaos --duration $(or $(DURATION),60) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) build *.egg-info
