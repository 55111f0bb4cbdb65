"""What the server returns reaches the user: logprobs, every choice, the server's own JSON.

Payloads follow the OpenAI chat-completions shapes (choice ``logprobs.content`` entries with
``token``, ``logprob``, ``bytes``, ``top_logprobs``), which llama.cpp, llama-cpp-python and vLLM
return when ``logprobs`` is asked for.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.errors import UnsupportedFeatureError
from tests.fakes import FakeServer, chunk, sse

BASE = "http://127.0.0.1:5999/v1"


def entry(token: str, logprob: float) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": token, "logprob": logprob, "bytes": list(token.encode())},
                         {"token": "x", "logprob": -9.0, "bytes": [120]}],
    }  # fmt: skip


ANSWER = {
    "id": "chatcmpl-7",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop",
         "logprobs": {"content": [entry("Hi", -0.1)]}},
        {"index": 1, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "length",
         "logprobs": {"content": [entry("Hello", -0.7)]}},
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}  # fmt: skip


def answering(body: dict[str, Any]) -> httpx.Response:
    if body.get("stream"):
        frames = [
            {**chunk("Hel"), "choices": [{"index": 0, "delta": {"content": "Hel"}, "logprobs": {"content": [entry("Hel", -0.2)]}}]},
            {**chunk("lo"), "choices": [{"index": 0, "delta": {"content": "lo"}, "logprobs": {"content": [entry("lo", -0.3)]}}]},
            chunk(finish="stop"),
        ]  # fmt: skip
        return httpx.Response(200, content=sse(*frames), headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=ANSWER)


def test_langchain_logprobs_every_choice_and_stream_logprobs() -> None:
    server = FakeServer(chat=answering)
    model = lc.ChatVLLM(base_url=BASE, model="m", n=2, logprobs=True, top_logprobs=2, http_client=server.client())
    result = model.generate([[HumanMessage("hi")]])
    first, second = result.generations[0]
    assert (first.message.text, second.message.text) == ("Hi", "Hello")
    assert first.message.response_metadata["logprobs"] == {"content": [entry("Hi", -0.1)]}
    assert second.message.response_metadata["finish_reason"] == "length"
    streaming = lc.ChatVLLM(base_url=BASE, model="m", logprobs=True, http_client=server.client())
    chunks = list(streaming.stream("hi"))
    merged = chunks[0]
    for piece in chunks[1:]:
        merged += piece
    assert merged.response_metadata["logprobs"] == {"content": [entry("Hel", -0.2), entry("lo", -0.3)]}


def test_llamaindex_logprobs_raw_json_and_choices() -> None:
    server = FakeServer(chat=answering)
    llm = li.VLLM(base_url=BASE, model="m", n=2, logprobs=True, top_logprobs=2, http_client=server.client())
    response = llm.chat([ChatMessage(role=MessageRole.USER, content="hi")])
    assert response.raw == ANSWER  # the server's own JSON
    assert response.logprobs is not None
    assert [(p.token, p.logprob) for p in response.logprobs[0]] == [("Hi", -0.1), ("x", -9.0)]
    assert response.additional_kwargs["choices"] == [
        {"text": "Hi", "finish_reason": "stop"},
        {"text": "Hello", "finish_reason": "length"},
    ]
    streamed = list(
        li.VLLM(base_url=BASE, model="m", logprobs=True, http_client=server.client()).stream_chat(
            [ChatMessage(role=MessageRole.USER, content="hi")]
        )
    )
    assert streamed[0].raw["choices"][0]["delta"]["content"] == "Hel"  # each step carries its frame
    assert [lp[0].token for lp in streamed[-1].logprobs or []] == ["Hel", "lo"]  # the whole stream's


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_several_answers_cannot_stream(framework: str) -> None:
    server = FakeServer(chat=answering)
    with pytest.raises(UnsupportedFeatureError, match="n=2 cannot be streamed"):
        if framework == "langchain":
            list(lc.ChatVLLM(base_url=BASE, model="m", n=2, http_client=server.client()).stream("hi"))
        else:
            list(li.VLLM(base_url=BASE, model="m", n=2, http_client=server.client()).stream_complete("hi"))
    assert not [r for r in server.requests if r.method == "POST"]
