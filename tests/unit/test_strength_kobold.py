"""KoboldAI's generate API as the sans-IO protocol sees it: probe, body, abort, counts, stops.

Facts from ../shared/providers/koboldcpp.md: ``GET /api/extra/version`` answers
``{"result": "KoboldCpp", ...}`` (KoboldAI United has no ``/api/extra``); generate takes
``prompt, max_length, max_context_length, temperature, top_k, top_p, sampler_seed,
stop_sequence, trim_stop, genkey``; ``/api/extra/abort {"genkey"}``; ``/api/extra/tokencount
{"prompt", "special"}`` -> ``{"value": N}`` (``{"value": -1}`` on error); context from
``/api/extra/true_max_context_length`` or ``/api/v1/config/max_context_length`` as ``{"value": N}``;
busy is 503 ``{"detail": {"msg", "type": "service_unavailable"}}``; wrong field types are 200 ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from orbit_local.errors import ProtocolError, ServerBusyError, StreamInterruptedError, UnsupportedFeatureError
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.providers import get_provider
from orbit_local.streams import SSEEvent
from orbit_local.types import ChatRequest, GenerationParams, Message

URL = "http://127.0.0.1:5001/v1"
USER = [Message(role="user", content="Hi")]


def koboldcpp() -> KoboldProtocol:
    protocol = KoboldProtocol(get_provider("koboldai"), URL)
    protocol.apply_probe({"result": "KoboldCpp", "version": "1.76", "protected": False})
    return protocol


def united() -> KoboldProtocol:
    protocol = KoboldProtocol(get_provider("koboldai"), URL)
    protocol.apply_probe(None)  # no /api/extra/version route
    return protocol


def test_the_version_probe_is_asked_once_and_tells_koboldcpp_from_united() -> None:
    fresh = KoboldProtocol(get_provider("koboldai"), URL)
    probe = fresh.probe_request()
    assert probe is not None
    assert (probe.method, probe.path, probe.from_root) == ("GET", "/api/extra/version", True)
    assert koboldcpp().probe_request() is None and united().probe_request() is None
    impostor = KoboldProtocol(get_provider("koboldai"), URL)
    impostor.apply_probe({"result": "1.2.5"})  # KoboldAI United's /api/v1/info/version shape
    assert impostor.extra_api is False


def test_only_koboldcpp_streams_aborts_and_counts_tokens() -> None:
    request = ChatRequest(model="m", messages=USER)
    assert koboldcpp().streams_natively(request) is True
    assert united().streams_natively(request) is False
    sent = koboldcpp().chat_request(request, stream=True)
    assert (sent.method, sent.path, sent.from_root) == ("POST", "/api/extra/generate/stream", True)
    genkey = (sent.json or {})["genkey"]
    abort = koboldcpp().abort_request(sent)
    assert abort is not None
    assert (abort.method, abort.path, abort.json, abort.from_root) == (
        "POST",
        "/api/extra/abort",
        {"genkey": genkey},
        True,
    )
    plain = united().chat_request(request, stream=False)
    assert "genkey" not in (plain.json or {})
    assert united().abort_request(plain) is None
    assert koboldcpp().abort_request(plain) is None  # nothing to name: no genkey was sent
    assert united().usage_requests(request, plain, "Hello") == []


def test_each_generation_gets_its_own_genkey() -> None:
    request = ChatRequest(model="m", messages=USER)
    keys = {(koboldcpp().chat_request(request, stream=True).json or {})["genkey"] for _ in range(3)}
    assert len(keys) == 3


def test_token_counts_ask_for_the_sent_prompt_and_the_answer_without_special_tokens() -> None:
    protocol = koboldcpp()
    request = ChatRequest(model="m", messages=USER)
    sent = protocol.chat_request(request, stream=False)
    counts = protocol.usage_requests(request, sent, "Hello there")
    assert [(r.method, r.path, r.json, r.from_root) for r in counts] == [
        ("POST", "/api/extra/tokencount", {"prompt": (sent.json or {})["prompt"], "special": False}, True),
        ("POST", "/api/extra/tokencount", {"prompt": "Hello there", "special": False}, True),
    ]


def test_a_raw_prompt_is_sent_as_is_with_only_the_callers_stops() -> None:
    request = ChatRequest(model="m", messages=[], raw_prompt="Once upon", params=GenerationParams(stop=["."]))
    body = koboldcpp().chat_request(request, stream=False).json or {}
    assert body["prompt"] == "Once upon"
    assert body["stop_sequence"] == ["."]
    bare = koboldcpp().chat_request(ChatRequest(model="m", messages=[], raw_prompt="Once"), stream=False).json or {}
    assert bare["stop_sequence"] == []


def test_the_chat_template_chosen_gives_its_prompt_and_stops() -> None:
    request = ChatRequest(model="m", messages=USER, chat_template="llama3")
    body = koboldcpp().chat_request(request, stream=False).json or {}
    assert "<|start_header_id|>user<|end_header_id|>" in body["prompt"]
    assert "<|eot_id|>" in body["stop_sequence"]


@pytest.mark.parametrize(("temperature", "sent", "top_k"), [(0.7, 0.7, None), (0.0, 0.01, 1), (-1.0, 0.01, None)])
def test_temperature_zero_is_greedy_not_the_servers_default(temperature: float, sent: float, top_k: int | None) -> None:
    params = GenerationParams(temperature=temperature)
    body = koboldcpp().chat_request(ChatRequest(model="m", messages=USER, params=params), stream=False).json or {}
    assert body["temperature"] == sent
    assert body.get("top_k") == top_k


def test_unset_settings_are_not_sent_but_a_useful_length_is() -> None:
    body = united().chat_request(ChatRequest(model="m", messages=USER), stream=False).json or {}
    assert set(body) == {"prompt", "max_length", "stop_sequence", "trim_stop"}
    assert body["max_length"] > 180  # the API's own default is 80-180 tokens
    assert body["trim_stop"] is False


def test_context_is_asked_where_koboldcpp_and_united_tell_it() -> None:
    asked = koboldcpp().context_requests("m")
    assert [(r.method, r.path, r.from_root) for r in asked] == [
        ("GET", "/api/extra/true_max_context_length", True),
        ("GET", "/api/v1/config/max_context_length", True),
    ]
    model = koboldcpp().models_request()
    assert (model.method, model.path, model.from_root) == ("GET", "/api/v1/model", True)


def test_no_embeddings_on_the_generate_api() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        koboldcpp().embeddings_request(["a"], "m")
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", URL)
    assert "KoboldAI" in caught.value.message and "embeddings" in caught.value.message
    with pytest.raises(UnsupportedFeatureError) as parsed:
        koboldcpp().parse_embeddings({"data": []})
    assert parsed.value.provider == "KoboldAI"
    assert "KoboldAI" in parsed.value.message


def test_tools_are_refused_naming_the_openai_side() -> None:
    from orbit_local.types import ToolSpec

    with pytest.raises(UnsupportedFeatureError) as caught:
        koboldcpp().chat_request(ChatRequest(model="m", messages=USER, tools=[ToolSpec(name="f")]), stream=False)
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", URL)
    assert "generate API" in caught.value.message and "tool calling" in caught.value.message
    assert caught.value.hint is not None
    assert "ChatOrbitLocal(provider='koboldcpp-openai')" in caught.value.hint


def test_errors_and_null_answers_are_typed() -> None:
    busy = {"detail": {"msg": "Server is busy; please try again later.", "type": "service_unavailable"}}
    with pytest.raises(ServerBusyError):
        koboldcpp().parse_chat(busy, None)
    with pytest.raises(ServerBusyError):
        koboldcpp().parse_models(busy)
    with pytest.raises(ProtocolError) as caught:
        koboldcpp().parse_chat(None, None)
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", URL)
    assert "KoboldCpp" in caught.value.message and "wrong type" in caught.value.message
    not_an_error = {"error": None, "results": [{"text": "Hi"}]}
    assert koboldcpp().parse_chat(not_an_error, None).text == "Hi"


def test_a_stream_that_ends_before_its_last_event_names_server_url_and_retry() -> None:
    parser = koboldcpp().stream_parser(ChatRequest(model="m", messages=USER))
    parser.feed(SSEEvent(json.dumps({"token": "Hel", "finish_reason": "null"})))
    with pytest.raises(StreamInterruptedError) as caught:
        parser.finish()
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", URL)
    assert "KoboldCpp" in caught.value.message and "null" in caught.value.message
    assert caught.value.hint is not None and "retry" in caught.value.hint
    ended = koboldcpp().stream_parser(ChatRequest(model="m", messages=USER))
    ended.feed(SSEEvent(json.dumps({"token": "Hi", "finish_reason": "stop"})))
    ended.finish()


def test_stream_stops_include_the_templates_end_of_turn() -> None:
    parser = koboldcpp().stream_parser(ChatRequest(model="m", messages=USER))
    delta = parser.feed(SSEEvent(json.dumps({"token": "Hi<|im_end|>more", "finish_reason": "null"})))
    assert delta is not None and (delta.text, delta.finish_reason) == ("Hi", "stop")
    assert parser.done


def test_sampling_headers_and_refusals_reach_the_request() -> None:
    params = GenerationParams(top_p=0.9)
    request = ChatRequest(model="m", messages=USER, params=params, extra_headers={"Authorization": "Bearer pw"})
    sent = koboldcpp().chat_request(request, stream=False)
    assert (sent.json or {})["top_p"] == 0.9
    assert sent.headers == {"Authorization": "Bearer pw"}  # KoboldCpp --password (koboldcpp.md)
    from orbit_local.types import ContentPart

    image = Message(role="user", parts=[ContentPart("image", url="https://i")])
    with pytest.raises(UnsupportedFeatureError) as caught:
        koboldcpp().chat_request(ChatRequest(model="m", messages=[image]), stream=False)
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", URL)


@pytest.mark.parametrize("make", [koboldcpp, united])
def test_json_mode_is_refused_naming_the_server_and_the_ways_that_work(make: Callable[[], KoboldProtocol]) -> None:
    """KoboldAI's generate input has no ``response_format`` (only ``grammar``); KoboldCpp's
    OpenAI side maps ``response_format: json_schema`` to a grammar (koboldcpp.md)."""
    request = ChatRequest(model="m", messages=USER, response_format={"type": "json_object"})
    with pytest.raises(UnsupportedFeatureError) as caught:
        make().generate_body(request)
    error = caught.value
    assert (error.provider, error.base_url) == ("KoboldAI", URL)
    assert "response_format" in str(error)
    hint = error.hint or ""
    assert "grammar" in hint and "provider='koboldcpp-openai'" in hint and "with_structured_output" in hint
