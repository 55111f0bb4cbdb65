"""High-level clients: one profile + one protocol + one transport.

:class:`ChatClient` and :class:`AsyncChatClient` are what the LangChain and LlamaIndex
adapters wrap (as ``langchain-ollama`` wraps the ``ollama`` client). Everything that is not
I/O — picking the protocol, choosing a default model, emulating a stream — lives in
:class:`_ClientBase` and is shared.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Generator
from contextlib import aclosing, closing, suppress
from typing import TYPE_CHECKING, Any, Protocol

from orbit_local.backends.chat_stream import AsyncChatStream, ChatStream
from orbit_local.backends.tokens import parse_tokens, tokenize_request
from orbit_local.facts.environment import pick
from orbit_local.facts.errors import (
    BadRequestError,
    ContextOverflowError,
    ModelNotFoundError,
    OrbitLocalError,
    ProtocolError,
    ServerError,
    ServerNotRunningError,
)
from orbit_local.facts.log import logger, warn
from orbit_local.facts.providers import GENERIC, ProviderProfile, get_provider, is_auto
from orbit_local.facts.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    HttpRequest,
    ModelInfo,
    RerankResult,
    Usage,
)
from orbit_local.facts.urls import normalise_base_url
from orbit_local.net.discovery import (
    DETECT_BUDGET,
    DETECT_TIMEOUT,
    HINT_BUDGET,
    FoundServer,
    Miss,
    aprobe_server,
    candidate_urls,
    first_server,
    probe_server,
)
from orbit_local.net.loops import PerLoop
from orbit_local.net.transport import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_WARMUP_TIMEOUT,
    AsyncTransport,
    Transport,
    _TransportBase,
)
from orbit_local.protocols.accumulate import StreamAccumulator, deltas_from_result
from orbit_local.protocols.base import ChatProtocol
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.recovery import recover_tool_calls
from orbit_local.protocols.rerank import RerankWire, empty_result

if TYPE_CHECKING:
    import httpx


class ChatBackend(Protocol):
    """What the adapters need from a synchronous client (HTTP or in-process)."""

    base_url: str

    def resolve_model(self, model: str | None = None) -> str: ...

    def list_models(self) -> list[ModelInfo]: ...

    def chat(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> ChatStream: ...

    def embed(self, texts: list[str], model: str) -> EmbeddingResult: ...

    def rerank(
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult: ...

    @property
    def model(self) -> str | None: ...

    @property
    def known_context_window(self) -> int | None: ...

    profile: ProviderProfile
    """The server's profile: the generic one while an auto-detecting client has not detected."""
    auto: bool
    """True while an auto-detecting client has not fingerprinted its server yet."""

    def detect(self) -> None:
        """Fingerprint the server now where the client auto-detects (else nothing to do)."""
        ...

    def context_window(self) -> int | None:
        """The context size the server (or engine) reports, asked once; ``None`` where untold."""
        ...

    def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]:
        """The server's token ids (``None`` where it only counts) and count for ``text``; an
        ``UnsupportedFeatureError`` where it has no tokenizer."""
        ...

    def close(self) -> None: ...


