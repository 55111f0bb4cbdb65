"""Modules imported on first use, so ``import langchain_orbit_local`` stays light.

httpx is needed from the first request on, not at import: importing it also imports its
command-line front end (rich, click, pygments) wherever those are installed, which was the
largest part of orbit-local's import time.

The standard library's ``importlib.util.LazyLoader`` is not used: it is not thread-safe on
Python 3.11 and 3.12 (CPython gh-114763). It puts a half-made module in ``sys.modules`` and
swaps its class back to a plain module before the module's code has run, so a second thread
that touches it meanwhile reads an empty namespace: ``module 'httpx' has no attribute 'URL'``
on most of the threads whose first calls start together (``batch()``, a thread pool). Here
the stand-in never enters ``sys.modules``; its first attribute read runs an ordinary
``importlib.import_module``, whose per-module import lock makes every other thread wait
until the module has finished executing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    """Stands for a module until an attribute is read, then reads through to the real one.

    Reading through (instead of copying the namespace) keeps the stand-in and the module one
    namespace: a test that monkeypatches ``httpx.Client`` is seen here too.
    """

    _target: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        target = self._target
        if target is None:
            # Thread-safe: importing a module that another thread is executing waits for it.
            target = importlib.import_module(self.__name__)
            self._target = target
        return getattr(target, attr)


def lazy_module(name: str) -> ModuleType:
    """``name`` as imported already, or a stand-in that imports it on first attribute use.

    A module that does not exist raises :class:`ModuleNotFoundError` at once, not at first use.
    """
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return _LazyModule(name)
