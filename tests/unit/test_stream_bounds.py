"""One SSE event is bounded in size and in time, whatever the server sends.

Time runs on a fake clock (``orbit_local.net.transport.time.monotonic``): each piece of the body
moves it on, so nothing here waits. The real-time twin is in tests/faults (``trickle``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from itertools import pairwise

import httpx
import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import ProtocolError, StreamTimeoutError
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.wire.streams import MAX_EVENT_SIZE, EventTooLargeError, SSEDecoder
from tests.fakes import MODEL, FakeServer, chunk, sse

BASE = "http://127.0.0.1:8080/v1"
REQUEST = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")])


# ------------------------------------------------------------------------ size
@pytest.mark.parametrize(
    "body",
    [
        b"data: " + b"x" * 2000,  # one line that never ends
        b"data: " + b"x" * 2000 + b"\n",  # one data line, the event never ends
        b"data: xxxxxxxxx\n" * 250,  # many data lines, no blank line
        b"data: " + b"x" * 2000 + b"\n\n",  # a whole event, too large
        b": " + b"p" * 2000,  # a comment line that never ends
    ],
    ids=["open-line", "open-event", "many-lines", "whole-event", "open-comment"],
)
def test_the_decoder_refuses_an_event_larger_than_its_bound(body: bytes) -> None:
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(EventTooLargeError) as info:
        for start in range(0, len(body), 64):  # in pieces, as a socket delivers them
            decoder.feed(body[start : start + 64])
    assert info.value.limit == 1000 and info.value.size > 1000
    assert "1000" in str(info.value)  # the message names the bound, for whoever uses the decoder


def test_events_up_to_the_bound_pass_and_the_count_starts_again_for_each() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    events = [e.data for _ in range(5) for e in decoder.feed(b"data: " + b"y" * 990 + b"\n\n")]
    assert events == ["y" * 990] * 5
    assert MAX_EVENT_SIZE >= 4 * 1024 * 1024  # a few MiB: a whole answer sent as one event fits


def test_a_whole_event_in_one_chunk_is_bounded_too_and_the_bound_itself_fits() -> None:
    """A proxy that buffers may deliver a whole event, blank line included, in one read: it is
    measured before it is dispatched. ``max_event_size`` is the largest event accepted."""
    decoder = SSEDecoder(max_event_size=1000)
    assert [e.data for e in decoder.feed(b"data: " + b"y" * 1000 + b"\n\n")] == ["y" * 1000]
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"z" * 1001 + b"\n\n")


def test_what_is_held_counts_the_data_lines_and_the_open_line_together() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    decoder.feed(b"data: " + b"y" * 1000 + b"\n")  # held: exactly the bound, still fine
    assert [e.data for e in decoder.feed(b"\n")] == ["y" * 1000]
    decoder.feed(b"data: " + b"x" * 900 + b"\n")  # 900 held in data lines
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"x" * 200)  # plus an open line of 206: over the bound


def test_a_bare_data_line_does_not_reset_the_count() -> None:
    """``data`` without a colon is an empty data line (the SSE spec); the event still grows."""
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"x" * 900 + b"\ndata\ndata: " + b"x" * 900 + b"\n")


def _pieces(body: bytes, size: int = 100) -> list[bytes]:
    return [body[start : start + size] for start in range(0, len(body), size)]


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body delivered in pieces; each moves the fake clock on by ``step`` seconds."""

    def __init__(self, pieces: list[bytes], clock: list[float], step: float) -> None:
        self.pieces, self.clock, self.step = pieces, clock, step

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            self.clock[0] += self.step
            yield piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    state = [1000.0]
    monkeypatch.setattr("orbit_local.net.transport.time.monotonic", lambda: state[0])
    return state


