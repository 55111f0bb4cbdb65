"""Recovering tool calls that a model wrote into its answer text (opt-in)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from langchain_orbit_local import ChatLlamaCpp
from orbit_local.facts.types import ChatResult, ToolCall
from orbit_local.protocols.recovery import recover_tool_calls
from tests.fakes import FakeServer, completion

NAMES = ["get_weather"]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        'Sure.\n```json\n{"name": "get_weather", "parameters": {"city": "Paris"}}\n```',
        '{"function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}',
    ],
)
def test_calls_written_as_text_are_recovered(text: str) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), NAMES)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert result.text == "" and result.finish_reason == "tool_calls"
    assert result.tool_calls[0].id.startswith("call_")


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris is sunny.",
        '{"name": "delete_everything", "arguments": {}}',  # not a bound tool
        '{"name": "get_weather", "arguments": "not json"}',
        '{"city": "Paris"}',
    ],
)
def test_other_text_is_left_alone(text: str) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), NAMES)
    assert result.tool_calls == [] and result.text == text


def test_langchain_opt_in() -> None:
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Get the weather."""
        return city

    def answer(body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(
            200, json=completion('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>')
        )

    server = FakeServer(chat=answer)
    plain = ChatLlamaCpp(base_url="http://127.0.0.1:9/v1", model="m", http_client=server.client()).bind_tools(
        [get_weather]
    )
    assert plain.invoke("weather?").tool_calls == []
    recovering = ChatLlamaCpp(
        base_url="http://127.0.0.1:9/v1", model="m", http_client=server.client(), recover_tool_calls=True
    ).bind_tools([get_weather])
    message = recovering.invoke("weather?")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert message.response_metadata["finish_reason"] == "tool_calls"


# --- each shape a model writes a call in, ids, and what stays text --------------------------------
# Recovered calls are the bound tools' (two here), in order, with stable ids; anything else stays
# the answer's text.


WEATHER_AND_TIME = ["get_weather", "get_time"]


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        # Hermes/Qwen: one <tool_call> block per call
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
         '<tool_call>{"name": "get_time", "arguments": {"tz": "UTC"}}</tool_call>',
         [("get_weather", {"city": "Oslo"}), ("get_time", {"tz": "UTC"})]),
        ('```\n{"name": "get_time", "args": {"tz": "CET"}}\n```', [("get_time", {"tz": "CET"})]),
        ('{"type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}}',
         [("get_time", {"tz": "UTC"})]),
        ('{"name": "get_weather", "parameters": {"city": "Rome"}}', [("get_weather", {"city": "Rome"})]),
        ('<tool_call>{"name": "nope", "arguments": {}}</tool_call><tool_call>{"name": "get_time", '
         '"arguments": {}}</tool_call>', [("get_time", {})]),
        ('<tool_call>{not json}</tool_call><tool_call>{"name": "get_time", "arguments": {}}</tool_call>',
         [("get_time", {})]),
    ],
)  # fmt: skip
def test_calls_in_text_are_recovered_in_order(text: str, calls: list[tuple[str, dict[str, object]]]) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), WEATHER_AND_TIME)
    assert [(c.name, c.arguments) for c in result.tool_calls] == calls
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert len({c.id for c in result.tool_calls}) == len(calls)
    assert all(json.loads(c.raw_arguments) == c.arguments and c.parse_error is None for c in result.tool_calls)


def test_a_recovered_calls_id_is_stable_and_depends_on_what_it_calls() -> None:
    def recovered_id(text: str) -> str:
        return recover_tool_calls(ChatResult(text=text, finish_reason="stop"), WEATHER_AND_TIME).tool_calls[0].id

    time_call = '{"name": "get_time", "arguments": {}}'
    assert recovered_id(time_call) == recovered_id(time_call)  # replays send identical bodies
    assert recovered_id(time_call) != recovered_id('{"name": "get_weather", "arguments": {}}')
    assert recovered_id(time_call) != recovered_id('{"name": "get_time", "arguments": {"tz": "UTC"}}')


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_time", "arguments": ["UTC"]}',  # arguments must be an object
        '{"name": "get_time", "arguments": "[1, 2]"}',
        '["get_time"]',
        '{"name": "get_time"',
        'Here: {"name": "get_time", "arguments": {}} — as text',  # not the whole answer
        '{"function": "get_time", "arguments": {}}',
    ],
)
def test_text_that_is_no_call_to_a_bound_tool_stays_text(text: str) -> None:
    result = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), WEATHER_AND_TIME)
    assert result.tool_calls == [] and result.text == text and result.finish_reason == "stop"


def test_recovery_never_overrides_real_calls_and_needs_bound_tools() -> None:
    text = '{"name": "get_time", "arguments": {}}'
    real = ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"})
    with_call = recover_tool_calls(ChatResult(text=text, tool_calls=[real], finish_reason="tool_calls"), WEATHER_AND_TIME)
    assert with_call.tool_calls == [real] and with_call.text == text
    unbound = recover_tool_calls(ChatResult(text=text, finish_reason="stop"), [])
    assert unbound.tool_calls == [] and unbound.text == text
    assert recover_tool_calls(ChatResult(text="", finish_reason="stop"), WEATHER_AND_TIME).tool_calls == []
