"""Answers of an unexpected shape become a typed ProtocolError, never a TypeError.

Parsers read servers' JSON with plain dict and list access for speed. A server that sends a
number where a list belongs (fuzzing finds many) must still produce a typed error that names
the server, so every parser entry point is wrapped by :func:`typed_shapes`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from orbit_local.facts.errors import ProtocolError

F = TypeVar("F", bound=Callable[..., Any])
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)
"""What plain dict and list access raises on a body of the wrong shape."""


def shape_error(what: str, parser: Any, exc: Exception) -> ProtocolError:
    """The typed error for a shape error ``exc`` in ``what``, naming the parser's server."""
    protocol = getattr(parser, "_protocol", parser)  # a stream parser holds its protocol
    owner = getattr(protocol, "profile", None)
    return ProtocolError(
        f"{what} has an unexpected shape ({type(exc).__name__}: {exc})",
        provider=getattr(owner, "display_name", None),
        base_url=getattr(protocol, "base_url", None),
        hint="the server's answer does not follow its API; check the server version",
    )


SHOWN_BODY = 200
"""Characters of an unexpected body quoted in a message (the whole of it, up to 2000, is in ``body``)."""


def expect_object(payload: Any, what: str, parser: Any, note: str = "") -> dict[str, Any]:
    """``payload`` if it is a JSON object, else a ProtocolError that quotes it as it came.

    KoboldCpp answers HTTP 200 with ``null`` when a field has the wrong type; a proxy or another
    server may send a list, a number or a string. Saying "expected an object" without showing
    what came leaves the user guessing, so every parser that needs an object asks here.
    """
    if isinstance(payload, dict):
        return payload
    shown = json.dumps(payload, ensure_ascii=False)
    quoted = shown if len(shown) <= SHOWN_BODY else shown[:SHOWN_BODY] + f"… ({len(shown)} characters)"
    protocol = getattr(parser, "_protocol", parser)
    owner = getattr(protocol, "profile", None)
    raise ProtocolError(
        f"{what} is not a JSON object: the server sent {quoted}" + (f" {note}" if note else ""),
        provider=getattr(owner, "display_name", None),
        base_url=getattr(protocol, "base_url", None),
        body=shown[:2000],
        hint="the server's answer does not follow its API; check the server's log and version",
    )


def typed_shapes(what: str) -> Callable[[F], F]:
    """Decorate a parser method: shape errors in ``what`` become a ProtocolError.

    Stream parsers' ``feed`` runs once per token and catches the same errors inline (a
    ``try`` costs nothing until it catches; a wrapper call costs on every token).
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except ProtocolError:
                raise
            except SHAPE_ERRORS as exc:
                raise shape_error(what, self, exc) from exc

        return cast("F", wrapper)

    return decorate
