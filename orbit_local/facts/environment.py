"""Where a connection setting comes from when several places give one: one order, here.

An argument beats the server's environment variable (``<PREFIX>BASE_URL``, ``<PREFIX>API_KEY``,
``<PREFIX>MODEL``), which beats an ``inference.yaml`` block, which beats the server's default.
``OPENAI_API_KEY`` is never read: a local server's key is its own. An empty value counts as
not given, wherever it was written. The adapters' fields, the clients, discovery and the
config file all ask :func:`sources` (or :func:`pick`), so the order cannot differ between them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

Setting = Literal["base_url", "api_key", "model"]
ENV_SUFFIXES: Mapping[Setting, str] = {"base_url": "BASE_URL", "api_key": "API_KEY", "model": "MODEL"}


def env_name(prefix: str, field: Setting) -> str:
    """The environment variable of ``field`` for a server's prefix (``LMSTUDIO_`` → ``LMSTUDIO_MODEL``)."""
    return prefix + ENV_SUFFIXES[field]


def sources(
    prefix: str, field: Setting, argument: Any = None, *, file: Any = None, default: Any = None
) -> list[tuple[str, Any]]:
    """Every place ``field`` may come from, in precedence order, as ``(where, value)``: the
    argument (named by the setting), the environment variable, the config file, the default.
    Callers that check a value (a base URL) walk it themselves, to name where a bad one came
    from."""
    variable = env_name(prefix, field)
    return [
        (field, argument),
        (variable, os.environ.get(variable)),
        ("the config file", file),
        ("the default", default),
    ]


def pick(prefix: str, field: Setting, argument: Any = None, *, file: Any = None, default: Any = None) -> Any:
    """The first value of :func:`sources` that is given."""
    for _, value in sources(prefix, field, argument, file=file, default=default):
        if given(value):
            return value
    return None


def given(value: Any) -> bool:
    """Whether a value counts as given: not ``None``, not empty, not only whitespace."""
    return bool(value) and not (isinstance(value, str) and value.isspace())


def with_environment(prefix: str, values: dict[str, Any], model_keys: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """``values`` (an adapter's keywords) with ``base_url``, ``api_key`` and ``model`` filled
    from the environment where not given. A model may be given under any of ``model_keys``
    (LangChain's ``model_name`` alias)."""
    known: dict[Setting, Any] = {"base_url": values.get("base_url"), "api_key": values.get("api_key")}
    known["model"] = next((values[key] for key in model_keys if values.get(key)), None)
    for field, value in known.items():
        if not given(value):
            found = pick(prefix, field)
            if found:
                values[field] = found
    return values
