"""Modules imported on first use, so ``import langchain_orbit_local`` stays light.

httpx is needed from the first request on, not at import: importing it also imports its
command-line front end (rich, click, pygments) wherever those are installed, which was the
largest part of orbit-local's import time. The standard library's ``LazyLoader`` defers the
module's execution to its first attribute access.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` as imported already, or a module that loads itself on first use."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
