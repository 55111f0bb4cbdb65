"""The ``orbit_local`` logger, and warnings that point at the user's own line.

Retries (and their waits), aborted generations, emulated streams and parameters that were
downgraded or not sent are logged at INFO, so a 30-second warm-up never passes without a
trace once logging is on. Messages name servers and URLs, never keys or headers: every record
of the ``orbit_local`` logger passes :class:`RedactingFilter`, so a URL with credentials (or a
registered API key) is masked whatever the call site wrote.
"""

from __future__ import annotations

import logging
import sys
import warnings

from orbit_local.facts.redact import redact


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's final text (message and arguments merged) before any
    handler sees it: the one place, so no ``logger.info`` call can leak a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = redact(text)
        if masked != text:
            record.msg, record.args = masked, None
        return True


logger = logging.getLogger("orbit_local")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())

_INTERNAL_MODULES = (
    "orbit_local",
    "langchain_orbit_local",
    "llamaindex_orbit_local",
    "langchain_core",
    "llama_index",
    "llama_index_instrumentation",
    "workflows",
    "pydantic",
    "asyncio",
    "concurrent",
    "contextlib",
    "functools",
    "threading",
    "mutmut",  # mutation testing runs our functions through its trampoline
)
"""Frames of these packages are skipped: a warning is about the user's call, whatever depth
of our code and the frameworks' it went through (a fixed ``stacklevel`` breaks silently
whenever that depth changes)."""


def _is_internal(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in _INTERNAL_MODULES)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the user's line and log the same text (a warning shows once per line; the log
    keeps every one).

    The line is the first frame outside orbit-local and the frameworks, counted from this
    function's own frame (the one that calls ``warnings.warn``), so no wrapper in between can
    shift it.
    """
    message = redact(message)  # a warning is printed as often as a log line
    logger.info(message)
    frame = sys._getframe(0)
    level = 1
    while frame.f_back is not None and _is_internal(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def warn_renamed(old: str, new: str, why: str) -> None:
    """Say at the user's line that a class is used under a name it no longer has."""
    warn(f"{old} is deprecated: use {new} ({why}); the old name will be removed.", DeprecationWarning)
