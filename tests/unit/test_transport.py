"""Transport behaviour over httpx.MockTransport: retries, warm-up, streams, auth, errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import httpx
import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts import errors
from orbit_local.facts.errors import (
    BadRequestError,
    ConnectionDroppedError,
    ModelNotFoundError,
    OrbitLocalError,
    ProtocolError,
    RequestTimeoutError,
    ServerBusyError,
    ServerError,
    ServerNotRunningError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, HttpRequest, Message
from orbit_local.net.retry import RATE_LIMIT_BUDGET, RetryPolicy
from orbit_local.net.transport import AsyncTransport, Transport
from orbit_local.wire.streams import SSEEvent
from tests.fakes import MODEL, FakeServer, answering, chunk, completion, install_fake_clock, sse

REQUEST = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")])


def make(server: FakeServer, provider: str = "llamacpp", **kwargs: object) -> ChatClient:
    kwargs.setdefault("warmup_timeout", 5.0)
    return ChatClient(provider, base_url="http://127.0.0.1:9/v1", http_client=server.client(), **kwargs)  # type: ignore[arg-type]


def busy() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("orbit_local.net.transport.time.sleep", slept.append)

    async def fake_async_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("asyncio.sleep", fake_async_sleep)
    return slept


def test_503_is_retried_with_backoff_during_warmup(no_sleep: list[float]) -> None:
    server = FakeServer(queue=[busy(), busy()])
    result = make(server, max_retries=3).chat(REQUEST)
    assert result.text == "Hello there."
    assert len(server.requests) == 3
    assert no_sleep == [0.5, 1.0]


def test_503_raises_busy_after_the_retries() -> None:
    server = FakeServer(queue=[busy(), busy(), busy()])
    with pytest.raises(ServerBusyError, match="Loading model"):
        make(server, max_retries=2).chat(REQUEST)
    assert len(server.requests) == 3


def test_retry_after_header_is_honoured(no_sleep: list[float]) -> None:
    server = FakeServer(queue=[httpx.Response(503, headers={"retry-after": "2"}, text="")])
    make(server, max_retries=1).chat(REQUEST)
    assert no_sleep == [2.0]


def test_warmup_window_bounds_retries(no_sleep: list[float]) -> None:
    server = FakeServer(queue=[busy(), busy()])
    with pytest.raises(ServerBusyError):
        make(server, max_retries=5, warmup_timeout=0.0).chat(REQUEST)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_says_how_to_start_the_server() -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    server = FakeServer(queue=[refused, refused, refused])
    with pytest.raises(ServerNotRunningError) as info:
        make(server, provider="lmstudio", max_retries=2).chat(REQUEST)
    message = str(info.value)
    assert "LM Studio" in message and "http://127.0.0.1:9/v1" in message and "lms server start" in message
    assert len(server.requests) == 3


def test_connection_refused_then_up_succeeds() -> None:
    server = FakeServer(queue=[httpx.ConnectError("refused")])
    assert make(server).chat(REQUEST).text == "Hello there."


def test_400_is_not_retried() -> None:
    server = FakeServer(queue=[httpx.Response(400, json={"error": {"message": "bad"}})])
    with pytest.raises(Exception, match="bad"):
        make(server, max_retries=3).chat(REQUEST)
    # Only the one chat request: the GETs after it are the fingerprint probes behind the error's hint.
    assert [r.method for r in server.requests].count("POST") == 1


def test_read_timeout_is_typed() -> None:
    server = FakeServer(queue=[httpx.ReadTimeout("slow")])
    with pytest.raises(RequestTimeoutError, match="timeout") as info:
        make(server, max_retries=0).chat(REQUEST)  # retryable: by default an instant one is retried
    assert info.value.is_retryable


def test_stream_is_retried_before_the_first_byte_only() -> None:
    server = FakeServer(queue=[busy()])
    deltas = list(make(server).stream(REQUEST))
    assert "".join(d.text for d in deltas) == "Hello"
    assert len(server.requests) == 2


class _BrokenStream(httpx.SyncByteStream):
    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_stream_cut_mid_answer_raises_and_is_not_retried() -> None:
    body = sse(chunk("Hel"), done=False)
    broken = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_BrokenStream(body))
    server = FakeServer(queue=[broken])
    got: list[str] = []
    with pytest.raises(StreamInterruptedError, match="broke off"):
        for delta in make(server, max_retries=3).stream(REQUEST):
            got.append(delta.text)
    assert got == ["Hel"]
    assert len(server.requests) == 1


def test_stream_ending_without_finish_raises() -> None:
    body = sse(chunk("Hel"), done=False)
    server = FakeServer(queue=[httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)])
    with pytest.raises(StreamInterruptedError, match="before the server said it was complete"):
        list(make(server).stream(REQUEST))


def test_empty_200_stream_raises() -> None:
    server = FakeServer(queue=[httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"")])
    with pytest.raises(StreamInterruptedError):
        list(make(server).stream(REQUEST))


def test_done_without_trailing_blank_line_completes() -> None:
    body = sse(chunk("a"), chunk("b", finish="stop"), trailing_blank=False)
    server = FakeServer(queue=[httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)])
    assert "".join(d.text for d in make(server).stream(REQUEST)) == "ab"


def test_json_body_where_a_stream_was_asked_for_is_one_delta() -> None:
    server = FakeServer(queue=[httpx.Response(200, json=completion("whole"))])
    deltas = list(make(server).stream(REQUEST))
    assert [d.text for d in deltas] == ["whole"]


def test_gpt4all_stream_is_emulated_without_stream_flag() -> None:
    server = FakeServer()
    deltas = list(make(server, provider="gpt4all").stream(REQUEST))
    assert [d.text for d in deltas] == ["Hello there."]
    assert deltas[0].usage is not None
    assert "stream" not in server.bodies()[0]


def test_bearer_only_when_api_key_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-be-sent")
    server = FakeServer()
    make(server).chat(REQUEST)
    assert "authorization" not in server.requests[-1].headers
    make(server, api_key="secret").chat(REQUEST)
    assert server.requests[-1].headers["authorization"] == "Bearer secret"


def test_env_api_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALAI_API_KEY", "from-env")
    monkeypatch.setenv("LOCALAI_BASE_URL", "http://127.0.0.1:7/v1/")
    server = FakeServer()
    client = ChatClient("localai", http_client=server.client())
    client.chat(REQUEST)
    assert str(server.requests[-1].url) == "http://127.0.0.1:7/v1/chat/completions"
    assert server.requests[-1].headers["authorization"] == "Bearer from-env"


def test_default_model_is_the_loaded_chat_model() -> None:
    server = FakeServer(
        models=[
            {"id": "text-embedding-nomic", "object": "model"},
            {"id": "other", "state": "not-loaded"},
            {"id": "loaded-one", "state": "loaded"},
        ]
    )
    client = make(server)
    assert client.resolve_model() == "loaded-one"
    assert client.resolve_model() == "loaded-one"
    assert sum(r.url.path.endswith("/models") for r in server.requests) == 1  # cached
    assert client.resolve_model("explicit") == "explicit"


def test_default_model_skips_embedding_models() -> None:
    server = FakeServer(models=[{"id": "text-embedding-x"}, {"id": "chat-a"}])
    assert make(server).resolve_model() == "chat-a"


async def test_async_client_streams_and_retries(no_sleep: list[float]) -> None:
    server = FakeServer(queue=[busy()])
    client = AsyncChatClient("llamacpp", base_url="http://127.0.0.1:9/v1", http_client=server.async_client())
    texts = [d.text async for d in client.stream(REQUEST)]
    assert "".join(texts) == "Hello"
    assert no_sleep == [0.5]
    assert (await client.chat(REQUEST)).usage is not None
    assert await client.resolve_model() == MODEL


def test_request_body_is_json_with_unicode() -> None:
    server = FakeServer()
    make(server).chat(ChatRequest(model=MODEL, messages=[Message(role="user", content="héllo ✓")]))
    assert json.loads(server.requests[-1].content)["messages"][0]["content"] == "héllo ✓"


def test_stream_of_keepalives_only_is_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10_000, 50))
    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: float(next(clock)))

    class Pings(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b": ping\n\n"  # sse-starlette's keep-alive comment

    server = FakeServer(queue=[httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pings())])
    with pytest.raises(RequestTimeoutError, match="nothing but keep-alives for 120 s") as info:
        list(make(server, timeout=120.0).stream(REQUEST))
    assert isinstance(info.value, StreamInterruptedError)


def _trickle(frame: bytes, piece: int = 100) -> httpx.Response:
    class Trickle(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for start in range(0, len(frame), piece):
                yield frame[start : start + piece]

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Trickle())


def test_a_slow_large_event_within_the_timeout_is_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """One event whose pieces take 2 s each on the fake clock, 82 s in all, under a 120 s timeout."""
    clock = iter(range(0, 10_000, 2))
    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: float(next(clock)))
    server = FakeServer(queue=[_trickle(sse(chunk("x" * 4000), chunk(finish="stop")))])
    deltas = list(make(server, timeout=120.0).stream(REQUEST))
    assert "".join(d.text for d in deltas) == "x" * 4000


def test_an_event_that_trickles_past_the_timeout_is_a_typed_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes keep coming (each piece 50 s apart on the fake clock, well inside the read
    timeout) but the event never ends: growth alone is not progress for ever."""
    clock = iter(range(0, 1_000_000, 50))
    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: float(next(clock)))
    endless = b"data: " + b"y" * 100_000  # no line end, no blank line: it never completes
    server = FakeServer(queue=[_trickle(sse(chunk("Hel"), done=False) + endless)])
    stream = make(server, timeout=120.0).stream(REQUEST)
    assert next(stream).text == "Hel"
    with pytest.raises(
        StreamTimeoutError, match=r"one event from \S+/chat/completions kept arriving for more than 120 s"
    ):
        next(stream)


