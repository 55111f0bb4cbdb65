"""The core stream object: it owns its result, fills the model from the request, sets
``partial_text`` on a cut, and never changes a delta it has handed on."""

from __future__ import annotations

import httpx
import pytest

from orbit_local.chat_stream import ChatStream
from orbit_local.client import ChatClient
from orbit_local.errors import StreamInterruptedError
from orbit_local.types import ChatRequest, Message
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
    from orbit_local.accumulate import StreamAccumulator
    from orbit_local.types import ChatDelta, ToolCallChunk

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
