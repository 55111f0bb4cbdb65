"""httpx is loaded on first use: importing the adapters stays light, and using them works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orbit_local._lazy import lazy_module


def test_importing_the_adapters_does_not_load_httpx_or_its_cli() -> None:
    code = (
        "import sys, langchain_orbit_local, llamaindex_orbit_local; "
        "loaded = [m for m in ('httpx._main', 'rich', 'click') if m in sys.modules]; "
        "httpx = type(sys.modules['httpx']).__name__ if 'httpx' in sys.modules else None; "
        "print(loaded, httpx)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() in ("[] _LazyModule", "[] None")  # touching the lazy module would load it


def test_a_lazy_module_loads_on_first_use_and_is_the_imported_one() -> None:
    module = lazy_module("colorsys")
    assert module.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # first use runs the module
    assert lazy_module("colorsys") is module is sys.modules["colorsys"]


def test_a_missing_module_raises_at_once() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        lazy_module("no_such_module_here")