def test_a_stalled_stream_is_a_typed_timeout_in_both_twins() -> None:
    class Stall(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield sse(chunk("Hel"), done=False)
            raise httpx.ReadTimeout("")

    class AsyncStall(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield sse(chunk("Hel"), done=False)
            raise httpx.ReadTimeout("")

    def respond(stream: Any) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    with pytest.raises(RequestTimeoutError, match="sent no bytes for 9 s; the connection stayed open"):
        list(make(FakeServer(queue=[respond(Stall())]), timeout=9.0).stream(REQUEST))

    async def run() -> None:
        server = FakeServer(queue=[respond(AsyncStall())])
        client = AsyncChatClient(
            "llamacpp", base_url="http://127.0.0.1:9/v1", http_client=server.async_client(), timeout=9.0
        )
        async for _ in client.stream(REQUEST):
            pass

    with pytest.raises(StreamInterruptedError) as info:
        asyncio.run(run())
    assert isinstance(info.value, RequestTimeoutError) and "ReadTimeout:" not in str(info.value)


def test_invalid_utf8_is_refused_alike_whole_or_streamed() -> None:
    bad = b'{"choices":[{"message":{"content":"caf\xe9"},"finish_reason":"stop"}]}'
    server = FakeServer(queue=[httpx.Response(200, content=bad, headers={"content-type": "application/json"})])
    with pytest.raises(ProtocolError, match="not UTF-8"):
        make(server).chat(REQUEST)
    streamed = b'data: {"choices":[{"delta":{"content":"caf\xe9"}}]}\n\n'
    server = FakeServer(queue=[httpx.Response(200, content=streamed, headers={"content-type": "text/event-stream"})])
    with pytest.raises(ProtocolError, match="not UTF-8"):
        list(make(server).stream(REQUEST))


def test_tools_with_auto_choice_are_not_streamed_where_the_server_hangs() -> None:
    from orbit_local.facts.types import ToolSpec

    server = FakeServer()
    request = ChatRequest(model=MODEL, messages=REQUEST.messages, tools=[ToolSpec(name="f")], tool_choice="auto")
    deltas = list(make(server, provider="llama-cpp-python").stream(request))
    assert [d.text for d in deltas] == ["Hello there."]
    assert "stream" not in server.bodies()[-1]
    named = ChatRequest(
        model=MODEL,
        messages=REQUEST.messages,
        tools=[ToolSpec(name="f")],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    list(make(server, provider="llama-cpp-python").stream(named))
    assert server.bodies()[-1]["stream"] is True


def test_repeated_tool_names_in_stream_chunks_are_sent_once_and_the_servers_deltas_stay_as_sent() -> None:
    from orbit_local.facts.types import ChatDelta, ToolCallChunk
    from orbit_local.protocols.accumulate import StreamAccumulator

    accumulated = StreamAccumulator()
    pieces = [
        ChatDelta(tool_call_chunks=[ToolCallChunk(index=0, id="c1", name="GetWeather", arguments='{"city": ')]),
        ChatDelta(tool_call_chunks=[ToolCallChunk(index=0, id="c1", name="GetWeather", arguments='"Paris"}')]),
    ]
    passed = [accumulated.add(piece) for piece in pieces]
    assert [(c.id, c.name) for p in passed for c in p.tool_call_chunks or []] == [("c1", "GetWeather"), (None, None)]
    assert [(c.id, c.name) for p in pieces for c in p.tool_call_chunks or []] == [("c1", "GetWeather")] * 2
    assert passed[0] is pieces[0]  # nothing to rewrite: passed on as it came
    (call,) = accumulated.tool_calls()
    assert (call.id, call.name, call.arguments) == ("c1", "GetWeather", {"city": "Paris"})


def test_default_settings_wait_for_a_loading_server_but_not_for_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers "loading" (503) is waited for through warmup_timeout (30 s); a port
    where nothing listens is reported after startup_timeout (2 s), not after the whole warm-up
    as it was (30 s of silence before ServerNotRunningError). startup_timeout=... waits for a
    server being started right now. A fake clock: nothing sleeps."""
    clock = [1000.0]
    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("orbit_local.net.transport.time.sleep", lambda delay: clock.__setitem__(0, clock[0] + delay))
    refused = httpx.ConnectError("[Errno 111] Connection refused")

    def failing_until(seconds: float, failure: httpx.Response | Exception) -> FakeServer:
        server = FakeServer()
        plain = server.handler

        def handler(request: httpx.Request) -> httpx.Response:
            if clock[0] < 1000.0 + seconds:
                server.requests.append(request)
                if isinstance(failure, Exception):
                    raise failure
                return failure
            return plain(request)

        server.handler = handler  # type: ignore[method-assign]
        return server

    def default_client(server: FakeServer, **kwargs: Any) -> ChatClient:
        return ChatClient("llamacpp", base_url="http://127.0.0.1:9/v1", http_client=server.client(), **kwargs)

    assert default_client(failing_until(25.0, busy())).chat(REQUEST).text == "Hello there."
    clock[0] = 1000.0
    with pytest.raises(ServerNotRunningError) as info:
        default_client(failing_until(3600.0, refused)).chat(REQUEST)
    assert "no llama.cpp server answered at http://127.0.0.1:9/v1" in str(info.value)  # not "server server"
    assert clock[0] - 1000.0 == pytest.approx(2.0)  # the 2 s startup window, then the typed error
    clock[0] = 1000.0
    assert default_client(failing_until(25.0, refused), startup_timeout=30.0).chat(REQUEST).text == "Hello there."


# --- the transport itself, at its seam, in both twins ------------------------------------------
# What goes on the wire, how long it waits, what it retries, and which typed error (naming the
# server, the URL and the fix) each failure becomes, in both twins, since the async one is a copy
# that can drift. Sleeping and the clock are faked.


BASE = "http://127.0.0.1:1234/v1"
CHAT = HttpRequest("POST", "/chat/completions", {"model": "m", "messages": []})
MODELS = HttpRequest("GET", "/models")
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake monotonic clock that only sleeping moves; the sleeps are recorded after it. Every
    test in these sections uses it (it replaces the sleeps no_sleep records, since autouse
    fixtures are set up first)."""
    return install_fake_clock(monkeypatch)


def slept(clock: list[float]) -> list[float]:
    return clock[1:]


replies = answering


class Twin:
    """Drive the sync or the async transport with one blocking API."""

    def __init__(
        self,
        kind: str,
        handler: Handler,
        provider: str = "lmstudio",
        base: str = BASE,
        pool: str = "injected",
        **kwargs: Any,
    ):
        """``pool="injected"``: the caller's own httpx client; ``pool="own"``: the pool the
        transport builds itself, with only its I/O replaced by ``handler``."""
        self.kind = kind
        profile = get_provider(provider)
        made: Transport | AsyncTransport
        if pool == "own":
            made = Transport(profile, base, **kwargs) if kind == "sync" else AsyncTransport(profile, base, **kwargs)
            options = made._pool_options
            made._pool_options = lambda: {**options(), "transport": httpx.MockTransport(handler)}  # type: ignore[method-assign]
        elif kind == "sync":
            made = Transport(profile, base, client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)
        else:
            made = AsyncTransport(
                profile, base, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **kwargs
            )
        if kind == "sync":
            self.sync = cast(Transport, made)
        else:
            self.aio = cast(AsyncTransport, made)

    @property
    def transport(self) -> Transport | AsyncTransport:
        return self.sync if self.kind == "sync" else self.aio

    def request_json(self, request: HttpRequest) -> Any:
        if self.kind == "sync":
            return self.sync.request_json(request)
        return asyncio.run(self.aio.request_json(request))

    def events(self, request: HttpRequest, got: list[SSEEvent] | None = None) -> list[SSEEvent]:
        """All events of a stream; ``got`` sees them as they arrive (kept when it raises)."""
        got = [] if got is None else got
        if self.kind == "sync":
            for event in self.sync.stream_events(request):
                got.append(event)
            return got

        async def run() -> None:
            async for event in self.aio.stream_events(request):
                got.append(event)

        asyncio.run(run())
        return got


TWINS = pytest.mark.parametrize("kind", ["sync", "async"])
POOLS = pytest.mark.parametrize("pool", ["injected", "own"])
"""The caller's httpx client (httpx merges our headers into its requests) and the pool the
transport builds (its requests are made whole by the transport): both must send the same."""


def sse_response(body: bytes | httpx.SyncByteStream | httpx.AsyncByteStream, **headers: str) -> httpx.Response:
    headers = {"content-type": "text/event-stream", **headers}
    if isinstance(body, bytes):
        return httpx.Response(200, headers=headers, content=body)
    return httpx.Response(200, headers=headers, stream=body)


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Yields pieces, then raises ``then`` (if any); records whether it was closed."""

    def __init__(self, *pieces: bytes, then: Exception | None = None) -> None:
        self.pieces = pieces
        self.then = then
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.then is not None:
            raise self.then

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.then is not None:
            raise self.then

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


# --- what goes on the wire -----------------------------------------------------------------


@pytest.mark.usefixtures("clock")
@TWINS
@POOLS
@pytest.mark.parametrize("stream", [False, True])
def test_headers_body_and_auth_on_the_wire(kind: str, pool: str, stream: bool) -> None:
    seen: list[httpx.Request] = []
    answer = sse_response(b"data: {}\n\n") if stream else httpx.Response(200, json={"ok": True})
    twin = Twin(kind, replies(answer, seen=seen), pool=pool, api_key="sk-local", headers={"X-Team": "blue"})
    request = HttpRequest("POST", "/chat/completions", {"text": "héllo"}, headers={"X-Trace": "42"})
    twin.events(request) if stream else twin.request_json(request)
    (sent,) = seen
    assert sent.headers["accept"] == ("text/event-stream" if stream else "application/json")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == "Bearer sk-local"
    assert sent.headers["x-team"] == "blue" and sent.headers["x-trace"] == "42"
    assert json.loads(sent.content) == {"text": "héllo"}
    assert "héllo".encode() in sent.content  # UTF-8 on the wire, not \\u escapes


@pytest.mark.usefixtures("clock")
@TWINS
@POOLS
def test_a_get_has_no_body_no_content_type_and_no_auth_without_a_key(kind: str, pool: str) -> None:
    seen: list[httpx.Request] = []
    twin = Twin(kind, replies(httpx.Response(200, json={"data": []}), seen=seen), pool=pool, api_key="")
    assert twin.request_json(MODELS) == {"data": []}
    (sent,) = seen
    assert sent.method == "GET" and sent.content == b""
    assert "content-type" not in sent.headers and "authorization" not in sent.headers
    assert sent.headers["accept"] == "application/json"


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("timeout", "connect", "read"),
    [(120.0, 10.0, 120.0), (3.0, 3.0, 3.0), (None, 10.0, None)],
    ids=["long-timeout-connect-capped", "short-timeout", "no-timeout"],
)
@TWINS
@POOLS
def test_timeouts_sent_with_each_request(
    kind: str, pool: str, timeout: float | None, connect: float, read: float | None
) -> None:
    """A dead port fails within 10 s even when a slow model may take minutes to answer."""
    seen: list[httpx.Request] = []
    twin = Twin(kind, replies(httpx.Response(200, json={}), seen=seen), pool=pool, timeout=timeout)
    twin.request_json(MODELS)
    twin.request_json(CHAT)
    for request in seen:
        sent = request.extensions["timeout"]
        assert (sent["connect"], sent["read"], sent["write"]) == (connect, read, read), request.method


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("base", "request_", "url"),
    [
        ("http://127.0.0.1:5001/v1/", HttpRequest("GET", "/models"), "http://127.0.0.1:5001/v1/models"),
        (
            "http://127.0.0.1:5001/v1",
            HttpRequest("POST", "/api/extra/tokencount", {"prompt": "x"}, from_root=True),
            "http://127.0.0.1:5001/api/extra/tokencount",
        ),
        ("http://localhost/v1", HttpRequest("GET", "/props", from_root=True), "http://localhost/props"),
        ("https://gpu-box.lan/llm/v1", HttpRequest("GET", "/health", from_root=True), "https://gpu-box.lan/health"),
    ],
)
@POOLS
def test_paths_join_the_base_url_or_the_servers_origin(base: str, request_: HttpRequest, url: str, pool: str) -> None:
    seen: list[httpx.Request] = []
    twin = Twin(
        "sync", replies(httpx.Response(200, json={}), seen=seen), provider="koboldcpp-openai", base=base, pool=pool
    )
    twin.request_json(request_)
    twin.request_json(request_)  # the second time from what the transport remembers of the URL
    assert [str(sent.url) for sent in seen] == [url, url]
    assert seen[0].headers["host"] == httpx.URL(url).netloc.decode()


@pytest.mark.usefixtures("clock")
@POOLS
def test_retarget_moves_requests_and_adds_the_found_key(pool: str) -> None:
    seen: list[httpx.Request] = []
    twin = Twin("sync", replies(httpx.Response(200, json={}), seen=seen), provider="openai-compatible", pool=pool)
    transport = twin.sync
    transport.request_json(MODELS)  # a request made before the key was found
    transport.retarget(get_provider("localai"), "http://127.0.0.1:8080/v1/", None)
    transport.request_json(HttpRequest("GET", "/version", from_root=True))
    assert str(seen[-1].url) == "http://127.0.0.1:8080/version"
    assert "authorization" not in seen[-1].headers
    transport.retarget(get_provider("localai"), "http://127.0.0.1:8080/v1/", "key-1")
    transport.request_json(MODELS)
    assert str(seen[-1].url) == "http://127.0.0.1:8080/v1/models"
    assert seen[-1].headers["authorization"] == "Bearer key-1"
    assert transport.profile.display_name == "LocalAI"


@pytest.mark.usefixtures("clock")
@TWINS
@POOLS
def test_a_calls_own_headers_replace_the_defaults_whatever_their_case(kind: str, pool: str) -> None:
    """``extra_headers`` name a header as the caller spells it; HTTP names are case-blind, so
    each is sent once, with the caller's value (as httpx merges them)."""
    seen: list[httpx.Request] = []
    twin = Twin(kind, replies(httpx.Response(200, json={}), seen=seen), pool=pool, api_key="sk-local")
    mine = {"user-agent": "my-app/2", "ACCEPT": "application/x-ndjson", "authorization": "Bearer other"}
    twin.request_json(HttpRequest("POST", "/chat/completions", {"x": 1}, headers=mine))
    twin.request_json(CHAT)  # the next request is back to the defaults
    first, second = (dict(request.headers.multi_items()) for request in seen)
    names = [name.lower() for name, _ in seen[0].headers.multi_items()]
    assert len(names) == len(set(names)), names
    assert (first["user-agent"], first["accept"], first["authorization"]) == (
        "my-app/2",
        "application/x-ndjson",
        "Bearer other",
    )
    assert second["user-agent"].startswith("python-httpx/")
    assert (second["accept"], second["authorization"]) == ("application/json", "Bearer sk-local")
    assert second["content-length"] == str(len(seen[1].content))


@pytest.mark.usefixtures("clock")
@TWINS
@POOLS
def test_a_cookie_the_server_sets_is_sent_back(kind: str, pool: str) -> None:
    """A server (or a proxy in front of it) that keeps a session in a cookie gets it back on the
    next request, as from any httpx client."""
    seen: list[httpx.Request] = []
    session = httpx.Response(200, json={}, headers={"set-cookie": "session=abc123; Path=/"})
    twin = Twin(kind, replies(session, httpx.Response(200, json={}), seen=seen), pool=pool, api_key="sk-local")
    if kind == "sync":
        twin.request_json(MODELS)
        twin.request_json(CHAT)
    else:  # one event loop: a pool of ours is one per loop

        async def both() -> None:
            await twin.aio.request_json(MODELS)
            await twin.aio.request_json(CHAT)

        asyncio.run(both())
    assert "cookie" not in seen[0].headers
    assert seen[1].headers["cookie"] == "session=abc123"
    assert seen[1].headers["content-type"] == "application/json"
    assert [request.headers["authorization"] for request in seen] == ["Bearer sk-local"] * 2


@pytest.mark.usefixtures("clock")
def test_many_routes_reach_their_urls_and_what_is_remembered_of_them_stays_bounded() -> None:
    seen: list[httpx.Request] = []
    twin = Twin("sync", lambda request: (seen.append(request), httpx.Response(200, json={}))[1], pool="own")
    remembered = []
    for _round in range(2):
        for number in range(150):
            twin.request_json(HttpRequest("GET", f"/models/m{number}"))
            remembered.append(len(twin.sync._parsed_urls))
    assert [str(request.url) for request in seen] == [f"{BASE}/models/m{number}" for number in range(150)] * 2
    assert max(remembered) == 64  # docs/dev/benchmarks.md: 64 routes kept


# --- retries ---------------------------------------------------------------------------------


def loading() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})


@TWINS
def test_backoff_doubles_from_half_a_second_and_stops_at_four(kind: str, clock: list[float]) -> None:
    """docs/reliability.md: back-off 0.5 s doubling to 4 s."""
    seen: list[httpx.Request] = []
    answers = [loading()] * 6 + [httpx.Response(200, json={"ok": 1})]
    twin = Twin(kind, replies(*answers, seen=seen), max_retries=6, warmup_timeout=60.0)
    assert twin.request_json(CHAT) == {"ok": 1}
    assert slept(clock) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(seen) == 7


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("3", 3.0), ("0.1", 0.5), ("-5", 0.5), ("Wed, 21 Oct 2026 07:28:00 GMT", 0.5), ("", 0.5)],
    ids=["longer-wins", "shorter-ignored", "negative", "http-date-ignored", "empty"],
)
@TWINS
def test_retry_after_only_lengthens_the_wait(kind: str, retry_after: str, wait: float, clock: list[float]) -> None:
    """LocalAI answers 503 with Retry-After while a model loads: wait at least that long."""
    busy = httpx.Response(503, headers={"retry-after": retry_after}, json={"error": {"message": "model_loading"}})
    twin = Twin(kind, replies(busy, httpx.Response(200, json={})), max_retries=3, warmup_timeout=60.0)
    twin.request_json(CHAT)
    assert slept(clock) == [wait]


