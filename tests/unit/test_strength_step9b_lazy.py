"""The lazy stand-in, exercised in this process (test_lazy_import.py runs fresh interpreters).

In the test process httpx is imported long before any test runs, so ``lazy_module('httpx')``
returns the real module and the stand-in's attribute read never runs inside a test. These
tests build stand-ins for a module of their own that nothing has imported yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orbit_local._lazy import lazy_module

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
