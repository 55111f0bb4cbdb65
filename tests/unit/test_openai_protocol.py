"""Request building per profile and response/stream parsing, with no I/O."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from orbit_local.facts.errors import (
    ContextOverflowError,
    ModelNotFoundError,
    ProtocolError,
    ServerError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import get_provider, list_providers
from orbit_local.facts.types import ChatRequest, ContentPart, GenerationParams, Message, ToolCall, ToolSpec
from orbit_local.protocols.common import tool_spec_from_openai
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.params import ModelFallbackWarning, ParameterNotSentWarning
from orbit_local.wire.streams import SSEEvent
from tests.fakes import completion

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


# --- what the protocol sends: tools, tool_choice, response_format and refusals --------------------
# Expected values come from the OpenAI chat-completions wire format and from the server facts
# in docs/providers (which tool_choice forms a server honours, which response_format it takes).


URL = "http://127.0.0.1:9/v1"
ADD = ToolSpec(name="add", description="Add two numbers", parameters={"type": "object", "properties": {}})
SUB = ToolSpec(name="sub")


def send(provider: str, request: ChatRequest, *, stream: bool = False) -> dict:
    return OpenAIProtocol(get_provider(provider), URL).chat_request(request, stream=stream).json or {}


def quietly(provider: str, request: ChatRequest) -> tuple[dict, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        body = send(provider, request)
    return body, [str(w.message) for w in caught]


# ------------------------------------------------------------------------------ tools
def test_an_openai_tool_keeps_its_schema_and_strict_flag_on_the_wire() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool = {
        "type": "function",
        "function": {"name": "weather", "description": "Weather in a city", "parameters": schema, "strict": True},
    }
    spec = tool_spec_from_openai(tool)
    body = send("vllm", ChatRequest(model="m", messages=USER, tools=[spec]))
    assert body["tools"] == [tool]


def test_a_bare_function_without_description_or_parameters_is_a_valid_no_argument_tool() -> None:
    # LangChain and LlamaIndex hand over either form; OpenAI's schema for a function that takes
    # nothing is an object schema with no properties, and description is a string.
    for tool in ({"name": "now"}, {"type": "function", "function": {"name": "now"}}):
        function = send("vllm", ChatRequest(model="m", messages=USER, tools=[tool_spec_from_openai(tool)]))["tools"][0][
            "function"
        ]
        assert function["name"] == "now"
        assert function["description"] == ""
        assert function["parameters"] == {"type": "object", "properties": {}}
        assert "strict" not in function  # not sent unless the caller set it


def test_strict_false_is_sent_when_the_caller_set_it() -> None:
    spec = tool_spec_from_openai({"type": "function", "function": {"name": "add", "strict": False}})
    assert send("vllm", ChatRequest(model="m", messages=USER, tools=[spec]))["tools"][0]["function"]["strict"] is False


def test_tools_on_a_server_without_tool_calling_name_the_server_url_and_servers_that_have_them() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        send("fastchat", ChatRequest(model="m", messages=USER, tools=[ADD]))
    error = caught.value
    assert (error.provider, error.base_url) == ("FastChat", URL)
    assert "tool calling" in error.message
    assert error.hint is not None and "LM Studio" in error.hint and "vLLM" in error.hint


# ------------------------------------------------------------------------ tool_choice
def test_none_never_becomes_a_forced_call_on_koboldcpp() -> None:
    # KoboldCpp's OpenAI side honours auto, required and a named tool, not "none"; it ignores
    # tools unless some tool_choice is sent (providers/koboldcpp.md), so "auto" is the closest.
    for tools in ([ADD], [ADD, SUB]):
        body, said = quietly("koboldcpp-openai", ChatRequest(model="m", messages=USER, tools=tools, tool_choice="none"))
        assert body["tool_choice"] == "auto"
        assert any("tool_choice='none'" in line and "KoboldCpp" in line for line in said)


def test_a_named_choice_on_ollama_is_not_turned_into_required() -> None:
    # Ollama's /v1 side honours only automatic tool choice (providers/ollama.md).
    named = {"type": "function", "function": {"name": "add"}}
    body, said = quietly("ollama", ChatRequest(model="m", messages=USER, tools=[ADD, SUB], tool_choice=named))
    assert body["tool_choice"] == "auto"
    assert any("tool_choice='named'" in line and "sending auto" in line for line in said)


def test_none_where_the_server_honours_only_auto_sends_no_choice_and_says_so() -> None:
    body, said = quietly("ollama", ChatRequest(model="m", messages=USER, tools=[ADD], tool_choice="none"))
    assert "tool_choice" not in body
    assert any("tool_choice='none'" in line and "no tool_choice" in line for line in said)


def test_any_and_required_are_one_choice() -> None:
    # LangChain writes "any" for what OpenAI calls "required".
    for choice in ("any", "required"):
        body, said = quietly("lmstudio", ChatRequest(model="m", messages=USER, tools=[ADD, SUB], tool_choice=choice))
        assert body["tool_choice"] == "required"
        assert said == []


def test_a_tool_name_as_the_choice_becomes_the_named_object() -> None:
    body = send("vllm", ChatRequest(model="m", messages=USER, tools=[ADD, SUB], tool_choice="sub"))
    assert body["tool_choice"] == {"type": "function", "function": {"name": "sub"}}


# --------------------------------------------------------------------- response_format
def test_json_mode_on_lm_studio_is_an_open_object_schema() -> None:
    # LM Studio answers 400 "'response_format.type' must be 'json_schema'" to json_object.
    body = send("lmstudio", ChatRequest(model="m", messages=USER, response_format={"type": "json_object"}))
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert isinstance(fmt["json_schema"]["name"], str) and fmt["json_schema"]["name"]
    assert fmt["json_schema"]["schema"] == {"type": "object"}


def test_json_schema_without_a_schema_is_plain_json_mode_on_llama_cpp_python() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x"}}
    body = send("llama-cpp-python", ChatRequest(model="m", messages=USER, response_format=fmt))
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("fmt", "feature"),
    [({"type": "json_object"}, "JSON mode"), ({"type": "json_schema", "json_schema": {"schema": {}}}, "structured")],
)
def test_response_format_a_server_cannot_honour_is_refused_naming_server_and_url(fmt: dict, feature: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        send("fastchat", ChatRequest(model="m", messages=USER, response_format=fmt))
    assert (caught.value.provider, caught.value.base_url) == ("FastChat", URL)
    assert feature in caught.value.message


def test_embeddings_on_gpt4all_are_refused_naming_server_and_url() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        OpenAIProtocol(get_provider("gpt4all"), URL).embeddings_request(["a"], "m")
    assert (caught.value.provider, caught.value.base_url) == ("GPT4All", URL)
    assert "embeddings" in caught.value.message


# ---------------------------------------------------------------------- stop on client
@pytest.mark.parametrize(
    ("stop", "sent", "finish", "text", "reported"),
    [
        (None, "1, 2, 3", "length", "1, 2, 3", "length"),
        (["9"], "1, 2, 3", "length", "1, 2, 3", "length"),
        (["3"], "1, 3, 2, 3", "length", "1, ", "stop"),
        (["2", "1"], "1, 2, 3", "length", "", "stop"),
        (["", "3"], "1, 2, 3", "length", "1, 2, ", "stop"),
    ],
)
def test_gpt4all_stop_sequences_cut_at_the_first_match(
    stop: list[str] | None, sent: str, finish: str, text: str, reported: str
) -> None:
    # GPT4All rejects "stop"; the client cuts at the earliest stop itself.
    protocol = OpenAIProtocol(get_provider("gpt4all"), URL)
    request = ChatRequest(model="m", messages=USER, params=GenerationParams(stop=stop))
    assert "stop" not in protocol.chat_request(request, stream=False).json
    result = protocol.parse_chat({"choices": [{"message": {"content": sent}, "finish_reason": finish}]}, request)
    assert (result.text, result.finish_reason) == (text, reported)


# -------------------------------------------------------------- history sent back
def test_object_arguments_are_sent_back_as_the_same_json() -> None:
    # KoboldCpp and Ollama answer tool-call arguments as an object; the next request must send
    # the same arguments as a JSON string (the OpenAI wire format).
    protocol = OpenAIProtocol(get_provider("koboldcpp-openai"), URL)
    answer = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": {"a": 1}}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    call = protocol.parse_chat(answer).tool_calls[0]
    history = [*USER, Message(role="assistant", tool_calls=[call])]
    sent = protocol.chat_request(ChatRequest(model="m", messages=history, tools=[ADD]), stream=False).json or {}
    assert json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}


# ---------------------------------------------------------------------- the body itself
def test_zero_is_a_value_not_an_absence() -> None:
    params = GenerationParams(temperature=0.0, top_p=0.0, seed=0, max_tokens=0)
    body = send("vllm", ChatRequest(model="m", messages=USER, params=params))
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.0, 0.0, 0, 0)


def test_fastchat_gets_a_bounded_max_tokens_unless_the_caller_chose_one() -> None:
    # FastChat's unset max_tokens means "up to the whole context" (providers/fastchat.md).
    assert isinstance(send("fastchat", ChatRequest(model="m", messages=USER))["max_tokens"], int)
    chosen = ChatRequest(model="m", messages=USER, params=GenerationParams(max_tokens=7))
    assert send("fastchat", chosen)["max_tokens"] == 7
    assert "max_tokens" not in send("vllm", ChatRequest(model="m", messages=USER))


def test_stop_sequences_are_sent_as_a_list() -> None:
    body = send("vllm", ChatRequest(model="m", messages=USER, params=GenerationParams(stop=["\n\n", "User:"])))
    assert body["stop"] == ["\n\n", "User:"]


def test_streaming_asks_for_usage_only_where_honoured_and_wanted() -> None:
    plain = ChatRequest(model="m", messages=USER)
    assert send("vllm", plain, stream=True)["stream"] is True
    assert send("vllm", plain, stream=True)["stream_options"] == {"include_usage": True}
    assert "stream" not in send("vllm", plain)
    unwanted = ChatRequest(model="m", messages=USER, stream_usage=False)
    assert "stream_options" not in send("vllm", unwanted, stream=True)


def test_several_answers_cannot_be_streamed() -> None:
    # FastChat honours n, and streams several choices one after another (providers/fastchat.md).
    one = ChatRequest(model="m", messages=USER, params=GenerationParams(options={"n": 1}))
    assert send("fastchat", one, stream=True)["n"] == 1
    two = ChatRequest(model="m", messages=USER, params=GenerationParams(options={"n": 2}))
    assert send("fastchat", two)["n"] == 2
    with pytest.raises(UnsupportedFeatureError) as caught:
        send("fastchat", two, stream=True)
    assert (caught.value.provider, caught.value.base_url) == ("FastChat", URL)
    assert "n=2" in caught.value.message
    assert caught.value.hint is not None and "n=1" in caught.value.hint


@pytest.mark.parametrize(
    ("params", "extra", "named"),
    [
        (GenerationParams(seed=3), {}, "seed"),
        (GenerationParams(), {"top_k": 4}, "top_k"),
        (GenerationParams(options={"logit_bias": {"1": 5}}), {}, "logit_bias"),
    ],
)
def test_gpt4all_drops_keys_it_rejects_and_names_each(params: GenerationParams, extra: dict, named: str) -> None:
    # GPT4All's server rejects every key it does not know (providers/gpt4all.md).
    body, said = quietly("gpt4all", ChatRequest(model="m", messages=USER, params=params, extra_body=extra))
    assert named not in body
    assert any("GPT4All" in line and named in line and "not sent" in line for line in said)


def test_gpt4all_names_every_dropped_key_in_one_warning() -> None:
    request = ChatRequest(model="m", messages=USER, params=GenerationParams(seed=1), extra_body={"top_k": 4})
    with pytest.warns(ParameterNotSentWarning, match="seed, top_k"):
        send("gpt4all", request)


def test_a_strict_server_never_drops_a_setting_in_silence() -> None:
    # a profile made from GPT4All's for a build that also rejects top_p (profiles are data)
    strict = get_provider("gpt4all").with_overrides(allowed_request_keys=frozenset({"model", "messages"}))
    request = ChatRequest(model="m", messages=USER, params=GenerationParams(top_p=0.5, seed=2))
    with pytest.warns(ParameterNotSentWarning, match="seed, top_p") as caught:
        body = OpenAIProtocol(strict, URL).chat_request(request, stream=False).json or {}
    assert set(body) == {"model", "messages"}
    assert all("max_tokens" not in str(w.message) for w in caught)  # not the caller's: not named


def test_messages_keep_names_tool_ids_and_tool_calls() -> None:
    call = ToolCall(id="call_9", name="add", arguments={"a": 1})
    history = [
        Message(role="user", content="hi", name="alice"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="2", tool_call_id="call_9", name="add"),
    ]
    sent = send("vllm", ChatRequest(model="m", messages=history, tools=[ADD]))["messages"]
    assert sent[0] == {"role": "user", "content": "hi", "name": "alice"}
    assert sent[1]["tool_calls"] == [
        {"id": "call_9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    ]
    assert sent[2] == {"role": "tool", "content": "2", "tool_call_id": "call_9"}
    # a tool result without an id is sent without one, never as null
    anonymous = send("vllm", ChatRequest(model="m", messages=[*USER, Message(role="tool", content="2")]))
    assert anonymous["messages"][1] == {"role": "tool", "content": "2"}
    # GPT4All rejects unknown keys, "name" included
    assert send("gpt4all", ChatRequest(model="m", messages=history[:1]))["messages"] == [
        {"role": "user", "content": "hi"}
    ]


def test_raw_arguments_are_sent_back_exactly_as_the_model_wrote_them() -> None:
    call = ToolCall(id="c1", name="add", arguments={"a": 1}, raw_arguments='{"a":1}')
    sent = send("vllm", ChatRequest(model="m", messages=[*USER, Message(role="assistant", tool_calls=[call])]))
    assert sent["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"a":1}'


def test_tool_history_becomes_text_where_the_server_has_no_tools() -> None:
    # FastChat: a "tool" role is a 500, and tool_calls are ignored (providers/fastchat.md).
    call = ToolCall(id="c7", name="add", arguments={"a": 1})
    history = [
        *USER,
        Message(role="assistant", content="Adding.", tool_calls=[call]),
        Message(role="tool", content="42", tool_call_id="c7"),
        Message(role="tool", content="43"),
    ]
    sent = send("fastchat", ChatRequest(model="m", messages=history))["messages"]
    assistant, result, anonymous = sent[1], sent[2], sent[3]
    assert "tool_calls" not in assistant
    assert assistant["content"].startswith("Adding.")
    assert 'add({"a": 1})' in assistant["content"]
    assert result["role"] == "user" and "c7" in result["content"] and result["content"].endswith("42")
    assert anonymous["role"] == "user" and anonymous["content"].endswith("43") and "None" not in anonymous["content"]
    bare = send("fastchat", ChatRequest(model="m", messages=[*USER, Message(role="assistant", tool_calls=[call])]))
    assert bare["messages"][1]["content"].startswith("[")


def test_honoured_options_are_sent_and_the_rest_named_in_order() -> None:
    options = {"user": "u1", "presence_penalty": 0.5, "logprobs": True, "frequency_penalty": 0.1}
    body, said = quietly("fastchat", ChatRequest(model="m", messages=USER, params=GenerationParams(options=options)))
    # FastChat honours n, penalties and user; logprobs are ignored (providers/fastchat.md)
    assert (body["user"], body["presence_penalty"], body["frequency_penalty"]) == ("u1", 0.5, 0.1)
    assert "logprobs" not in body
    assert [line for line in said if line.startswith("FastChat") and "logprobs" in line]
    _, said = quietly("gpt4all", ChatRequest(model="m", messages=USER, params=GenerationParams(options=options)))
    assert any("frequency_penalty, logprobs, presence_penalty" in line for line in said)


# --- tool calls as text for a server without tool calling, and warnings that give a way out --------


GPT4ALL_URL = "http://127.0.0.1:4891/v1"  # GPT4All's port; any address serves the other servers' bodies


def test_several_earlier_tool_calls_reach_a_server_without_tool_calling_as_text_one_after_another() -> None:
    """GPT4All has no tool calling (providers/gpt4all.md): an assistant turn's calls become a
    line of text the model reads, each call as ``name(arguments)``, separated by ``; ``."""
    calls = [ToolCall(id="c1", name="add", arguments={"a": 1}), ToolCall(id="c2", name="mul", arguments={"b": 2})]
    messages = [
        Message(role="user", content="add and multiply"),
        Message(role="assistant", content="", tool_calls=calls),
        Message(role="user", content="and then?"),
    ]
    body = OpenAIProtocol(get_provider("gpt4all"), GPT4ALL_URL).chat_request(
        ChatRequest(model="m", messages=messages), stream=False
    )
    wire = (body.json or {})["messages"]
    assert wire[1] == {"role": "assistant", "content": '[called tools: add({"a": 1}); mul({"b": 2})]'}


def test_the_stream_usage_warning_says_where_usage_comes_instead() -> None:
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")], stream_usage=True)
    with pytest.warns(ParameterNotSentWarning) as caught:
        OpenAIProtocol(get_provider("llama-cpp-python"), GPT4ALL_URL).chat_request(request, stream=True)
    assert "(invoke/chat answers carry usage)" in str(caught[0].message)


def test_the_chat_template_warning_names_the_apis_that_take_one() -> None:
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")], chat_template="llama3")
    with pytest.warns(ParameterNotSentWarning) as caught:
        OpenAIProtocol(get_provider("lmstudio"), GPT4ALL_URL).chat_request(request, stream=False)
    assert "(chat_template is for prompt APIs: KoboldAI, GPT4All's direct mode)" in str(caught[0].message)


def test_the_recover_tool_calls_warning_on_a_stream_says_what_to_call_instead() -> None:
    tools = [ToolSpec(name="add", description="add", parameters={"type": "object", "properties": {}})]
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="hi")], tools=tools, recover_tool_calls=True
    )
    with pytest.warns(UserWarning) as caught:
        OpenAIProtocol(get_provider("vllm"), GPT4ALL_URL).chat_request(request, stream=True)
    assert "call invoke/chat to recover tool calls written as text" in str(caught[0].message)


# --- what the protocol reads back: answers, model lists, stream frames, cut streams --------------
# Shapes are the ones documented in docs/providers and ../shared/providers (per server), or the
# OpenAI chat-completions wire format itself.


def protocol_at_url(name: str = "llamacpp") -> OpenAIProtocol:
    """A protocol at ``URL``, which the errors below must name (``protocol()`` above is at another)."""
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
    ids = [call.id for call in protocol_at_url("ollama").parse_chat(payload).tool_calls]
    assert len(set(ids)) == 3
    assert ids == [call.id for call in protocol_at_url("ollama").parse_chat(payload).tool_calls]


@pytest.mark.parametrize("arguments", [None, "", "  "])
def test_a_call_of_a_function_without_arguments_is_an_empty_object_not_an_error(arguments: object) -> None:
    function: dict = {"name": "now"} if arguments is None else {"name": "now", "arguments": arguments}
    call = protocol_at_url().parse_chat(answer({"id": "c1", "function": function})).tool_calls[0]
    assert (call.name, call.arguments, call.parse_error) == ("now", {}, None)


def test_arguments_that_are_json_but_not_an_object_are_reported() -> None:
    call = protocol_at_url().parse_chat(answer({"id": "c1", "function": {"name": "f", "arguments": "[1, 2]"}})).tool_calls[0]
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
    delta = protocol_at_url("ollama").stream_parser(ChatRequest(model="m", messages=USER)).feed(SSEEvent(json.dumps(frame)))
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
    models = protocol_at_url("lmstudio").parse_models(lmstudio_v1)
    assert [(m.id, m.loaded, m.kind) for m in models] == [
        ("qwen3-4b", True, "llm"),
        ("nomic-embed", False, "embedding"),
    ]
    ollama_tags = {"models": [{"name": "llama3.2:latest", "size": 2019393189}]}  # /api/tags before "model" existed
    assert [m.id for m in protocol_at_url("ollama").parse_models(ollama_tags)] == ["llama3.2:latest"]


# ---------------------------------------------------------------------- protocol errors
def test_a_protocol_error_keeps_the_body_it_could_not_use() -> None:
    payload = {"object": "chat.completion", "choices": []}
    with pytest.raises(ProtocolError) as caught:
        protocol_at_url().parse_chat(payload)
    assert caught.value.body is not None
    assert json.loads(caught.value.body) == payload
    assert (caught.value.provider, caught.value.base_url) == ("llama.cpp server", URL)


def test_a_stream_cut_inside_an_event_is_an_interruption_naming_server_and_url() -> None:
    parser = protocol_at_url("vllm").stream_parser(ChatRequest(model="m", messages=USER))
    with pytest.raises(StreamInterruptedError) as caught:
        parser.feed(SSEEvent('{"choices": [{"delta": {"content": "Hel', truncated=True))
    error = caught.value
    assert (error.provider, error.base_url) == ("vLLM", URL)
    assert "connection dropped" in error.message
    assert error.hint is not None and "retry" in error.hint


def test_loaded_state_context_and_kind_from_each_servers_model_list() -> None:
    entries = [
        # llama.cpp router mode (llamacpp.md): status objects
        {"id": "gemma", "object": "model", "owned_by": "llamacpp", "status": {"value": "loaded"}},
        {"id": "qwen", "object": "model", "owned_by": "llamacpp", "status": {"value": "sleeping"}},
        # LM Studio /api/v0/models (lmstudio.md): a loaded model has both lengths; the loaded one counts
        {"id": "phi", "type": "llm", "state": "loaded", "max_context_length": 131072, "loaded_context_length": 4096},
        # vLLM (vllm.md): max_model_len
        {"id": "Qwen/Qwen3-0.6B", "object": "model", "owned_by": "vllm", "max_model_len": 40960},
        # LM Studio /v1/models (lmstudio.md): no type; embedding ids start with text-embedding-
        {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "owned_by": "organization_owner"},
        # an Ollama-style /api/tags entry (ollama.md) that names its model only under "model"
        {"model": "llama3.2:latest", "size": 2019393189},
        # a zero is no size: the next field that has one is used
        {"id": "SmolLM2", "owned_by": "lemonade", "context_length": 0, "max_context_window": 8192},
    ]
    models = protocol_at_url().parse_models({"data": entries})
    assert [(m.id, m.loaded, m.context_length, m.kind, m.owned_by) for m in models] == [
        ("gemma", True, None, None, "llamacpp"),
        ("qwen", False, None, None, "llamacpp"),
        ("phi", True, 4096, "llm", None),
        ("Qwen/Qwen3-0.6B", None, 40960, None, "vllm"),
        ("text-embedding-nomic-embed-text-v1.5", None, None, "embeddings", "organization_owner"),
        ("llama3.2:latest", None, None, None, None),
        ("SmolLM2", None, 8192, None, "lemonade"),
    ]


def test_a_stream_that_ends_without_its_end_names_the_server_url_and_retry() -> None:
    parser = protocol_at_url("lemonade").stream_parser(ChatRequest(model="m", messages=USER))
    parser.feed(SSEEvent(json.dumps({"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]})))
    with pytest.raises(StreamInterruptedError) as caught:
        parser.finish()
    error = caught.value
    assert (error.provider, error.base_url) == ("Lemonade Server", URL)
    assert "[DONE]" in error.message
    assert error.hint is not None and "retry" in error.hint


# ------------------------------------------------------------------------------ answers
def choice(**fields: object) -> dict:
    return {"choices": [{"finish_reason": "stop", **fields}]}


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (choice(message={"content": "Hi"}), "Hi"),
        (choice(delta={"content": "Hi"}), "Hi"),  # a chunk-shaped answer
        (choice(text="Hi"), "Hi"),  # the legacy /completions shape
        (choice(message={"content": [{"type": "text", "text": "H"}, {"type": "output_text", "text": "i"}]}), "Hi"),
        (choice(message={"content": ["junk", {"type": "image_url"}, {"type": "text", "text": "Hi"}]}), "Hi"),
        (choice(message={"content": [{"type": "text"}, {"type": "text", "text": "Hi"}]}), "Hi"),
        (choice(message={"content": None}), ""),
        (choice(message={"content": 42}), "42"),
    ],
)
def test_answer_text_in_every_shape_servers_send(payload: dict, text: str) -> None:
    assert protocol_at_url().parse_chat(payload).text == text


def test_think_tags_become_reasoning_when_no_reasoning_field_is_sent() -> None:
    result = protocol_at_url().parse_chat(choice(message={"content": "<think>2+2</think>4"}))
    assert (result.text, result.reasoning) == ("4", "2+2")
    closing_only = protocol_at_url().parse_chat(choice(message={"content": "2+2</think>4"}))
    assert (closing_only.text, closing_only.reasoning) == ("4", "2+2")
    fielded = protocol_at_url().parse_chat(choice(message={"content": "4", "reasoning_content": {"steps": 1}}))
    assert (fielded.text, fielded.reasoning) == ("4", "{'steps': 1}")
    empty = protocol_at_url().parse_chat(choice(message={"content": "4", "reasoning_content": ""}))
    assert empty.reasoning is None


@pytest.mark.parametrize(("sent", "read"), [("", None), ("null", None), (None, None), ("length", "length")])
def test_finish_reasons(sent: object, read: str | None) -> None:
    assert (
        protocol_at_url().parse_chat({"choices": [{"message": {"content": "x"}, "finish_reason": sent}]}).finish_reason == read
    )


def test_several_choices_in_index_order_with_the_rest_as_alternatives() -> None:
    payload = {
        "id": "chatcmpl-1",
        "model": "vicuna",
        "choices": [
            {"index": 2, "message": {"content": "C"}, "finish_reason": "stop"},
            {"index": 1, "message": {"content": "B"}, "finish_reason": "length"},
            {"index": True, "message": {"content": "A"}, "finish_reason": "stop"},  # junk index: first
        ],
    }
    result = protocol_at_url("fastchat").parse_chat(payload)
    assert result.text == "A"
    assert [(alt.text, alt.finish_reason) for alt in result.alternatives] == [("B", "length"), ("C", "stop")]
    assert result.raw is payload
    assert (result.id, result.model) == ("chatcmpl-1", "vicuna")


def test_lm_studio_stats_are_kept_as_timings_and_logprobs_are_read() -> None:
    # LM Studio's /api/v0 answers carry "stats"; llama.cpp's "timings" (providers docs).
    stats = {"tokens_per_second": 51.4, "time_to_first_token": 0.11}
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1}, "junk"]}
    result = protocol_at_url("lmstudio").parse_chat({**choice(message={"content": "Hi"}, logprobs=logprobs), "stats": stats})
    assert result.timings == stats
    assert result.logprobs == [{"token": "Hi", "logprob": -0.1}]
    assert protocol_at_url().parse_chat(choice(message={"content": "Hi"}, logprobs={"content": []})).logprobs is None
    assert protocol_at_url().parse_chat(choice(message={"content": "Hi"}, logprobs=[1])).logprobs is None


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, (3, 2, 5)),
        ({"prompt_tokens": 3, "completion_tokens": 2}, (3, 2, 5)),
        ({"completion_tokens": 2}, (0, 2, 2)),
        ({"prompt_tokens": 3}, (3, 0, 3)),
        ({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, (0, 0, 0)),  # what the server said
        ({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 9}, (3, 2, 9)),  # reported, not recomputed
    ],
)
def test_usage_as_reported(usage: dict, counts: tuple[int, int, int]) -> None:
    found = protocol_at_url().parse_chat({**choice(message={"content": "x"}), "usage": usage}).usage
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.total_tokens) == counts


@pytest.mark.parametrize("usage", [None, {}, {"total_tokens": 5}, "junk"])
def test_no_usage_is_none(usage: object) -> None:
    assert protocol_at_url().parse_chat({**choice(message={"content": "x"}), "usage": usage}).usage is None


def test_localai_zero_usage_on_every_chunk_does_not_hide_the_real_numbers() -> None:
    # LocalAI <= 3.7 puts an all-zero usage on every stream chunk (providers/localai.md).
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    frames = [
        {"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}], "usage": zero},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {**zero, "prompt_tokens": 4, "total_tokens": 5}},
    ]
    parser = protocol_at_url("localai").stream_parser(ChatRequest(model="m", messages=USER))
    deltas = [parser.feed(SSEEvent(json.dumps(frame))) for frame in frames]
    usages = [d.usage for d in deltas if d is not None and d.usage is not None]
    assert [(u.input_tokens, u.output_tokens, u.total_tokens) for u in usages] == [(4, 0, 5)]


def test_koboldcpp_fake_usage_is_dropped_from_streams_too() -> None:
    frame = {
        "choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200},
    }
    delta = (
        protocol_at_url("koboldcpp-openai")
        .stream_parser(ChatRequest(model="m", messages=USER))
        .feed(SSEEvent(json.dumps(frame)))
    )
    assert delta is not None and delta.usage is None


@pytest.mark.parametrize(
    "payload",
    [
        {"error": "Unexpected endpoint or method. (POST /v1/chat)"},  # LM Studio, HTTP 200 (lmstudio.md)
        {"object": "error", "message": "Only  allowed now, your model x", "code": 40301},  # FastChat
        {"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC.**", "error_code": 50002},  # FastChat worker
        {"detail": {"msg": "Server is busy; please try again later.", "type": "service_unavailable"}},  # KoboldCpp
    ],
)
def test_error_envelopes_inside_a_200_raise_instead_of_being_read_as_answers(payload: dict) -> None:
    from orbit_local.facts.errors import OrbitLocalError

    with pytest.raises(OrbitLocalError) as caught:
        protocol_at_url("lmstudio").parse_chat(payload)
    assert not isinstance(caught.value, ProtocolError)  # the server's own error, typed
    with pytest.raises(OrbitLocalError):
        protocol_at_url("lmstudio").parse_models(payload)


def test_tool_calls_in_odd_shapes() -> None:
    payload = answer(
        "junk",
        {"id": 365174485, "function": {"name": "a", "arguments": "{}"}},  # LM Studio: numeric ids
    )
    calls = protocol_at_url().parse_chat(payload).tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("365174485", "a", {})]
    # A call with no function, or "function": null, has no name to run: a protocol error
    # (tests/unit/test_malformed_answers.py), not a call named "".
    for nameless in ({"id": "c2"}, {"id": "c3", "function": None}):
        with pytest.raises(ProtocolError):
            protocol_at_url().parse_chat(answer(nameless))
    assert protocol_at_url().parse_chat(answer()).tool_calls == []
    not_a_list = {"choices": [{"message": {"content": "x", "tool_calls": {"id": "c"}}, "finish_reason": "stop"}]}
    assert protocol_at_url().parse_chat(not_a_list).tool_calls == []


def test_an_id_less_call_gets_the_same_id_in_a_whole_answer_and_in_a_stream() -> None:
    # a replayed conversation must send identical bodies, whichever way the answer came
    from orbit_local.protocols.accumulate import StreamAccumulator

    function = {"name": "add", "arguments": '{"a": 1}'}
    whole = protocol_at_url().parse_chat(answer({"function": function})).tool_calls[0]
    frame = {
        "choices": [{"delta": {"tool_calls": [{"index": 0, "function": function}]}, "finish_reason": "tool_calls"}]
    }
    delta = protocol_at_url().stream_parser(ChatRequest(model="m", messages=USER)).feed(SSEEvent(json.dumps(frame)))
    assert delta is not None
    accumulator = StreamAccumulator()
    accumulator.add(delta)
    assert [call.id for call in accumulator.tool_calls()] == [whole.id]


@pytest.mark.parametrize(
    ("read", "what"),
    [
        (lambda p: p.parse_embeddings({"data": [{"index": 0, "embedding": ["x"]}]}), "the embeddings answer"),
        (lambda p: p.parse_chat({"choices": [{"message": "Hi"}]}), "the chat answer"),
        (
            lambda p: p.stream_parser(ChatRequest(model="m", messages=USER)).feed(SSEEvent('{"choices": [7]}')),
            "a stream frame",
        ),
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_protocol_error_naming_server_url_and_what(read: object, what: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        read(protocol_at_url("localai"))  # type: ignore[operator]
    error = caught.value
    assert (error.provider, error.base_url) == ("LocalAI", URL)
    assert error.message.startswith(what)
    assert error.hint is not None and "server version" in error.hint
    assert isinstance(error.__cause__, (TypeError, AttributeError, ValueError))


def test_any_parser_decorated_at_run_time_turns_shape_errors_into_protocol_errors() -> None:
    from orbit_local.protocols.shapes import typed_shapes

    class Reader:
        profile = get_provider("shimmy")
        base_url = URL

        @typed_shapes("the widget answer")
        def read(self, payload: dict) -> int:
            return int(payload["count"])

    assert Reader().read({"count": "3"}) == 3
    with pytest.raises(ProtocolError) as caught:
        Reader().read({})
    assert (caught.value.provider, caught.value.base_url) == ("Shimmy", URL)
    assert caught.value.message.startswith("the widget answer")


def test_an_answer_cut_inside_its_thinking_is_all_reasoning() -> None:
    # max_tokens reached before </think>: nothing of the answer was written yet
    result = protocol_at_url().parse_chat({"choices": [{"message": {"content": "<think>2+2 is"}, "finish_reason": "length"}]})
    assert (result.text, result.reasoning, result.finish_reason) == ("", "2+2 is", "length")


def test_a_choice_that_is_not_an_object_is_a_protocol_error_keeping_the_body() -> None:
    payload = {"choices": ["Hi"]}
    with pytest.raises(ProtocolError) as caught:
        protocol_at_url().parse_chat(payload)
    assert "JSON object" in caught.value.message
    assert caught.value.body is not None and json.loads(caught.value.body) == payload


def test_a_bare_list_of_model_ids_is_a_model_list() -> None:
    assert [m.id for m in protocol_at_url().parse_models(["smollm2", {"id": "qwen"}, 7])] == ["smollm2", "qwen"]


def test_usage_is_trusted_unless_the_server_is_known_to_invent_it() -> None:
    from orbit_local.protocols.openai import parse_usage

    usage = parse_usage({"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6})
    assert usage is not None and usage.total_tokens == 6
    assert parse_usage({"prompt_tokens": 5}, reliable=False) is None


@pytest.mark.parametrize("data", ["", " ", "\t \r\n"])
def test_blank_stream_frames_are_keep_alives_and_are_skipped(data: str) -> None:
    # An SSE event with an empty data buffer carries nothing (the SSE spec dispatches none);
    # servers behind proxies send blank data as keep-alives.
    parser = protocol_at_url().stream_parser(ChatRequest(model="m", messages=USER))
    assert parser.feed(SSEEvent(data)) is None
    assert not parser.done


def test_a_stream_frame_that_is_not_an_object_is_a_protocol_error_keeping_the_frame() -> None:
    parser = protocol_at_url().stream_parser(ChatRequest(model="m", messages=USER))
    with pytest.raises(ProtocolError, match="stream frame is not a JSON object") as caught:
        parser.feed(SSEEvent('["Hel", "lo"]'))
    assert caught.value.body is not None and json.loads(caught.value.body) == ["Hel", "lo"]
    assert (caught.value.provider, caught.value.base_url) == ("llama.cpp server", URL)


def test_streamed_content_parts_become_the_text_of_their_text_parts() -> None:
    # The content-part list of the chat-completions format, in a chunk's delta.
    parser = protocol_at_url("openai-compatible").stream_parser(ChatRequest(model="m", messages=USER))
    frame = {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]}}]}
    delta = parser.feed(SSEEvent(json.dumps(frame)))
    assert delta is not None and delta.text == "Hi"


# --- the model-fallback warning, only where it is true -------------------------------------------
# OpenAIProtocol._warn_if_fallback fires on a server whose profile says it serves its default model
# for a name it does not know (GPT4All, recorded: tests/replay/test_gpt4all_desktop.py), when the
# answer names another model than the one asked for. Elsewhere a different name in ``model`` is
# normal (Lemonade names the model file, LM Studio an instance), and a warning there would be noise
# on every call.


ASKED = "Llama 3.2 1B Instruct"


def _answer(**changes: Any) -> dict[str, Any]:
    payload = completion("Hi.")
    payload.update(changes)
    return payload


def _request(model: str = ASKED) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content="Hi")])


def _no_fallback_warning(provider: str, payload: dict[str, Any], request: ChatRequest | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFallbackWarning)
        result = OpenAIProtocol(get_provider(provider), GPT4ALL_URL).parse_chat(payload, request)
    assert result.text == "Hi."


def test_the_model_asked_for_answering_is_no_fallback() -> None:
    _no_fallback_warning("gpt4all", _answer(model=ASKED), _request())


def test_no_model_asked_for_means_nothing_to_compare() -> None:
    _no_fallback_warning("gpt4all", _answer(model=ASKED), _request(model=""))


def test_an_answer_that_names_no_model_or_no_request_is_no_fallback() -> None:
    without_model = _answer()
    del without_model["model"]
    _no_fallback_warning("gpt4all", without_model, _request())
    _no_fallback_warning("gpt4all", _answer(model="other"), None)  # parsed without its request


def test_servers_that_do_not_fall_back_are_not_warned_about_another_name() -> None:
    _no_fallback_warning("lmstudio", _answer(model="qwen2.5-7b-instruct:2"), _request("qwen2.5-7b-instruct"))
    _no_fallback_warning("lemonade", _answer(model="Qwen3-0.6B-GGUF"), _request("qwen3"))


def test_gpt4all_answering_with_another_model_is_warned_about() -> None:
    with pytest.warns(ModelFallbackWarning, match="not the requested 'no-such-model'"):
        OpenAIProtocol(get_provider("gpt4all"), GPT4ALL_URL).parse_chat(_answer(model=ASKED), _request("no-such-model"))