@TWINS
def test_rate_limit_and_busy_bodies_are_retried_like_503(kind: str, clock: list[float]) -> None:
    """Ollama's 429 and KoboldCpp's 503 "Server is busy" envelope both mean: try again shortly."""
    rate_limited = httpx.Response(429, json={"error": "too many requests"})
    kobold_busy = httpx.Response(
        503, json={"detail": {"msg": "Server is busy; please try again later.", "type": "service_unavailable"}}
    )
    twin = Twin(kind, replies(rate_limited, kobold_busy, httpx.Response(200, json={"x": 1})), max_retries=5)
    assert twin.request_json(CHAT) == {"x": 1}
    assert slept(clock) == [0.5, 1.0]


@pytest.mark.parametrize(
    ("window", "waits"),
    [(1.2, [0.5, 0.7]), (1.5, [0.5, 1.0])],
    ids=["last-wait-cut-to-the-window", "window-spent-exactly"],
)
@TWINS
def test_the_warmup_window_bounds_the_waits(kind: str, window: float, waits: list[float], clock: list[float]) -> None:
    """The waits never outlast ``warmup_timeout``, and a spent window means no further attempt."""
    seen: list[httpx.Request] = []
    twin = Twin(kind, replies(loading(), seen=seen), max_retries=10, warmup_timeout=window)
    with pytest.raises(ServerBusyError):
        twin.request_json(CHAT)
    assert slept(clock) == pytest.approx(waits)
    assert len(seen) == 3


