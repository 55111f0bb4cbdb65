"""What the OpenAI protocol sends: tools, tool_choice, response_format and refusals.

Expected values come from the OpenAI chat-completions wire format and from the server facts
in docs/providers (which tool_choice forms a server honours, which response_format it takes).
"""

from __future__ import annotations

import json
import warnings

import pytest

from orbit_local.errors import UnsupportedFeatureError
from orbit_local.protocols.common import tool_spec_from_openai
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.params import ParameterNotSentWarning
from orbit_local.providers import get_provider
from orbit_local.types import ChatRequest, GenerationParams, Message, ToolCall, ToolSpec

URL = "http://127.0.0.1:9/v1"
USER = [Message(role="user", content="hi")]
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