class AsyncChatBackend(Protocol):
    """What the adapters need from an asynchronous client (HTTP or in-process)."""

    base_url: str

    async def resolve_model(self, model: str | None = None) -> str: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def chat(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncChatStream: ...

    async def embed(self, texts: list[str], model: str) -> EmbeddingResult: ...

    async def rerank(
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult: ...

    @property
    def model(self) -> str | None: ...

    @property
    def known_context_window(self) -> int | None: ...

    profile: ProviderProfile
    auto: bool

    async def detect(self) -> None: ...

    async def context_window(self) -> int | None: ...

    async def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]: ...

    async def aclose(self) -> None: ...


def make_protocol(profile: ProviderProfile, base_url: str) -> ChatProtocol:
    """The protocol object a profile names."""
    if profile.protocol == "openai":
        return OpenAIProtocol(profile, base_url)
    if profile.protocol == "kobold":
        return KoboldProtocol(profile, base_url)
    raise ValueError(f"{profile.display_name}: unknown protocol {profile.protocol!r}")


def pick_default_model(models: list[ModelInfo]) -> str | None:
    """The loaded chat model, else the first chat model, else the first model."""
    chat = [m for m in models if (m.kind or "llm") not in ("embeddings", "embedding")]
    for pool in (chat, models):
        loaded = [m for m in pool if m.loaded]
        if loaded:
            return loaded[0].id
        if pool:
            return pool[0].id
    return None


_TOKEN_CACHE_SIZE = 4096  # token counts kept per client (trim_messages asks again and again)

# No tokenizer spends fewer than one token per this many UTF-8 bytes on ordinary text, so
# bytes / 6 is a lower bound on the prompt's tokens: above the window, overflow is certain.
_MAX_BYTES_PER_TOKEN = 6


class ContextOverflowWarning(UserWarning):
    """A prompt that cannot fit the server's context window, seen before it is sent."""


def warn_if_overflowing(request: ChatRequest, window: int, server: str) -> None:
    """Warn when even a lower bound of the prompt's tokens plus ``max_tokens`` exceeds ``window``."""
    text_bytes = sum(len(m.content.encode()) for m in request.messages)
    if request.raw_prompt is not None:
        text_bytes = max(text_bytes, len(request.raw_prompt.encode()))
    lower_bound = text_bytes // _MAX_BYTES_PER_TOKEN + (request.params.max_tokens or 0)
    if lower_bound > window:
        warn(
            f"{server}: this prompt needs at least ~{lower_bound} tokens (with max_tokens) but the loaded "
            f"context window is {window}; the server will truncate it or fail. Shorten it or load a larger context.",
            ContextOverflowWarning,
        )


class _ClientBase:
    transport: _TransportBase
    """Configuration and the non-I/O half of both clients.

    With ``provider="auto"`` the profile is not known yet: the first call fingerprints the
    server at ``base_url`` (or, without one, the first server on a default port) and adopts
    the profile found. Until then the generic OpenAI-compatible profile stands in.
    """

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        auto_load: bool = False,
    ) -> None:
        self.auto = is_auto(provider)
        self.auto_load = auto_load
        self.profile = get_provider(GENERIC if self.auto else provider)
        if self.auto:  # no default: "" means look on the default ports
            given = pick(self.profile.env_prefix, "base_url", base_url)
            self.base_url = normalise_base_url(given, self.profile.api_prefix) or ""
        else:
            self.base_url = self.profile.resolve_base_url(base_url)
        self.api_key = self.profile.resolve_api_key(api_key)
        self.protocol = make_protocol(self.profile, self.base_url)
        self._model = self.profile.resolve_model(model)
        self._context_window: int | None = None
        self._context_probed = False
        self._setup_lock = threading.Lock()
        self._model_lock = threading.Lock()
        # One asyncio.Lock per event loop: a lock binds to the first loop that waits on it,
        # and one held when its loop died would stay locked for every later loop.
        self._async_setup_locks: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)
        self._async_model_locks: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)
        self.detected: FoundServer | None = None
        self._token_cache: dict[tuple[str | None, str], tuple[list[int] | None, int]] = {}

    @property
    def _async_setup_lock(self) -> asyncio.Lock:
        """The running loop's lock for one-time setup (detection, probes)."""
        return self._async_setup_locks.get()

    @property
    def _async_model_lock(self) -> asyncio.Lock:
        """The running loop's lock for resolving the default model once."""
        return self._async_model_locks.get()

    @property
    def model(self) -> str | None:
        """The model in use: the one given, ``<PREFIX>MODEL``, or the one resolved from the
        server; ``None`` until one of those is known. The client is its only owner."""
        return self._model

    @property
    def known_context_window(self) -> int | None:
        """The context size the server reported, if it was asked already (never sends)."""
        return self._context_window

    def _transport_kwargs(
        self,
        timeout: float | None,
        max_retries: int,
        warmup_timeout: float,
        headers: dict[str, str] | None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "timeout": timeout,
            "max_retries": max_retries,
            "warmup_timeout": warmup_timeout,
            "startup_timeout": startup_timeout,
            "headers": headers,
        }

    def _chosen_model(self, models: list[ModelInfo]) -> str:
        chosen = pick_default_model(models)
        if chosen is None:
            raise ModelNotFoundError(
                "the server lists no models, and none was given",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint=f"{self.profile.model_hint}; or pass model=... / set {self.profile.env_model}",
            )
        self._model = chosen
        return chosen

    def _detect_options(self) -> dict[str, Any]:
        """How auto-detection probes: with the client's key; one round of probes no longer than
        the client's ``timeout`` (nor :data:`~orbit_local.net.discovery.DETECT_BUDGET`), which caps
        every probe in it too, and no probe longer than ``DETECT_TIMEOUT``; a server that is
        starting is waited for by the client's own retry policy, as a request would be."""
        asked = self.transport.timeout.read
        return {
            "api_key": self.api_key,
            "timeout": DETECT_TIMEOUT,
            "budget": DETECT_BUDGET if asked is None else min(asked, DETECT_BUDGET),
            "retry": self.transport.retry,
        }

    def _hint_options(self) -> dict[str, Any]:
        """How the probes behind a hint run: once, and all of them within ``HINT_BUDGET``
        (or the client's ``timeout``, if shorter), so a hint never noticeably delays an error."""
        asked = self.transport.timeout.read
        budget = HINT_BUDGET if asked is None else min(asked, HINT_BUDGET)
        return {"api_key": self.api_key, "timeout": budget, "budget": budget}

    def _adopt(self, found: FoundServer | Miss | None) -> None:
        """Take the profile detection found (or say why none was)."""
        if isinstance(found, Miss):
            raise found.error()
        if found is None:
            where = self.base_url or "any default port (" + ", ".join(candidate_urls()) + ")"
            raise ServerNotRunningError(
                f"no local server answered at {where}",
                provider="auto-detection",
                base_url=self.base_url or None,
                hint="start a server, or pass base_url=... (or set ORBIT_LOCAL_BASE_URL); `orbit-local discover` "
                "lists what runs",
            )
        self.profile = found.profile
        self.base_url = found.base_url
        if self.api_key is None:
            self.api_key = found.profile.resolve_api_key()
        self.protocol = make_protocol(self.profile, self.base_url)
        self.auto = False
        self.detected = found
        self.transport.retarget(self.profile, self.base_url, self.api_key)

    def _explain(self, error: OrbitLocalError, found: FoundServer | Miss) -> None:
        """Name the profile that fits the server, when it is not the one in use: a server
        error is then most likely one of that server's known quirks."""
        if isinstance(found, FoundServer) and found.profile.name != self.profile.name:
            error.add_hint(
                f"the server at {found.base_url} looks like {found.profile.display_name} ({found.evidence}); "
                f"provider={found.profile.name!r} (or provider='auto') handles its quirks"
            )

    @staticmethod
    def _explainable(error: OrbitLocalError) -> bool:
        return isinstance(error, (BadRequestError, ServerError)) and not isinstance(error, ContextOverflowError)

    def _tokenize_setup(self, text: str, model: str | None) -> tuple[HttpRequest | None, tuple[list[int] | None, int]]:
        """The tokenize request to send, or the cached answer (the request is then ``None``)."""
        hit = self._token_cache.get((model or self._model, text))
        if hit is not None:
            return None, hit
        return tokenize_request(self.profile, text, model or self._model), (None, 0)

    def _tokenized(self, text: str, model: str | None, payload: Any) -> tuple[list[int] | None, int]:
        result = parse_tokens(self.profile, payload)
        if len(self._token_cache) >= _TOKEN_CACHE_SIZE:
            self._token_cache.pop(next(iter(self._token_cache)))  # the oldest entry
        self._token_cache[(model or self._model, text)] = result
        return result

    def _rerank_setup(
        self, query: str, documents: list[str], model: str | None, top_n: int | None
    ) -> tuple[RerankWire, HttpRequest | None]:
        """The wire and the request to send (``None``: no documents, so nothing is sent). A
        server without reranking is refused here, before anything is sent."""
        wire = RerankWire(self.profile, self.base_url)
        request = wire.request(query, documents, model or self._model, top_n)
        return wire, (request if documents else None)

    def _needs_setup(self) -> bool:
        return self.protocol.probe_request() is not None or (
            self.protocol.sends_context_window and not self._context_probed
        )

    @staticmethod
    def _probe_failed(error: OrbitLocalError) -> bool:
        """A probed route that does not exist or fails (404, 500, odd body) means "not
        supported": it is not asked again. Other failures (server down, auth) are the
        caller's to see."""
        return isinstance(error, (BadRequestError, ProtocolError, ModelNotFoundError, ServerError))

    def _with_context(self, request: ChatRequest) -> ChatRequest:
        if self._context_window is not None:
            if request.context_window is None:
                request.context_window = self._context_window
            warn_if_overflowing(request, self._context_window, self.profile.display_name)
        return request

    @staticmethod
    def _finished(request: ChatRequest, result: ChatResult) -> ChatResult:
        """The answer as returned to callers: the model named (the request's, where the server
        names none) and tool calls recovered from text where that was asked for."""
        for answer in (result, *result.alternatives):
            if answer.model is None:
                answer.model = request.model
        if request.recover_tool_calls and request.tools:
            return recover_tool_calls(result, [tool.name for tool in request.tools])
        return result

    def _log_emulated(self, request: ChatRequest) -> None:
        why = "cannot stream" if not self.profile.streaming else "cannot stream this tool choice"
        logger.info("%s at %s %s: one answer is emulated as a stream", self.profile.display_name, self.base_url, why)

    def _log_abort(self, sent: HttpRequest) -> None:
        name, url = self.profile.display_name, self.base_url
        logger.info("%s at %s: the stream was abandoned; aborting the generation", name, url)

    def _usage_from(self, payloads: list[Any]) -> Usage | None:
        return self.protocol.parse_usage(payloads) if payloads else None

    def _to_auto_load(self, error: OrbitLocalError, model: str | None) -> str | None:
        """The model to load before the one retry ``auto_load`` allows, or ``None`` when the
        error is not "model not loaded", auto-loading is off, or the server cannot load."""
        from orbit_local.protocols.admin import refusal

        if not (self.auto_load and isinstance(error, ModelNotFoundError)):
            return None
        target = model or self._model
        if not target or refusal(self.profile, self.base_url, "load") is not None:
            return None
        logger.info("%s at %s: %r is not loaded; loading it (auto_load) and retrying once",
                    self.profile.display_name, self.base_url, target)  # fmt: skip
        return target

    @staticmethod
    def _load_failed(original: OrbitLocalError, load_error: OrbitLocalError) -> OrbitLocalError:
        """The original "not loaded" error, saying that auto_load's load failed and why."""
        original.add_hint(f"auto_load tried to load the model and failed: {load_error}")
        return original