@TWINS
def test_zero_retries_fails_at_once(kind: str, clock: list[float]) -> None:
    seen: list[httpx.Request] = []
    twin = Twin(kind, replies(httpx.ConnectError("[Errno 111] Connection refused"), seen=seen), max_retries=0)
    with pytest.raises(ServerNotRunningError):
        twin.request_json(CHAT)
    assert len(seen) == 1 and slept(clock) == []


@pytest.mark.usefixtures("clock")
def test_each_retry_is_logged_with_server_url_and_count(caplog: pytest.LogCaptureFixture) -> None:
    twin = Twin("sync", replies(loading(), loading(), httpx.Response(200, json={})), max_retries=4)
    with caplog.at_level(logging.INFO, logger="orbit_local"):
        twin.request_json(CHAT)
    lines = [r.getMessage() for r in caplog.records if r.name == "orbit_local"]
    assert len(lines) == 2
    assert all("LM Studio" in line and BASE in line and "Loading model" in line for line in lines)
    assert "retry 1 of 4 in 0.5 s" in lines[0] and "retry 2 of 4 in 1.0 s" in lines[1]


@TWINS
def test_a_stream_is_retried_while_it_has_not_started(kind: str, clock: list[float]) -> None:
    seen: list[httpx.Request] = []
    ok = sse_response(b'data: {"n": 1}\n\n')
    twin = Twin(kind, replies(httpx.ConnectError("refused"), loading(), loading(), ok, seen=seen), max_retries=3)
    assert [e.data for e in twin.events(CHAT)] == ['{"n": 1}']
    assert slept(clock) == [0.5, 1.0, 2.0] and len(seen) == 4


