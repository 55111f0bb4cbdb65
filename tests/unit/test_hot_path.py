"""The hot path's unvalidated chunks must stay indistinguishable from validated ones: equal,
merged equally, with independent containers (a langchain-core upgrade that adds a field or
changes a default makes these fail, not the users' streams)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_orbit_local._convert import to_generation_chunk
from orbit_local.types import ChatDelta

TEXTS = ["", "Hello", " wörld ✓", "\n"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_text_chunk_equals_the_validated_one(text: str) -> None:
    fast = to_generation_chunk(ChatDelta(text=text))
    slow = ChatGenerationChunk(message=AIMessageChunk(content=text))
    assert fast == slow
    assert fast.message.model_dump() == slow.message.model_dump()
    assert fast.message.model_fields_set == slow.message.model_fields_set
    assert fast.text == text


def test_merged_text_chunks_equal_merged_validated_ones() -> None:
    fast = [to_generation_chunk(ChatDelta(text=t)) for t in TEXTS]
    slow = [ChatGenerationChunk(message=AIMessageChunk(content=t)) for t in TEXTS]
    fast_sum, slow_sum = fast[0], slow[0]
    for a, b in zip(fast[1:], slow[1:], strict=True):
        fast_sum, slow_sum = fast_sum + a, slow_sum + b
    assert fast_sum == slow_sum and fast_sum.text == "".join(TEXTS)


def test_each_chunk_has_its_own_containers() -> None:
    first, second = (to_generation_chunk(ChatDelta(text="a")) for _ in range(2))
    first.message.response_metadata["x"] = 1
    first.message.additional_kwargs["y"] = 2
    first.message.tool_call_chunks.append({"name": "f", "args": "", "id": None, "index": 0, "type": "tool_call_chunk"})
    assert second.message.response_metadata == {} and second.message.additional_kwargs == {}
    assert second.message.tool_call_chunks == []
    assert to_generation_chunk(ChatDelta(text="b")).message.response_metadata == {}


def test_chunks_that_carry_more_than_text_are_validated() -> None:
    chunk = to_generation_chunk(ChatDelta(text="", reasoning="hm"))
    assert chunk.message.additional_kwargs == {"reasoning_content": "hm"}


def test_a_llamaindex_text_step_equals_the_validated_one() -> None:
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole, TextBlock

    from llamaindex_orbit_local._convert import stream_response
    from orbit_local.accumulate import StreamAccumulator

    accumulated = StreamAccumulator()
    steps = [stream_response(accumulated, accumulated.add(ChatDelta(text=t, raw={"n": i}))) for i, t in enumerate(TEXTS)]
    so_far = ""
    for i, (text, step) in enumerate(zip(TEXTS, steps, strict=True)):
        so_far += text
        message = ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text=so_far)])
        validated = ChatResponse(message=message, delta=text, raw={"n": i}, logprobs=None, additional_kwargs={})
        assert step == validated and step.message.content == so_far
        assert step.model_fields_set == validated.model_fields_set
        assert step.message.model_fields_set == validated.message.model_fields_set
    steps[0].additional_kwargs["x"] = 1
    steps[0].message.blocks.append(TextBlock(text="extra"))
    assert steps[1].additional_kwargs == {} and len(steps[1].message.blocks) == 1
