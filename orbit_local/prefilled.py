"""Framework objects for the streaming hot path, filled without validation.

Each streamed token becomes one or two of the frameworks' pydantic models (an
``AIMessageChunk`` in a ``ChatGenerationChunk``; a ``ChatResponse`` around a ``ChatMessage``
and a ``TextBlock``). Validating them cost more per token than decoding the SSE frame, and
pydantic's ``model_construct`` is slower still on models with default factories (it inspects
each factory's signature on every call). The values are known-good, so :func:`prefilled`
fills an instance the way ``model_construct`` does, from a template the real constructor
built. Tests compare the results with validated objects, so a framework upgrade that changes
a model breaks a test, not a user's stream.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__


def prefilled(template: M, fields_set: frozenset[str], values: dict[str, Any]) -> M:
    """A copy of ``template`` with ``values`` (mutable values must be fresh objects), whose
    ``model_fields_set`` is ``fields_set``: what the constructor would have made of the
    same keyword arguments."""
    instance = _new(type(template))
    _set(instance, "__dict__", {**template.__dict__, **values})
    _set(instance, "__pydantic_fields_set__", set(fields_set))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