@pytest.mark.usefixtures("clock")
@TWINS
def test_a_stream_that_stays_busy_names_the_request(kind: str) -> None:
    twin = Twin(kind, replies(loading()), max_retries=1)
    with pytest.raises(ServerBusyError) as info:
        twin.events(CHAT)
    assert (info.value.method, info.value.url) == ("POST", BASE + "/chat/completions")
    assert info.value.status_code == 503 and "warmup_timeout" in (info.value.hint or "")


# The retry policy's arithmetic (orbit_local/net/retry.py), on its own: "Waits back off exponentially
# (0.5 s doubling to 4 s, or longer where ``Retry-After`` asks)" and "a ``Retry-After`` that does not
# fit is raised at once"; one that fills the window exactly is waited.


def test_the_back_off_doubles_from_half_a_second_to_four() -> None:
    policy = RetryPolicy(clock=lambda: 0.0)  # no time passes: only the back-off decides
    state = policy.begin()
    delays = []
    for _ in range(6):
        step = state.next_delay(errors.ServerBusyError("loading"))
        assert step is not None
        delays.append(step[0])
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_retry_after_that_fills_the_window_exactly_is_waited() -> None:
    policy = RetryPolicy(clock=lambda: 0.0)
    state = policy.begin()
    step = state.next_delay(errors.RateLimitError("429", retry_after=RATE_LIMIT_BUDGET))
    assert step == (RATE_LIMIT_BUDGET, RATE_LIMIT_BUDGET)
    # a moment longer does not fit: raised at once
    assert policy.begin().next_delay(errors.RateLimitError("429", retry_after=RATE_LIMIT_BUDGET + 0.5)) is None


