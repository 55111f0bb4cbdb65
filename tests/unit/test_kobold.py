"""KoboldAI's own API: templates, generate, streaming with client-side stops, abort, the
KoboldAI United fallback, context discovery and token counting — over an in-memory server."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_orbit_local import ChatKoboldAI
from llamaindex_orbit_local import KoboldAI
from orbit_local.client import AsyncChatClient, ChatClient
from orbit_local.errors import ProtocolError, ServerBusyError, StreamInterruptedError, UnsupportedFeatureError
from orbit_local.protocols.kobold import KoboldProtocol, KoboldStreamParser
from orbit_local.providers import get_provider
from orbit_local.stops import split_at_stop, unsafe_tail
from orbit_local.streams import SSEEvent
from orbit_local.templates import TEMPLATES, get_template
from orbit_local.types import ChatRequest, GenerationParams, Message, ToolSpec
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


# ---------------------------------------------------------------- stop helpers
def test_split_at_stop_and_unsafe_tail() -> None:
    assert split_at_stop("1, 2, 3, 4", ["3", "4"]) == ("1, 2, ", True)
    assert split_at_stop("abc", ["x"]) == ("abc", False)
    assert unsafe_tail("Hello <|im", ["<|im_end|>"]) == 4
    assert unsafe_tail("Hello", ["<|im_end|>"]) == 0
    assert unsafe_tail("end <", ["<|im_end|>", "<|im_start|>"]) == 1


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
    monkeypatch.setattr("orbit_local.transport.time.sleep", lambda _: None)
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
