"""KoboldAI's own API: templates, generate, streaming with client-side stops, abort, the
KoboldAI United fallback, context discovery and token counting — over an in-memory server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_orbit_local import ChatKoboldAI
from llamaindex_orbit_local import KoboldAI
from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import ProtocolError, ServerBusyError, StreamInterruptedError, UnsupportedFeatureError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.templates import TEMPLATES, get_template
from orbit_local.facts.types import ChatRequest, GenerationParams, Message, ToolSpec
from orbit_local.protocols.kobold import KoboldProtocol, KoboldStreamParser
from orbit_local.wire.stops import StopScanner, split_at_stop, unsafe_tail
from orbit_local.wire.streams import SSEEvent
from tests.fakes import FakeServer

BASE = "http://127.0.0.1:5001/v1"
CHAT = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="Hi"),
    Message(role="assistant", content="Hello!"),
    Message(role="user", content="Bye"),
]


def client(server: FakeServer) -> ChatClient:
    return ChatClient("koboldai", base_url=BASE, http_client=server.client(), warmup_timeout=0)


def paths(server: FakeServer) -> list[str]:
    return [r.url.path for r in server.requests]


def kobold_stream(*frames: tuple[str, str]) -> httpx.Response:
    raw = "".join(f"event: message\ndata: {json.dumps({'token': t, 'finish_reason': f})}\n\n" for t, f in frames)
    return httpx.Response(200, content=raw.encode(), headers={"content-type": "text/event-stream"})


# ------------------------------------------------------------------ templates
def test_chatml_template_renders_the_conversation() -> None:
    assert get_template("chatml").render(CHAT) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    )


def test_llama3_template() -> None:
    prompt = get_template("llama3").render(CHAT[:2])
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_mistral_folds_system_into_the_first_user_turn() -> None:
    assert get_template("mistral").render(CHAT[:2]) == "<s>[INST] Be brief.\n\nHi [/INST]"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_ends_with_an_open_assistant_turn_and_has_stops(name: str) -> None:
    template = get_template(name)
    prompt = template.render(CHAT)
    assert "Bye" in prompt and "Be brief." in prompt
    assert prompt.endswith(template.generation_prefix)
    assert template.stop


def test_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="chatml"):
        get_template("nope")


# Each family's published markup (ChatML, Llama 3, Mistral [INST], Alpaca, Vicuna v1.1), every role,
# and looking a template up by name.
CONVERSATION = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="Weather?"),
    Message(role="assistant", content="Which city?"),
    Message(role="user", content="Oslo"),
]


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("alpaca",
         "Be brief.\n\n### Instruction:\nWeather?\n\n### Response:\nWhich city?\n\n### Instruction:\nOslo\n\n"
         "### Response:\n"),
        ("vicuna", "Be brief.\n\nUSER: Weather?\nASSISTANT: Which city?</s>\nUSER: Oslo\nASSISTANT:"),
        ("mistral", "<s>[INST] Be brief.\n\nWeather? [/INST]Which city?</s>[INST] Oslo [/INST]"),
    ],
)  # fmt: skip
def test_a_conversation_renders_in_the_familys_markup(name: str, prompt: str) -> None:
    assert get_template(name).render(CONVERSATION) == prompt


def test_a_tool_result_is_shown_to_the_model_as_user_text() -> None:
    messages = [
        Message(role="user", content="Weather in Oslo?"),
        Message(role="tool", content='{"temp": 3}', tool_call_id="call_7"),
        Message(role="tool", content="ok"),
    ]
    assert get_template("chatml").render(messages) == (
        "<|im_start|>user\nWeather in Oslo?<|im_end|>\n"
        '<|im_start|>user\nTool result (call_7):\n{"temp": 3}<|im_end|>\n'
        "<|im_start|>user\nTool result (call):\nok<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_a_system_prompt_with_no_user_turn_is_still_sent_where_there_is_no_system_role() -> None:
    """Mistral has no system role: the system text goes into the next user turn, or its own."""
    mistral = get_template("mistral")
    assert mistral.render([Message(role="system", content="Be brief.")]) == "<s>[INST] Be brief. [/INST]"
    two = [Message(role="system", content="A."), Message(role="system", content="B.")]
    assert mistral.render([*two, Message(role="user", content="Hi")]) == "<s>[INST] A.\n\nB.\n\nHi [/INST]"


def test_the_llama3_prompt_opens_with_its_bos_and_ends_with_an_open_assistant_header() -> None:
    prompt = get_template("llama3").render([Message(role="user", content="Hi")])
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


@pytest.mark.parametrize(("name", "stop"), [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>"), ("vicuna", "</s>")])
def test_each_family_stops_at_its_end_of_turn(name: str, stop: str) -> None:
    assert stop in get_template(name).stop


def test_templates_are_looked_up_by_name_in_any_case() -> None:
    assert get_template("ChatML") is TEMPLATES["chatml"]
    assert get_template("LLAMA3").name == "llama3"
    with pytest.raises(ValueError, match="Unknown chat template 'zephyr'") as info:
        get_template("zephyr")
    assert all(name in str(info.value) for name in ("alpaca", "chatml", "llama3", "mistral", "vicuna"))
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unknown_chat_template_lists_the_known_ones_comma_separated() -> None:
    with pytest.raises(ValueError, match="Unknown chat template 'no-such'") as caught:
        get_template("no-such")
    names = sorted(TEMPLATES)
    assert len(names) > 1
    assert f"Known: {names[0]}, {names[1]}" in str(caught.value)


# ---------------------------------------------------------------- stop helpers
def test_split_at_stop_and_unsafe_tail() -> None:
    assert split_at_stop("1, 2, 3, 4", ["3", "4"]) == ("1, 2, ", True)
    assert split_at_stop("abc", ["x"]) == ("abc", False)
    assert unsafe_tail("Hello <|im", ["<|im_end|>"]) == 4
    assert unsafe_tail("Hello", ["<|im_end|>"]) == 0
    assert unsafe_tail("end <", ["<|im_end|>", "<|im_start|>"]) == 1


# Client-side stop sequences (KoboldAI, GPT4All): the streamed form must agree with the whole-text
# form at every chunk boundary, and must never let a stop sequence through.

# ChatML and Llama 3 end-of-turn markers: what KoboldCpp keeps in its output (providers/koboldcpp.md)
CHATML_STOPS = ["<|im_end|>", "<|im_start|>"]


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@pytest.mark.parametrize(
    ("text", "stops", "cut", "found"),
    [
        ("Hello<|im_end|>\n<|im_start|>user", CHATML_STOPS, "Hello", True),
        ("Hi<|im_start|>user<|im_end|>", CHATML_STOPS, "Hi", True),  # the earliest stop, not the first listed
        ("<|im_end|>rest", CHATML_STOPS, "", True),  # a stop at the very start
        ("a STOP b STOP c", ["STOP"], "a ", True),  # the first occurrence
        ("no stop here", CHATML_STOPS, "no stop here", False),
        ("keep all of it", ["", "END"], "keep all of it", False),  # an empty stop stops nothing
        ("keep all of it", [], "keep all of it", False),
    ],
)
def test_split_at_the_earliest_stop(text: str, stops: list[str], cut: str, found: bool) -> None:
    assert split_at_stop(text, stops) == (cut, found)


@pytest.mark.parametrize(
    ("text", "stops", "held"),
    [
        ("Hello <|im", CHATML_STOPS, 4),  # could become <|im_end|> or <|im_start|>
        ("Hello <", CHATML_STOPS, 1),
        ("Hello <|im_end", CHATML_STOPS, 8),
        ("Hello", CHATML_STOPS, 0),
        ("ab", ["abc", "bcd"], 2),  # the longest end that begins any stop
        ("xbc", ["bcd", "abc"], 2),
        ("END", ["END"], 0),  # a whole stop is found by split_at_stop, not held
        ("", ["END"], 0),
    ],
)
def test_the_end_that_could_begin_a_stop_is_held_back(text: str, stops: list[str], held: int) -> None:
    assert unsafe_tail(text, stops) == held


@pytest.mark.parametrize(
    ("text", "stops", "out", "stopped"),
    [
        ("Hello there<|im_end|>\n<|im_start|>user\nmore", CHATML_STOPS, "Hello there", True),
        ("a <|im but not a stop", CHATML_STOPS, "a <|im but not a stop", False),
        ("ends with a partial <|im_e", CHATML_STOPS, "ends with a partial <|im_e", False),
        ("x</s>y", ["", "</s>"], "x", True),
        ("no stops at all", ["", ""], "no stops at all", False),
    ],
)
def test_a_streamed_answer_stops_alike_at_every_chunk_size(text: str, stops: list[str], out: str, stopped: bool) -> None:
    for size in range(1, len(text) + 1):
        scanner = StopScanner(stops)
        emitted = [scanner.feed(piece) for piece in chunked(text, size)]
        assert scanner.stopped is stopped
        emitted.append(scanner.flush())
        assert "".join(emitted) == out, size
        assert not any(stop and stop in piece for piece in emitted for stop in stops)


def test_nothing_that_may_begin_a_stop_is_emitted_early_and_nothing_after_it() -> None:
    scanner = StopScanner(CHATML_STOPS)
    assert scanner.feed("Hello <|im") == "Hello "
    assert scanner.feed("_end|> trailing") == ""
    assert scanner.stopped
    assert scanner.feed("more text") == "" and scanner.flush() == ""
    held = StopScanner(CHATML_STOPS)
    assert held.feed("a <") == "a "
    assert held.feed("b") == "<b"  # "<b" begins no stop: released at once
    assert held.flush() == ""


# ----------------------------------------------------------------- generate body
def test_generate_body() -> None:
    protocol = KoboldProtocol(get_provider("koboldai"))
    protocol.apply_probe({"result": "KoboldCpp", "version": "1.76"})
    params = GenerationParams(temperature=0, max_tokens=30, top_p=0.9, seed=7, stop=["\n\n"])
    request = ChatRequest(model="m", messages=CHAT[:2], params=params, extra_body={"rep_pen": 1.1}, context_window=2048)
    sent = protocol.chat_request(request, stream=False)
    assert (sent.method, sent.path, sent.from_root) == ("POST", "/api/v1/generate", True)
    body = sent.json or {}
    assert body["max_length"] == 30
    assert body["temperature"] == 0.01 and body["top_k"] == 1  # greedy: 0 means "default" to KoboldCpp
    assert body["sampler_seed"] == 7
    assert body["stop_sequence"] == ["\n\n", "<|im_end|>", "<|im_start|>"]
    assert body["trim_stop"] is False
    assert body["max_context_length"] == 2048
    assert body["rep_pen"] == 1.1
    assert body["genkey"].startswith("KCPP")
    assert protocol.chat_request(request, stream=True).path == "/api/extra/generate/stream"


def test_tools_are_unsupported_on_the_generate_api() -> None:
    request = ChatRequest(model="m", messages=CHAT, tools=[ToolSpec(name="f")])
    with pytest.raises(UnsupportedFeatureError, match="koboldcpp-openai"):
        KoboldProtocol(get_provider("koboldai")).chat_request(request, stream=False)


# ---------------------------------------------------------------- client: chat
def test_chat_probes_once_counts_tokens_and_cuts_the_stop() -> None:
    server = FakeServer()
    chat = client(server)
    request = ChatRequest(model="m", messages=CHAT[:2], params=GenerationParams(stop=["there"]))
    result = chat.chat(request)
    assert result.text == "Hello "
    assert result.finish_reason == "stop"
    assert result.usage is not None and result.usage.input_tokens == 7
    chat.chat(ChatRequest(model="m", messages=CHAT[:2]))
    assert paths(server).count("/api/extra/version") == 1
    assert paths(server).count("/api/extra/true_max_context_length") == 1
    counts = [json.loads(r.content) for r in server.requests if r.url.path == "/api/extra/tokencount"]
    assert all(c["special"] is False for c in counts)


def test_stop_sequence_reported_as_length_by_koboldcpp_is_a_stop() -> None:
    protocol = KoboldProtocol(get_provider("koboldai"))
    request = ChatRequest(model="m", messages=CHAT, params=GenerationParams(stop=["7"]))
    result = protocol.parse_chat({"results": [{"text": " 4, 5, 6, 7", "finish_reason": "length"}]}, request)
    assert (result.text, result.finish_reason) == (" 4, 5, 6, ", "stop")


def test_null_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="null"):
        KoboldProtocol(get_provider("koboldai")).parse_chat(None, None)


def test_busy_server_is_retried_then_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.net.transport.time.sleep", lambda _: None)
    busy = {"detail": {"msg": "Server is busy; please try again later.", "type": "service_unavailable"}}
    server = FakeServer()
    chat = ChatClient("koboldai", base_url=BASE, http_client=server.client(), max_retries=1)
    chat.chat(ChatRequest(model="m", messages=CHAT))  # probe + context once
    server.queue = [httpx.Response(503, json=busy), httpx.Response(503, json=busy)]
    with pytest.raises(ServerBusyError, match="busy"):
        chat.chat(ChatRequest(model="m", messages=CHAT))
    server.queue = [httpx.Response(503, json=busy)]
    assert chat.chat(ChatRequest(model="m", messages=CHAT)).text == "Hello there."


# --------------------------------------------------------------- client: stream
def test_stream_holds_back_a_stop_split_across_frames_and_aborts() -> None:
    server = FakeServer()
    chat = client(server)
    chat.chat(ChatRequest(model="m", messages=CHAT))  # probe
    server.queue = [kobold_stream(("Hello <|im", "null"), ("_end|> more", "null"), ("x", "null"))]
    deltas = list(chat.stream(ChatRequest(model="m", messages=CHAT)))
    assert "".join(d.text for d in deltas) == "Hello "
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert deltas[-1].usage is not None  # token-counted after the stream


def test_consumer_stopping_early_aborts_the_generation() -> None:
    server = FakeServer()
    chat = client(server)
    chat.chat(ChatRequest(model="m", messages=CHAT))
    server.queue = [kobold_stream(("One", "null"), (" two", "null"), (" three", "null"), ("", "stop"))]
    stream = chat.stream(ChatRequest(model="m", messages=CHAT))
    assert next(stream).text == "One"
    stream.close()
    abort = [r for r in server.requests if r.url.path == "/api/extra/abort"]
    assert len(abort) == 1
    stream_body = json.loads([r for r in server.requests if r.url.path == "/api/extra/generate/stream"][-1].content)
    assert json.loads(abort[0].content) == {"genkey": stream_body["genkey"]}


def test_cancelled_async_stream_aborts() -> None:
    server = FakeServer()
    chat = AsyncChatClient("koboldai", base_url=BASE, http_client=server.async_client())

    async def run() -> None:
        await chat.chat(ChatRequest(model="m", messages=CHAT))
        server.queue = [kobold_stream(("One", "null"), (" two", "null"), ("", "stop"))]
        stream = chat.stream(ChatRequest(model="m", messages=CHAT))
        assert (await anext(stream)).text == "One"
        await stream.aclose()

    asyncio.run(run())
    assert [r.url.path for r in server.requests].count("/api/extra/abort") == 1


def test_stream_cut_before_last_event_raises() -> None:
    server = FakeServer()
    chat = client(server)
    chat.chat(ChatRequest(model="m", messages=CHAT))
    server.queue = [kobold_stream(("One", "null"))]
    with pytest.raises(StreamInterruptedError, match="finish_reason"):
        list(chat.stream(ChatRequest(model="m", messages=CHAT)))


def test_koboldai_united_falls_back_to_one_chunk() -> None:
    server = FakeServer(kobold_united=True)
    chat = client(server)
    deltas = list(chat.stream(ChatRequest(model="m", messages=CHAT)))
    assert [d.text for d in deltas] == ["Hello there."]
    assert "/api/extra/generate/stream" not in paths(server)
    assert "/api/v1/config/max_context_length" in paths(server)  # the United way to ask
    generate = json.loads([r for r in server.requests if r.url.path == "/api/v1/generate"][-1].content)
    assert "genkey" not in generate
    assert deltas[0].usage is None  # no tokencount on United: nothing invented


def test_stream_parser_final_event_text_and_length() -> None:
    parser = KoboldProtocol(get_provider("koboldai")).stream_parser(ChatRequest(model="m", messages=CHAT))
    delta = parser.feed(SSEEvent(data=json.dumps({"token": "end", "finish_reason": "length"})))
    assert delta is not None and (delta.text, delta.finish_reason) == ("end", "length")
    assert parser.done


# ------------------------------------------------------------------- adapters
def test_langchain_streams_with_callbacks_from_the_native_api() -> None:
    server = FakeServer()
    tokens: list[str] = []

    from langchain_core.callbacks import BaseCallbackHandler

    class Recorder(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: object) -> None:
            tokens.append(token)

    model = ChatKoboldAI(base_url=BASE, http_client=server.client(), callbacks=[Recorder()], chat_template="chatml")
    text = "".join(str(c.content) for c in model.stream([SystemMessage("x"), HumanMessage("hi")]))
    assert text == "Hello"
    assert "".join(tokens) == "Hello"
    assert "/api/extra/generate/stream" in paths(server)


def test_llamaindex_metadata_uses_the_true_context() -> None:
    server = FakeServer()
    llm = KoboldAI(base_url=BASE, http_client=server.client())
    assert llm.metadata.context_window == 2048
    assert paths(server) == ["/api/extra/true_max_context_length"]


def _stream_parser() -> KoboldStreamParser:
    protocol = KoboldProtocol(get_provider("koboldai"), "http://127.0.0.1:5001/v1")
    protocol.apply_probe({"result": "KoboldCpp", "version": "1.76"})
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
    return protocol.stream_parser(request)


def test_a_stream_frame_that_is_not_json_is_a_protocol_error_naming_the_server_and_url() -> None:
    parser = _stream_parser()
    with pytest.raises(ProtocolError, match="not JSON") as caught:
        parser.feed(SSEEvent(data="<html>busy</html>"))
    assert caught.value.provider == "KoboldAI" and caught.value.base_url == "http://127.0.0.1:5001/v1"


def test_a_whole_generate_answer_inside_a_stream_is_read_as_the_answer() -> None:
    # A server that answers a stream request with one generate body ({"results": [...]}).
    parser = _stream_parser()
    whole = {"results": [{"text": "Hi there", "finish_reason": "length"}]}
    delta = parser.feed(SSEEvent(data=json.dumps(whole)))
    assert delta is not None and (delta.text, delta.finish_reason) == ("Hi there", "length")
    assert parser.done


def _stream_parser_with_stop(stop: str) -> KoboldStreamParser:
    protocol = KoboldProtocol(get_provider("koboldai"), "http://127.0.0.1:5001/v1")
    protocol.apply_probe({"result": "KoboldCpp", "version": "1.76"})
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="hi")], params=GenerationParams(stop=[stop])
    )
    return protocol.stream_parser(request)


def test_a_whole_answer_that_names_no_finish_reason_ends_the_stream_as_stopped() -> None:
    # The generate shape without a finish reason ({"results": [{"text": ...}]}, as KoboldAI
    # United answers and /api/extra/generate/check reads): the answer is whole, so it stopped.
    parser = _stream_parser()
    delta = parser.feed(SSEEvent(data='{"results": [{"text": "Paris."}]}', event="json"))
    assert delta is not None and (delta.text, delta.finish_reason) == ("Paris.", "stop")
    assert parser.done


def test_a_json_body_that_is_no_generate_answer_is_a_protocol_error_not_a_cut_stream() -> None:
    parser = _stream_parser()
    with pytest.raises(ProtocolError, match="no results") as caught:
        parser.feed(SSEEvent(data='{"status": "ok"}', event="json"))
    assert not isinstance(caught.value, StreamInterruptedError)  # nothing was cut: retrying will not help


def test_every_delta_keeps_the_frame_the_server_sent() -> None:
    # LlamaIndex hands each streamed step's raw frame to the user (ChatResponse.raw).
    frames = [
        {"token": "1. Red", "finish_reason": "null"},  # the shapes of ../shared/providers/koboldcpp.md
        {"token": " Yellow", "finish_reason": "null"},
        {"token": "", "finish_reason": "stop"},
    ]
    parser = _stream_parser()
    deltas = [parser.feed(SSEEvent(data=json.dumps(frame), event="message")) for frame in frames]
    assert [d.raw if d else None for d in deltas] == frames
    assert [d.text if d else None for d in deltas] == ["1. Red", " Yellow", ""]


def test_a_frame_held_back_as_a_possible_stop_yields_nothing_and_the_stopping_frame_keeps_its_raw() -> None:
    parser = _stream_parser_with_stop("END")
    held = {"token": "Done EN", "finish_reason": "null"}
    first = parser.feed(SSEEvent(data=json.dumps(held), event="message"))
    assert first is not None and first.text == "Done "  # "EN" may start the stop sequence
    assert parser.feed(SSEEvent(data=json.dumps({"token": "", "finish_reason": "null"}), event="message")) is None
    stopping = {"token": "D and more", "finish_reason": "null"}
    last = parser.feed(SSEEvent(data=json.dumps(stopping), event="message"))
    assert last is not None and (last.text, last.finish_reason, last.raw) == ("", "stop", stopping)
    assert parser.done


@pytest.mark.parametrize("token", [["a"], {"text": "a"}, 5])
def test_a_token_that_is_not_text_is_a_protocol_error_naming_the_server_and_url(token: object) -> None:
    parser = _stream_parser()
    with pytest.raises(ProtocolError, match="stream frame has an unexpected shape") as caught:
        parser.feed(SSEEvent(data=json.dumps({"token": token, "finish_reason": "null"}), event="message"))
    assert caught.value.provider == "KoboldAI" and caught.value.base_url == "http://127.0.0.1:5001/v1"
    assert f"token is {type(token).__name__}, not text" in caught.value.message  # what was wrong


# ------------------------------------------- the generate API as the protocol sees it
# Probe, body, abort, counts and stops, with no I/O.
# Facts from ../shared/providers/koboldcpp.md: ``GET /api/extra/version`` answers
# ``{"result": "KoboldCpp", ...}`` (KoboldAI United has no ``/api/extra``); generate takes
# ``prompt, max_length, max_context_length, temperature, top_k, top_p, sampler_seed,
# stop_sequence, trim_stop, genkey``; ``/api/extra/abort {"genkey"}``; ``/api/extra/tokencount
# {"prompt", "special"}`` -> ``{"value": N}`` (``{"value": -1}`` on error); context from
# ``/api/extra/true_max_context_length`` or ``/api/v1/config/max_context_length`` as ``{"value": N}``;
# busy is 503 ``{"detail": {"msg", "type": "service_unavailable"}}``; wrong field types are 200 ``null``.
USER = [Message(role="user", content="Hi")]


def koboldcpp() -> KoboldProtocol:
    protocol = KoboldProtocol(get_provider("koboldai"), BASE)
    protocol.apply_probe({"result": "KoboldCpp", "version": "1.76", "protected": False})
    return protocol


def united() -> KoboldProtocol:
    protocol = KoboldProtocol(get_provider("koboldai"), BASE)
    protocol.apply_probe(None)  # no /api/extra/version route
    return protocol


def test_the_version_probe_is_asked_once_and_tells_koboldcpp_from_united() -> None:
    fresh = KoboldProtocol(get_provider("koboldai"), BASE)
    probe = fresh.probe_request()
    assert probe is not None
    assert (probe.method, probe.path, probe.from_root) == ("GET", "/api/extra/version", True)
    assert koboldcpp().probe_request() is None and united().probe_request() is None
    impostor = KoboldProtocol(get_provider("koboldai"), BASE)
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
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", BASE)
    assert "KoboldAI" in caught.value.message and "embeddings" in caught.value.message
    with pytest.raises(UnsupportedFeatureError) as parsed:
        koboldcpp().parse_embeddings({"data": []})
    assert parsed.value.provider == "KoboldAI"
    assert "KoboldAI" in parsed.value.message


def test_tools_are_refused_naming_the_openai_side() -> None:
    from orbit_local.facts.types import ToolSpec

    with pytest.raises(UnsupportedFeatureError) as caught:
        koboldcpp().chat_request(ChatRequest(model="m", messages=USER, tools=[ToolSpec(name="f")]), stream=False)
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", BASE)
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
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", BASE)
    assert "KoboldCpp" in caught.value.message and "wrong type" in caught.value.message
    not_an_error = {"error": None, "results": [{"text": "Hi"}]}
    assert koboldcpp().parse_chat(not_an_error, None).text == "Hi"


def test_a_stream_that_ends_before_its_last_event_names_server_url_and_retry() -> None:
    parser = koboldcpp().stream_parser(ChatRequest(model="m", messages=USER))
    parser.feed(SSEEvent(json.dumps({"token": "Hel", "finish_reason": "null"})))
    with pytest.raises(StreamInterruptedError) as caught:
        parser.finish()
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", BASE)
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
    from orbit_local.facts.types import ContentPart

    image = Message(role="user", parts=[ContentPart("image", url="https://i")])
    with pytest.raises(UnsupportedFeatureError) as caught:
        koboldcpp().chat_request(ChatRequest(model="m", messages=[image]), stream=False)
    assert (caught.value.provider, caught.value.base_url) == ("KoboldAI", BASE)


@pytest.mark.parametrize("make", [koboldcpp, united])
def test_json_mode_is_refused_naming_the_server_and_the_ways_that_work(make: Callable[[], KoboldProtocol]) -> None:
    """KoboldAI's generate input has no ``response_format`` (only ``grammar``); KoboldCpp's
    OpenAI side maps ``response_format: json_schema`` to a grammar (koboldcpp.md)."""
    request = ChatRequest(model="m", messages=USER, response_format={"type": "json_object"})
    with pytest.raises(UnsupportedFeatureError) as caught:
        make().generate_body(request)
    error = caught.value
    assert (error.provider, error.base_url) == ("KoboldAI", BASE)
    assert "response_format" in str(error)
    hint = error.hint or ""
    assert "grammar" in hint and "provider='koboldcpp-openai'" in hint and "with_structured_output" in hint


# The refusal of JSON mode names the server's feature and fields as the server spells them
# (the generate input has ``grammar`` but no ``response_format``; KoboldCpp's OpenAI side takes
# ``response_format``), and an answer that is no object (KoboldCpp answers HTTP 200 ``null`` to a
# field of the wrong type) says what was not.
ROOT = "http://127.0.0.1:5001"  # the server's root, without the /v1 of its OpenAI side


def test_json_mode_is_refused_in_the_servers_own_terms() -> None:
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="Hi")], response_format={"type": "json_object"}
    )
    with pytest.raises(UnsupportedFeatureError) as caught:
        KoboldProtocol(get_provider("koboldai"), ROOT).generate_body(request)
    assert "no JSON mode" in caught.value.message
    hint = caught.value.hint or ""
    assert "KoboldCpp's `grammar` in extra_body" in hint  # the field KoboldCpp's generate input has
    assert "its OpenAI side: provider='koboldcpp-openai'" in hint


def test_an_answer_that_is_no_object_is_named_as_the_answer() -> None:
    with pytest.raises(ProtocolError) as caught:
        KoboldProtocol(get_provider("koboldcpp"), ROOT).parse_chat(None)
    assert caught.value.message.startswith("the answer is not a JSON object: the server sent null")
