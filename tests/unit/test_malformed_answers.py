"""Answers whose message, delta or tool-call function is null are protocol errors, never an
empty answer or a call named "" (step 9: right under real use)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from orbit_local.facts.errors import ProtocolError
from orbit_local.facts.providers import get_provider
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.wire.streams import SSEEvent

URL = "http://127.0.0.1:1234/v1"


def protocol() -> OpenAIProtocol:
    return OpenAIProtocol(get_provider("lmstudio"), URL)


def answer(choice: dict) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [choice]}


def assert_names_server(error: ProtocolError) -> None:
    assert "LM Studio" in str(error)
    assert URL in str(error)


def test_message_null_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol().parse_chat(answer({"index": 0, "message": None, "finish_reason": "stop"}))
    assert_names_server(caught.value)


def test_choice_without_message_or_text_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        protocol().parse_chat(answer({"index": 0, "finish_reason": "stop"}))


def test_tool_call_with_function_null_is_a_protocol_error() -> None:
    message = {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": None}]}
    with pytest.raises(ProtocolError) as caught:
        protocol().parse_chat(answer({"index": 0, "message": message, "finish_reason": "tool_calls"}))
    assert_names_server(caught.value)


def test_tool_call_without_name_is_a_protocol_error() -> None:
    call = {"id": "c1", "type": "function", "function": {"arguments": "{}"}}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    with pytest.raises(ProtocolError):
        protocol().parse_chat(answer({"index": 0, "message": message, "finish_reason": "tool_calls"}))


def test_well_formed_tool_call_still_parses() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    result = protocol().parse_chat(answer({"index": 0, "message": message, "finish_reason": "tool_calls"}))
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("add", {"a": 1})]


def test_legacy_text_choice_still_parses() -> None:
    result = protocol().parse_chat(answer({"index": 0, "text": "hello", "finish_reason": "stop"}))
    assert result.text == "hello"


def frame(choice: dict) -> SSEEvent:
    return SSEEvent(data=json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}))


def test_streamed_delta_null_is_a_protocol_error() -> None:
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError) as caught:
        parser.feed(frame({"index": 0, "delta": None}))
    assert_names_server(caught.value)


def test_streamed_function_null_is_a_protocol_error() -> None:
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    delta = {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": None}]}
    with pytest.raises(ProtocolError) as caught:
        parser.feed(frame({"index": 0, "delta": delta}))
    assert_names_server(caught.value)


def test_streamed_fragment_without_function_and_bare_finish_are_fine() -> None:
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    first = parser.feed(frame({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1"}]}}))
    assert first is not None and first.tool_call_chunks is not None and first.tool_call_chunks[0].id == "c1"
    last = parser.feed(frame({"index": 0, "finish_reason": "tool_calls"}))
    assert last is not None and last.finish_reason == "tool_calls"


def test_a_streamed_call_that_never_gets_a_name_is_a_protocol_error() -> None:
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    parser.feed(
        frame({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": "{}"}}]}})
    )
    parser.feed(frame({"index": 0, "delta": {}, "finish_reason": "tool_calls"}))
    with pytest.raises(ProtocolError) as caught:
        parser.finish()
    assert_names_server(caught.value)


def test_a_streamed_call_named_in_its_first_fragment_finishes_cleanly() -> None:
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    first = {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "add", "arguments": ""}}]}
    parser.feed(frame({"index": 0, "delta": first}))
    parser.feed(frame({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}))
    parser.feed(frame({"index": 0, "delta": {}, "finish_reason": "tool_calls"}))
    parser.finish()


# --- the error names the part that was null or nameless -------------------------------------------
# A null ``message``, ``delta`` or tool-call ``function`` (or a call with no name) would also
# fail later as a generic shape error ("unexpected shape (AttributeError: ...)"); the explicit
# checks exist to say *which* field was missing, so these tests pin that the message names it.
# The well-formed shapes are the OpenAI chat-completions API's (choices[].message and
# choices[].delta are objects, tool_calls[].function.name is required); LM Studio's profile is
# used only to have a server name and URL to check in the error.


def calls(function: Any) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": function}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    return answer({"index": 0, "message": message, "finish_reason": "tool_calls"})


def stream_delta(delta: Any) -> None:
    protocol().stream_parser(None).feed(frame({"index": 0, "delta": delta}))  # type: ignore[arg-type]


CASES: list[tuple[str, Callable[[], object], tuple[str, ...], str]] = [
    (
        "message null",
        lambda: protocol().parse_chat(answer({"index": 0, "message": None, "finish_reason": "stop"})),
        ("message", "null"),
        '"message": null',
    ),
    (
        "function null",
        lambda: protocol().parse_chat(calls(None)),
        ("tool call 0", "function name", "null"),
        '"function": null',
    ),
    (
        "function without name",
        lambda: protocol().parse_chat(calls({"arguments": "{}"})),
        ("tool call 0", "function name", '"arguments"'),
        '"function": {"arguments": "{}"}',
    ),
    ("delta null", lambda: stream_delta(None), ("delta", "null"), '"delta": null'),
    (
        "streamed function null",
        lambda: stream_delta({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": None}]}),
        ("function", "null"),
        '"function": null',
    ),
]


@pytest.mark.parametrize(("run", "words", "raw"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_null_or_nameless_part_is_named_in_the_error(
    run: Callable[[], object], words: tuple[str, ...], raw: str
) -> None:
    """The message names the missing part; ``body`` keeps what the server sent, for debugging."""
    with pytest.raises(ProtocolError) as caught:
        run()
    error = caught.value
    assert (error.provider, error.base_url) == ("LM Studio", URL)
    for word in words:
        assert word in error.message
    assert "unexpected shape" not in error.message
    assert raw in (error.body or "")


def test_of_two_streamed_calls_the_one_that_never_gets_a_name_is_the_error() -> None:
    """Parallel tool calls stream as fragments by ``index`` (OpenAI chat-completions chunks):
    call 0 named, call 1 never named -> the stream's end is a ProtocolError naming call 1."""
    parser = protocol().stream_parser(None)  # type: ignore[arg-type]
    named = {"index": 0, "id": "c0", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    nameless = {"index": 1, "id": "c1", "type": "function", "function": {"arguments": "{}"}}
    parser.feed(frame({"index": 0, "delta": {"tool_calls": [named]}}))
    parser.feed(frame({"index": 0, "delta": {"tool_calls": [nameless]}}))
    parser.feed(frame({"index": 0, "delta": {}, "finish_reason": "tool_calls"}))
    with pytest.raises(ProtocolError) as caught:
        parser.finish()
    assert "tool call 1" in caught.value.message
