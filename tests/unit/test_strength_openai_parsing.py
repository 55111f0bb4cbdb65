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
    models = protocol().parse_models({"data": entries})
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
    parser = protocol("lemonade").stream_parser(ChatRequest(model="m", messages=USER))
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
    assert protocol().parse_chat(payload).text == text


def test_think_tags_become_reasoning_when_no_reasoning_field_is_sent() -> None:
    result = protocol().parse_chat(choice(message={"content": "<think>2+2</think>4"}))
    assert (result.text, result.reasoning) == ("4", "2+2")
    closing_only = protocol().parse_chat(choice(message={"content": "2+2</think>4"}))
    assert (closing_only.text, closing_only.reasoning) == ("4", "2+2")
    fielded = protocol().parse_chat(choice(message={"content": "4", "reasoning_content": {"steps": 1}}))
    assert (fielded.text, fielded.reasoning) == ("4", "{'steps': 1}")
    empty = protocol().parse_chat(choice(message={"content": "4", "reasoning_content": ""}))
    assert empty.reasoning is None


@pytest.mark.parametrize(("sent", "read"), [("", None), ("null", None), (None, None), ("length", "length")])
def test_finish_reasons(sent: object, read: str | None) -> None:
    assert (
        protocol().parse_chat({"choices": [{"message": {"content": "x"}, "finish_reason": sent}]}).finish_reason == read
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
    result = protocol("fastchat").parse_chat(payload)
    assert result.text == "A"
    assert [(alt.text, alt.finish_reason) for alt in result.alternatives] == [("B", "length"), ("C", "stop")]
    assert result.raw is payload
    assert (result.id, result.model) == ("chatcmpl-1", "vicuna")


def test_lm_studio_stats_are_kept_as_timings_and_logprobs_are_read() -> None:
    # LM Studio's /api/v0 answers carry "stats"; llama.cpp's "timings" (providers docs).
    stats = {"tokens_per_second": 51.4, "time_to_first_token": 0.11}
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1}, "junk"]}
    result = protocol("lmstudio").parse_chat({**choice(message={"content": "Hi"}, logprobs=logprobs), "stats": stats})
    assert result.timings == stats
    assert result.logprobs == [{"token": "Hi", "logprob": -0.1}]
    assert protocol().parse_chat(choice(message={"content": "Hi"}, logprobs={"content": []})).logprobs is None
    assert protocol().parse_chat(choice(message={"content": "Hi"}, logprobs=[1])).logprobs is None


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
    found = protocol().parse_chat({**choice(message={"content": "x"}), "usage": usage}).usage
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.total_tokens) == counts


@pytest.mark.parametrize("usage", [None, {}, {"total_tokens": 5}, "junk"])
def test_no_usage_is_none(usage: object) -> None:
    assert protocol().parse_chat({**choice(message={"content": "x"}), "usage": usage}).usage is None


