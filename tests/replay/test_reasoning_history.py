"""An assistant turn's reasoning goes back to a real llama-server, which reads it
(``make record PROVIDER=reasoning-back-llamacpp``).

The server runs SmolLM2 with a chat template that opens a think block at the generation prompt
and writes an assistant turn's ``reasoning_content`` back into that turn's think block
(tests/live/templates/smollm2-interleaved-think.jinja; ``--reasoning-format deepseek``,
``--reasoning-budget 16``). So the prompt's token count, which the server reports as usage,
shows whether the reasoning arrived: the facts asserted are the server's own numbers.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ThinkingBlock

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from tests.targets import Target, reasoning_back_targets, replay_params

pytestmark = pytest.mark.vcr

TARGETS = replay_params(reasoning_back_targets(), "reasoning-back")

QUESTION = "What is 2+2?"
FOLLOW_UP = "And times 3?"


def test_the_reasoning_of_a_turn_reaches_the_server(target: Target) -> None:
    chat = ChatOrbitLocal(**target.chat_settings(max_tokens=48))
    first = chat.invoke([HumanMessage(QUESTION)])
    reasoning = first.additional_kwargs.get("reasoning_content")
    assert reasoning, "the think template makes the server send reasoning_content"

    with_reasoning = chat.invoke([HumanMessage(QUESTION), first, HumanMessage(FOLLOW_UP)])
    without = chat.invoke([HumanMessage(QUESTION), AIMessage(first.content), HumanMessage(FOLLOW_UP)])
    assert with_reasoning.usage_metadata is not None and without.usage_metadata is not None
    # the template writes the reasoning (and its think tags) into the prompt only when sent
    assert with_reasoning.usage_metadata["input_tokens"] > without.usage_metadata["input_tokens"]

    llm = OrbitLocal(**target.chat_settings(max_tokens=48))
    answer = ChatMessage(
        role=MessageRole.ASSISTANT, blocks=[ThinkingBlock(content=reasoning), TextBlock(text=str(first.content))]
    )
    history = [
        ChatMessage(role=MessageRole.USER, content=QUESTION),
        answer,
        ChatMessage(role=MessageRole.USER, content=FOLLOW_UP),
    ]
    response = llm.chat(history)
    # the same conversation from LlamaIndex's ThinkingBlock: the same prompt, token for token
    assert response.additional_kwargs["prompt_tokens"] == with_reasoning.usage_metadata["input_tokens"]


def test_a_per_request_reasoning_budget_cuts_the_thinking_short(target: Target) -> None:
    """The server was started with ``--reasoning-budget 16``; ``reasoning_budget=4`` is sent as
    llama-server's ``reasoning_budget_tokens`` and wins for that request: the server ends the
    think block after 4 tokens instead of 16 (same prompt, temperature 0, same seed)."""
    chat = ChatOrbitLocal(**target.chat_settings(max_tokens=48))
    default = chat.invoke([HumanMessage(QUESTION)])
    short = ChatOrbitLocal(**target.chat_settings(max_tokens=48, reasoning_budget=4)).invoke([HumanMessage(QUESTION)])
    long_reasoning = str(default.additional_kwargs.get("reasoning_content") or "")
    short_reasoning = str(short.additional_kwargs.get("reasoning_content") or "")
    assert long_reasoning and short_reasoning
    assert len(chat.get_token_ids(short_reasoning)) < len(chat.get_token_ids(long_reasoning))
