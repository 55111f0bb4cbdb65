"""Request building per profile and response/stream parsing, with no I/O."""

from __future__ import annotations

import json
import warnings

import pytest

from orbit_local.errors import (
    ContextOverflowError,
    ModelNotFoundError,
    ProtocolError,
    ServerError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider, list_providers
from orbit_local.streams import SSEEvent
from orbit_local.types import ChatRequest, ContentPart, GenerationParams, Message, ToolCall, ToolSpec

USER = [Message(role="user", content="hi")]


def body_for(provider: str, request: ChatRequest | None = None, *, stream: bool = False) -> dict:
    protocol = OpenAIProtocol(get_provider(provider), "http://127.0.0.1:1/v1")
    return protocol.chat_request(request or ChatRequest(model="m", messages=USER), stream=stream).json or {}


def test_max_tokens_is_always_sent_as_max_tokens() -> None:
    for profile in list_providers():
        body = body_for(profile.name, ChatRequest(model="m", messages=USER, params=GenerationParams(max_tokens=12)))
        assert body["max_tokens"] == 12
        assert "max_completion_tokens" not in body


def test_unset_params_are_not_sent() -> None:
    body = body_for("lmstudio")
    assert set(body) == {"model", "messages"}


def test_params_are_sent() -> None:
    params = GenerationParams(temperature=0.2, max_tokens=5, top_p=0.9, stop=["\n"], seed=7)
    body = body_for("llamacpp", ChatRequest(model="m", messages=USER, params=params))
    assert body | {} == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "max_tokens": 5,
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 7,
    }


def test_stream_options_only_where_the_server_honours_them() -> None:
    assert body_for("lmstudio", stream=True)["stream_options"] == {"include_usage": True}
    assert body_for("vllm", stream=True)["stream_options"] == {"include_usage": True}
    for name in ("fastchat", "koboldcpp-openai", "llama-cpp-python"):
        body = body_for(name, stream=True)
        assert body["stream"] is True
        assert "stream_options" not in body


def test_gpt4all_gets_only_keys_it_accepts_and_a_real_max_tokens() -> None:
    params = GenerationParams(temperature=0.5, stop=["x"], seed=3, top_p=0.5)
    request = ChatRequest(model="Llama 3.2 1B Instruct", messages=USER, params=params, extra_body={"top_k": 4})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        body = body_for("gpt4all", request)
    assert set(body) <= {"model", "messages", "max_tokens", "temperature", "top_p", "n", "min_p", "user"}
    assert body["max_tokens"] == 1024  # the app's own default is 16
    assert body["model"] == "Llama 3.2 1B Instruct"
    assert any("top_k" in str(w.message) and "seed" in str(w.message) for w in caught)


def test_gpt4all_stop_is_applied_on_the_client() -> None:
    protocol = OpenAIProtocol(get_provider("gpt4all"))
    request = ChatRequest(model="m", messages=USER, params=GenerationParams(stop=["3"]))
    payload = {"choices": [{"message": {"content": "1, 2, 3, 4"}, "finish_reason": "length"}]}
    result = protocol.parse_chat(payload, request)
    assert result.text == "1, 2, "
    assert result.finish_reason == "stop"


def test_extra_body_is_merged_and_wins() -> None:
    request = ChatRequest(
        model="m", messages=USER, params=GenerationParams(temperature=1), extra_body={"top_k": 5, "temperature": 0}
    )
    body = body_for("localai", request)
    assert body["top_k"] == 5
    assert body["temperature"] == 0


def test_assistant_tool_calls_are_sent_with_empty_string_content() -> None:
    call = ToolCall(id="call_1", name="add", arguments={"a": 1})
    messages = [
        Message(role="user", content="add"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="2", tool_call_id="call_1"),
    ]
    body = body_for("llama-cpp-python", ChatRequest(model="m", messages=messages))
    assistant = body["messages"][1]
    assert assistant["content"] == ""
    assert assistant["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    ]
    assert body["messages"][2] == {"role": "tool", "content": "2", "tool_call_id": "call_1"}


def test_tool_results_become_user_messages_where_the_tool_role_is_rejected() -> None:
    messages = [Message(role="tool", content="42", tool_call_id="c1")]
    body = body_for("fastchat", ChatRequest(model="m", messages=messages))
    assert body["messages"][0]["role"] == "user"
    assert "42" in body["messages"][0]["content"]


def test_images_become_content_parts() -> None:
    parts = [ContentPart("text", text="what is this?"), ContentPart("image", url="data:image/png;base64,AAAA")]
    messages = [Message(role="user", content="what is this?", parts=parts)]
    body = body_for("lmstudio", ChatRequest(model="m", messages=messages))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]


TOOLS = [
    ToolSpec(name="add", description="Add", parameters={"type": "object", "properties": {"a": {"type": "integer"}}})
]


