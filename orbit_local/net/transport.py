"""The only code that does I/O: send, stream, retry during warm-up, map failures to errors.

:class:`Transport` and :class:`AsyncTransport` are mirror twins in the style of httpx's
``Client``/``AsyncClient``: everything that does no I/O (URLs, headers, the retry policy,
error mapping, stream framing) lives in :class:`_TransportBase`, and each twin only awaits or
doesn't.

Retries follow the one policy of :mod:`orbit_local.net.retry`: an error whose ``is_retryable`` is
true, within the time window for its kind; each twin has one retry loop, which only sleeps. A
stream is never retried once it has yielded anything.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable, Mapping
from contextlib import aclosing, closing
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from orbit_local.facts.errors import (
    ConnectionDroppedError,
    OrbitLocalError,
    ProtocolError,
    RequestTimeoutError,
    ServerNotRunningError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from orbit_local.facts.log import logger
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.redact import register_secret
from orbit_local.facts.types import HttpRequest
from orbit_local.facts.urls import origin_of
from orbit_local.net._lazy import lazy_module
from orbit_local.net.loops import LoopFinalizer, PerLoop
from orbit_local.net.retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_WARMUP_TIMEOUT,
    RetryPolicy,
    RetryState,
)
from orbit_local.protocols.common import loads_frame
from orbit_local.protocols.errors import error_from_response
from orbit_local.wire.streams import MAX_EVENT_SIZE, EventTooLargeError, NDJSONDecoder, SSEDecoder, SSEEvent

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

T = TypeVar("T")
_BODY_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""What ``json.dumps(body, ensure_ascii=False)`` uses, made once rather than on every request."""

_JSON = "application/json"
_PARSED_URLS_KEPT = 64
"""How many parsed request URLs a transport keeps (a base URL has a handful of routes)."""

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_STARTUP_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WARMUP_TIMEOUT",
    "AsyncTransport",
    "Transport",
]


def _kind_headers(stream: bool, has_body: bool) -> list[tuple[str, str]]:
    """What the kind of request says of itself: a stream accepts events; a body is JSON."""
    return [*([("Accept", "text/event-stream")] if stream else []), *([("Content-Type", _JSON)] if has_body else [])]