def test_retry_after_as_an_http_date_without_a_zone_is_read_as_utc() -> None:
    """RFC 5322's ``-0000`` (no zone known) parses to a naive datetime; it is taken as UTC, not
    an error. The date is long past, so no wait is asked for."""
    from orbit_local.net.transport import _retry_after

    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})
    assert _retry_after(response) == 0.0
    assert _retry_after(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


# --- failures become typed errors that say where and what to do ---------------------------------


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("failure", "error_type", "in_message", "in_hint"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ServerNotRunningError, [BASE], "lms server start"),
        (httpx.ConnectTimeout("timed out"), ServerNotRunningError, [BASE], "LMSTUDIO_BASE_URL"),
        (httpx.ReadTimeout("timed out"), RequestTimeoutError, [BASE + "/chat/completions", "ReadTimeout"], "timeout="),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ConnectionDroppedError,
            [BASE + "/chat/completions", "RemoteProtocolError", ": Server disconnected"],
            "crashed, restarted",
        ),
    ],
    ids=["refused", "connect-timeout", "read-timeout", "disconnected"],
)
@TWINS
def test_transport_failures_are_typed_and_name_server_url_and_fix(
    kind: str, failure: Exception, error_type: type[OrbitLocalError], in_message: list[str], in_hint: str | None
) -> None:
    twin = Twin(kind, replies(failure), max_retries=0)
    with pytest.raises(error_type) as info:
        twin.request_json(CHAT)
    error = info.value
    assert type(error) is error_type
    assert (error.provider, error.base_url, error.status_code) == ("LM Studio", BASE, None)
    assert (error.method, error.url) == ("POST", BASE + "/chat/completions")
    assert all(part in error.message for part in in_message)
    assert str(error).startswith(f"LM Studio at {BASE}: ")
    if in_hint is None:
        assert error.hint is None
    else:
        assert in_hint in (error.hint or "")


@pytest.mark.usefixtures("clock")
def test_refused_connection_reads_as_the_docs_promise() -> None:
    """docs/errors.md quotes this message for LM Studio."""
    base = "http://localhost:1234/v1"
    twin = Twin("sync", replies(httpx.ConnectError("refused")), base=base, max_retries=0)
    with pytest.raises(ServerNotRunningError) as info:
        twin.request_json(CHAT)
    assert str(info.value) == (
        f"LM Studio at {base}: no LM Studio server answered at {base} — start it with `lms server start` "
        "or the Developer tab, or set LMSTUDIO_BASE_URL (to wait for a server that is still starting, raise "
        "startup_timeout)"
    )


@pytest.mark.usefixtures("clock")
def test_a_failure_without_detail_has_no_dangling_colon() -> None:
    twin = Twin("sync", replies(httpx.RemoteProtocolError("")), max_retries=0)
    with pytest.raises(ProtocolError) as info:
        twin.request_json(CHAT)
    assert info.value.message.endswith("closed before the answer was complete (RemoteProtocolError)")


@pytest.mark.usefixtures("clock")
@TWINS
def test_answers_that_are_not_json_are_protocol_errors_with_the_body(kind: str) -> None:
    page = "<html><body>Bad Gateway</body></html>"
    twin = Twin(kind, replies(httpx.Response(200, text=page)))
    with pytest.raises(ProtocolError) as info:
        twin.request_json(CHAT)
    error = info.value
    assert "did not answer JSON" in error.message and BASE + "/chat/completions" in error.message
    assert (error.status_code, error.body, error.provider, error.base_url) == (200, page, "LM Studio", BASE)


@pytest.mark.usefixtures("clock")
def test_a_huge_non_json_body_is_kept_truncated_even_inside_a_character() -> None:
    page = "x" + "é" * 30_000  # two bytes a character: any even cut falls inside one
    twin = Twin("sync", replies(httpx.Response(200, text=page)))
    with pytest.raises(ProtocolError) as info:
        twin.request_json(CHAT)
    body = (info.value.body or "").rstrip("\ufffd")
    assert body == page[:1000]  # the first 2000 bytes: "x", 999 two-byte characters and half of one


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("body", [b"", b"  \n"], ids=["empty", "blank"])
@TWINS
def test_an_empty_answer_is_a_protocol_error_naming_the_status(kind: str, body: bytes) -> None:
    twin = Twin(kind, replies(httpx.Response(200, content=body)))
    with pytest.raises(ProtocolError) as info:
        twin.request_json(CHAT)
    error = info.value
    assert "empty body" in error.message and BASE + "/chat/completions" in error.message
    assert (error.status_code, error.provider, error.base_url) == (200, "LM Studio", BASE)


@pytest.mark.usefixtures("clock")
@TWINS
def test_invalid_utf8_names_the_offset_and_is_not_replaced(kind: str) -> None:
    body = b'{"text": "caf\xe9 au lait"}'
    twin = Twin(kind, replies(httpx.Response(200, content=body)))
    with pytest.raises(ProtocolError) as info:
        twin.request_json(CHAT)
    error = info.value
    assert "at byte 13" in error.message and error.message.startswith(BASE + "/chat/completions ")
    assert "\\xe9" in error.message
    assert (error.status_code, error.provider, error.base_url) == (200, "LM Studio", BASE)
    assert "nothing was substituted" in (error.hint or "")


@TWINS
def test_http_errors_are_classified_and_not_retried(kind: str, clock: list[float]) -> None:
    seen: list[httpx.Request] = []
    not_found = httpx.Response(
        404, json={"error": {"message": 'Model "x" not found.', "type": "invalid_request_error"}}
    )
    twin = Twin(kind, replies(not_found, seen=seen), max_retries=5)
    with pytest.raises(ModelNotFoundError) as info:
        twin.request_json(CHAT)
    assert len(seen) == 1 and slept(clock) == []
    assert (info.value.status_code, info.value.method, info.value.url) == (404, "POST", BASE + "/chat/completions")