def test_named_tool_choice_is_downgraded_where_unsupported() -> None:
    named = {"type": "function", "function": {"name": "add"}}
    # one tool: naming it is the same as "required", which LM Studio honours (no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = ChatRequest(model="m", messages=USER, tools=TOOLS, tool_choice=named)
        assert body_for("lmstudio", one)["tool_choice"] == "required"
    two = ChatRequest(model="m", messages=USER, tools=[*TOOLS, ToolSpec(name="sub")], tool_choice=named)
    with pytest.warns(UserWarning, match="does not honour tool_choice='named'"):
        assert body_for("lmstudio", two)["tool_choice"] == "required"
    assert body_for("llama-cpp-python", two)["tool_choice"] == named


def test_required_with_one_tool_becomes_named_where_only_named_is_honoured() -> None:
    request = ChatRequest(model="m", messages=USER, tools=TOOLS, tool_choice="any")
    assert body_for("llama-cpp-python", request)["tool_choice"] == {"type": "function", "function": {"name": "add"}}


def test_required_with_several_tools_is_downgraded_to_auto_on_llama_cpp_python() -> None:
    two = [*TOOLS, ToolSpec(name="sub")]
    request = ChatRequest(model="m", messages=USER, tools=two, tool_choice="required")
    with pytest.warns(UserWarning, match="tool_choice='required'"):
        assert body_for("llama-cpp-python", request)["tool_choice"] == "auto"


def test_koboldcpp_gets_tool_choice_with_tools() -> None:
    body = body_for("koboldcpp-openai", ChatRequest(model="m", messages=USER, tools=TOOLS))
    assert body["tool_choice"] == "auto"
    assert body["tools"][0]["function"]["name"] == "add"


def test_tools_on_a_server_without_tool_calling_raise() -> None:
    with pytest.raises(UnsupportedFeatureError, match="FastChat"):
        body_for("fastchat", ChatRequest(model="m", messages=USER, tools=TOOLS))


def test_json_object_becomes_json_schema_for_lm_studio() -> None:
    body = body_for("lmstudio", ChatRequest(model="m", messages=USER, response_format={"type": "json_object"}))
    assert body["response_format"]["type"] == "json_schema"


def test_json_schema_becomes_json_object_with_schema_for_llama_cpp_python() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = body_for("llama-cpp-python", ChatRequest(model="m", messages=USER, response_format=fmt))
    assert body["response_format"] == {"type": "json_object", "schema": schema}


# ------------------------------------------------------------------------ parsing
def protocol(name: str = "llamacpp") -> OpenAIProtocol:
    return OpenAIProtocol(get_provider(name), "http://127.0.0.1:1/v1")


def test_parse_chat_reads_text_usage_and_metadata() -> None:
    payload = {
        "id": "chatcmpl-x",
        "model": "smol",
        "system_fingerprint": "b1-abc",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "timings": {"predicted_n": 1},
    }
    result = protocol().parse_chat(payload)
    assert (result.text, result.finish_reason, result.model, result.id) == ("Hi", "stop", "smol", "chatcmpl-x")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (3, 1, 4)
    assert result.system_fingerprint == "b1-abc"
    assert result.timings == {"predicted_n": 1}


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_parse_chat_reads_every_reasoning_field(key: str) -> None:
    payload = {"choices": [{"message": {"content": "4", key: "2+2"}, "finish_reason": "stop"}]}
    result = protocol().parse_chat(payload)
    assert (result.text, result.reasoning) == ("4", "2+2")


def test_koboldcpp_fake_usage_is_dropped() -> None:
    payload = {
        "choices": [{"message": {"content": "x", "tool_calls": []}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200},
    }
    assert protocol("koboldcpp-openai").parse_chat(payload).usage is None
    assert protocol("llamacpp").parse_chat(payload).usage is not None


def test_tool_calls_with_string_or_object_arguments_and_missing_ids() -> None:
    payload = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "365174485", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
                        {"type": "function", "function": {"name": "b", "arguments": {"y": 2}}},
                        {"id": "", "function": {"name": "c", "arguments": "not json"}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    calls = protocol().parse_chat(payload).tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls[:1]] == [("365174485", "a", {"x": 1})]
    assert calls[1].arguments == {"y": 2}
    assert calls[1].id.startswith("call_")
    assert calls[1].id == protocol().parse_chat(payload).tool_calls[1].id  # stable
    assert calls[2].id == ""  # kept exactly as sent
    assert calls[2].parse_error is not None


def test_finish_reason_string_null_is_none() -> None:
    payload = {"choices": [{"message": {"content": "x"}, "finish_reason": "null"}]}
    assert protocol().parse_chat(payload).finish_reason is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"error": "'response_format.type' must be 'json_schema'"}, ServerError),
        ({"error": {"message": 'model "x" not found', "type": "", "code": 404}}, ModelNotFoundError),
        ({"object": "error", "message": "too long", "code": 40303}, ContextOverflowError),
        ({"choices": []}, ProtocolError),
        (None, ProtocolError),
    ],
)
def test_error_bodies_inside_200_raise(payload: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        protocol().parse_chat(payload)


def feed_all(name: str, frames: list[str]) -> tuple[list, object]:
    parser = protocol(name).stream_parser(ChatRequest(model="m", messages=USER))
    deltas = [d for d in (parser.feed(SSEEvent(data=f)) for f in frames) if d is not None]
    return deltas, parser


def test_stream_parser_reads_content_reasoning_usage_and_done() -> None:
    frames = [
        json.dumps({"choices": [{"delta": {"role": "assistant", "content": None}, "finish_reason": None}]}),
        json.dumps({"choices": [{"delta": {"reasoning": "think"}, "finish_reason": None}]}),
        json.dumps({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}),
        json.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}]}),
        json.dumps({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}}),
        "[DONE]",
    ]
    deltas, parser = feed_all("lmstudio", frames)
    assert "".join(d.text for d in deltas) == "Hi"
    assert "".join(d.reasoning for d in deltas) == "think"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert [d.usage.total_tokens for d in deltas if d.usage] == [3]
    assert parser.done
    parser.finish()