def _text(kind: str, body: httpx.SyncByteStream, **kwargs: object) -> str:
    """The streamed answer through the sync or the async client."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
    server = FakeServer(queue=[response])
    if kind == "sync":
        sync = ChatClient("llamacpp", base_url=BASE, http_client=server.client(), **kwargs)  # type: ignore[arg-type]
        return "".join(delta.text for delta in sync.stream(REQUEST))

    async def run() -> str:
        client = AsyncChatClient("llamacpp", base_url=BASE, http_client=server.async_client(), **kwargs)  # type: ignore[arg-type]
        return "".join([delta.text async for delta in client.stream(REQUEST)])

    return asyncio.run(run())


TWINS = pytest.mark.parametrize("kind", ["sync", "async"])


@TWINS
def test_an_oversized_event_is_a_protocol_error_naming_server_and_url(
    kind: str, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbit_local.net.transport.MAX_EVENT_SIZE", 1000)
    body = _Body(_pieces(sse(chunk("Hel"), done=False) + b"data: " + b"z" * 5000), clock, 0.0)
    with pytest.raises(ProtocolError) as info:
        _text(kind, body)
    error = info.value
    assert type(error) is ProtocolError  # not a cut stream: retrying would not help
    assert error.provider == "llama.cpp server" and error.base_url == BASE
    assert f"{BASE}/chat/completions sent one stream event of more than 1000 characters" in error.message
    assert error.hint


# ------------------------------------------------------------------------ time
@TWINS
def test_an_event_trickling_past_the_timeout_ends_with_a_stream_timeout(kind: str, clock: list[float]) -> None:
    # A byte a second, no blank line ever: 100 s of growth against a 30 s timeout.
    body = _Body([b"data: {"] + [b"x"] * 100, clock, 1.0)
    with pytest.raises(
        StreamTimeoutError, match=r"one event from \S+/chat/completions kept arriving for more than 30 s"
    ) as info:
        _text(kind, body, timeout=30.0)
    error = info.value  # names the server and the URL, and says what to raise
    assert error.provider == "llama.cpp server" and error.base_url == BASE
    assert "timeout=" in (error.hint or "")


@TWINS
def test_a_long_event_that_ends_within_the_timeout_is_fine(kind: str, clock: list[float]) -> None:
    # 20 pieces of 1 s each: slow, but the event ends 20 s after it began (timeout 30 s);
    # the stream as a whole takes longer than the timeout, which is no fault.
    frames = sse(chunk("a" * 1000), chunk("b" * 1000), chunk(finish="stop"))
    body = _Body(_pieces(frames, len(frames) // 60 + 1), clock, 1.0)
    assert _text(kind, body, timeout=30.0) == "a" * 1000 + "b" * 1000


@TWINS
def test_time_between_events_counts_from_each_events_first_byte(kind: str, clock: list[float]) -> None:
    # Keep-alives for 25 s, then an event that takes 20 s: neither alone passes 30 s.
    pings = [b": ping\n\n"] * 25
    event = _pieces(sse(chunk("slow"), chunk(finish="stop")), 10)
    body = _Body(pings + event, clock, 1.0)
    assert _text(kind, body, timeout=30.0) == "slow"


def test_no_timeout_means_no_event_time_bound(clock: list[float]) -> None:
    body = _Body([b"data: "] + [b"x"] * 100 + [b"\n\n"], clock, 3600.0)
    with pytest.raises(ProtocolError) as info:  # the event ends and is parsed (not JSON)...
        _text("sync", body, timeout=None)
    assert not isinstance(info.value, StreamTimeoutError)  # ...with no timeout before it


# --- the bounds at their edges, and what each refusal says ----------------------------------------
# An event may arrive for exactly ``timeout`` seconds (orbit_local/net/transport.py: "SSE events must end
# within ``timeout`` of their first byte"), and the two refusals say what the server did.


@TWINS
def test_an_event_that_arrives_for_exactly_the_timeout_is_still_read(kind: str, clock: list[float]) -> None:
    first = sse(chunk("edge"), done=False)  # b'data: {...}\n\n'
    middle = first[10:-2]
    cuts = [len(middle) * i // 30 for i in range(31)]
    # the event's first bytes, then 30 pieces a second apart: 30 s of it, not yet ended
    pieces = [first[:10], *(middle[a:b] for a, b in pairwise(cuts))]
    assert len(pieces) == 31 and all(pieces)
    body = _Body([*pieces, first[-2:] + sse(chunk(finish="stop"))], clock, 1.0)
    assert _text(kind, body, timeout=30.0) == "edge"
    # one second more is too long
    late = _Body([*pieces, b" ", first[-2:] + sse(chunk(finish="stop"))], clock, 1.0)
    with pytest.raises(StreamTimeoutError) as caught:
        _text(kind, late, timeout=30.0)
    assert "never finishes the event" in (caught.value.hint or "")


@TWINS
def test_an_oversized_event_is_said_to_be_no_chat_stream(
    kind: str, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbit_local.net.transport.MAX_EVENT_SIZE", 1000)
    body = _Body(_pieces(sse(chunk("Hel"), done=False) + b"data: " + b"z" * 5000), clock, 0.0)
    with pytest.raises(ProtocolError) as caught:
        _text(kind, body)
    hint = caught.value.hint or ""
    assert "the server (or a proxy in between) sends something that is not a chat stream" in hint


def test_many_data_lines_arriving_in_one_chunk_are_bounded_together() -> None:
    """A proxy may deliver many lines of one event at once: their sizes add up within that read."""
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: xxxxxxxxx\n" * 250)