def _case_blind_merge(
    *layers: Iterable[tuple[str, str]] | Mapping[str, str] | None,
) -> dict[str, str]:
    """Headers of several layers, a later one replacing an earlier one's header of the same
    name in any case (HTTP names are case-blind): ``accept`` from a call replaces ``Accept``
    instead of going out beside it."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        if layer:
            for name, value in layer.items() if isinstance(layer, Mapping) else layer:
                merged[name.lower()] = (name, value)
    return dict(merged.values())


class _TransportBase:
    """Configuration, request construction, retry decisions and error mapping — no I/O."""

    def __init__(
        self,
        profile: ProviderProfile,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.retry = RetryPolicy(max_retries, warmup_timeout, startup_timeout)
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0) if timeout else 10.0)
        # A stream that sends only keep-alive comments for this long is treated as stuck.
        self.stream_idle_timeout = timeout
        self.max_event_size = MAX_EVENT_SIZE
        self.headers = {"Accept": "application/json", **(headers or {})}
        for name, value in self.headers.items():
            if name.lower() in _SECRET_HEADERS:
                register_secret(value)
        if api_key:
            register_secret(api_key)
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._pool_headers: dict[tuple[bool, bool], list[tuple[str, str]]] = {}
        self._parsed_urls: dict[str, httpx.URL] = {}

    def retarget(self, profile: ProviderProfile, base_url: str, api_key: str | None) -> None:
        """Point at the profile and URL that auto-detection found (same connection pool)."""
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        if api_key:
            register_secret(api_key)
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._pool_headers = {}

    def url(self, request: HttpRequest) -> str:
        return (self.origin if request.from_root else self.base_url) + request.path

    _injected = False
    """Whether the httpx client is the caller's: then httpx merges our headers and timeout
    into every request with the client's own. A pool we build carries them itself
    (:meth:`_pool_options`), and its requests are made whole (:meth:`_own_pool_headers`)."""

    def _pool_options(self) -> dict[str, Any]:
        """What a pool this transport builds is made with: the timeout and the fixed headers.
        ``Authorization`` stays per request: detection may add it later (:meth:`retarget`)."""
        fixed = {name: value for name, value in self.headers.items() if name != "Authorization"}
        return {"timeout": self.timeout, "headers": fixed}

    def _build(
        self, client: httpx.Client | httpx.AsyncClient, request: HttpRequest, url: str, *, stream: bool
    ) -> httpx.Request:
        """The httpx request, headed as httpx's ``build_request`` heads it. Through a pool of
        ours it is made whole here, from headers made once and a URL parsed once: merging
        headers and parsing the URL on every request cost a call 17 to 30 us. (The pool's
        timeout is the transport's; ``Client.send`` gives it to a request that has none.)"""
        content = None if request.json is None else _BODY_ENCODER.encode(request.json).encode()
        if self._injected or client.cookies:
            return self._merged_by_httpx(client, request, url, content, stream=stream)
        headers = self._own_pool_headers(client, stream, content is not None)
        if request.headers:
            headers = list(_case_blind_merge(headers, request.headers).items())
        parsed = self._parsed_urls.get(url)
        if parsed is None:
            if len(self._parsed_urls) >= _PARSED_URLS_KEPT:
                self._parsed_urls.clear()
            parsed = self._parsed_urls[url] = httpx.URL(url)
        return httpx.Request(request.method, parsed, headers=headers, content=content)

    def _merged_by_httpx(
        self,
        client: httpx.Client | httpx.AsyncClient,
        request: HttpRequest,
        url: str,
        content: bytes | None,
        *,
        stream: bool,
    ) -> httpx.Request:
        """The request as httpx's ``build_request`` merges it: the caller's own client (its
        headers, cookies, parameters and timeout join ours), or a pool of ours a server has
        set cookies on."""
        options: dict[str, Any] = {}
        if self._injected:
            ours = self.headers
            options["timeout"] = self.timeout
        else:
            key = self.headers.get("Authorization")
            ours = {"Authorization": key} if key else {}
        if content is not None:
            options["content"] = content
        headers = _case_blind_merge(ours.items(), _kind_headers(stream, content is not None), request.headers)
        return client.build_request(request.method, url, headers=headers or None, **options)

    def _own_pool_headers(
        self, client: httpx.Client | httpx.AsyncClient, stream: bool, has_body: bool
    ) -> list[tuple[str, str]]:
        """The headers a request through a pool of ours carries, as httpx would merge them (the
        pool's own, which include httpx's defaults, then the key, ``Accept`` and
        ``Content-Type``), made once for each kind of request. :meth:`retarget` forgets them,
        since it may add a key."""
        known = self._pool_headers.get((stream, has_body))
        if known is None:
            key = self.headers.get("Authorization")
            own = [*client.headers.multi_items(), *([("Authorization", key)] if key else [])]
            known = list(_case_blind_merge(own, _kind_headers(stream, has_body)).items())
            self._pool_headers[(stream, has_body)] = known
        return known

    def _wait_or_give_up(self, state: RetryState, error: OrbitLocalError, request: HttpRequest) -> float:
        """Seconds to wait before trying ``request`` again; raises ``error`` (annotated) when
        the policy gives up. Every retry is logged with its wait."""
        step = state.next_delay(error)
        if step is None:
            raise self.annotate(error, request) from error.__cause__
        delay, remaining = step
        logger.info(
            "%s at %s: %s; retry %d of %d in %.1f s (%.0f s of its retry window left)",
            self.profile.display_name,
            self.base_url,
            error.message,
            state.attempt,
            self.retry.max_retries,
            delay,
            remaining,
        )
        return delay

    def _map_transport_error(self, exc: httpx.HTTPError, url: str) -> OrbitLocalError:
        common: dict[str, Any] = {"provider": self.profile.display_name, "base_url": self.base_url}
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return ServerNotRunningError(
                f"no {_server_noun(self.profile.display_name)} answered at {self.base_url}",
                hint=f"{self.profile.start_hint} (to wait for a server that is still starting, raise startup_timeout)",
                **common,
            )
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(
                f"no answer from {url} within the timeout ({type(exc).__name__})",
                hint="the model may be loading or generating slowly; raise timeout=...",
                **common,
            )
        detail = str(exc).strip()
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
            return ConnectionDroppedError(
                f"the connection to {url} closed before the answer was complete ({type(exc).__name__}"
                + (f": {detail})" if detail else ")"),
                hint="the server crashed, restarted or was cut off by a proxy; check its log, or retry",
                **common,
            )
        return ProtocolError(f"{type(exc).__name__} talking to {url}" + (f": {detail}" if detail else ""), **common)

    def _error_for_status(self, response: httpx.Response, body: str) -> OrbitLocalError:
        request = response.request
        return error_from_response(
            self.profile,
            self.base_url,
            response.status_code,
            body,
            route=f"{request.method} {request.url.path}",
            retry_after=_retry_after(response),
        )

    def _check_status(self, response: httpx.Response, body: str) -> None:
        """Raise the typed error of an HTTP error answer (the retry loop decides on retrying)."""
        if response.status_code >= 400:
            raise self._error_for_status(response, body)

    def _json_of(self, response: httpx.Response) -> Any:
        """A whole answer's JSON (both twins): the typed error of an HTTP error status, the
        body decoded once (strict UTF-8, a BOM dropped) and read by the JSON scanner."""
        body = response.content
        if response.status_code >= 400:
            self._check_status(response, body.decode(errors="replace"))
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise self._encoding_error(exc, str(response.request.url), response.status_code) from None
        try:
            return loads_frame(text)
        except ValueError:
            raise self._not_json(response, body, text) from None

    def _not_json(self, response: httpx.Response, body: bytes, text: str) -> ProtocolError:
        common: dict[str, Any] = {
            "provider": self.profile.display_name,
            "base_url": self.base_url,
            "status_code": response.status_code,
        }
        if not text.strip():
            return ProtocolError(
                f"{response.request.url} answered HTTP {response.status_code} with an empty body", **common
            )
        return ProtocolError(
            f"{response.request.url} did not answer JSON", body=body[:2000].decode(errors="replace"), **common
        )

    def annotate(self, error: OrbitLocalError, request: HttpRequest) -> OrbitLocalError:
        """Give an error the request that failed (method and URL), unless it has one."""
        if error.method is None:
            error.method = request.method
        if error.url is None:
            error.url = self.url(request)
        return error

    def _events(self, framer: _Framer, chunk: bytes, url: str, progress: _Progress) -> list[SSEEvent]:
        """Decode one chunk (both twins), bounding a stream's time between events.

        No bytes at all for ``timeout`` is httpx's read timeout. Bytes that complete no event
        are bounded too, with a typed timeout: keep-alive comments alone for longer than
        ``timeout``, or one event that keeps trickling in (a byte a second, never a blank
        line) for longer than ``timeout`` from its first byte. A whole JSON answer where a
        stream was asked for is bounded as a plain request's body is: by the read timeout.
        """
        events = framer.feed(chunk)
        now = time.monotonic()
        held = framer.holding
        if events:
            progress.last_event = now
        if not held:
            progress.event_began = None
        elif events or progress.event_began is None:
            progress.event_began = now  # what is held began in this chunk
        limit = self.stream_idle_timeout
        if limit is not None:
            if framer.is_sse and progress.event_began is not None and now - progress.event_began > limit:
                raise self._slow_event_error(url, held)
            if not events and not held and now - progress.last_event > limit:
                raise self._idle_error(url)
        return events

    def _stream_failure(self, exc: Exception, url: str) -> OrbitLocalError:
        """The typed error for what broke a stream after it started."""
        if isinstance(exc, UnicodeDecodeError):
            return self._encoding_error(exc, url)
        if isinstance(exc, httpx.TimeoutException):
            return self._stall_error(url)
        if isinstance(exc, EventTooLargeError):
            return self._oversized_error(exc, url)
        return self._stream_error(exc, url)

    def _slow_event_error(self, url: str, held: int) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"one event from {url} kept arriving for more than {self.stream_idle_timeout:g} s without ending "
            f"({held} characters so far)",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="the server sends bytes but never finishes the event; check its log (or a proxy in between), "
            "or raise timeout=...",
        )

    def _oversized_error(self, exc: EventTooLargeError, url: str) -> ProtocolError:
        return ProtocolError(
            f"{url} sent one stream event of more than {exc.limit} characters; reading stopped there",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="a chat event is a token or a few: the server (or a proxy in between) sends something that is "
            "not a chat stream; check its log",
        )

    def _idle_error(self, url: str) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"the stream from {url} sent nothing but keep-alives for {self.stream_idle_timeout:.0f} s",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="the server accepted the request but stopped producing output; check its log, or raise timeout=...",
        )

    def _stall_error(self, url: str) -> StreamTimeoutError:
        return StreamTimeoutError(
            f"the stream from {url} sent no bytes for {self.stream_idle_timeout:.0f} s; the connection stayed open",
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="the server may be overloaded or stuck; raise timeout=... or check its log",
        )

    def _stream_error(self, exc: BaseException, url: str) -> StreamInterruptedError:
        detail = str(exc).strip()
        return StreamInterruptedError(
            f"the stream from {url} broke off: {type(exc).__name__}" + (f": {detail}" if detail else ""),
            provider=self.profile.display_name,
            base_url=self.base_url,
            hint="the server closed the connection mid-answer; retry the request",
        )

    def _encoding_error(self, exc: UnicodeDecodeError, url: str, status: int | None = None) -> ProtocolError:
        return ProtocolError(
            f"{url} sent bytes that are not UTF-8 (at byte {exc.start}: {exc.object[exc.start : exc.start + 8]!r})",
            provider=self.profile.display_name,
            base_url=self.base_url,
            status_code=status,
            hint="the server's output is corrupt; nothing was substituted or dropped",
        )


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})
"""Headers whose values are credentials: registered for masking wherever orbit-local prints."""


