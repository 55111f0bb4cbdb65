"""LlamaIndex as deep as LangChain: one instrumentation pair per call, and streams that carry
thinking and tool calls as they arrive (what ``FunctionAgent``'s ``AgentStream`` shows).

Frames follow the servers' documented shapes: llama.cpp streams reasoning in
``delta.reasoning_content`` (providers/llamacpp.md), FastChat and LM Studio with the setting
off leave ``<think>`` in ``content`` (providers/fastchat.md, lmstudio.md), and tool calls
arrive as OpenAI ``delta.tool_calls`` fragments by index.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, ThinkingBlock, ToolCallBlock
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from llamaindex_orbit_local import LlamaCpp
from tests.fakes import MODEL, FakeServer, chunk, sse

BASE = "http://127.0.0.1:8080/v1"
REASONING = ["The user ", "greets me."]
CALL_ARGS = ['{"city": ', '"Paris"}']
FIRST_FRAGMENT = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "weather", "arguments": CALL_ARGS[0]},
}


def reasoning_then_tool_call() -> bytes:
    return sse(
        chunk(role="assistant", content=None, reasoning_content=REASONING[0]),
        chunk(content=None, reasoning_content=REASONING[1]),
        chunk("Let me check."),
        chunk(tool_calls=[FIRST_FRAGMENT]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": CALL_ARGS[1]}}]),
        chunk(finish="tool_calls"),
    )


def think_tags_in_content() -> bytes:
    return sse(chunk("<thi"), chunk("nk>hm, a greeting</th"), chunk("ink>Hello!"), chunk(finish="stop"))


def streaming_server(body: bytes) -> FakeServer:
    return FakeServer(chat=lambda _: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))


def llm(server: FakeServer) -> LlamaCpp:
    return LlamaCpp(base_url=BASE, model=MODEL, http_client=server.client(), async_http_client=server.async_client())


class _Recorder(BaseEventHandler):
    events: list[str]

    @classmethod
    def class_name(cls) -> str:
        return "recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(type(event).__name__)


@pytest.fixture
def events() -> Iterator[list[str]]:
    dispatcher = get_dispatcher("llama_index.core.llms.callbacks")
    while dispatcher.parent is not None and dispatcher.parent_name != "root":
        dispatcher = dispatcher.parent  # the root collects every LLM event
    recorder = _Recorder(events=[])
    dispatcher.add_event_handler(recorder)
    try:
        yield recorder.events
    finally:
        dispatcher.event_handlers.remove(recorder)


def _pairs(names: list[str]) -> Counter[str]:
    return Counter(n for n in names if n.endswith(("StartEvent", "EndEvent")) and n.startswith("LLM"))


def test_complete_fires_one_completion_pair_and_no_chat_pair(events: list[str]) -> None:
    model = llm(FakeServer())
    assert model.complete("hi").text == "Hello there."
    assert _pairs(events) == {"LLMCompletionStartEvent": 1, "LLMCompletionEndEvent": 1}
    events.clear()
    assert model.chat([ChatMessage(role="user", content="hi")]).message.content == "Hello there."
    assert _pairs(events) == {"LLMChatStartEvent": 1, "LLMChatEndEvent": 1}


def test_streamed_and_async_completions_fire_one_pair_each(events: list[str]) -> None:
    model = llm(FakeServer())
    assert "".join(r.delta or "" for r in model.stream_complete("hi")) == "Hello"

    async def run() -> str:
        done = await model.acomplete("hi")
        streamed = [r async for r in await model.astream_complete("hi")]
        return done.text + "|" + streamed[-1].text

    assert asyncio.run(run()) == "Hello there.|Hello"
    assert _pairs(events) == {"LLMCompletionStartEvent": 3, "LLMCompletionEndEvent": 3}


def test_stream_carries_thinking_deltas_and_tool_call_blocks_as_they_arrive() -> None:
    model = llm(streaming_server(reasoning_then_tool_call()))
    responses = list(model.stream_chat([ChatMessage(role="user", content="hi")]))
    thinking = [r.additional_kwargs.get("thinking_delta") for r in responses]
    assert [t for t in thinking if t] == REASONING
    # The reasoning so far is a ThinkingBlock on every step once it started.
    second = responses[1].message.blocks
    assert [b.content for b in second if isinstance(b, ThinkingBlock)] == ["".join(REASONING)]
    # The tool call shows while it streams in: the name at once, the arguments as far as they go.
    streamed_calls = [
        [(b.tool_call_id, b.tool_name, b.tool_kwargs) for b in r.message.blocks if isinstance(b, ToolCallBlock)]
        for r in responses[:-1]
    ]
    first_call_step = next(i for i, calls in enumerate(streamed_calls) if calls)
    assert first_call_step < len(responses) - 1
    assert streamed_calls[first_call_step][0][:2] == ("call_1", "weather")
    assert streamed_calls[first_call_step + 1] == [("call_1", "weather", {"city": "Paris"})]
    last = responses[-1]
    assert last.message.content == "Let me check." and last.delta == ""
    assert last.additional_kwargs["finish_reason"] == "tool_calls"
    selections = llm(FakeServer()).get_tool_calls_from_response(last)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections] == [("call_1", "weather", {"city": "Paris"})]


def test_async_stream_splits_think_tags_into_thinking_deltas() -> None:
    async def run() -> list[Any]:
        model = llm(streaming_server(think_tags_in_content()))
        gen = await model.astream_chat([ChatMessage(role="user", content="hi")])
        return [r async for r in gen]

    responses = asyncio.run(run())
    assert "".join(r.additional_kwargs.get("thinking_delta") or "" for r in responses) == "hm, a greeting"
    assert "".join(r.delta or "" for r in responses) == "Hello!"
    assert [b.content for b in responses[-1].message.blocks if isinstance(b, ThinkingBlock)] == ["hm, a greeting"]


def test_plain_text_streams_carry_no_thinking_or_tool_blocks() -> None:
    responses = list(llm(FakeServer()).stream_chat([ChatMessage(role="user", content="hi")]))
    assert all("thinking_delta" not in r.additional_kwargs for r in responses)
    assert all(not isinstance(b, (ThinkingBlock, ToolCallBlock)) for r in responses for b in r.message.blocks)