@pytest.mark.usefixtures("clock")
@TWINS
def test_an_error_status_on_a_stream_is_read_typed_and_closed(kind: str) -> None:
    body = Chunks(b'{"error": {"message": "\'messages\' is required", "type": "invalid_request_error"}}')
    twin = Twin(kind, replies(httpx.Response(400, headers={"content-type": "application/json"}, stream=body)))
    with pytest.raises(BadRequestError) as info:
        twin.events(CHAT)
    assert "'messages' is required" in str(info.value)
    assert info.value.status_code == 400 and info.value.base_url == BASE
    assert body.closed


@pytest.mark.usefixtures("clock")
def test_annotate_keeps_the_request_an_error_already_names() -> None:
    transport = Twin("sync", replies(httpx.Response(200, json={}))).sync
    error = ProtocolError("x", method="GET", url="http://elsewhere/models")
    assert transport.annotate(error, CHAT) is error
    assert (error.method, error.url) == ("GET", "http://elsewhere/models")
    fresh = transport.annotate(ProtocolError("y"), HttpRequest("GET", "/props", from_root=True))
    assert (fresh.method, fresh.url) == ("GET", "http://127.0.0.1:1234/props")


@pytest.mark.parametrize("detail", ["407 Proxy Authentication Required", ""])
def test_any_other_transport_failure_is_a_protocol_error_naming_it_and_the_url(detail: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ProxyError(detail, request=request)

    transport = Transport(
        get_provider("lmstudio"),
        "http://127.0.0.1:1234/v1",
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        max_retries=0,
    )
    with pytest.raises(errors.ProtocolError) as info:
        transport.request_json(HttpRequest("GET", "/models"))
    error = info.value
    assert error.provider == "LM Studio" and error.base_url == "http://127.0.0.1:1234/v1"
    assert "ProxyError" in error.message and "http://127.0.0.1:1234/v1/models" in error.message
    if detail:
        assert detail in error.message
    else:
        assert error.message.endswith("/v1/models")  # no dangling separator


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (httpx.RemoteProtocolError("peer closed connection"), "broke off: RemoteProtocolError: peer closed connection"),
        (httpx.ReadError(""), "broke off: ReadError"),
    ],
    ids=["with-detail", "without-detail"],
)
@TWINS
def test_a_stream_cut_mid_answer_keeps_what_arrived_and_says_retry(kind: str, failure: Exception, says: str) -> None:
    body = Chunks(b'data: {"n": 1}\n\n', b'data: {"n"', then=failure)
    twin = Twin(kind, replies(sse_response(body)), max_retries=3)
    got: list[SSEEvent] = []
    with pytest.raises(StreamInterruptedError) as info:
        twin.events(CHAT, got)
    error = info.value
    assert [e.data for e in got] == ['{"n": 1}']
    assert type(error) is StreamInterruptedError
    assert error.message.endswith(says) and BASE + "/chat/completions" in error.message
    assert (error.provider, error.base_url, error.method) == ("LM Studio", BASE, "POST")
    assert "retry" in (error.hint or "")
    assert body.closed


@pytest.mark.usefixtures("clock")
@TWINS
def test_a_stalled_stream_names_the_timeout_and_what_to_do(kind: str) -> None:
    body = Chunks(b'data: {"n": 1}\n\n', then=httpx.ReadTimeout("timed out"))
    twin = Twin(kind, replies(sse_response(body)), timeout=7.0)
    with pytest.raises(StreamTimeoutError) as info:
        twin.events(CHAT)
    error = info.value
    assert "7 s" in error.message and BASE + "/chat/completions" in error.message
    assert (error.provider, error.base_url, error.url) == ("LM Studio", BASE, BASE + "/chat/completions")
    assert "timeout=" in (error.hint or "")
    assert body.closed


@TWINS
def test_keepalives_alone_past_the_timeout_end_the_stream(kind: str, clock: list[float]) -> None:
    class Pings(Chunks):
        """Each ping arrives 20 s after the last (the fake clock moves as the stream is read)."""

        def __iter__(self) -> Iterator[bytes]:
            yield b'data: {"n": 1}\n\n'
            for _ in range(5):
                clock[0] += 20.0
                yield b": ping\n\n"

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in self:
                yield piece

    twin = Twin(kind, replies(sse_response(Pings())), timeout=30.0)
    got: list[SSEEvent] = []
    with pytest.raises(StreamTimeoutError) as info:
        twin.events(CHAT, got)
    assert [e.data for e in got] == ['{"n": 1}']
    error = info.value
    assert "keep-alives for 30 s" in error.message and BASE + "/chat/completions" in error.message
    assert (error.provider, error.base_url, error.method) == ("LM Studio", BASE, "POST")
    assert "check its log" in (error.hint or "")


@TWINS
def test_keepalives_within_the_timeout_are_harmless(kind: str, clock: list[float]) -> None:
    class SlowPings(Chunks):
        """Pings for exactly ``timeout`` seconds, then the answer: not *longer* than the timeout."""

        def __iter__(self) -> Iterator[bytes]:
            for _ in range(3):
                clock[0] += 10.0
                yield b": ping\n\n"
            yield b'data: {"n": 2}\n\n'

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in self:
                yield piece

    twin = Twin(kind, replies(sse_response(SlowPings())), timeout=30.0)
    assert [e.data for e in twin.events(CHAT)] == ['{"n": 2}']


def test_no_timeout_means_keepalives_never_end_a_stream(clock: list[float]) -> None:
    class Hours(Chunks):
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(3):
                clock[0] += 3600.0
                yield b": ping\n\n"
            yield b'data: {"n": 3}\n\n'

    twin = Twin("sync", replies(sse_response(Hours())), timeout=None)
    assert [e.data for e in twin.events(CHAT)] == ['{"n": 3}']


@TWINS
def test_a_slowly_arriving_json_answer_is_progress_not_a_stall(kind: str, clock: list[float]) -> None:
    """A server that ignores ``stream`` sends one JSON answer; its bytes arriving count as progress."""
    whole = json.dumps({"choices": [{"message": {"content": "y" * 300}}]}).encode()

    class Trickle(Chunks):
        def __iter__(self) -> Iterator[bytes]:
            for start in range(0, len(whole), 50):
                clock[0] += 20.0
                yield whole[start : start + 50]

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in self:
                yield piece

    response = httpx.Response(200, headers={"content-type": "application/json"}, stream=Trickle())
    events = Twin(kind, replies(response), timeout=30.0).events(CHAT)
    assert [(e.event, e.data) for e in events] == [("json", whole.decode())]


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'{"a": 1}', [("json", '{"a": 1}')]),
        ("application/json", b"   ", []),
        ("", b'data: {"a": 1}\n\n', [("message", '{"a": 1}')]),
        ("text/event-stream; charset=utf-8", b"event: token\ndata: x\n\n", [("token", "x")]),
    ],
    ids=["json-answer", "blank-json", "no-content-type-is-sse", "sse-with-charset"],
)
@TWINS
def test_stream_framing_follows_the_content_type(
    kind: str, content_type: str, body: bytes, expected: list[tuple[str, str]]
) -> None:
    response = httpx.Response(200, content=body)
    if content_type:
        response.headers["content-type"] = content_type
    else:
        response.headers.pop("content-type", None)
    events = Twin(kind, replies(response)).events(CHAT)
    assert [(e.event, e.data) for e in events] == expected


