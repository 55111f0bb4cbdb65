"""One test for each class of bug the planted-bug audit found uncaught (issue 10).

Expected values are written out from the server shapes (OpenAI stream chunks with tool-call
``index``, usage only in the last chunk, ``reasoning_content``, ``system_fingerprint``), never
computed from the code under test.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from tests.fakes import FakeServer, chunk, sse

pytestmark = pytest.mark.reliability

BASE = "http://127.0.0.1:5999/v1"


def streaming(frames: list[Any]) -> FakeServer:
    body = sse(*frames)
    return FakeServer(chat=lambda _: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))


def broken() -> httpx.Client:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the async path used the sync client")

    return httpx.Client(transport=httpx.MockTransport(fail))


def test_reliab_async_paths_never_use_the_sync_client() -> None:
    server = FakeServer()
    chat = lc.ChatLlamaCpp(base_url=BASE, model="m", http_client=broken(), http_async_client=server.async_client())
    llm = li.LlamaCpp(base_url=BASE, model="m", http_client=broken(), async_http_client=server.async_client())

    async def run() -> list[str]:
        texts = [(await chat.ainvoke("hi")).text]
        texts.append("".join([c.text async for c in chat.astream("hi")]))
        texts.append((await llm.achat([ChatMessage(role=MessageRole.USER, content="hi")])).message.content or "")
        texts.append((await llm.acomplete("hi")).text)
        return texts

    assert asyncio.run(run()) == ["Hello there.", "Hello", "Hello there.", "Hello there."]


def test_reliab_async_retries_follow_the_same_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    busy = httpx.Response(503, json={"error": {"message": "Loading model", "type": "unavailable_error"}})
    server = FakeServer(queue=[busy, busy])
    chat = lc.ChatLlamaCpp(base_url=BASE, model="m", http_async_client=server.async_client())
    assert asyncio.run(chat.ainvoke("hi")).text == "Hello there."
    assert slept == [0.5, 1.0]  # the documented back-off, as in the sync twin


PARALLEL_CALLS = [
    chunk(
        tool_calls=[{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}]
    ),
    chunk(tool_calls=[{"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": ""}}]),
    chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
    chunk(tool_calls=[{"index": 1, "function": {"arguments": '{"zone": "UTC"}'}}]),
    chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
    chunk(finish="tool_calls"),
]


def test_reliab_parallel_tool_calls_in_a_stream_stay_apart() -> None:
    chat = lc.ChatVLLM(base_url=BASE, model="m", http_client=streaming(PARALLEL_CALLS).client())
    merged = None
    for piece in chat.bind_tools([{"type": "function", "function": {"name": "weather", "parameters": {}}},
                                  {"type": "function", "function": {"name": "time", "parameters": {}}}]).stream("hi"):  # fmt: skip
        merged = piece if merged is None else merged + piece
    assert merged is not None
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        ("weather", {"city": "Paris"}, "call_a"),
        ("time", {"zone": "UTC"}, "call_b"),
    ]
    llm = li.VLLM(base_url=BASE, model="m", http_client=streaming(PARALLEL_CALLS).client())
    last = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")]))[-1]
    calls = llm.get_tool_calls_from_response(last, error_on_no_tool_call=False)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("weather", {"city": "Paris"}), ("time", {"zone": "UTC"})]


USAGE_FRAMES = [
    {**chunk("Hel"), "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}},  # vLLM-style zeros
    chunk("lo"),  # no usage at all
    chunk(finish="stop"),
    {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    },
    {"id": "chatcmpl-1", "model": "m", "choices": []},  # a later chunk without usage must not erase it
]


def test_reliab_usage_merged_across_chunks() -> None:
    chat = lc.ChatVLLM(base_url=BASE, model="m", http_client=streaming(USAGE_FRAMES).client())
    merged = None
    for piece in chat.stream("hi"):
        merged = piece if merged is None else merged + piece
    assert merged is not None and merged.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    llm = li.VLLM(base_url=BASE, model="m", http_client=streaming(USAGE_FRAMES).client())
    last = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")]))[-1]
    assert (last.additional_kwargs["prompt_tokens"], last.additional_kwargs["completion_tokens"]) == (7, 2)


REASONING_FRAMES = [
    {**chunk(reasoning_content="Let me think."), "system_fingerprint": "b6000-fp"},
    chunk("Paris."),
    chunk(finish="stop"),
]


def test_reliab_reasoning_and_fingerprint_reach_both_frameworks() -> None:
    chat = lc.ChatLlamaCpp(base_url=BASE, model="m", http_client=streaming(REASONING_FRAMES).client())
    merged = None
    for piece in chat.stream("hi"):
        merged = piece if merged is None else merged + piece
    assert merged is not None
    assert merged.text == "Paris."
    assert merged.additional_kwargs["reasoning_content"] == "Let me think."
    assert merged.response_metadata["system_fingerprint"] == "b6000-fp"
    llm = li.LlamaCpp(base_url=BASE, model="m", http_client=streaming(REASONING_FRAMES).client())
    last = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")]))[-1]
    thinking = [b for b in last.message.blocks if type(b).__name__ == "ThinkingBlock"]
    assert thinking and thinking[0].content == "Let me think."
    assert last.additional_kwargs["system_fingerprint"] == "b6000-fp"


def test_reliab_text_the_think_splitter_holds_back_is_released_at_the_end() -> None:
    frames = [chunk("Answer: 4 <"), chunk("thi"), chunk(finish="stop")]  # "<thi" could have been "<think>"
    chat = lc.ChatLlamaCpp(base_url=BASE, model="m", http_client=streaming(frames).client())
    assert "".join(c.text for c in chat.stream("hi")) == "Answer: 4 <thi"
    llm = li.LlamaCpp(base_url=BASE, model="m", http_client=streaming(frames).client())
    assert (
        list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")]))[-1].message.content
        == "Answer: 4 <thi"
    )


@pytest.mark.parametrize(
    ("cls", "key", "servers_own_default"),
    [
        (lc.ChatFastChat, "max_tokens", None),  # FastChat: unset means up to the whole context
        (lc.ChatGPT4All, "max_tokens", 16),  # the GPT4All app's own default
        (lc.ChatKoboldAI, "max_length", 180),  # KoboldCpp's generate default (80-180)
    ],
)
def test_reliab_per_server_defaults_are_sent(cls: type, key: str, servers_own_default: int | None) -> None:
    """Servers whose own default is useless (unbounded or tiny) get an explicit limit."""
    server = FakeServer()
    cls(base_url=BASE, model="m", http_client=server.client()).invoke("hi")
    bodies = [json.loads(r.content) for r in server.requests if r.method == "POST" and "tokencount" not in r.url.path]
    sent = bodies[-1][key]
    assert isinstance(sent, int) and sent > (servers_own_default or 0) and sent <= 2048
