"""The core stream object: it owns its result, fills the model from the request, sets
``partial_text`` on a cut, and never changes a delta it has handed on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import httpx
import pytest

from orbit_local.backends.chat_stream import AsyncChatStream, ChatStream
from orbit_local.backends.client import ChatClient
from orbit_local.facts.errors import StreamInterruptedError
from orbit_local.facts.types import ChatDelta, ChatRequest, Message
from orbit_local.net.stream_scope import closing_streams, track
from tests.fakes import FakeServer, chunk, sse

BASE = "http://127.0.0.1:8080/v1"


def streaming_server(body: bytes) -> FakeServer:
    return FakeServer(chat=lambda _: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))


REQUEST = ChatRequest(model="requested-model", messages=[Message(role="user", content="hi")])


def test_chat_stream_owns_its_result_and_names_the_requested_model_when_the_server_does_not() -> None:
    body = sse({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]})
    client = ChatClient("llamacpp", base_url=BASE, http_client=streaming_server(body).client())
    with client.stream(REQUEST) as stream:
        assert isinstance(stream, ChatStream)
        assert [d.text for d in stream] == ["Hi"]
    result = stream.result()
    assert (result.text, result.model, result.finish_reason) == ("Hi", "requested-model", "stop")
    assert client.model is None  # the request named the model; the client resolved none


def test_a_cut_stream_raises_with_the_text_that_arrived() -> None:
    body = sse(chunk("Once "), chunk("upon"), done=False)
    client = ChatClient("llamacpp", base_url=BASE, http_client=streaming_server(body).client(), max_retries=0)
    stream = client.stream(REQUEST)
    with pytest.raises(StreamInterruptedError) as caught:
        list(stream)
    assert caught.value.partial_text == "Once upon"


def test_a_name_split_across_chunks_keeps_its_pieces_while_a_repeated_id_is_dropped() -> None:
    from orbit_local.facts.types import ChatDelta, ToolCallChunk
    from orbit_local.protocols.accumulate import StreamAccumulator

    accumulated = StreamAccumulator()
    sent = [
        ChatDelta(tool_call_chunks=[ToolCallChunk(index=0, id="c1", name="Get", arguments="")]),
        ChatDelta(tool_call_chunks=[ToolCallChunk(index=0, id="c1", name="Weather", arguments="{}")]),
        ChatDelta(tool_call_chunks=[ToolCallChunk(index=0, id=None, name="GetWeather", arguments="")]),
    ]
    passed = [accumulated.add(delta) for delta in sent]
    pieces = [(c.id, c.name) for delta in passed for c in delta.tool_call_chunks or []]
    # LangChain concatenates what it is given: "Get" + "Weather", one id.
    assert pieces == [("c1", "Get"), (None, "Weather"), (None, None)]
    (call,) = accumulated.tool_calls()
    assert (call.id, call.name, call.arguments) == ("c1", "GetWeather", {})


# --- an adapter's stream scope closes what its stream opened -------------------------------------


class Closable:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    async def aclose(self) -> None:
        self.log.append(f"closed {self.name}")


def test_streams_opened_inside_a_scope_are_closed_when_the_caller_closes_it_early() -> None:
    """LangChain's ``astream`` drops our generator on ``aclose()``; the scope closes what it
    opened (the HTTP stream) and the framework's generator itself before ``aclose()`` returns."""
    log: list[str] = []

    async def framework() -> AsyncGenerator[str, None]:  # stands in for BaseChatModel.astream
        try:
            track(Closable(log, "first"))  # opened while the scope steps this generator
            yield "a"
            track(Closable(log, "second"))
            yield "b"
            yield "never read"
        finally:
            log.append("framework ended")

    async def run() -> list[str]:
        outer = closing_streams(framework())
        got = [await outer.__anext__(), await outer.__anext__()]
        await outer.aclose()
        return got

    assert asyncio.run(run()) == ["a", "b"]
    # the framework's generator first, then every stream it opened, the last opened first
    assert log == ["framework ended", "closed second", "closed first"]


def test_a_stream_opened_outside_any_scope_is_not_recorded_anywhere() -> None:
    log: list[str] = []

    async def framework() -> AsyncGenerator[str, None]:
        yield "a"

    async def run() -> None:
        track(Closable(log, "outside"))  # no scope: nothing to record it in, and no error
        async for _ in closing_streams(framework()):
            pass

    asyncio.run(run())
    assert log == []


def test_an_inner_iterator_without_aclose_ends_cleanly() -> None:
    """``closing_streams`` wraps whatever the framework returns: an async iterator need not be
    a generator (LlamaIndex hands back its own objects)."""

    class Plain:
        def __init__(self) -> None:
            self.items = ["x", "y"]

        def __aiter__(self) -> Plain:
            return self

        async def __anext__(self) -> str:
            if not self.items:
                raise StopAsyncIteration
            return self.items.pop(0)

    async def run() -> list[str]:
        inner: AsyncIterator[str] = Plain()
        return [item async for item in closing_streams(inner)]

    assert asyncio.run(run()) == ["x", "y"]


# --- AsyncChatStream.aclose: closes the connection, once ----------------------------------------


def _deltas(log: list[str], release: asyncio.Event | None = None) -> AsyncGenerator[ChatDelta, None]:
    async def gen() -> AsyncGenerator[ChatDelta, None]:
        try:
            yield ChatDelta(text="Hel")
            yield ChatDelta(text="lo")
        finally:
            if release is not None:
                await release.wait()  # closing the HTTP response takes a moment
            log.append("response closed")

    return gen()


def test_aclose_on_a_fresh_stream_closes_its_response() -> None:
    log: list[str] = []

    async def run() -> None:
        stream = AsyncChatStream(_deltas(log), "m")
        assert (await stream.__anext__()).text == "Hel"
        await stream.aclose()
        assert log == ["response closed"]  # now, not when the loop ends

    asyncio.run(run())


def test_a_second_aclose_while_the_first_is_still_closing_returns_at_once() -> None:
    """The event loop's own finaliser may close the stream again while our close still awaits
    the connection; that second call must not touch the running generator."""
    log: list[str] = []

    async def run() -> None:
        release = asyncio.Event()
        stream = AsyncChatStream(_deltas(log, release), "m")
        await stream.__anext__()
        first = asyncio.create_task(stream.aclose())
        await asyncio.sleep(0)  # the first close is now waiting inside the generator
        await stream.aclose()  # raised "asynchronous generator is already running" before
        release.set()
        await first
        assert log == ["response closed"]

    asyncio.run(run())
