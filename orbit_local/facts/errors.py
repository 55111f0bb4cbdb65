"""One documented error hierarchy for every local server.

Each server spells its failures differently (``{"error": "..."}``, ``{"error": {...}}``,
FastChat's top-level ``{"object": "error"}``, KoboldCpp's ``{"detail": {...}}``, plain text, an
empty body). Users should not have to care: every failure surfaces as one of the classes below,
and every message names the server, the URL and what to do next.

Hierarchy::

    OrbitLocalError
    ├── ServerNotRunningError      nothing listens at the URL (with the server's own start hint)
    ├── RequestTimeoutError        the server accepted the request but did not answer in time
    ├── AuthenticationError        401/403: the server wants an API key
    ├── ModelNotFoundError         unknown model, or no model loaded
    │   └── ModelNotLoadedError    the server knows the model but has not loaded it
    ├── ModelLoadError             the model exists but cannot be loaded (unsupported architecture)
    ├── ModelDownloadError         the server could not download (pull) a model
    ├── ServerBusyError            503 / queue full / still loading, after the warm-up window
    │   └── RateLimitError         429: too many requests (``retry_after`` says how long to wait)
    ├── BadRequestError            the server rejected the request (its message is kept)
    │   ├── ContextOverflowError   prompt + max_tokens exceed the model's context window
    │   └── EndpointNotFoundError  404/405: no such route (also an UnsupportedFeatureError)
    ├── ServerError                5xx that is none of the above
    ├── ProtocolError              the server answered something we cannot parse
    │   ├── ConnectionDroppedError the connection closed before a (non-streamed) answer came
    │   └── StreamInterruptedError a stream stopped before its end marker
    │       └── StreamTimeoutError a stream stalled (also a RequestTimeoutError)
    └── UnsupportedFeatureError    asked for something this server cannot do
        └── EndpointNotFoundError

``is_retryable`` is the one verdict on "may the same request succeed if sent again": the
transport's retry policy (:mod:`orbit_local.net.retry`) retries exactly these errors (within time
windows), and LangChain's retry helpers read the same attribute. Every text field is passed
through :func:`orbit_local.facts.redact.redact` when it is stored, so no credential in a base URL
reaches a message, a repr or a pickle.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orbit_local.facts.redact import redact

_TEXT_FIELDS = frozenset({"message", "base_url", "server_message", "hint", "body", "url"})
"""Attributes that may hold a URL or a server's echo of a request: redacted on every assignment.
(``partial_text`` is the model's own words and stays verbatim.)"""


class OrbitLocalError(Exception):
    """Base class of every error raised by orbit-local.

    Attributes:
        provider: display name of the server ("LM Studio", "KoboldCpp", ...).
        base_url: the base URL the client talked to.
        status_code: HTTP status when the server answered, else ``None``.
        server_message: the server's own error text, verbatim, when it sent one.
        hint: what the user can do about it.
        body: the raw response body (truncated), for debugging.
        method, url: the request that failed, when one was sent.
    """

    category: ClassVar[str] = "error"
    is_retryable: ClassVar[bool] = False
    """Whether sending the same request again may succeed (langchain-core's convention)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        base_url: str | None = None,
        status_code: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
        body: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.message = message
        self.provider = provider
        self.base_url = base_url
        self.status_code = status_code
        self.server_message = server_message
        self.hint = hint
        self.body = body
        super().__init__(self._render())

    def __setattr__(self, name: str, value: Any) -> None:
        # Every store goes through here (the constructor, ``annotate`` filling ``url`` later,
        # a caller's own assignment): no path can keep a credential.
        if name in _TEXT_FIELDS and isinstance(value, str):
            value = redact(value)
        super().__setattr__(name, value)

    def _render(self) -> str:
        where = ""
        if self.provider and self.base_url:
            where = f"{self.provider} at {self.base_url}: "
        elif self.provider:
            where = f"{self.provider}: "
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        text = f"{where}{self.message}{status}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def add_hint(self, extra: str) -> None:
        """Append advice found after the error was raised (e.g. a better-fitting profile)."""
        self.hint = f"{self.hint}; {extra}" if self.hint else extra
        self.args = (self._render(),)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (multiprocessing, pytest-xdist) despite keyword-only fields:
        # every attribute travels, so a subclass's own (``partial_text``, ``retry_after``) can
        # not be forgotten, and the class is rebuilt without calling its ``__init__``.
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(cls: type[OrbitLocalError], args: tuple[Any, ...], state: dict[str, Any]) -> OrbitLocalError:
    error = cls.__new__(cls, *args)
    error.args = args
    for name, value in state.items():
        setattr(error, name, value)
    return error


class ServerNotRunningError(OrbitLocalError):
    """Nothing answered at the base URL (connection refused, DNS failure, wrong port)."""

    category = "server_not_running"
    is_retryable = True


class RequestTimeoutError(OrbitLocalError):
    """The server took longer than the configured timeout."""

    category = "timeout"
    is_retryable = True


class AuthenticationError(OrbitLocalError):
    """The server requires an API key, or rejected the one we sent."""

    category = "authentication"


class ModelNotFoundError(OrbitLocalError):
    """The requested model is unknown to the server, or no model is loaded."""

    category = "model_not_found"


class ModelNotLoadedError(ModelNotFoundError):
    """The server knows the model but has not loaded it ("model is not loaded", LM Studio's
    "No models loaded"): load it (``orbit-local models load``), or set ``auto_load=True``
    where the server can load over its API. A ``ModelNotFoundError``, as it was before."""

    category = "model_not_loaded"


class ModelLoadError(OrbitLocalError):
    """The model file exists but could not be loaded (unsupported architecture, bad file)."""

    category = "model_load"


class ModelDownloadError(OrbitLocalError):
    """The server reported that downloading a model failed (a failed job, an error line)."""

    category = "model_download"


class ServerBusyError(OrbitLocalError):
    """The server is busy or still loading a model, and stayed so through the warm-up window.

    ``retry_after`` is the wait in seconds the server asked for (``Retry-After``), if it did.
    """

    category = "server_busy"
    is_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimitError(ServerBusyError):
    """HTTP 429: the server (or a proxy in front of it) refuses more requests for now.

    Retried only within a few seconds; a ``Retry-After`` longer than that is not slept through
    but raised at once, its wait in ``retry_after`` and in the message. A ``ServerBusyError``
    too, as 429s were before this class existed.
    """

    category = "rate_limited"


class BadRequestError(OrbitLocalError):
    """The server rejected the request; ``server_message`` says why."""

    category = "bad_request"


class ContextOverflowError(BadRequestError):
    """The prompt (plus the tokens to generate) does not fit the model's context window."""

    category = "context_overflow"


class ServerError(OrbitLocalError):
    """The server failed internally (5xx) for a reason none of the other classes describe.

    Not retryable: every such 500 recorded from a local server (llama-cpp-python's
    ``embedding=True`` and ``tool_choice`` failures, FastChat's unknown role) fails the same
    way each time it is sent. Busy (503) and rate-limited (429) answers have their own classes.
    """

    category = "server_error"


class ProtocolError(OrbitLocalError):
    """The server answered with something that does not follow its own wire format."""

    category = "protocol_error"


class ConnectionDroppedError(ProtocolError):
    """The server closed the connection before its (non-streamed) answer was complete: it
    crashed or restarted, or a proxy cut it. Retryable, as the same drop in a stream is
    (:class:`StreamInterruptedError`); a ``ProtocolError``, as drops were before."""

    category = "connection_dropped"
    is_retryable = True


class StreamInterruptedError(ProtocolError):
    """A stream ended (or broke) before the server said it was complete.

    Text received so far is kept in ``partial_text`` so callers can show it, but it is never
    returned as if it were the full answer.
    """

    category = "stream_interrupted"
    is_retryable = True

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        self.partial_text = partial_text
        super().__init__(message, **kwargs)


class StreamTimeoutError(StreamInterruptedError, RequestTimeoutError):
    """A stream stalled mid-answer: the server stayed connected but sent nothing (or only
    keep-alives) for ``timeout`` seconds. Both a cut stream and a timeout, so ``except
    RequestTimeoutError`` and ``except StreamInterruptedError`` each catch it."""

    category = "stream_timeout"


class UnsupportedFeatureError(OrbitLocalError):
    """The caller asked for a feature this server does not offer (e.g. embeddings on GPT4All)."""

    category = "unsupported"


class EndpointNotFoundError(UnsupportedFeatureError, BadRequestError):
    """404/405 for a route the server does not have: the base URL lacks (or doubles) the API
    prefix, or this server (or the way it was started) lacks the feature.

    An ``UnsupportedFeatureError`` by meaning, and a ``BadRequestError`` because that is what
    404/405 raised before, so existing ``except`` clauses (and probes that treat a failed route
    as "not supported") keep working. The message names the method and path asked for.
    """

    category = "endpoint_not_found"
