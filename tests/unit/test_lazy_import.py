"""httpx is loaded on first use: importing the adapters stays light, and using them works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orbit_local.net._lazy import lazy_module


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
        "import sys; from orbit_local.net._lazy import lazy_module; m = lazy_module('colorsys'); "
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
        "import threading; from orbit_local.net._lazy import lazy_module\n"
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


# --- the stand-in in this process, for a module nothing has imported yet --------------------------
# The tests above run fresh interpreters. In the test process httpx is imported long before any
# test runs, so ``lazy_module('httpx')`` returns the real module and the stand-in's attribute read
# never runs inside a test: these tests build stand-ins for a module of their own.


MODULE = "orbit_lazy_probe_module"


@pytest.fixture
def fresh_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module on sys.path that nothing has imported; each import of it makes a new object."""
    (tmp_path / f"{MODULE}.py").write_text("TOKEN = object()\n\ndef answer():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    return MODULE


def test_the_stand_in_imports_on_first_read_and_reads_through_to_that_module(fresh_module: str) -> None:
    stand_in = lazy_module(fresh_module)
    assert fresh_module not in sys.modules  # nothing imported yet
    assert stand_in.answer() == 42
    real = sys.modules[fresh_module]  # the first read imported it for real
    assert stand_in.TOKEN is real.TOKEN
    assert stand_in.answer is real.answer


def test_the_stand_in_stays_bound_to_the_module_it_imported(fresh_module: str) -> None:
    """One namespace: after the first read the stand-in keeps reading that module, even when
    ``sys.modules`` later holds another copy (a reload, a test that swaps modules)."""
    stand_in = lazy_module(fresh_module)
    first = stand_in.TOKEN
    del sys.modules[fresh_module]  # the next import would execute the file again
    assert stand_in.TOKEN is first
    assert fresh_module not in sys.modules  # and no second import happened


def test_a_patch_on_the_real_module_is_seen_through_the_stand_in(
    fresh_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = lazy_module(fresh_module)
    stand_in.answer()  # loaded
    monkeypatch.setattr(sys.modules[fresh_module], "answer", lambda: 7)
    assert stand_in.answer() == 7


def test_a_name_the_module_lacks_is_an_attribute_error_naming_it(fresh_module: str) -> None:
    stand_in = lazy_module(fresh_module)
    with pytest.raises(AttributeError, match="no_such_name"):
        stand_in.no_such_name  # noqa: B018


def test_a_missing_module_is_a_module_not_found_error_carrying_its_name() -> None:
    """``ModuleNotFoundError.name`` is what code handling optional imports reads."""
    with pytest.raises(ModuleNotFoundError) as caught:
        lazy_module("orbit_no_such_module_anywhere")
    assert caught.value.name == "orbit_no_such_module_anywhere"