def test_stream_without_done_but_with_finish_reason_is_complete() -> None:
    _, parser = feed_all(
        "koboldcpp-openai", [json.dumps({"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]})]
    )
    parser.finish()


def test_stream_that_stops_early_raises_interrupted() -> None:
    _, parser = feed_all("llamacpp", [json.dumps({"choices": [{"delta": {"content": "x"}, "finish_reason": None}]})])
    with pytest.raises(StreamInterruptedError, match=r"llama\.cpp server"):
        parser.finish()


def test_error_frame_inside_a_200_stream_raises() -> None:
    frame = json.dumps({"error": {"message": "Context size has been exceeded.", "type": "server_error"}})
    with pytest.raises(ContextOverflowError):
        feed_all("llamacpp", [frame])
    worker_error = json.dumps({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC.**", "error_code": 50002})
    with pytest.raises(ServerError):
        feed_all("fastchat", [worker_error])


def test_malformed_frame_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        feed_all("llamacpp", ["{not json"])


def test_streamed_tool_call_chunks() -> None:
    frames = [
        json.dumps(
            {
                "choices": [
                    {"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "add", "arguments": ""}}]}}
                ]
            }
        ),
        json.dumps({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}]}),
        json.dumps(
            {
                "choices": [
                    {
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]},
                        "finish_reason": "tool_calls",
                    }
                ]
            }
        ),
    ]
    deltas, _ = feed_all("lmstudio", frames)
    chunks = [c for d in deltas for c in (d.tool_call_chunks or [])]
    assert [(c.index, c.id, c.name, c.arguments) for c in chunks] == [
        (0, "c1", "add", ""),
        (0, None, None, '{"a":'),
        (0, None, None, " 1}"),
    ]


def test_parse_models_in_every_shape() -> None:
    p = protocol()
    assert [m.id for m in p.parse_models({"data": [{"id": "a"}, {"id": "b"}]})] == ["a", "b"]
    lmstudio_v0 = {
        "data": [
            {"id": "x", "state": "not-loaded", "type": "llm"},
            {"id": "y", "state": "loaded", "max_context_length": 4096},
        ]
    }
    models = p.parse_models(lmstudio_v0)
    assert [(m.id, m.loaded, m.context_length) for m in models] == [("x", False, None), ("y", True, 4096)]
    llamacpp = {"data": [{"id": "smol", "meta": {"n_ctx": 2048}}]}
    assert p.parse_models(llamacpp)[0].context_length == 2048
    with pytest.raises(ProtocolError):
        p.parse_models({"nothing": 1})


def test_lmstudio_context_is_the_loaded_one_never_a_ceiling() -> None:
    """LM Studio's /api/v0/models gives every model its ceiling (max_context_length) and a loaded
    one the context it runs with (loaded_context_length). A model it has not loaded (JIT) is loaded
    with LM Studio's own default, so its ceiling is no context window: nothing is reported
    (the real list in cassettes/lmstudio-public/decker-api-v0-models.yaml has no model loaded)."""
    p = protocol("lmstudio")
    jit = {"data": [{"id": "phi", "type": "llm", "state": "not-loaded", "max_context_length": 131072}]}
    assert p.parse_models(jit)[0].context_length is None
    assert p.parse_context(jit, "phi") is None
    loaded = {"data": [{"id": "phi", "state": "loaded", "max_context_length": 131072, "loaded_context_length": 4096}]}
    assert p.parse_context(loaded, "phi") == 4096


def test_embeddings_as_strings_and_in_order() -> None:
    p = protocol()
    request = p.embeddings_request(["a", "b"], "emb")
    assert request.json == {"model": "emb", "input": ["a", "b"]}
    result = p.parse_embeddings({"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1, 0]}]})
    assert result.vectors == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ProtocolError, match="one vector per token"):
        p.parse_embeddings({"data": [{"index": 0, "embedding": [[0.1], [0.2]]}]})
    with pytest.raises(UnsupportedFeatureError):
        protocol("gpt4all").embeddings_request(["a"], "m")
