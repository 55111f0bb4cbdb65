"""Transport behaviour over httpx.MockTransport: retries, warm-up, streams, auth, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from orbit_local.client import AsyncChatClient, ChatClient
from orbit_local.errors import (
    ProtocolError,
    RequestTimeoutError,
    ServerBusyError,
    ServerNotRunningError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from orbit_local.types import ChatRequest, Message
from tests.fakes import MODEL, FakeServer, chunk, completion, sse

REQUEST = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")])


def make(server: FakeServer, provider: str = "llamacpp", **kwargs: object) -> ChatClient:
    kwargs.setdefault("warmup_timeout", 5.0)
    return ChatClient(provider, base_url="http://127.0.0.1:9/v1", http_client=server.client(), **kwargs)  # type: ignore[arg-type]


def busy() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("orbit_local.transport.time.sleep", slept.append)

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
    monkeypatch.setattr("orbit_local.transport.time.monotonic", lambda: float(next(clock)))

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
    monkeypatch.setattr("orbit_local.transport.time.monotonic", lambda: float(next(clock)))
    server = FakeServer(queue=[_trickle(sse(chunk("x" * 4000), chunk(finish="stop")))])
    deltas = list(make(server, timeout=120.0).stream(REQUEST))
    assert "".join(d.text for d in deltas) == "x" * 4000


def test_an_event_that_trickles_past_the_timeout_is_a_typed_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes keep coming (each piece 50 s apart on the fake clock, well inside the read
    timeout) but the event never ends: growth alone is not progress for ever."""
    clock = iter(range(0, 1_000_000, 50))
    monkeypatch.setattr("orbit_local.transport.time.monotonic", lambda: float(next(clock)))
    endless = b"data: " + b"y" * 100_000  # no line end, no blank line: it never completes
    server = FakeServer(queue=[_trickle(sse(chunk("Hel"), done=False) + endless)])
    stream = make(server, timeout=120.0).stream(REQUEST)
    assert next(stream).text == "Hel"
    with pytest.raises(StreamTimeoutError, match=r"one event from \S+/chat/completions kept arriving for more than 120 s"):
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
        client = AsyncChatClient("llamacpp", base_url="http://127.0.0.1:9/v1", http_client=server.async_client(), timeout=9.0)
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
    from orbit_local.types import ToolSpec

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
    from orbit_local.accumulate import StreamAccumulator
    from orbit_local.types import ChatDelta, ToolCallChunk

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
    monkeypatch.setattr("orbit_local.transport.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("orbit_local.transport.time.sleep", lambda delay: clock.__setitem__(0, clock[0] + delay))
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
