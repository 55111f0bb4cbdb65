# Two commands matter: `make demo` and `make test`. Both create .venv on first use; the demo
# installs only what it runs, the tests add the test and lint tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.demo-installed
STAMP := $(VENV)/.installed
INSTALL := $(BIN)/python examples/_install.py

.PHONY: demo test lint typecheck check record mutation bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "rich>=13,<16"

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(INSTALL) demo
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(INSTALL) dev
	touch $(STAMP) $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check orbit_local langchain_orbit_local llamaindex_orbit_local tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy orbit_local langchain_orbit_local llamaindex_orbit_local

check: test lint typecheck

# Record cassettes from a running server: make record PROVIDER=llama-cpp-python
record: $(STAMP)
	$(BIN)/python -m tests.recorder $(PROVIDER) $(RECORD_ARGS)

# The hot-path benchmark (docs/benchmarks.md): a few minutes; BENCH_ARGS=--quick for a smoke run.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(INSTALL) bench
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Mutation testing of orbit_local (mutmut): minutes to an hour on 2 cores; results in mutants/.
mutation: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) build *.egg-info mutants