class ChatClient(_ClientBase):
    """Synchronous client for one local server."""

    transport: Transport

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        headers: dict[str, str] | None = None,
        http_client: httpx.Client | None = None,
        auto_load: bool = False,
    ) -> None:
        super().__init__(provider, base_url=base_url, api_key=api_key, model=model, auto_load=auto_load)
        self.transport = Transport(
            self.profile,
            self.base_url,
            client=http_client,
            **self._transport_kwargs(timeout, max_retries, warmup_timeout, headers, startup_timeout),
        )

    def close(self) -> None:
        """Close the connections this client opened (an injected httpx client stays open)."""
        self.transport.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def detect(self) -> None:
        """With ``provider="auto"``: fingerprint the server once and adopt its profile."""
        if self.auto:
            with self._setup_lock:
                if self.auto:
                    if self.base_url:
                        self._adopt(probe_server(self.base_url, client=self.transport.client, **self._detect_options()))
                    else:
                        self._adopt(first_server())

    def _hint(self, error: OrbitLocalError) -> None:
        """Add the better-fitting profile to a server error (best effort: a cached detection,
        else probes bounded by ``HINT_BUDGET`` in all, so the error is not held up)."""
        if self.detected is None and self.base_url and self._explainable(error):
            try:
                found = probe_server(self.base_url, client=self.transport.client, **self._hint_options())
            except Exception:  # a hint must never replace the server's own error
                return
            self._explain(error, found)

    def list_models(self) -> list[ModelInfo]:
        self.detect()
        return self.protocol.parse_models(self.transport.request_json(self.protocol.models_request()))

    def resolve_model(self, model: str | None = None) -> str:
        """The given model, else ``<PREFIX>MODEL``, else the server's loaded (or first) model."""
        if model:
            return model
        if self._model:
            return self._model
        with self._model_lock:  # single flight: concurrent first calls ask the server once
            if self._model:
                return self._model
            return self._chosen_model(self.list_models())

    def context_window(self) -> int | None:
        """The context size the server reports (cached), or ``None`` where it does not tell."""
        self.detect()
        if not self._context_probed:
            for request in self.protocol.context_requests(self._model):
                try:
                    value = self.protocol.parse_context(self.transport.request_json(request), self._model)
                except OrbitLocalError as error:
                    if self._probe_failed(error):
                        continue
                    raise
                if value:
                    self._context_window = value
                    break
            self._context_probed = True
        return self._context_window

    def _prepare(self, request: ChatRequest) -> ChatRequest:
        """Run the protocol's one-time probe and fill what the API needs from the server.

        Under a lock: ``batch`` runs requests on threads, and every one of them must see the
        probe's result, not race past it.
        """
        if self.auto:
            self.detect()
        if self._needs_setup():
            with self._setup_lock:
                if self._needs_setup():
                    probe = self.protocol.probe_request()
                    if probe is not None:
                        try:
                            payload = self.transport.request_json(probe)
                        except OrbitLocalError as error:
                            if not self._probe_failed(error):
                                raise
                            payload = None
                        self.protocol.apply_probe(payload)
                    if self.protocol.sends_context_window:
                        self.context_window()
        return self._with_context(request)

    def _count_usage(self, request: ChatRequest, sent: HttpRequest, text: str) -> Usage | None:
        requests = self.protocol.usage_requests(request, sent, text)
        return self._usage_from([self.transport.request_json(r) for r in requests])

    def _auto_load(self, error: OrbitLocalError, model: str | None) -> None:
        """Load the model ``error`` says is not loaded (``auto_load``), or re-raise ``error``."""
        from orbit_local.features.model_admin import ModelManager

        target = self._to_auto_load(error, model)
        if target is None:
            raise error
        try:
            ModelManager(client=self).load(target)
        except OrbitLocalError as load_error:
            raise self._load_failed(error, load_error) from load_error

    def chat(self, request: ChatRequest) -> ChatResult:
        """One answer; with ``auto_load``, a "model not loaded" answer loads it and retries once."""
        try:
            return self._answer(self._prepare(request))
        except ModelNotFoundError as error:
            self._auto_load(error, request.model)
        return self._answer(self._prepare(request))

    def _answer(self, request: ChatRequest) -> ChatResult:
        """One non-streamed answer to a prepared request: what ``chat`` and the emulated stream
        share, so setup (and its warnings) runs once per call."""
        sent = self.protocol.chat_request(request, stream=False)
        try:
            result = self.protocol.parse_chat(self.transport.request_json(sent), request)
        except OrbitLocalError as error:
            self.transport.annotate(error, sent)
            self._hint(error)
            raise
        if result.usage is None:
            result.usage = self._count_usage(request, sent, result.text)
        return self._finished(request, result)

    def stream(self, request: ChatRequest) -> ChatStream:
        """The answer as a :class:`ChatStream`: deltas as they arrive (one emulated delta where
        the server cannot stream), then the whole result.

        Closing the stream early closes the HTTP stream; where the server has an abort call
        (KoboldCpp) the generation is aborted too, so the server stops generating.
        """
        accumulated = StreamAccumulator()
        deltas = self._auto_loaded(request, accumulated) if self.auto_load else self._deltas(request, accumulated)
        return ChatStream(deltas, request.model, accumulated)

    def _auto_loaded(self, request: ChatRequest, accumulated: StreamAccumulator) -> Generator[ChatDelta, None, None]:
        """The deltas, loading the model and starting again once where the stream failed with
        "model not loaded" before its first delta."""
        deltas = self._deltas(request, accumulated)
        try:
            try:
                first = next(deltas)
            except ModelNotFoundError as error:
                self._auto_load(error, request.model)
                deltas = self._deltas(request, accumulated)
                first = next(deltas)
            yield first
            yield from deltas
        except StopIteration:
            return
        finally:
            deltas.close()

    def _deltas(self, request: ChatRequest, accumulated: StreamAccumulator) -> Generator[ChatDelta, None, None]:
        """The raw deltas. ``accumulated`` is the stream's own accumulator (it has folded in every
        delta by the time this generator resumes), read for token counting after the stream."""
        request = self._prepare(request)
        if not self.protocol.streams_natively(request):
            self._log_emulated(request)
            yield from deltas_from_result(self._answer(request))
            return
        parser = self.protocol.stream_parser(request)
        sent = self.protocol.chat_request(request, stream=True)
        batches = self.transport.stream_batches(sent)
        try:
            with closing(batches):
                for batch in batches:
                    for event in batch:
                        delta = parser.feed(event)
                        if delta is not None:
                            yield delta
                        if parser.done:
                            break
                    if parser.done:
                        break
            parser.finish()
        except OrbitLocalError as error:
            self.transport.annotate(error, sent)
            self._hint(error)
            raise
        finally:
            if not parser.done:
                self._abort(sent)
        if self.protocol.counts_usage:
            usage = self._count_usage(request, sent, accumulated.text)
            if usage is not None:
                yield ChatDelta(usage=usage)

    def _abort(self, sent: HttpRequest) -> None:
        abort = self.protocol.abort_request(sent)
        if abort is None:
            return
        self._log_abort(sent)
        with suppress(OrbitLocalError):  # best effort: the stream is already closed on our side
            self.transport.request_json(abort)

    def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]:
        """``(token ids or None, count)`` from the server's tokenizer; cached per model and text."""
        self.detect()
        request, cached = self._tokenize_setup(text, model)
        if request is None:
            return cached
        return self._tokenized(text, model, self.transport.request_json(request))

    def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        """Vectors for ``texts``; with ``auto_load``, loads a model that is not loaded and retries once."""
        try:
            return self._embed_once(texts, model)
        except ModelNotFoundError as error:
            self._auto_load(error, model)
        return self._embed_once(texts, model)

    def _embed_once(self, texts: list[str], model: str) -> EmbeddingResult:
        self.detect()
        return self.protocol.parse_embeddings(
            self.transport.request_json(self.protocol.embeddings_request(texts, model))
        )

    def rerank(
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult:
        """``documents`` ranked against ``query`` by the server's reranker, best first, at most
        ``top_n``; no request for no documents."""
        if documents:
            self.detect()
        wire, request = self._rerank_setup(query, documents, model, top_n)
        if request is None:
            return empty_result()
        return wire.parse(self.transport.request_json(request), len(documents), top_n)


class AsyncChatClient(_ClientBase):
    """Asynchronous twin of :class:`ChatClient`; never blocks the event loop."""

    transport: AsyncTransport

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        auto_load: bool = False,
    ) -> None:
        super().__init__(provider, base_url=base_url, api_key=api_key, model=model, auto_load=auto_load)
        self.transport = AsyncTransport(
            self.profile,
            self.base_url,
            client=http_client,
            **self._transport_kwargs(timeout, max_retries, warmup_timeout, headers, startup_timeout),
        )

    async def aclose(self) -> None:
        """Close the connections this client opened (an injected httpx client stays open)."""
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def detect(self) -> None:
        """As the sync twin; the probes run concurrently and never block the loop."""
        if self.auto:
            async with self._async_setup_lock:
                if self.auto:
                    if self.base_url:
                        client = self.transport.client
                        self._adopt(await aprobe_server(self.base_url, client=client, **self._detect_options()))
                    else:
                        self._adopt(await asyncio.to_thread(first_server))

    async def _hint(self, error: OrbitLocalError) -> None:
        if self.detected is None and self.base_url and self._explainable(error):
            try:
                found = await aprobe_server(self.base_url, client=self.transport.client, **self._hint_options())
            except Exception:  # a hint must never replace the server's own error
                return
            self._explain(error, found)

    async def list_models(self) -> list[ModelInfo]:
        await self.detect()
        return self.protocol.parse_models(await self.transport.request_json(self.protocol.models_request()))

    async def resolve_model(self, model: str | None = None) -> str:
        if model:
            return model
        if self._model:
            return self._model
        async with self._async_model_lock:  # single flight: 100 first calls, one GET /models
            if self._model:
                return self._model
            return self._chosen_model(await self.list_models())

    async def context_window(self) -> int | None:
        await self.detect()
        if not self._context_probed:
            for request in self.protocol.context_requests(self._model):
                try:
                    value = self.protocol.parse_context(await self.transport.request_json(request), self._model)
                except OrbitLocalError as error:
                    if self._probe_failed(error):
                        continue
                    raise
                if value:
                    self._context_window = value
                    break
            self._context_probed = True
        return self._context_window

    async def _prepare(self, request: ChatRequest) -> ChatRequest:
        """As the sync twin; the lock serialises concurrent first requests (``abatch``)."""
        if self.auto:
            await self.detect()
        if self._needs_setup():
            async with self._async_setup_lock:
                if self._needs_setup():
                    probe = self.protocol.probe_request()
                    if probe is not None:
                        try:
                            payload = await self.transport.request_json(probe)
                        except OrbitLocalError as error:
                            if not self._probe_failed(error):
                                raise
                            payload = None
                        self.protocol.apply_probe(payload)
                    if self.protocol.sends_context_window:
                        await self.context_window()
        return self._with_context(request)

    async def _count_usage(self, request: ChatRequest, sent: HttpRequest, text: str) -> Usage | None:
        requests = self.protocol.usage_requests(request, sent, text)
        return self._usage_from([await self.transport.request_json(r) for r in requests])

    async def _auto_load(self, error: OrbitLocalError, model: str | None) -> None:
        from orbit_local.features.model_admin import AsyncModelManager

        target = self._to_auto_load(error, model)
        if target is None:
            raise error
        try:
            await AsyncModelManager(client=self).load(target)
        except OrbitLocalError as load_error:
            raise self._load_failed(error, load_error) from load_error

    async def chat(self, request: ChatRequest) -> ChatResult:
        try:
            return await self._answer(await self._prepare(request))
        except ModelNotFoundError as error:
            await self._auto_load(error, request.model)
        return await self._answer(await self._prepare(request))

    async def _answer(self, request: ChatRequest) -> ChatResult:
        """As the sync twin: one answer to a prepared request, shared with the emulated stream."""
        sent = self.protocol.chat_request(request, stream=False)
        try:
            result = self.protocol.parse_chat(await self.transport.request_json(sent), request)
        except OrbitLocalError as error:
            self.transport.annotate(error, sent)
            await self._hint(error)
            raise
        if result.usage is None:
            result.usage = await self._count_usage(request, sent, result.text)
        return self._finished(request, result)

    def stream(self, request: ChatRequest) -> AsyncChatStream:
        """As the sync twin: an :class:`AsyncChatStream`."""
        accumulated = StreamAccumulator()
        deltas = self._auto_loaded(request, accumulated) if self.auto_load else self._deltas(request, accumulated)
        return AsyncChatStream(deltas, request.model, accumulated)

    async def _auto_loaded(
        self, request: ChatRequest, accumulated: StreamAccumulator
    ) -> AsyncGenerator[ChatDelta, None]:
        deltas = self._deltas(request, accumulated)
        try:
            try:
                first = await anext(deltas)
            except ModelNotFoundError as error:
                await self._auto_load(error, request.model)
                deltas = self._deltas(request, accumulated)
                first = await anext(deltas)
            yield first
            async for delta in deltas:
                yield delta
        except StopAsyncIteration:
            return
        finally:
            await deltas.aclose()

    async def _deltas(self, request: ChatRequest, accumulated: StreamAccumulator) -> AsyncGenerator[ChatDelta, None]:
        request = await self._prepare(request)
        if not self.protocol.streams_natively(request):
            self._log_emulated(request)
            for whole in deltas_from_result(await self._answer(request)):
                yield whole
            return
        parser = self.protocol.stream_parser(request)
        sent = self.protocol.chat_request(request, stream=True)
        batches = self.transport.stream_batches(sent)
        try:
            async with aclosing(batches):
                async for batch in batches:
                    for event in batch:
                        delta = parser.feed(event)
                        if delta is not None:
                            yield delta
                        if parser.done:
                            break
                    if parser.done:
                        break
            parser.finish()
        except OrbitLocalError as error:
            self.transport.annotate(error, sent)
            await self._hint(error)
            raise
        finally:
            if not parser.done:
                await self._abort(sent)
        if self.protocol.counts_usage:
            usage = await self._count_usage(request, sent, accumulated.text)
            if usage is not None:
                yield ChatDelta(usage=usage)

    async def _abort(self, sent: HttpRequest) -> None:
        abort = self.protocol.abort_request(sent)
        if abort is None:
            return
        self._log_abort(sent)
        with suppress(OrbitLocalError):
            await self.transport.request_json(abort)

    async def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]:
        await self.detect()
        request, cached = self._tokenize_setup(text, model)
        if request is None:
            return cached
        return self._tokenized(text, model, await self.transport.request_json(request))

    async def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        try:
            return await self._embed_once(texts, model)
        except ModelNotFoundError as error:
            await self._auto_load(error, model)
        return await self._embed_once(texts, model)

    async def _embed_once(self, texts: list[str], model: str) -> EmbeddingResult:
        await self.detect()
        payload = await self.transport.request_json(self.protocol.embeddings_request(texts, model))
        return self.protocol.parse_embeddings(payload)

    async def rerank(
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult:
        """As the sync twin; never blocks the event loop."""
        if documents:
            await self.detect()
        wire, request = self._rerank_setup(query, documents, model, top_n)
        if request is None:
            return empty_result()
        return wire.parse(await self.transport.request_json(request), len(documents), top_n)
