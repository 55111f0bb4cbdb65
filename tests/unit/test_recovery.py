"""Recovering tool calls that a model wrote into its answer text (opt-in)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from langchain_orbit_local import ChatLlamaCpp
from orbit_local.recovery import recover_tool_calls
from orbit_local.types import ChatResult
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
