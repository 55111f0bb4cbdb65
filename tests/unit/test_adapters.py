"""Both adapters, every class in the provider table, over an in-memory server.

Each class must: subclass its framework's base, invoke/complete/chat, stream with per-token
callbacks, batch, run async natively, report usage (where the server's numbers are real),
fill response metadata, and raise the typed errors.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.custom import CustomLLM

from orbit_local.facts.errors import ModelNotFoundError, ServerNotRunningError, StreamInterruptedError
from orbit_local.facts.providers import get_provider
from tests.fakes import MODEL, FakeServer, chunk, completion, sse
from tests.providers_under_test import PAIRS, Pair

BASE = "http://127.0.0.1:5999/v1"
IDS = [p.provider for p in PAIRS]


def _generic(pair: Pair, kwargs: dict[str, Any]) -> dict[str, Any]:
    # The generic classes detect the server by default; the fake answers KoboldCpp's routes too,
    # so name the profile under test (auto-detection has its own tests).
    if pair.provider == "openai-compatible":
        kwargs.setdefault("provider", "openai-compatible")
    return kwargs


def lc(pair: Pair, server: FakeServer, **kwargs: Any) -> Any:
    return pair.langchain(
        base_url=BASE, http_client=server.client(), http_async_client=server.async_client(), **_generic(pair, kwargs)
    )


def li(pair: Pair, server: FakeServer, **kwargs: Any) -> Any:
    return pair.llamaindex(
        base_url=BASE, http_client=server.client(), async_http_client=server.async_client(), **_generic(pair, kwargs)
    )


class TokenRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def generation_body(server: FakeServer) -> dict[str, Any]:
    """The last body that asked for a generation (not a model list or token count)."""
    bodies = [b for b in server.bodies() if "messages" in b or ("prompt" in b and "special" not in b)]
    return bodies[-1]


def is_kobold(pair: Pair) -> bool:
    return get_provider(pair.provider).protocol == "kobold"


def expected_usage(pair: Pair, streamed: bool) -> dict[str, int] | None:
    profile = get_provider(pair.provider)
    if not profile.usage_reliable:
        return None
    if streamed and profile.streaming:
        # the fake server always sends a usage chunk; a server that is not asked (stream_usage
        # "never") still gets it parsed — we never invent numbers, we only read them.
        return {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    return {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}


# --------------------------------------------------------------------------- LangChain
def with_system(pair: Pair, system: str, user: str) -> list[dict[str, str]]:
    """The wire messages for a system prompt and a question: GPT4All (whose 3.0-3.4 servers drop
    system messages) gets the system text at the head of the user turn."""
    if not get_provider(pair.provider).system_role:
        return [{"role": "user", "content": f"{system}\n\n{user}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_invoke(pair: Pair) -> None:
    server = FakeServer()
    model = lc(pair, server, temperature=0.1, max_tokens=20)
    assert isinstance(model, BaseChatModel)
    message = model.invoke([SystemMessage("be brief"), HumanMessage("hi")])
    assert isinstance(message, AIMessage)
    assert message.content == "Hello there."
    assert message.usage_metadata == expected_usage(pair, streamed=False)
    meta = message.response_metadata
    assert meta["model_name"] == MODEL
    assert meta["finish_reason"] == "stop"
    assert meta["model_provider"] == get_provider(pair.provider).name
    body = generation_body(server)
    if is_kobold(pair):
        assert (
            body["prompt"]
            == "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        )
        assert body["max_length"] == 20
        assert body["max_context_length"] == 2048  # discovered from the server
    else:
        assert body["messages"] == with_system(pair, "be brief", "hi")
        assert body["max_tokens"] == 20
        assert body["model"] == MODEL  # resolved from the server's model list


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_stream_with_callbacks(pair: Pair) -> None:
    server = FakeServer()
    recorder = TokenRecorder()
    model = lc(pair, server, callbacks=[recorder])
    chunks = list(model.stream("hi"))
    full = chunks[0]
    for piece in chunks[1:]:
        full = full + piece
    profile = get_provider(pair.provider)
    expected_text = "Hello" if profile.streaming else "Hello there."
    assert full.content == expected_text
    assert "".join(recorder.tokens) == expected_text
    assert len(recorder.tokens) == len(chunks)
    assert full.usage_metadata == expected_usage(pair, streamed=True)
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.response_metadata["model_name"] == MODEL
    if not is_kobold(pair):
        assert generation_body(server).get("stream") is (True if profile.streaming else None)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_streaming_flag_uses_stream_under_invoke(pair: Pair) -> None:
    server = FakeServer()
    recorder = TokenRecorder()
    message = lc(pair, server, streaming=True, callbacks=[recorder]).invoke("hi")
    assert message.content == ("Hello" if get_provider(pair.provider).streaming else "Hello there.")
    assert recorder.tokens


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_batch_and_async(pair: Pair) -> None:
    server = FakeServer()
    model = lc(pair, server)
    assert [m.content for m in model.batch(["a", "b"])] == ["Hello there."] * 2

    async def run() -> tuple[str, str]:
        message = await model.ainvoke("hi")
        text = ""
        async for piece in model.astream("hi"):
            text += str(piece.content)
        return str(message.content), text

    content, streamed = asyncio.run(run())
    assert content == "Hello there."
    assert streamed in ("Hello", "Hello there.")


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_per_call_params_and_stop(pair: Pair) -> None:
    server = FakeServer()
    model = lc(pair, server, model="fixed")
    model.invoke("hi", stop=["\n\n"], temperature=0.7, model="override")
    body = generation_body(server)
    assert body["temperature"] == 0.7
    if is_kobold(pair):
        assert body["stop_sequence"][0] == "\n\n"
    else:
        assert body["model"] == "override"
        if not get_provider(pair.provider).client_side_stop:
            assert body["stop"] == ["\n\n"]
    assert not any(r.url.path.endswith("/models") or r.url.path.endswith("/model") for r in server.requests)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_langchain_not_running(pair: Pair) -> None:
    server = FakeServer(queue=[httpx.ConnectError("refused")] * 5)
    model = lc(pair, server, model="m", max_retries=0)
    with pytest.raises(ServerNotRunningError) as info:
        model.invoke("hi")
    assert BASE in str(info.value)
    assert get_provider(pair.provider).start_hint in str(info.value)


def test_langchain_tool_messages_round_trip() -> None:
    server = FakeServer()
    model = lc(PAIRS[0], server, model="m")
    call = {"name": "add", "args": {"a": 1}, "id": "365174485", "type": "tool_call"}
    model.invoke([HumanMessage("add"), AIMessage("", tool_calls=[call]), ToolMessage("2", tool_call_id="365174485")])
    messages = server.bodies()[-1]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "365174485"
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    assert messages[2] == {"role": "tool", "content": "2", "tool_call_id": "365174485"}


def test_langchain_interrupted_stream_raises_with_partial_text() -> None:
    body = sse(chunk("Hel"), done=False)
    server = FakeServer(queue=[httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)])
    model = lc(PAIRS[6], server, model="m")
    with pytest.raises(StreamInterruptedError) as info:
        list(model.stream("hi"))
    assert info.value.partial_text == "Hel"


def test_langchain_no_models_is_a_typed_error() -> None:
    server = FakeServer(models=[])
    with pytest.raises(ModelNotFoundError, match="LLAMACPP_MODEL"):
        lc(PAIRS[6], server).invoke("hi")


def test_langchain_ls_params_and_identity() -> None:
    model = PAIRS[0].langchain(model="qwen", temperature=0.5, max_tokens=9, stop=["x"])
    params = model._get_ls_params()
    assert params == {
        "ls_provider": "lmstudio",
        "ls_model_name": "qwen",
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 9,
        "ls_stop": ["x"],
    }
    assert model._llm_type == "orbit-local-lmstudio"
    assert model._identifying_params["base_url"] == "http://localhost:1234/v1"


# -------------------------------------------------------------------------- LlamaIndex
@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_llamaindex_complete_and_chat(pair: Pair) -> None:
    server = FakeServer()
    llm = li(pair, server, max_tokens=20)
    assert isinstance(llm, CustomLLM)
    completion = llm.complete("hi")
    assert completion.text == "Hello there."
    usage = expected_usage(pair, streamed=False)
    expected_kwargs = (
        {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        }
        if usage
        else {}
    )
    if is_kobold(pair):
        # complete() goes straight onto generate: the raw prompt "hi", no chat template
        assert generation_body(server)["prompt"] == "hi"
        expected_kwargs = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    usage_keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    assert {k: v for k, v in completion.additional_kwargs.items() if k in usage_keys} == expected_kwargs
    assert completion.additional_kwargs["provider"] == pair.provider
    response = llm.chat(
        [ChatMessage(role=MessageRole.SYSTEM, content="sys"), ChatMessage(role=MessageRole.USER, content="hi")]
    )
    assert response.message.content == "Hello there."
    assert response.additional_kwargs["finish_reason"] == "stop"
    assert response.additional_kwargs["model"] == MODEL
    if not is_kobold(pair):
        assert generation_body(server)["messages"] == with_system(pair, "sys", "hi")


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_llamaindex_stream(pair: Pair) -> None:
    server = FakeServer()
    llm = li(pair, server)
    responses = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")]))
    expected = "Hello" if get_provider(pair.provider).streaming else "Hello there."
    assert "".join(r.delta or "" for r in responses) == expected
    assert responses[-1].message.content == expected
    assert responses[-1].additional_kwargs["finish_reason"] == "stop"
    completions = list(llm.stream_complete("hi"))
    assert completions[-1].text == expected


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_llamaindex_async(pair: Pair) -> None:
    server = FakeServer()
    llm = li(pair, server)

    async def run() -> tuple[str, str, str]:
        chat = await llm.achat([ChatMessage(role=MessageRole.USER, content="hi")])
        completion = await llm.acomplete("hi")
        streamed = ""
        async for response in await llm.astream_chat([ChatMessage(role=MessageRole.USER, content="hi")]):
            streamed += response.delta or ""
        async for _ in await llm.astream_complete("hi"):
            pass
        return chat.message.content or "", completion.text, streamed

    chat, completion, streamed = asyncio.run(run())
    assert chat == completion == "Hello there."
    assert streamed in ("Hello", "Hello there.")
    # Native async: every request went through the async client (the sync one is never built).
    assert llm._client is None


# What the in-memory server answers where each server tells its context (its model list and
# /props say 8192, KoboldCpp's true_max_context_length 2048, FastChat's token_check 8192), and
# the documented defaults where a server does not tell (GPT4All's app: 2048).
FAKE_SERVER_CONTEXT = {
    "lmstudio": 8192, "localai": 3900, "fastchat": 8192, "gpt4all": 2048, "koboldai": 2048, "lemonade": 8192,
    "llamacpp": 8192, "vllm": 8192, "shimmy": 3900, "ollama": 3900, "openai-compatible": 3900,
}  # fmt: skip
"""What LlamaIndex plans with against the fake server: the size servers with a context endpoint
report (8192, KoboldCpp's 2048), else a default that metadata labels as not the server's:
LlamaIndex's DEFAULT_CONTEXT_WINDOW (3900), or GPT4All's documented 2048 where smaller."""
NOT_TOLD = {"localai", "shimmy", "ollama", "openai-compatible", "gpt4all"}


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_llamaindex_metadata(pair: Pair) -> None:
    llm = li(pair, FakeServer(), model="m", max_tokens=64)
    meta = llm.metadata
    assert meta.is_chat_model is True
    assert meta.model_name == "m"
    assert meta.num_output == 64
    assert meta.context_window == FAKE_SERVER_CONTEXT[pair.provider]
    assert meta.context_window_source == ("default" if pair.provider in NOT_TOLD else "server")
    assert pair.llamaindex(model="m", context_window=1234, base_url=BASE).metadata.context_window == 1234


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_llamaindex_env(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{pair.env_prefix}BASE_URL", "http://127.0.0.1:4444/v1")
    monkeypatch.setenv(f"{pair.env_prefix}MODEL", "env-model")
    llm = pair.llamaindex()
    assert llm.base_url == "http://127.0.0.1:4444/v1"
    assert llm.model == "env-model"


def test_context_window_is_discovered_and_overflow_warned() -> None:
    from orbit_local.backends.client import ContextOverflowWarning

    server = FakeServer()
    model = lc(PAIRS[6], server, model="m", max_tokens=100)  # llama.cpp: /props
    assert model.get_context_window() == 8192
    assert model.profile is not None and model.profile["max_input_tokens"] == 8192
    with pytest.warns(ContextOverflowWarning, match="8192"):
        model.invoke("word " * 12000)
    model.invoke("short prompt")  # no warning for a prompt that fits


def _tool_call_server() -> FakeServer:
    def answer(body: dict[str, Any]) -> httpx.Response:
        if any(m["role"] == "tool" for m in body["messages"]):
            return httpx.Response(200, json=completion("It is sunny in Paris."))
        call = {
            "id": "365174485",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        return httpx.Response(200, json=completion("", finish="tool_calls", tool_calls=[call]))

    return FakeServer(chat=answer)


def test_llamaindex_function_calling_interface() -> None:
    from llama_index.core.llms.function_calling import FunctionCallingLLM
    from llama_index.core.tools import FunctionTool

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        return f"sunny in {city}"

    server = _tool_call_server()
    llm = li(PAIRS[0], server, model="m")
    assert isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model
    tool = FunctionTool.from_defaults(fn=get_weather)
    response = llm.chat_with_tools([tool], user_msg="Weather in Paris?", tool_required=True)
    body = generation_body(server)
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == "required"
    (selection,) = llm.get_tool_calls_from_response(response)
    assert (selection.tool_id, selection.tool_name, selection.tool_kwargs) == (
        "365174485",
        "get_weather",
        {"city": "Paris"},
    )
    output = llm.predict_and_call([tool], user_msg="Weather in Paris?")
    assert "sunny in Paris" in str(output)
    text_only = li(PAIRS[0], FakeServer(), model="m").chat([ChatMessage(role=MessageRole.USER, content="hi")])
    with pytest.raises(ValueError, match="Expected at least one tool call"):
        llm.get_tool_calls_from_response(text_only)


def test_langchain_tool_call_round_trip_with_numeric_ids() -> None:
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        return f"sunny in {city}"

    server = _tool_call_server()
    model = lc(PAIRS[0], server, model="m").bind_tools([get_weather])
    message = model.invoke("Weather in Paris?")
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "365174485", "type": "tool_call"}
    ]
    result = get_weather.invoke(message.tool_calls[0])
    final = model.invoke([HumanMessage("Weather in Paris?"), message, result])
    assert final.text == "It is sunny in Paris."
    assert generation_body(server)["messages"][-1] == {
        "role": "tool",
        "content": "sunny in Paris",
        "tool_call_id": "365174485",
    }


def test_structured_output_without_json_mode_puts_the_schema_in_the_prompt() -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    def answer(body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json=completion('```json\n{"name": "Paris", "country": "France"}\n```'))

    server = FakeServer(chat=answer)
    structured = lc(PAIRS[3], server, model="m").with_structured_output(City)  # GPT4All: no JSON mode, no tools
    assert structured.invoke([SystemMessage("Be exact."), HumanMessage("Capital of France?")]) == City(
        name="Paris", country="France"
    )
    # GPT4All 3.0-3.4 drop system messages: their text leads the (one) user turn
    messages = generation_body(server)["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"].startswith("Be exact.\n\n") and messages[0]["content"].endswith("Capital of France?")
    assert "JSON schema" in messages[0]["content"] and '"country"' in messages[0]["content"]
    assert "response_format" not in generation_body(server)

    bad = FakeServer(chat=lambda body: httpx.Response(200, json=completion('{"name": "Paris"}')))
    raw = lc(PAIRS[3], bad, model="m").with_structured_output(City, include_raw=True).invoke("Capital?")
    assert raw["parsed"] is None and raw["parsing_error"] is not None and raw["raw"].text


def test_llamaindex_structured_predict_uses_function_calling() -> None:
    from llama_index.core.prompts import PromptTemplate
    from pydantic import BaseModel

    class Weather(BaseModel):
        """The weather in a city."""

        city: str

    def answer(body: dict[str, Any]) -> httpx.Response:
        call = {"id": "c1", "type": "function", "function": {"name": "Weather", "arguments": '{"city": "Paris"}'}}
        return httpx.Response(200, json=completion("", finish="tool_calls", tool_calls=[call]))

    server = FakeServer(chat=answer)
    llm = li(PAIRS[6], server, model="m")
    result = llm.structured_predict(Weather, PromptTemplate("Weather for {place}?"), place="Paris")
    assert result == Weather(city="Paris")
    assert generation_body(server)["tools"][0]["function"]["name"] == "Weather"
    structured = llm.as_structured_llm(Weather)
    response = structured.chat([ChatMessage(role=MessageRole.USER, content="Weather for Paris?")])
    assert response.raw == Weather(city="Paris")
