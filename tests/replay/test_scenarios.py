"""The scenario suite, replayed from cassettes recorded on real servers.

Runs once per target in tests/targets.py that has cassettes, in both frameworks. With
``--record-mode=once`` (``make record``) the same tests record; by default replay is strict and a
missing cassette fails without reaching the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from pydantic import BaseModel, Field

from langchain_orbit_local import ChatOrbitLocal, OrbitLocalEmbeddings
from llamaindex_orbit_local import OrbitLocal, OrbitLocalEmbedding
from orbit_local.facts.errors import ModelNotFoundError, OrbitLocalError
from tests.targets import Target, active_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in active_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no cassettes recorded yet"), id="none")]


@pytest.fixture
def vcr_cassette_dir(target: Target) -> str:
    return str(target.cassette_dir / "scenarios")



def chat(target: Target, **kwargs: Any) -> ChatOrbitLocal:
    kwargs.setdefault("model", target.chat_model)
    kwargs.setdefault("max_tokens", 48)
    return ChatOrbitLocal(provider=target.provider, base_url=target.base_url, temperature=0, seed=7, **kwargs)


def llm(target: Target, **kwargs: Any) -> OrbitLocal:
    kwargs.setdefault("model", target.chat_model)
    kwargs.setdefault("max_tokens", 48)
    return OrbitLocal(provider=target.provider, base_url=target.base_url, temperature=0, seed=7, **kwargs)


def assert_usage(target: Target, usage: dict[str, int] | None, *, streamed: bool) -> None:
    expected = target.stream_usage if streamed else target.usage
    if not expected:
        assert usage is None, "usage must never be invented"
        return
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def li_usage(kwargs: dict[str, Any]) -> dict[str, int] | None:
    if "prompt_tokens" not in kwargs:
        return None
    return {
        "input_tokens": kwargs["prompt_tokens"],
        "output_tokens": kwargs["completion_tokens"],
        "total_tokens": kwargs["total_tokens"],
    }


QUESTION = "What is the capital of France? Answer in one sentence."
# LlamaIndex complete() on a raw-prompt API (KoboldAI generate) continues text rather than
# answering a chat turn, so those targets get prompts that a continuation answers.
RAW_QUESTION = "Question: What is the capital of France?\nAnswer: The capital of France is"


def completion_prompt(target: Target, chat_prompt: str, raw_prompt: str) -> str:
    return raw_prompt if target.raw_completion else chat_prompt


# ------------------------------------------------------------------------ invoke
def test_langchain_invoke(target: Target) -> None:
    message = chat(target).invoke(QUESTION)
    assert isinstance(message, AIMessage)
    assert "Paris" in message.text
    assert_usage(target, message.usage_metadata, streamed=False)
    assert message.response_metadata["finish_reason"] in ("stop", "length")
    assert message.response_metadata["model_name"]
    assert message.response_metadata["model_provider"] == target.provider


# The context each recorded server ran with, from its start command or its own answer in the
# recording: llama-server -c 2048, KoboldCpp --contextsize 2048, Lemonade's model list says
# context_length 4096 for the loaded model, llama-cpp-python's n_ctx default is 2048, and
# FastChat's token_check says 8192 (SmolLM2's max_position_embeddings).
SERVER_CONTEXT = {
    "llamacpp": 2048, "koboldcpp": 2048, "koboldcpp-openai": 2048, "lemonade": 4096, "llama-cpp-python": 2048,
    "fastchat": 8192,
}  # fmt: skip


def test_llamaindex_complete(target: Target) -> None:
    model = llm(target)
    response = model.complete(completion_prompt(target, QUESTION, RAW_QUESTION))
    if target.name in SERVER_CONTEXT:
        assert model.metadata.context_window == SERVER_CONTEXT[target.name]
    assert "Paris" in response.text
    assert_usage(target, li_usage(response.additional_kwargs), streamed=False)
    assert response.additional_kwargs["finish_reason"] in ("stop", "length")


# ------------------------------------------------------------------------ stream
def recorded_stream(cassette_dir: str, test_name: str) -> dict[str, Any]:
    """What the recorded server said about its streamed answer, read from the cassette itself
    (not from the code under test): the id, model and system fingerprint of its chunks, and the
    last ``timings`` (llama-server and Lemonade send them on the final chunk)."""
    recording = yaml.safe_load((Path(cassette_dir) / f"{test_name}.yaml").read_text(encoding="utf-8"))
    chunks: list[dict[str, Any]] = []
    for interaction in recording["interactions"]:
        headers = {k.lower(): v for k, v in interaction["response"]["headers"].items()}
        if "text/event-stream" not in str(headers.get("content-type")):
            continue
        for line in interaction["response"]["body"]["string"].splitlines():
            data = line[len("data:") :].strip() if line.startswith("data:") else ""
            if data and data != "[DONE]":
                chunks.append(json.loads(data))
    assert chunks, f"{test_name}: the recording holds no streamed chunk"

    def first(key: str) -> Any:
        return next((c[key] for c in chunks if c.get(key)), None)

    return {
        "id": first("id"),
        "model": first("model"),
        "system_fingerprint": first("system_fingerprint"),
        "timings": next((c["timings"] for c in reversed(chunks) if c.get("timings")), None),
    }


def test_langchain_stream(target: Target, vcr_cassette_dir: str) -> None:
    chunks = list(chat(target).stream(QUESTION))
    pieces = len([c for c in chunks if c.content])
    assert pieces > 1 if target.multi_chunk_stream else pieces >= 1, "the server should stream"
    full = chunks[0]
    for piece in chunks[1:]:
        full = full + piece
    assert "Paris" in full.text
    assert full.response_metadata["finish_reason"] in ("stop", "length")
    assert_usage(target, full.usage_metadata, streamed=True)
    # Nothing the server said about the answer is lost on the way: as invoke() gives it.
    said = recorded_stream(vcr_cassette_dir, "test_langchain_stream")
    meta = full.response_metadata
    assert meta.get("id") == said["id"]
    if said["id"]:
        assert full.id == said["id"]
    assert meta["model_name"] == (said["model"] or target.chat_model)
    assert meta.get("system_fingerprint") == said["system_fingerprint"]
    assert meta.get("timings") == said["timings"]


def test_llamaindex_stream(target: Target, vcr_cassette_dir: str) -> None:
    responses = list(llm(target).stream_chat([ChatMessage(role=MessageRole.USER, content=QUESTION)]))
    pieces = len([r for r in responses if r.delta])
    assert pieces > 1 if target.multi_chunk_stream else pieces >= 1
    text = "".join(r.delta or "" for r in responses)
    assert "Paris" in text
    assert responses[-1].message.content == text
    assert_usage(target, li_usage(responses[-1].additional_kwargs), streamed=True)
    said = recorded_stream(vcr_cassette_dir, "test_llamaindex_stream")
    kwargs = responses[-1].additional_kwargs
    assert kwargs.get("id") == said["id"]
    assert kwargs["model"] == (said["model"] or target.chat_model)
    assert kwargs.get("system_fingerprint") == said["system_fingerprint"]
    assert kwargs.get("timings") == said["timings"]


async def test_langchain_astream(target: Target) -> None:
    text = ""
    usage = None
    async for piece in chat(target).astream(QUESTION):
        text += piece.text
        usage = piece.usage_metadata or usage
    assert "Paris" in text
    assert_usage(target, usage, streamed=True)


async def test_llamaindex_astream(target: Target) -> None:
    text = ""
    async for response in await llm(target).astream_complete(completion_prompt(target, QUESTION, RAW_QUESTION)):
        text += response.delta or ""
    assert "Paris" in text


# -------------------------------------------------------------------- multi-turn
PIRATE = "You are a pirate. Always answer in the voice of a pirate."


# The cassette matches on the request body, so replaying proves all four turns were sent in
# order with their roles; whether a 135M model then recalls the name is not ours to test.
def test_langchain_multi_turn_with_system_prompt(target: Target) -> None:
    messages = [
        SystemMessage(PIRATE),
        HumanMessage("My name is Ana."),
        AIMessage("Arr, welcome aboard, Ana!"),
        HumanMessage("What is my name?"),
    ]
    message = chat(target).invoke(messages)
    assert message.text.strip()
    if target.usage:
        assert message.usage_metadata is not None and message.usage_metadata["input_tokens"] > 30


def test_llamaindex_multi_turn_with_system_prompt(target: Target) -> None:
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=PIRATE),
        ChatMessage(role=MessageRole.USER, content="My name is Ana."),
        ChatMessage(role=MessageRole.ASSISTANT, content="Arr, welcome aboard, Ana!"),
        ChatMessage(role=MessageRole.USER, content="What is my name?"),
    ]
    assert (llm(target).chat(messages).message.content or "").strip()


# -------------------------------------------------------------- stop, max_tokens
COUNT = "Count from 1 to 20, separated by commas. Output only the numbers."


def test_langchain_stop_sequence(target: Target) -> None:
    message = chat(target, max_tokens=80).invoke(COUNT, stop=["7"])
    assert "7" not in message.text
    assert "1" in message.text


def test_llamaindex_stop_sequence(target: Target) -> None:
    prompt = completion_prompt(target, COUNT, "Counting from 1 to 20: 1, 2, 3,")
    response = llm(target, max_tokens=80, stop=["7"]).complete(prompt)
    assert "7" not in response.text
    if target.raw_completion:
        assert response.additional_kwargs["finish_reason"] == "stop"  # KoboldCpp says "length"; the client knows better
    else:
        assert "1" in response.text


def test_langchain_max_tokens_reached(target: Target) -> None:
    message = chat(target, max_tokens=5).invoke("Write a long story about a dragon.")
    assert message.response_metadata["finish_reason"] == "length"
    if target.usage:
        assert message.usage_metadata is not None
        assert message.usage_metadata["output_tokens"] <= 5


def test_llamaindex_max_tokens_reached(target: Target) -> None:
    prompt = completion_prompt(
        target, "Write a long story about a dragon.", "Once upon a time, in a land far away, there"
    )
    response = llm(target, max_tokens=5).complete(prompt)
    assert response.additional_kwargs["finish_reason"] == "length"


# -------------------------------------------------------------------- errors
def test_langchain_unknown_model(target: Target) -> None:
    model = chat(target, model="no-such-model-xyz")
    if target.unknown_model_error:
        with pytest.raises(ModelNotFoundError) as info:
            model.invoke("hi")
        assert target.base_url in str(info.value)
    else:
        assert model.invoke("Say hi.").text  # documented: this server ignores the model name


def test_llamaindex_unknown_model(target: Target) -> None:
    model = llm(target, model="no-such-model-xyz")
    if target.unknown_model_error:
        with pytest.raises(ModelNotFoundError):
            model.complete("hi")
    else:
        assert model.complete("Say hi.").text


def test_langchain_malformed_request(target: Target) -> None:
    with pytest.raises(OrbitLocalError) as info:
        chat(target).invoke("hi", extra_body={"temperature": "very hot"})
    assert isinstance(info.value, target.malformed_error)
    assert target.base_url in str(info.value)


def test_llamaindex_malformed_request(target: Target) -> None:
    with pytest.raises(target.malformed_error):
        llm(target, extra_body={"temperature": "very hot"}).complete("hi")


# -------------------------------------------------------------------- models
def test_list_models(target: Target) -> None:
    ids = [m.id for m in chat(target).list_models()]
    assert ids
    assert target.chat_model in ids


def test_default_model_comes_from_the_server(target: Target) -> None:
    model = ChatOrbitLocal(provider=target.provider, base_url=target.base_url, max_tokens=16, temperature=0)
    message = model.invoke("Say hello.")
    assert message.text
    assert model.client.resolve_model() in [m.id for m in model.list_models()]


# -------------------------------------------------------------- tools, structure
class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str = Field(description="The city name")


def test_langchain_tool_call(target: Target) -> None:
    if not target.tools_model:
        pytest.skip(f"{target.name} has no tool calling")
    model = chat(target, model=target.tools_model, max_tokens=64).bind_tools([GetWeather], tool_choice="GetWeather")
    message = model.invoke("What is the weather in Paris?")
    assert message.tool_calls, message
    call = message.tool_calls[0]
    assert call["name"] == "GetWeather"
    assert isinstance(call["args"].get("city"), str)
    assert call["id"]


def test_langchain_streamed_tool_call(target: Target) -> None:
    if not target.tools_model:
        pytest.skip(f"{target.name} has no tool calling")
    model = chat(target, model=target.tools_model, max_tokens=64).bind_tools([GetWeather], tool_choice="GetWeather")
    full = None
    for piece in model.stream("What is the weather in Paris?"):
        full = piece if full is None else full + piece
    assert full is not None and full.tool_calls
    assert full.tool_calls[0]["name"] == "GetWeather"
    assert isinstance(full.tool_calls[0]["args"].get("city"), str)


def test_langchain_structured_output(target: Target) -> None:
    if not target.structured_output:
        pytest.skip(f"{target.name} has no structured output")
    structured = chat(target, model=target.tools_model or target.chat_model, max_tokens=64).with_structured_output(
        GetWeather
    )
    result = structured.invoke("What is the weather in Paris?")
    assert isinstance(result, GetWeather)
    assert result.city


# ---------------------------------------------------------------- embeddings
def test_langchain_embeddings(target: Target) -> None:
    if not target.embed_model:
        pytest.skip(f"{target.name} has no embeddings")
    embeddings = OrbitLocalEmbeddings(provider=target.provider, base_url=target.base_url, model=target.embed_model)
    vectors = embeddings.embed_documents(["The cat sat on the mat.", "Paris is in France."])
    assert len(vectors) == 2
    assert len(vectors[0]) == len(vectors[1]) > 8
    assert vectors[0] != vectors[1]
    assert len(embeddings.embed_query("cat")) == len(vectors[0])


async def test_llamaindex_embeddings(target: Target) -> None:
    if not target.embed_model:
        pytest.skip(f"{target.name} has no embeddings")
    embedding = OrbitLocalEmbedding(
        provider=target.provider, base_url=target.base_url, model=target.embed_model, embed_batch_size=2
    )
    vectors = await embedding.aget_text_embedding_batch(["one", "two", "three"])
    assert len(vectors) == 3
    assert len({len(v) for v in vectors}) == 1


def test_llamaindex_tool_call(target: Target) -> None:
    if not target.tools_model:
        pytest.skip(f"{target.name} has no tool calling")
    from llama_index.core.tools import FunctionTool

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {city}"

    model = llm(target, model=target.tools_model, max_tokens=64)
    tool = FunctionTool.from_defaults(fn=get_weather)
    response = model.chat_with_tools([tool], user_msg="What is the weather in Paris?", tool_required=True)
    (selection,) = model.get_tool_calls_from_response(response)
    assert selection.tool_name == "get_weather"
    assert isinstance(selection.tool_kwargs.get("city"), str)
    assert selection.tool_id


def test_llamaindex_structured_predict(target: Target) -> None:
    if not target.tools_model:
        pytest.skip(f"{target.name}: LlamaIndex structures output through tool calls, and it has none")
    from llama_index.core.prompts import PromptTemplate

    result = llm(target, model=target.tools_model, max_tokens=64).structured_predict(
        GetWeather, PromptTemplate("What is the weather in {city}?"), city="Paris"
    )
    assert isinstance(result, GetWeather)
    assert result.city