def test_localai_zero_usage_on_every_chunk_does_not_hide_the_real_numbers() -> None:
    # LocalAI <= 3.7 puts an all-zero usage on every stream chunk (providers/localai.md).
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    frames = [
        {"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}], "usage": zero},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {**zero, "prompt_tokens": 4, "total_tokens": 5}},
    ]
    parser = protocol("localai").stream_parser(ChatRequest(model="m", messages=USER))
    deltas = [parser.feed(SSEEvent(json.dumps(frame))) for frame in frames]
    usages = [d.usage for d in deltas if d is not None and d.usage is not None]
    assert [(u.input_tokens, u.output_tokens, u.total_tokens) for u in usages] == [(4, 0, 5)]


def test_koboldcpp_fake_usage_is_dropped_from_streams_too() -> None:
    frame = {
        "choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200},
    }
    delta = (
        protocol("koboldcpp-openai")
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
    from orbit_local.errors import OrbitLocalError

    with pytest.raises(OrbitLocalError) as caught:
        protocol("lmstudio").parse_chat(payload)
    assert not isinstance(caught.value, ProtocolError)  # the server's own error, typed
    with pytest.raises(OrbitLocalError):
        protocol("lmstudio").parse_models(payload)


def test_tool_calls_in_odd_shapes() -> None:
    payload = answer(
        "junk",
        {"id": 365174485, "function": {"name": "a", "arguments": "{}"}},  # LM Studio: numeric ids
    )
    calls = protocol().parse_chat(payload).tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [("365174485", "a", {})]
    # A call with no function, or "function": null, has no name to run: a protocol error
    # (tests/unit/test_malformed_answers.py), not a call named "".
    for nameless in ({"id": "c2"}, {"id": "c3", "function": None}):
        with pytest.raises(ProtocolError):
            protocol().parse_chat(answer(nameless))
    assert protocol().parse_chat(answer()).tool_calls == []
    not_a_list = {"choices": [{"message": {"content": "x", "tool_calls": {"id": "c"}}, "finish_reason": "stop"}]}
    assert protocol().parse_chat(not_a_list).tool_calls == []


def test_an_id_less_call_gets_the_same_id_in_a_whole_answer_and_in_a_stream() -> None:
    # a replayed conversation must send identical bodies, whichever way the answer came
    from orbit_local.accumulate import StreamAccumulator

    function = {"name": "add", "arguments": '{"a": 1}'}
    whole = protocol().parse_chat(answer({"function": function})).tool_calls[0]
    frame = {
        "choices": [{"delta": {"tool_calls": [{"index": 0, "function": function}]}, "finish_reason": "tool_calls"}]
    }
    delta = protocol().stream_parser(ChatRequest(model="m", messages=USER)).feed(SSEEvent(json.dumps(frame)))
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
        read(protocol("localai"))  # type: ignore[operator]
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
    result = protocol().parse_chat({"choices": [{"message": {"content": "<think>2+2 is"}, "finish_reason": "length"}]})
    assert (result.text, result.reasoning, result.finish_reason) == ("", "2+2 is", "length")


def test_a_choice_that_is_not_an_object_is_a_protocol_error_keeping_the_body() -> None:
    payload = {"choices": ["Hi"]}
    with pytest.raises(ProtocolError) as caught:
        protocol().parse_chat(payload)
    assert "JSON object" in caught.value.message
    assert caught.value.body is not None and json.loads(caught.value.body) == payload


def test_a_bare_list_of_model_ids_is_a_model_list() -> None:
    assert [m.id for m in protocol().parse_models(["smollm2", {"id": "qwen"}, 7])] == ["smollm2", "qwen"]


def test_usage_is_trusted_unless_the_server_is_known_to_invent_it() -> None:
    from orbit_local.protocols.openai import parse_usage

    usage = parse_usage({"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6})
    assert usage is not None and usage.total_tokens == 6
    assert parse_usage({"prompt_tokens": 5}, reliable=False) is None


@pytest.mark.parametrize("data", ["", " ", "\t \r\n"])
def test_blank_stream_frames_are_keep_alives_and_are_skipped(data: str) -> None:
    # An SSE event with an empty data buffer carries nothing (the SSE spec dispatches none);
    # servers behind proxies send blank data as keep-alives.
    parser = protocol().stream_parser(ChatRequest(model="m", messages=USER))
    assert parser.feed(SSEEvent(data)) is None
    assert not parser.done


def test_a_stream_frame_that_is_not_an_object_is_a_protocol_error_keeping_the_frame() -> None:
    parser = protocol().stream_parser(ChatRequest(model="m", messages=USER))
    with pytest.raises(ProtocolError, match="stream frame is not a JSON object") as caught:
        parser.feed(SSEEvent('["Hel", "lo"]'))
    assert caught.value.body is not None and json.loads(caught.value.body) == ["Hel", "lo"]
    assert (caught.value.provider, caught.value.base_url) == ("llama.cpp server", URL)


def test_streamed_content_parts_become_the_text_of_their_text_parts() -> None:
    # The content-part list of the chat-completions format, in a chunk's delta.
    parser = protocol("openai-compatible").stream_parser(ChatRequest(model="m", messages=USER))
    frame = {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]}}]}
    delta = parser.feed(SSEEvent(json.dumps(frame)))
    assert delta is not None and delta.text == "Hi"
