# Two commands matter: `make demo` and `make test`. Both create .venv on first use; the demo
# installs only what it runs, the tests add the test and lint tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.demo-installed
STAMP := $(VENV)/.installed
INSTALL := $(BIN)/python examples/_install.py

.PHONY: demo test unit lint typecheck check compat record mutation bench clean

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

# The unit tests without the slow ones (marker "slow"): a fast loop while editing.
unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check orbit_local langchain_orbit_local llamaindex_orbit_local tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy orbit_local langchain_orbit_local llamaindex_orbit_local

check: test lint typecheck

# The oldest langchain-core and llama-index-core that pyproject allows, under the unit suite:
# installed without their dependencies into a folder that shadows the pinned versions. Skipped
# here: the slow in-process engines and terminals, and the two tests that need httpx unloaded
# after importing the adapters (older langchain-core imports httpx itself).
COMPAT_PINS := langchain-core==1.6.0 llama-index-core==0.14.5
compat: $(STAMP)
	rm -rf build/compat
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target build/compat $(COMPAT_PINS)
	PYTHONPATH=build/compat $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit \
		--ignore=tests/unit/test_cli.py --ignore=tests/unit/test_embedded.py --ignore=tests/unit/test_gpt4all_direct.py \
		-k "not test_importing_the_adapters_does_not_load_httpx_or_its_cli and not test_first_calls_from_eight_threads"

# Record cassettes from a running server: make record PROVIDER=llama-cpp-python
record: $(STAMP)
	$(BIN)/python -m tests.recorder $(PROVIDER) $(RECORD_ARGS)

# The hot-path benchmark (docs/dev/benchmarks.md): a few minutes; BENCH_ARGS=--quick for a smoke run.
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
