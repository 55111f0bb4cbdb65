"""What orbit-local does on the user's behalf is logged to ``orbit_local``, and no secret is."""

from __future__ import annotations

import logging

import httpx
import pytest

from orbit_local.backends.client import ChatClient
from orbit_local.facts.types import ChatRequest, GenerationParams, Message, ToolSpec
from tests.fakes import MODEL, FakeServer

SECRET = "sk-very-secret-key"
REQUEST = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")])


def busy() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})


def test_retries_emulation_and_downgrades_are_logged_without_secrets(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbit_local.net.transport.time.sleep", lambda _: None)
    caplog.set_level(logging.DEBUG, logger="orbit_local")
    server = FakeServer(queue=[busy()])
    client = ChatClient("llamacpp", base_url="http://127.0.0.1:9/v1", api_key=SECRET, http_client=server.client())
    client.chat(REQUEST)
    gpt4all = ChatClient("gpt4all", base_url="http://127.0.0.1:4891/v1", api_key=SECRET, http_client=server.client())
    with pytest.warns(UserWarning):
        list(gpt4all.stream(ChatRequest(model=MODEL, messages=REQUEST.messages, params=GenerationParams(options={"logprobs": True}))))
    tools = [ToolSpec(name="f"), ToolSpec(name="g")]
    with pytest.warns(UserWarning):
        client.chat(ChatRequest(model=MODEL, messages=REQUEST.messages, tools=tools, tool_choice={"type": "function", "function": {"name": "f"}}))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Loading model; retry 1 of 10 in 0.5 s" in text
    assert "GPT4All at http://127.0.0.1:4891/v1 cannot stream: one answer is emulated as a stream" in text
    assert "GPT4All does not honour logprobs; not sent." in text
    assert "does not honour tool_choice='named'" in text
    assert SECRET not in text and "Bearer" not in text
    assert all(r.name.startswith("orbit_local") for r in caplog.records)
