"""Conformance: real responses other people recorded from servers we cannot run here.

``ORBIT_REAL_SESSIONS`` points at a folder of case files (one real response each, with what a
correct client must extract under ``expect``). Every case whose server and API orbit-local
supports goes through that provider's own parser — the same code the clients use — and must
yield the expected text, reasoning, tool calls (ids exactly as sent), usage, finish reason,
model ids or error category and message. Cases for APIs orbit-local does not speak (Ollama's
native API, the Responses and Messages APIs) are skipped with that reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, ChatResult, Message
from orbit_local.protocols.accumulate import StreamAccumulator
from orbit_local.protocols.errors import error_from_response
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.wire.streams import SSEDecoder

PROFILE_BY_SERVER = {
    "lmstudio": "lmstudio",
    "localai": "localai",
    "ollama": "ollama",
    "gpt4all": "gpt4all",
    "koboldcpp": "koboldai",
    "lemonade": "lemonade",
    "fastchat": "fastchat",
    "llamacpp": "llamacpp",
    "vllm": "vllm",
}
CHAT_APIS = {"openai", "lmstudio-rest-v0"}
UNSUPPORTED_PATHS = {
    "/v1/responses": "the OpenAI Responses API; orbit-local talks to /chat/completions",
    "/v1/messages": "the Anthropic Messages API; orbit-local talks to /chat/completions",
}
BASE_URL = "http://127.0.0.1:1/v1"


def _cases() -> list[Any]:
    root = os.environ.get("ORBIT_REAL_SESSIONS")
    if not root:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(reason="set ORBIT_REAL_SESSIONS to the real-sessions folder"),
                id="no-real-sessions",
            )
        ]
    files = sorted(Path(root).glob("*/*.json"))
    return [pytest.param(path, id=f"{path.parent.name}/{path.stem}") for path in files]


def _skip_reason(case: dict[str, Any]) -> str | None:
    if case["server"] not in PROFILE_BY_SERVER:
        return f"no orbit-local profile for {case['server']}"
    path = (case.get("request") or {}).get("path") or ""
    for prefix, reason in UNSUPPORTED_PATHS.items():
        if path.endswith(prefix.removeprefix("/v1")) and prefix.split("/")[-1] in path:
            return reason
    kind = case["expect"].get("kind")
    if kind == "error":
        return None  # error bodies are classified the same whatever the API
    if case["api"] == "ollama-native":
        return "Ollama's native /api/chat; orbit-local talks to Ollama's OpenAI-compatible /v1 side"
    if case["api"] not in CHAT_APIS:
        return f"API {case['api']!r} is not one orbit-local speaks"
    if kind in ("health", "other"):
        return f"a {kind} probe, not a response a chat client parses"
    return None


def _stream_result(protocol: OpenAIProtocol, body: str) -> ChatResult:
    decoder = SSEDecoder()
    parser = protocol.stream_parser(ChatRequest(model="m", messages=[Message(role="user", content="")]))
    accumulated = StreamAccumulator()
    for event in [*decoder.feed(body.encode()), *decoder.flush()]:
        delta = parser.feed(event)
        if delta is not None:
            accumulated.add(delta)
    parser.finish()
    return accumulated.result()


def _check_result(result: ChatResult, expect: dict[str, Any]) -> None:
    if "text" in expect:
        assert result.text == expect["text"]
    if "reasoning" in expect:
        assert result.reasoning == expect["reasoning"]
    if "finish_reason" in expect:
        assert result.finish_reason == expect["finish_reason"]
    if "tool_calls" in expect:
        got = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls]
        assert got == expect["tool_calls"]
    elif "text" in expect:
        assert result.tool_calls == []
    if "usage" in expect:
        usage = expect["usage"]
        got_usage = None
        if result.usage is not None:
            got_usage = {
                "input_tokens": result.usage.input_tokens,
                "output_tokens": result.usage.output_tokens,
                "total_tokens": result.usage.total_tokens,
            }
        assert got_usage == usage


@pytest.mark.parametrize("path", _cases())
def test_real_session_case(path: Path) -> None:
    case = json.loads(path.read_text())
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    profile = get_provider(PROFILE_BY_SERVER[case["server"]])
    protocol = OpenAIProtocol(profile, BASE_URL)
    expect = case["expect"]
    response = case["response"]
    kind = expect["kind"]
    if kind == "error":
        error = error_from_response(profile, BASE_URL, response["status"], response["body"])
        assert isinstance(error, OrbitLocalError)
        assert error.category == expect["error"]["category"], str(error)
        assert expect["error"]["message_contains"] in (error.server_message or "")
        assert profile.display_name in str(error) and BASE_URL in str(error)
        return
    body = response["body"]
    if kind == "models":
        assert [m.id for m in protocol.parse_models(json.loads(body))] == expect["model_ids"]
    elif kind in ("chat", "completion"):
        _check_result(protocol.parse_chat(json.loads(body)), expect)
    elif kind == "chat_stream":
        _check_result(_stream_result(protocol, body), expect)
    else:
        pytest.fail(f"unhandled case kind {kind!r}")
