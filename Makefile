# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check record clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
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

clean:
	rm -rf $(VENV) build *.egg-info
