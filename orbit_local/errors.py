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
    ├── ModelLoadError             the model exists but cannot be loaded (unsupported architecture)
    ├── ServerBusyError            503 / queue full / still loading, after the warm-up window
    ├── BadRequestError            the server rejected the request (its message is kept)
    │   └── ContextOverflowError   prompt + max_tokens exceed the model's context window
    ├── ServerError                5xx that is none of the above
    ├── ProtocolError              the server answered something we cannot parse
    │   └── StreamInterruptedError a stream stopped before its end marker
    │       └── StreamTimeoutError a stream stalled (also a RequestTimeoutError)
    └── UnsupportedFeatureError    asked for something this server cannot do
"""

from __future__ import annotations

from typing import Any, ClassVar


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
        # Keep errors picklable (multiprocessing, pytest-xdist) despite keyword-only fields.
        return (
            _rebuild_error,
            (
                type(self),
                self.message,
                {
                    "provider": self.provider,
                    "base_url": self.base_url,
                    "status_code": self.status_code,
                    "server_message": self.server_message,
                    "hint": self.hint,
                    "body": self.body,
                    "method": self.method,
                    "url": self.url,
                },
            ),
        )


def _rebuild_error(cls: type[OrbitLocalError], message: str, fields: dict[str, Any]) -> OrbitLocalError:
    return cls(message, **fields)


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


class ModelLoadError(OrbitLocalError):
    """The model file exists but could not be loaded (unsupported architecture, bad file)."""

    category = "model_load"


class ServerBusyError(OrbitLocalError):
    """The server is busy or still loading a model, and stayed so through the warm-up window."""

    category = "server_busy"
    is_retryable = True


class BadRequestError(OrbitLocalError):
    """The server rejected the request; ``server_message`` says why."""

    category = "bad_request"


class ContextOverflowError(BadRequestError):
    """The prompt (plus the tokens to generate) does not fit the model's context window."""

    category = "context_overflow"


class ServerError(OrbitLocalError):
    """The server failed internally (5xx) for a reason none of the other classes describe."""

    category = "server_error"
    is_retryable = True


class ProtocolError(OrbitLocalError):
    """The server answered with something that does not follow its own wire format."""

    category = "protocol_error"


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
