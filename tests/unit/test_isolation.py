"""Package boundaries: orbit_local imports no framework; each adapter imports only its own."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

CASES = [
    (
        "orbit_local, orbit_local.backends.client, orbit_local.net.discovery, orbit_local.backends.gpt4all_direct",
        ("langchain", "llama_index", "gpt4all"),
    ),
    ("langchain_orbit_local", ("llama_index", "gpt4all")),
    ("llamaindex_orbit_local", ("langchain", "gpt4all")),
]


@pytest.mark.parametrize(("modules", "forbidden"), CASES)
def test_imports_stay_inside_their_package(modules: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {modules}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = ast.literal_eval(output.strip())
    leaked = [m for m in loaded if m.startswith(forbidden)]
    assert not leaked, f"importing {modules} loaded {leaked}"
