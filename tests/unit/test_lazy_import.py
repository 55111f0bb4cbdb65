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


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and return what it printed."""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_a_lazy_module_loads_on_first_use_and_reads_the_imported_one() -> None:
    out = _fresh(
        "import sys; from orbit_local._lazy import lazy_module; m = lazy_module('colorsys'); "
        "print('colorsys' in sys.modules, m.rgb_to_hsv(1.0, 0.0, 0.0), "
        "m.rgb_to_hsv is sys.modules['colorsys'].rgb_to_hsv)"
    )
    assert out == "False (0.0, 1.0, 1.0) True"  # not loaded by lazy_module, loaded by first use


def test_an_imported_module_is_returned_as_it_is() -> None:
    import colorsys

    assert lazy_module("colorsys") is colorsys


def test_first_use_from_many_threads_at_once_sees_the_whole_module() -> None:
    # importlib.util.LazyLoader (3.11, 3.12) let all but one thread read a half-made module:
    # "module 'httpx' has no attribute 'URL'".
    out = _fresh(
        "import threading; from orbit_local._lazy import lazy_module\n"
        "httpx = lazy_module('httpx'); start = threading.Barrier(16); failed = []\n"
        "def use():\n"
        "    start.wait()\n"
        "    try: httpx.URL('http://127.0.0.1:1/v1')\n"
        "    except Exception as error: failed.append(repr(error))\n"
        "threads = [threading.Thread(target=use) for _ in range(16)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]; print(failed)"
    )
    assert out == "[]"


def test_a_missing_module_raises_at_once() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        lazy_module("no_such_module_here")
