"""Step 9 mutation survivors in the protocols: what a malformed answer's error says.

A null ``message``, ``delta`` or tool-call ``function`` (or a call with no name) would also
fail later as a generic shape error ("unexpected shape (AttributeError: ...)"); the explicit
checks exist to say *which* field was missing, so these tests pin that the message names it.
The well-formed shapes are the OpenAI chat-completions API's (choices[].message and
choices[].delta are objects, tool_calls[].function.name is required); LM Studio's profile is
used only to have a server name and URL to check in the error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from orbit_local.errors import ProtocolError
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider
from orbit_local.streams import SSEEvent

URL = "http://127.0.0.1:1234/v1"


def protocol() -> OpenAIProtocol:
    return OpenAIProtocol(get_provider("lmstudio"), URL)


def answer(choice: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [choice]}


def frame(choice: dict[str, Any]) -> SSEEvent:
    return SSEEvent(data=json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}))


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