@pytest.mark.usefixtures("clock")
@TWINS
def test_invalid_utf8_in_a_stream_is_a_protocol_error_without_status(kind: str) -> None:
    twin = Twin(kind, replies(sse_response(b'data: {"t": "caf\xe9"}\n\n')))
    with pytest.raises(ProtocolError) as info:
        twin.events(CHAT)
    error = info.value
    assert not isinstance(error, StreamInterruptedError)
    assert "not UTF-8" in error.message and "at byte" in error.message
    assert (error.status_code, error.provider, error.url) == (None, "LM Studio", BASE + "/chat/completions")


@pytest.mark.usefixtures("clock")
@TWINS
def test_a_finished_or_abandoned_stream_closes_its_response(kind: str) -> None:
    done = Chunks(b"data: 1\n\n", b"data: 2\n\n")
    Twin(kind, replies(sse_response(done))).events(CHAT)
    assert done.closed

    abandoned = Chunks(b"data: 1\n\n", b"data: 2\n\n")
    twin = Twin(kind, replies(sse_response(abandoned)))
    if kind == "sync":
        events = twin.sync.stream_events(CHAT)
        assert next(events).data == "1"
        events.close()
    else:

        async def first_then_stop() -> None:
            events = twin.aio.stream_events(CHAT)
            assert (await events.__anext__()).data == "1"
            await events.aclose()

        asyncio.run(first_then_stop())
    assert abandoned.closed


# --- the pooled client -----------------------------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_an_owned_client_is_closed_and_a_lent_one_is_not() -> None:
    owned = Transport(get_provider("vllm"), "http://127.0.0.1:8000/v1", timeout=5.0)
    first = owned.client
    assert owned.client is first  # one pool per transport
    assert first.timeout.read == 5.0 and first.timeout.connect == 5.0
    owned.close()
    assert first.is_closed
    assert owned.client is not first and not owned.client.is_closed
    owned.close()

    lent = httpx.Client()
    borrower = Transport(get_provider("vllm"), "http://127.0.0.1:8000/v1", client=lent)
    borrower.close()
    assert not lent.is_closed and borrower.client is lent
    lent.close()


@pytest.mark.usefixtures("clock")
async def test_an_owned_async_client_is_closed_and_a_lent_one_is_not() -> None:
    owned = AsyncTransport(get_provider("vllm"), "http://127.0.0.1:8000/v1", timeout=5.0)
    first = owned.client
    assert owned.client is first
    assert first.timeout.read == 5.0
    await owned.aclose()
    assert first.is_closed
    assert owned.client is not first
    await owned.aclose()

    lent = httpx.AsyncClient()
    borrower = AsyncTransport(get_provider("vllm"), "http://127.0.0.1:8000/v1", client=lent)
    await borrower.aclose()
    assert not lent.is_closed and borrower.client is lent
    await lent.aclose()


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"choices": [{"message": {"content": "caf\xe9"}, "finish_reason": "stop"}]}'),
        ("text/event-stream", b'data: {"choices": [{"delta": {"content": "caf' + "é".encode()[:1]),
    ],
    ids=["invalid-byte-in-a-json-answer", "stream-ends-inside-a-character"],
)
@TWINS
def test_bytes_that_end_up_not_utf8_are_a_typed_error_never_replaced(kind: str, content_type: str, body: bytes) -> None:
    """docs/reliability.md: bytes that are not UTF-8, whole or streamed, are a ProtocolError and
    nothing is replaced with U+FFFD — also when a server answers a stream request with one JSON
    body, and when the body stops in the middle of a multi-byte character."""
    twin = Twin(kind, replies(httpx.Response(200, content=body, headers={"content-type": content_type})))
    with pytest.raises(ProtocolError) as info:
        twin.events(CHAT)
    assert "not UTF-8" in info.value.message and BASE + "/chat/completions" in info.value.message
    assert (info.value.provider, info.value.url) == ("LM Studio", BASE + "/chat/completions")


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize("stream", [False, True], ids=["request", "stream"])
@TWINS
def test_an_error_page_that_is_not_utf8_is_still_a_typed_error_keeping_the_page(kind: str, stream: bool) -> None:
    """A proxy's 502 page in Latin-1 is a diagnostic, not an answer: it is kept (with U+FFFD where
    bytes are not UTF-8) in a typed ServerError, never an encoding crash."""
    page = "<html><body>Passerelle erronée</body></html>".encode("latin-1")
    response = httpx.Response(502, headers={"content-type": "text/html"}, stream=Chunks(page))
    twin = Twin(kind, replies(response))
    with pytest.raises(ServerError) as info:
        twin.events(CHAT) if stream else twin.request_json(CHAT)
    assert info.value.status_code == 502 and "Passerelle erron" in (info.value.body or "")


@pytest.mark.parametrize("stream", [False, True], ids=["request", "stream"])
def test_a_pool_of_our_own_sends_the_key_and_the_body_type_with_each_request(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """With no client injected, orbit-local builds the pool; the API key (which detection may add
    later, so it is not a pool header) and the JSON body's type still reach the server."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if stream:
            return httpx.Response(
                200, content=b"data: {}\n\ndata: [DONE]\n\n", headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json={"ok": True})

    built = Transport._pool_options
    monkeypatch.setattr(
        Transport, "_pool_options", lambda self: {**built(self), "transport": httpx.MockTransport(handle)}
    )
    transport = Transport(get_provider("lmstudio"), BASE, api_key="sk-own-pool")
    if stream:
        assert [e.data for e in transport.stream_events(CHAT)][-1] == "[DONE]"
    else:
        assert transport.request_json(CHAT) == {"ok": True}
    assert seen[0].headers["authorization"] == "Bearer sk-own-pool"
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["accept"] == ("text/event-stream" if stream else "application/json")
