"""The hot path's unvalidated chunks must stay indistinguishable from validated ones: equal,
merged equally, with independent containers (a langchain-core upgrade that adds a field or
changes a default makes these fail, not the users' streams)."""

from __future__ import annotations

import os

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_orbit_local._convert import to_generation_chunk
from orbit_local.facts.types import ChatDelta

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
    from orbit_local.protocols.accumulate import StreamAccumulator

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


def test_a_llamaindex_text_answer_equals_the_validated_one() -> None:
    """A whole text answer is filled without validation too: equal to the one LlamaIndex's own
    constructors build, with the same fields set and containers of its own."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole, TextBlock

    from llamaindex_orbit_local._convert import response_kwargs, to_chat_response
    from orbit_local.facts.types import ChatResult, Usage

    result = ChatResult(text="Hello there.", model="m", finish_reason="stop", usage=Usage(9, 3, 12), raw={"id": "x"})
    answers = [to_chat_response(result, "llamacpp") for _ in range(2)]
    validated = ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text="Hello there.")]),
        raw={"id": "x"},
        logprobs=None,
        additional_kwargs=response_kwargs(result, "llamacpp"),
    )
    assert answers[0] == validated and answers[0].message.content == "Hello there."
    assert answers[0].model_fields_set == validated.model_fields_set
    assert answers[0].message.model_fields_set == validated.message.model_fields_set
    assert answers[0].additional_kwargs["total_tokens"] == 12
    answers[0].message.additional_kwargs["x"] = 1
    answers[0].message.blocks.append(TextBlock(text="extra"))
    assert answers[1].message.additional_kwargs == {} and len(answers[1].message.blocks) == 1


def test_a_langchain_text_answer_equals_the_validated_one() -> None:
    """A whole text answer is filled without validation: equal to what LangChain's own
    constructors build (``ChatGeneration(message=AIMessage(...))``, whose validator sets the
    generation's text), with the same fields set and containers of its own."""
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration

    from langchain_orbit_local._convert import response_metadata, to_generation
    from orbit_local.facts.types import ChatResult, ToolCall, Usage

    result = ChatResult(text="Hello there.", model="m", finish_reason="stop", usage=Usage(9, 3, 12), id="chatcmpl-1")
    answers = [to_generation(result, provider="llamacpp") for _ in range(2)]
    message = AIMessage(
        content="Hello there.",
        additional_kwargs={},
        tool_calls=[],
        invalid_tool_calls=[],
        usage_metadata={"input_tokens": 9, "output_tokens": 3, "total_tokens": 12},
        response_metadata=response_metadata(result, "llamacpp"),
        id="chatcmpl-1",
    )
    validated = ChatGeneration(message=message)
    assert answers[0] == validated and answers[0].text == "Hello there." and answers[0].message.id == "chatcmpl-1"
    assert answers[0].model_fields_set == validated.model_fields_set
    assert answers[0].message.model_fields_set == validated.message.model_fields_set
    answers[0].message.tool_calls.append({"name": "x", "args": {}, "id": "1", "type": "tool_call"})
    answers[0].message.additional_kwargs["x"] = 1
    assert answers[1].message.tool_calls == [] and answers[1].message.additional_kwargs == {}
    # An answer with tool calls takes the validated path, tool calls included.
    calls = ChatResult(text="", tool_calls=[ToolCall(id="c1", name="f", arguments={"a": 1})])
    assert to_generation(calls, provider="llamacpp").message.tool_calls[0]["args"] == {"a": 1}


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="mutmut's trampolines add a call to every function")
@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_one_streamed_token_crosses_at_most_twelve_of_our_functions(framework: str) -> None:
    """The hot path stays short: step 12's limit (it had grown to 21 functions in 10 modules).
    Counted with the benchmark's own measure, over a llama.cpp-shaped stream of 300 tokens."""
    import httpx

    from bench.measure import functions_per_token
    from bench.server import sse_body
    from bench.subjects import Subject

    body = sse_body(300)
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    options = {"provider": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    if framework == "langchain":
        from langchain_orbit_local import ChatOrbitLocal

        chat = ChatOrbitLocal(**options, http_client=httpx.Client(transport=transport))

        def stream(n: int) -> int:
            return sum(1 for chunk in chat.stream("hi") if chunk.content)
    else:
        from llama_index.core.base.llms.types import ChatMessage

        from llamaindex_orbit_local import OrbitLocal

        llm = OrbitLocal(**options, http_client=httpx.Client(transport=transport))

        def stream(n: int) -> int:
            return sum(1 for step in llm.stream_chat([ChatMessage(role="user", content="hi")]) if step.delta)

    assert stream(300) == 300
    subject = Subject("orbit-local", framework, call=lambda: None, stream=stream, first_token=lambda: 0.0)
    assert 5 <= functions_per_token(subject, 300) <= 12


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="mutmut's trampolines add code to every function")
@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_one_call_runs_at_most_1600_opcodes_of_ours(framework: str) -> None:
    """The call path stays short: step 12 rewrote it from about 2100 opcodes of our bytecode a
    call into fewer, larger steps (about 1400); this keeps it from growing back unnoticed.
    Counted with the benchmark's own measure, which no machine noise moves."""
    import httpx

    from bench.measure import opcodes_per_call
    from bench.server import COMPLETION
    from bench.subjects import Subject

    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=COMPLETION, headers={"content-type": "application/json"})
    )
    options = {"provider": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "model": "bench-model"}
    if framework == "langchain":
        from langchain_orbit_local import ChatOrbitLocal

        chat = ChatOrbitLocal(**options, http_client=httpx.Client(transport=transport))
        call = lambda: chat.invoke("hi")  # noqa: E731
    else:
        from llama_index.core.base.llms.types import ChatMessage

        from llamaindex_orbit_local import OrbitLocal

        llm = OrbitLocal(**options, http_client=httpx.Client(transport=transport))
        call = lambda: llm.chat([ChatMessage(role="user", content="hi")])  # noqa: E731
    assert "Hello there." in str(call())
    subject = Subject("orbit-local", framework, call=call, stream=lambda n: 0, first_token=lambda: 0.0)
    assert 300 <= opcodes_per_call(subject) <= 1600


def test_llamaindex_to_payload_is_its_own_dump_of_the_metadata_and_a_fresh_copy() -> None:
    """``to_payload`` is remembered between calls; it must still say what LlamaIndex's own
    (``{"class_name", **metadata.model_dump()}``) says, follow a changed setting, and never
    hand out the remembered dict itself."""
    from llamaindex_orbit_local import OrbitLocal

    llm = OrbitLocal(provider="openai-compatible", base_url="http://127.0.0.1:9/v1", model="m", max_tokens=64)
    first = llm.to_payload()
    assert first == {"class_name": llm.class_name(), **llm.metadata.model_dump()}
    assert first["num_output"] == 64 and first["model_name"] == "m"
    first["model_name"] = "changed by a caller"
    assert llm.to_payload()["model_name"] == "m"
    llm.max_tokens = 128
    assert llm.to_payload()["num_output"] == 128