def _server_noun(display_name: str) -> str:
    """ "LM Studio server", but "llama.cpp server" (not "llama.cpp server server")."""
    return display_name if display_name.lower().endswith("server") else f"{display_name} server"


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110); ``None`` if absent or odd."""
    value = str(response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _is_ndjson(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return "ndjson" in content_type or "jsonl" in content_type


def _is_event_stream(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return "event-stream" in content_type or not content_type


class _Progress:
    """When a stream last completed an event, and when the event it holds began."""

    __slots__ = ("event_began", "last_event")

    def __init__(self, now: float) -> None:
        self.last_event = now
        self.event_began: float | None = None


class _Framer:
    """Bytes -> events for one response: SSE, NDJSON lines (Ollama's download progress), or a
    whole JSON answer where a stream was asked for."""

    __slots__ = ("_json_body", "_json_size", "_sse")

    def __init__(self, response: httpx.Response, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self._sse: SSEDecoder | NDJSONDecoder | None = None
        self._json_body: list[bytes] | None = None
        self._json_size = 0
        if _is_ndjson(response):
            self._sse = NDJSONDecoder(max_event_size)  # incremental like SSE: bounded the same way
        elif not _is_event_stream(response):
            self._json_body = []  # a whole JSON answer where a stream was asked for
        else:
            self._sse = SSEDecoder(max_event_size)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._sse is not None:
            return self._sse.feed(chunk)
        assert self._json_body is not None
        self._json_body.append(chunk)
        self._json_size += len(chunk)
        return []

    @property
    def is_sse(self) -> bool:
        return self._sse is not None

    @property
    def holding(self) -> int:
        """How much of an unfinished event is held: growth means the server is still sending."""
        if self._sse is not None:
            return self._sse.holding
        return self._json_size

    def flush(self) -> list[SSEEvent]:
        if self._sse is not None:
            return self._sse.flush()
        assert self._json_body is not None
        body = b"".join(self._json_body).decode()  # strict, as the SSE decoder: nothing replaced
        return [SSEEvent(data=body, event="json")] if body.strip() else []


class _LoopPool(NamedTuple):
    """One event loop's connection pool and what closes it on that loop."""

    client: httpx.AsyncClient
    finalizer: LoopFinalizer

    def forget(self) -> None:
        self.finalizer.forget()


class Transport(_TransportBase):
    """Synchronous transport over one pooled :class:`httpx.Client`."""

    def __init__(
        self, profile: ProviderProfile, base_url: str, *, client: httpx.Client | None = None, **kwargs: Any
    ) -> None:
        super().__init__(profile, base_url, **kwargs)
        self._client = client
        self._owns_client = client is None
        self._injected = client is not None
        self._client_lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def client(self) -> httpx.Client:
        """The pool, built on first use. Under a lock: threads whose first requests start
        together must share one pool, not each build one and leak all but the last."""
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    client = httpx.Client(**self._pool_options())
                    # A transport dropped without close() closes its pool when it is
                    # collected (as ChatOpenAI's does): no socket is left to the GC.
                    self._finalizer = weakref.finalize(self, client.close)
                    self._client = client
        return client

    def close(self) -> None:
        """Close the pool this transport built (an injected one is its owner's to close)."""
        with self._client_lock:
            finalizer, self._finalizer = self._finalizer, None
            if self._owns_client:
                self._client = None
        if finalizer is not None:
            finalizer()

    def _retrying(self, request: HttpRequest, send: Callable[[HttpRequest], T]) -> T:
        """``send(request)``, tried again as the retry policy says (the one sync retry loop).
        The retry state is made only when a first attempt fails."""
        started = self.retry.now()  # the policy's clock, the one its windows run on
        try:
            return send(request)
        except OrbitLocalError as error:
            failure = error
        state = RetryState(self.retry, started)
        while True:
            time.sleep(self._wait_or_give_up(state, failure, request))
            try:
                return send(request)
            except OrbitLocalError as error:
                failure = error

    def request_json(self, request: HttpRequest) -> Any:
        """Send a request and return its decoded JSON body, retrying during warm-up."""
        try:
            return self._retrying(request, self._request_once)
        except OrbitLocalError as error:
            raise self.annotate(error, request) from error.__cause__

    def _request_once(self, request: HttpRequest) -> Any:
        client = self.client
        url = self.url(request)
        try:
            response = client.send(self._build(client, request, url, stream=False))
        except httpx.HTTPError as exc:
            raise self._map_transport_error(exc, url) from exc
        return self._json_of(response)

    def stream_events(self, request: HttpRequest) -> Generator[SSEEvent, None, None]:
        """Yield decoded events; retries happen only before the first event."""
        with closing(self.stream_batches(request)) as batches:
            for batch in batches:
                yield from batch

    def stream_batches(self, request: HttpRequest) -> Generator[list[SSEEvent], None, None]:
        """The decoded events, one list for each chunk of bytes that completed any (the chat
        hot path: a generator step per chunk, not per token); retries only before the first."""
        response = self._retrying(request, self._open_stream)
        url = self.url(request)
        try:
            framer = _Framer(response, self.max_event_size)
            progress = _Progress(time.monotonic())
            try:
                with closing(cast("Generator[bytes, None, None]", response.iter_bytes())) as chunks:
                    for chunk in chunks:
                        events = self._events(framer, chunk, url, progress)
                        if events:
                            yield events
                tail = framer.flush()  # may still find bytes that are not UTF-8
            except (httpx.HTTPError, UnicodeDecodeError, EventTooLargeError) as exc:
                raise self.annotate(self._stream_failure(exc, url), request) from exc
            except OrbitLocalError as error:
                raise self.annotate(error, request) from error.__cause__
            if tail:
                yield tail
        finally:
            response.close()

    def _open_stream(self, request: HttpRequest) -> httpx.Response:
        url = self.url(request)
        try:
            client = self.client
            response = client.send(self._build(client, request, url, stream=True), stream=True)
        except httpx.HTTPError as exc:
            raise self._map_transport_error(exc, url) from exc
        if response.status_code >= 400:
            try:
                body = response.read().decode(errors="replace")
            finally:
                response.close()
            self._check_status(response, body)
        return response


class AsyncTransport(_TransportBase):
    """Asynchronous twin of :class:`Transport` over one pooled :class:`httpx.AsyncClient`."""

    def __init__(
        self, profile: ProviderProfile, base_url: str, *, client: httpx.AsyncClient | None = None, **kwargs: Any
    ) -> None:
        super().__init__(profile, base_url, **kwargs)
        self._client = client  # injected: used on every loop, and its owner's to close
        self._injected = client is not None
        self._pools: PerLoop[_LoopPool] = PerLoop(self._new_pool, _LoopPool.forget)

    def _new_pool(self) -> _LoopPool:
        client = httpx.AsyncClient(**self._pool_options())
        return _LoopPool(client, LoopFinalizer(client.aclose))

    @property
    def client(self) -> httpx.AsyncClient:
        """The running event loop's pool, built on first use in that loop.

        A pool's connections belong to the loop that opened them, so each loop gets its own;
        a closed loop's pool is dropped, never reused. Each pool closes itself on its own loop
        when that loop shuts down, or when this transport is garbage-collected while the loop
        still runs (see :mod:`orbit_local.net.loops`).
        """
        if self._client is not None:
            return self._client
        return self._pools.get().client

    async def aclose(self) -> None:
        """Close the pools this transport built: the running loop's now, another live loop's
        on that loop (a closed loop's pool was closed when the loop shut down)."""
        running = asyncio.get_running_loop()
        for loop, pool in self._pools.take_all():
            if loop is running:
                await pool.finalizer.aclose()
            else:
                pool.finalizer.close_soon()

    async def _retrying(self, request: HttpRequest, send: Callable[[HttpRequest], Awaitable[T]]) -> T:
        """As the sync twin's: the one async retry loop."""
        started = self.retry.now()  # the policy's clock, the one its windows run on
        try:
            return await send(request)
        except OrbitLocalError as error:
            failure = error
        state = RetryState(self.retry, started)
        while True:
            await asyncio.sleep(self._wait_or_give_up(state, failure, request))
            try:
                return await send(request)
            except OrbitLocalError as error:
                failure = error

    async def request_json(self, request: HttpRequest) -> Any:
        try:
            return await self._retrying(request, self._request_once)
        except OrbitLocalError as error:
            raise self.annotate(error, request) from error.__cause__

    async def _request_once(self, request: HttpRequest) -> Any:
        client = self.client
        url = self.url(request)
        try:
            response = await client.send(self._build(client, request, url, stream=False))
        except httpx.HTTPError as exc:
            raise self._map_transport_error(exc, url) from exc
        return self._json_of(response)

    async def stream_events(self, request: HttpRequest) -> AsyncGenerator[SSEEvent, None]:
        async with aclosing(self.stream_batches(request)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def stream_batches(self, request: HttpRequest) -> AsyncGenerator[list[SSEEvent], None]:
        response = await self._retrying(request, self._open_stream)
        url = self.url(request)
        try:
            framer = _Framer(response, self.max_event_size)
            progress = _Progress(time.monotonic())
            try:
                # aclosing: a generator left suspended would be finalised later by a task of
                # the event loop's own; closing it here leaves nothing behind.
                async with aclosing(cast("AsyncGenerator[bytes, None]", response.aiter_bytes())) as chunks:
                    async for chunk in chunks:
                        events = self._events(framer, chunk, url, progress)
                        if events:
                            yield events
                tail = framer.flush()  # may still find bytes that are not UTF-8
            except (httpx.HTTPError, UnicodeDecodeError, EventTooLargeError) as exc:
                raise self.annotate(self._stream_failure(exc, url), request) from exc
            except OrbitLocalError as error:
                raise self.annotate(error, request) from error.__cause__
            if tail:
                yield tail
        finally:
            await response.aclose()

    async def _open_stream(self, request: HttpRequest) -> httpx.Response:
        url = self.url(request)
        try:
            client = self.client
            response = await client.send(self._build(client, request, url, stream=True), stream=True)
        except httpx.HTTPError as exc:
            raise self._map_transport_error(exc, url) from exc
        if response.status_code >= 400:
            try:
                body = (await response.aread()).decode(errors="replace")
            finally:
                await response.aclose()
            self._check_status(response, body)
        return response
