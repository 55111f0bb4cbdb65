"""The interface every sans-IO wire protocol implements.

A protocol object is built once per client from a :class:`ProviderProfile`. It turns
neutral requests into :class:`HttpRequest` objects and decoded bodies or stream events back
into neutral results. It never performs I/O, so the sync and async clients share it whole.
"""

from __future__ import annotations

from typing import Any, Protocol

from orbit_local.facts.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    HttpRequest,
    ModelInfo,
    Usage,
)
from orbit_local.wire.streams import SSEEvent


class StreamParser(Protocol):
    """Per-stream state: turns events into deltas and knows when the stream is complete."""

    done: bool

    def feed(self, event: SSEEvent) -> ChatDelta | None:
        """Parse one event; ``None`` for events that carry nothing (keep-alives, [DONE])."""
        ...

    def finish(self) -> None:
        """Called when the body ended: raise if the stream is incomplete."""
        ...


class ChatProtocol(Protocol):
    """Request building and response parsing for one wire format."""


    def probe_request(self) -> HttpRequest | None:
        """A request to send once before the first chat (capability detection), or None."""
        ...

    def apply_probe(self, payload: Any) -> None:
        """Take the probe's answer (``None`` when the probed route does not exist)."""
        ...

    def streams_natively(self, request: ChatRequest) -> bool: ...

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest: ...

    def abort_request(self, sent: HttpRequest) -> HttpRequest | None:
        """The request that stops a generation a consumer abandoned, where the server has one."""
        ...

    @property
    def counts_usage(self) -> bool:
        """True where answers carry no usage and :meth:`usage_requests` counts the tokens."""
        ...

    def usage_requests(self, request: ChatRequest, sent: HttpRequest, text: str) -> list[HttpRequest]:
        """Requests that count tokens where answers carry no usage (empty: nothing to do)."""
        ...

    def parse_usage(self, payloads: list[Any]) -> Usage | None: ...

    def context_requests(self, model: str | None = None) -> list[HttpRequest]:
        """Where the server tells its context window, tried in order (empty: it does not)."""
        ...

    def parse_context(self, payload: Any, model: str | None) -> int | None: ...

    sends_context_window: bool
    """True where the generation request itself takes the context size (KoboldAI)."""

    def parse_chat(self, payload: Any, request: ChatRequest) -> ChatResult: ...

    def stream_parser(self, request: ChatRequest) -> StreamParser: ...

    def models_request(self) -> HttpRequest: ...

    def parse_models(self, payload: Any) -> list[ModelInfo]: ...

    def embeddings_request(self, texts: list[str], model: str) -> HttpRequest: ...

    def parse_embeddings(self, payload: Any) -> EmbeddingResult: ...
