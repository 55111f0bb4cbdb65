"""orbit-local's errors as langchain-core's own, so ``except ModelError`` catches them.

Each class inherits from the :mod:`orbit_local.facts.errors` class (its fields, message and hint)
and from the matching ``langchain_core.exceptions`` class, as langchain-openai's errors
inherit from both the openai SDK's and langchain-core's. ``is_retryable`` comes from the
orbit_local class. The chat models raise these; code that catches either family keeps working.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from langchain_core import exceptions as lc

from orbit_local.facts import errors as ol

F = TypeVar("F", bound=Callable[..., Any])


class ServerNotRunningError(ol.ServerNotRunningError, lc.ModelConnectionError):
    """Nothing answered at the base URL."""


class RequestTimeoutError(ol.RequestTimeoutError, lc.ModelTimeoutError):
    """The server took longer than ``timeout``."""


class AuthenticationError(ol.AuthenticationError, lc.ModelAuthenticationError):
    """The server wants an API key, or rejected the one sent."""


class ModelNotFoundError(ol.ModelNotFoundError, lc.ModelNotFoundError):
    """Unknown model, or no model loaded."""


class ModelNotLoadedError(ol.ModelNotLoadedError, ModelNotFoundError):
    """The model is known but not loaded."""


class ModelLoadError(ol.ModelLoadError, lc.ModelAPIError):
    """The model exists but the server cannot load it."""


class ModelDownloadError(ol.ModelDownloadError, lc.ModelAPIError):
    """The server could not download a model."""


class ServerBusyError(ol.ServerBusyError, lc.ModelAPIError):
    """Busy or still loading after the warm-up window."""


class RateLimitError(ol.RateLimitError, lc.ModelRateLimitError):
    """HTTP 429, still refused when the retries ran out (or ``Retry-After`` was too long)."""


class BadRequestError(ol.BadRequestError, lc.ModelInvalidRequestError):
    """The server rejected the request."""


class ContextOverflowError(ol.ContextOverflowError, lc.ContextOverflowError):
    """The prompt does not fit the context window (also an orbit-local BadRequestError)."""


class ServerError(ol.ServerError, lc.ModelAPIError):
    """A 5xx no other class describes."""


class ProtocolError(ol.ProtocolError, lc.ModelAPIError):
    """The server answered something outside its own wire format."""


class ConnectionDroppedError(ol.ConnectionDroppedError, lc.ModelAPIError):
    """The connection closed before the answer was complete (a ``ModelAPIError``, as a cut
    stream is)."""


class StreamInterruptedError(ol.StreamInterruptedError, lc.ModelAPIError):
    """A stream ended before the server said it was complete."""


class StreamTimeoutError(ol.StreamTimeoutError, lc.ModelTimeoutError):
    """A stream stalled mid-answer."""


class UnsupportedFeatureError(ol.UnsupportedFeatureError, lc.ModelInvalidRequestError):
    """The server cannot do what was asked."""


class EndpointNotFoundError(ol.EndpointNotFoundError, lc.ModelInvalidRequestError):
    """404/405: the server has no such route (wrong base URL prefix, or a missing feature)."""


NATIVE: dict[type[ol.OrbitLocalError], type[ol.OrbitLocalError]] = {
    ol.ServerNotRunningError: ServerNotRunningError,
    ol.RequestTimeoutError: RequestTimeoutError,
    ol.AuthenticationError: AuthenticationError,
    ol.ModelNotFoundError: ModelNotFoundError,
    ol.ModelNotLoadedError: ModelNotLoadedError,
    ol.ModelLoadError: ModelLoadError,
    ol.ModelDownloadError: ModelDownloadError,
    ol.ServerBusyError: ServerBusyError,
    ol.RateLimitError: RateLimitError,
    ol.BadRequestError: BadRequestError,
    ol.ContextOverflowError: ContextOverflowError,
    ol.ServerError: ServerError,
    ol.ProtocolError: ProtocolError,
    ol.ConnectionDroppedError: ConnectionDroppedError,
    ol.StreamInterruptedError: StreamInterruptedError,
    ol.StreamTimeoutError: StreamTimeoutError,
    ol.UnsupportedFeatureError: UnsupportedFeatureError,
    ol.EndpointNotFoundError: EndpointNotFoundError,
}


def as_native(error: ol.OrbitLocalError) -> ol.OrbitLocalError:
    """The same error object, now also of langchain-core's class (fields and traceback kept)."""
    for cls in type(error).__mro__:
        native = NATIVE.get(cls)  # type: ignore[arg-type]
        if native is not None:
            if not isinstance(error, native):
                error.__class__ = native
            return error
    return error


def raises_native(function: F) -> F:
    """Decorate a method (plain, async, generator or async generator) so the orbit-local
    errors it raises come out as their LangChain-native twins. Each wrapper catches them
    itself (no context manager: one per call would show on the hot path)."""
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def agen(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in function(*args, **kwargs):
                    yield item
            except ol.OrbitLocalError as error:
                raise as_native(error) from error.__cause__

        return cast("F", agen)
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def gen(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from function(*args, **kwargs)
            except ol.OrbitLocalError as error:
                raise as_native(error) from error.__cause__

        return cast("F", gen)
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except ol.OrbitLocalError as error:
                raise as_native(error) from error.__cause__

        return cast("F", coro)

    @functools.wraps(function)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ol.OrbitLocalError as error:
            raise as_native(error) from error.__cause__

    return cast("F", plain)
