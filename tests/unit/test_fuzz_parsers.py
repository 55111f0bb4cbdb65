"""Fuzzing: any bytes or JSON into every decoder and parser gives a result or a typed error.

Bounded in examples so CI stays fast (``ORBIT_FUZZ_EXAMPLES`` raises the count locally).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbit_local.backends.tokens import parse_tokens
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.providers import get_provider, list_providers
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.net.discovery import Answer, classify
from orbit_local.protocols.errors import error_from_response, error_in_payload
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.protocols.openai import OpenAIProtocol, parse_usage
from orbit_local.wire.streams import SSEDecoder, SSEEvent

pytestmark = pytest.mark.reliability

FUZZ = settings(
    max_examples=int(os.environ.get("ORBIT_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
# Shapes servers really send, with fuzzed values: reaches deeper than random JSON alone.
CHATTY = st.fixed_dictionaries(
    {"choices": st.lists(st.fixed_dictionaries({"message": st.dictionaries(st.sampled_from(
        ["content", "role", "tool_calls", "reasoning_content"]), JSON), "finish_reason": JSON,
        "logprobs": JSON, "index": JSON}), max_size=3)},
    optional={"usage": JSON, "model": JSON, "id": JSON, "error": JSON, "timings": JSON},
)  # fmt: skip
REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
OPENAI = OpenAIProtocol(get_provider("llamacpp"), "http://127.0.0.1:1/v1")
KOBOLD = KoboldProtocol(get_provider("koboldai"), "http://127.0.0.1:1/v1")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def _decode(pieces: list[bytes]) -> list[tuple[str, str, str | None]] | str:
    decoder = SSEDecoder()
    try:
        events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.flush()
    except UnicodeDecodeError:
        return "invalid utf-8"
    return [(e.data, e.event, e.id) for e in events]


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_fuzz_sse_decoder_is_independent_of_chunking(data: bytes, cuts: list[int]) -> None:
    assert _decode(_split(data, cuts)) == _decode([data])


@FUZZ
@given(st.lists(st.sampled_from([b"data: x", b"data: {}", b": ping", b"event: e", b"id: 1", b"", b"\r", b"data"]),
                max_size=12), st.lists(st.integers(0, 200), max_size=6))  # fmt: skip
def test_fuzz_sse_lines_in_any_framing(lines: list[bytes], cuts: list[int]) -> None:
    for ending in (b"\n", b"\r\n", b"\r"):
        data = ending.join(lines)
        assert _decode(_split(data, cuts)) == _decode([data])


def _typed(call: Any) -> None:
    """Run ``call``: a result or an orbit-local error is fine, anything else fails the test."""
    with contextlib.suppress(OrbitLocalError):
        call()


@FUZZ
@given(JSON | CHATTY)
def test_fuzz_openai_chat_and_stream_parsers(payload: Any) -> None:
    _typed(lambda: OPENAI.parse_chat(payload, REQUEST))
    _typed(lambda: OPENAI.parse_models(payload))
    _typed(lambda: OPENAI.parse_embeddings(payload))
    _typed(lambda: OPENAI.parse_context(payload, "m"))
    parser = OPENAI.stream_parser(REQUEST)
    _typed(lambda: parser.feed(SSEEvent(data=json.dumps(payload))))
    _typed(lambda: parse_usage(payload, reliable=True))


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_stream_frames_of_any_text(text: str) -> None:
    _typed(lambda: OPENAI.stream_parser(REQUEST).feed(SSEEvent(data=text)))
    _typed(lambda: KOBOLD.stream_parser(REQUEST).feed(SSEEvent(data=text)))


@FUZZ
@given(JSON)
def test_fuzz_kobold_parsers(payload: Any) -> None:
    _typed(lambda: KOBOLD.parse_chat(payload, REQUEST))
    _typed(lambda: KOBOLD.parse_models(payload))
    _typed(lambda: KOBOLD.parse_context(payload, None))
    _typed(lambda: KOBOLD.parse_usage([payload, payload]))


@FUZZ
@given(st.one_of(st.none(), st.integers(100, 599)), st.text(max_size=300) | JSON.map(json.dumps))
def test_fuzz_any_error_answer_becomes_a_typed_error(status: int | None, body: str) -> None:
    for profile in list_providers():
        error = error_from_response(profile, "http://127.0.0.1:1/v1", status, body)
        assert isinstance(error, OrbitLocalError) and str(error)
    found = error_in_payload(get_provider("lmstudio"), "http://127.0.0.1:1/v1", _maybe_json(body))
    assert found is None or isinstance(found, OrbitLocalError)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@FUZZ
@given(st.dictionaries(st.sampled_from(["koboldcpp", "lemonade", "lmstudio", "localai", "llamacpp", "vllm", "ollama",
                                        "models"]), st.tuples(st.one_of(st.none(), st.integers(100, 599)), JSON)))  # fmt: skip
def test_fuzz_fingerprint_answers(answers: dict[str, tuple[int | None, Any]]) -> None:
    decided = classify("http://127.0.0.1:8000", {k: Answer(s, b) for k, (s, b) in answers.items()})
    assert decided is None or decided[0].name


@FUZZ
@given(JSON)
def test_fuzz_tokenizer_answers(payload: Any) -> None:
    for profile in (get_provider("llamacpp"), get_provider("koboldai"), get_provider("vllm")):
        _typed(lambda profile=profile: parse_tokens(profile, payload))  # type: ignore[misc]
