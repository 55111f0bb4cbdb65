"""Framework objects for the streaming hot path, filled without validation — where that is safe.

Each streamed token becomes one or two of the frameworks' pydantic models (an
``AIMessageChunk`` in a ``ChatGenerationChunk``; a ``ChatResponse`` around a ``ChatMessage``
and a ``TextBlock``). Validating them costs more per token than decoding the SSE frame, and
pydantic's ``model_construct`` is slower still on models with default factories (it inspects
each factory's signature on every call).

A :class:`Prefill` learns how to fill one model from the model itself: it builds one instance
with the real constructor and keeps its values, its fields set, and which of its fields hold
empty containers (each filled instance gets fresh ones). Nothing is listed by hand, so a field
a later framework version adds is carried over too. Once, when it is made, it fills an
instance for a probe and compares it with the validated one — equal values, the same fields
set, and no container shared with the template. If they differ (a framework upgrade added a
validator that derives a field, or a non-empty mutable default), it says so in the log and
uses the real constructor from then on: slower, never wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_new = object.__new__
# BaseModel's four slots, set through their own descriptors: cheaper than object.__setattr__
# by name, and this runs for every streamed token.
_SLOTS = {name: BaseModel.__dict__[name].__set__ for name in BaseModel.__slots__}
_set_dict = _SLOTS["__dict__"]
_set_fields_set = _SLOTS["__pydantic_fields_set__"]
_set_extra = _SLOTS["__pydantic_extra__"]
_set_private = _SLOTS["__pydantic_private__"]
_CONTAINERS = (list, dict, set)
_log = logging.getLogger("orbit_local")


class Prefill(Generic[M]):
    """Fills ``build(**values)``'s instances without validation, for calls that pass the same
    keywords as ``sample`` (the keywords decide which fields count as set)."""

    __slots__ = ("_build", "_template", "_type", "fill", "validated")

    def __init__(self, build: Callable[..., M], sample: dict[str, Any], probe: dict[str, Any]) -> None:
        template = build(**sample)
        self._build = build
        self._type = type(template)
        self._template = dict(template.__dict__)
        fresh = tuple(
            (name, type(value))
            for name, value in self._template.items()
            if isinstance(value, _CONTAINERS) and not value and name not in sample
        )
        self.fill: Callable[..., M] = _filler(self._type, self._template, set(template.model_fields_set), fresh)
        """``fill(**values)``: an instance equal to ``build(**values)`` (mutable ``values`` must
        be fresh objects). The hot path calls it directly: one call per object."""
        self.validated = False
        """True when the probe showed a difference: every instance then comes from ``build``."""
        if set(probe) != set(sample) or not self._same_as_validated(probe):
            _log.debug("orbit_local: %s is built with validation (a prefilled one differs)", self._type.__name__)
            self.validated = True
            self.fill = build

    def __call__(self, **values: Any) -> M:
        """:attr:`fill`."""
        return self.fill(**values)

    def _same_as_validated(self, probe: dict[str, Any]) -> bool:
        filled = self(**probe)
        real = self._build(**probe)
        if filled.__dict__ != real.__dict__ or filled.model_fields_set != real.model_fields_set:
            return False
        shared = [
            name
            for name, value in filled.__dict__.items()
            if name not in probe and isinstance(value, (*_CONTAINERS, BaseModel)) and value is self._template[name]
        ]
        return not shared


def _filler(
    kind: type[M], template: dict[str, Any], fields_set: set[str], fresh: tuple[tuple[str, type], ...]
) -> Callable[..., M]:
    """The filling function of one model, its template bound in a closure: no attribute
    lookups and no branch on ``validated`` per object."""

    def fill(**values: Any) -> M:
        fields = {**template, **values}
        if fresh:
            for name, make in fresh:
                if name not in values:
                    fields[name] = make()
        instance: M = _new(kind)
        _set_dict(instance, fields)
        _set_fields_set(instance, fields_set.copy())
        _set_extra(instance, None)
        _set_private(instance, None)
        return instance

    return fill
