"""What the OpenAI protocol reads back: answers, model lists, stream frames, cut streams.

Shapes are the ones documented in docs/providers and ../shared/providers (per server), or the
OpenAI chat-completions wire format itself.
"""

from __future__ import annotations

import json

import pytest

from orbit_local.errors import ProtocolError, StreamInterruptedError
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider
from orbit_local.streams import SSEEvent
from orbit_local.types import ChatRequest, Message

URL = "http://127.0.0.1:9/v1"
USER = [Message(role="user", content="hi")]


def protocol(name: str = "llamacpp") -> OpenAIProtocol:
    return OpenAIProtocol(get_provider(name), URL)


def answer(*calls: dict) -> dict:
    return {"choices": [{"message": {"content": None, "tool_calls": list(calls)}, "finish_reason": "tool_calls"}]}


# ------------------------------------------------------------------------ tool calls
def test_tool_calls_without_ids_get_distinct_ids_that_replay_identically() -> None:
    # Ollama omits ids on older versions; two calls of one answer must not share an id, or
    # their results cannot be told apart.
    payload = answer(
        {"function": {"name": "add", "arguments": '{"a": 1}'}},
        {"function": {"name": "add", "arguments": '{"a": 2}'}},
        {"function": {"name": "add", "arguments": '{"a": 1}'}},
    )
    ids = [call.id for call in protocol("ollama").parse_chat(payload).tool_calls]
    assert len(set(ids)) == 3
    assert ids == [call.id for call in protocol("ollama").parse_chat(payload).tool_calls]


@pytest.mark.parametrize("arguments", [None, "", "  "])
def test_a_call_of_a_function_without_arguments_is_an_empty_object_not_an_error(arguments: object) -> None:
    function: dict = {"name": "now"} if arguments is None else {"name": "now", "arguments": arguments}
    call = protocol().parse_chat(answer({"id": "c1", "function": function})).tool_calls[0]
    assert (call.name, call.arguments, call.parse_error) == ("now", {}, None)


def test_arguments_that_are_json_but_not_an_object_are_reported() -> None:
    call = protocol().parse_chat(answer({"id": "c1", "function": {"name": "f", "arguments": "[1, 2]"}})).tool_calls[0]
    assert call.arguments == {}
    assert call.raw_arguments == "[1, 2]"
    assert call.parse_error is not None and "[1, 2]" in call.parse_error


def test_streamed_object_arguments_become_json_text_and_junk_entries_are_skipped() -> None:
    # Ollama and KoboldCpp send arguments as an object; chunks carry JSON text to accumulate.
    frame = {
        "choices": [
            {
                "delta": {
                    "tool_calls": [
                        "junk",
                        {"index": 1, "id": "c2", "function": {"name": "add", "arguments": {"a": 1, "b": 2}}},
                    ]
                },
                "finish_reason": None,
            }
        ]
    }
    delta = protocol("ollama").stream_parser(ChatRequest(model="m", messages=USER)).feed(SSEEvent(json.dumps(frame)))
    assert delta is not None
    chunks = delta.tool_call_chunks or []
    assert [(c.index, c.id, c.name) for c in chunks] == [(1, "c2", "add")]
    assert json.loads(chunks[0].arguments) == {"a": 1, "b": 2}


# ----------------------------------------------------------------------- model lists
def test_model_ids_in_every_list_shape() -> None:
    lmstudio_v1 = {  # LM Studio 0.4 /api/v1/models: "key", loaded instances
        "models": [
            {"type": "llm", "key": "qwen3-4b", "loaded_instances": [{"id": "qwen3-4b"}]},
            {"type": "embedding", "key": "nomic-embed", "loaded_instances": []},
        ]
    }
    models = protocol("lmstudio").parse_models(lmstudio_v1)
    assert [(m.id, m.loaded, m.kind) for m in models] == [
        ("qwen3-4b", True, "llm"),
        ("nomic-embed", False, "embedding"),
    ]
    ollama_tags = {"models": [{"name": "llama3.2:latest", "size": 2019393189}]}  # /api/tags before "model" existed
    assert [m.id for m in protocol("ollama").parse_models(ollama_tags)] == ["llama3.2:latest"]


# ---------------------------------------------------------------------- protocol errors
def test_a_protocol_error_keeps_the_body_it_could_not_use() -> None:
    payload = {"object": "chat.completion", "choices": []}
    with pytest.raises(ProtocolError) as caught:
        protocol().parse_chat(payload)
    assert caught.value.body is not None
    assert json.loads(caught.value.body) == payload
    assert (caught.value.provider, caught.value.base_url) == ("llama.cpp server", URL)


def test_a_stream_cut_inside_an_event_is_an_interruption_naming_server_and_url() -> None:
    parser = protocol("vllm").stream_parser(ChatRequest(model="m", messages=USER))
    with pytest.raises(StreamInterruptedError) as caught:
        parser.feed(SSEEvent('{"choices": [{"delta": {"content": "Hel', truncated=True))
    error = caught.value
    assert (error.provider, error.base_url) == ("vLLM", URL)
    assert "connection dropped" in error.message
    assert error.hint is not None and "retry" in error.hint
