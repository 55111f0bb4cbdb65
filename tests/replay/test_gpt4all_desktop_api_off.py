"""GPT4All's desktop app with its Local API Server switched off (step 10).

The app keeps listening on port 4891 but answers every route with HTTP 401 and an empty body
(server.cpp: ``if (!MySettings::globalInstance()->serverChat()) return ... Unauthorized``).
Recorded with the app started by ``tests/live/gpt4all_desktop.sh start 3.4.2 --api-off``
(``serverChat=false`` in its settings file): ``make record PROVIDER=gpt4all-desktop-3.4.2-api-off
RECORD_ARGS="--base-url http://127.0.0.1:4891/v1 ..."``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatGPT4All
from llamaindex_orbit_local import GPT4All
from orbit_local.facts.errors import AuthenticationError
from tests.targets import Target, gpt4all_api_off_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in gpt4all_api_off_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no gpt4all-desktop api-off cassettes yet"), id="none")]

SWITCH = "Enable Local API Server"


def raw(target: Target, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        return client.request(method, target.base_url + path, json=body)


def test_gpt4all_api_switch_off_every_route_is_an_empty_401(target: Target) -> None:
    for method, path, body in (
        ("GET", "/models", None),
        ("POST", "/chat/completions", {"model": target.chat_model, "messages": [{"role": "user", "content": "Hi"}]}),
        ("POST", "/completions", {"model": target.chat_model, "prompt": "Hi"}),
    ):
        reply = raw(target, method, path, body)
        assert reply.status_code == 401, path
        assert reply.content == b"", path


def test_gpt4all_api_switch_off_says_to_switch_it_on(target: Target) -> None:
    chat = ChatGPT4All(base_url=target.base_url, model=target.chat_model, max_retries=0)
    with pytest.raises(AuthenticationError) as caught:
        chat.invoke("Hi")
    assert caught.value.status_code == 401
    assert SWITCH in (caught.value.hint or "") and "serverChat=true" in (caught.value.hint or "")
    llm = GPT4All(base_url=target.base_url, model=target.chat_model, max_retries=0)
    with pytest.raises(AuthenticationError) as caught:
        llm.chat([ChatMessage(role=MessageRole.USER, content="Hi")])
    assert SWITCH in str(caught.value)
    with pytest.raises(AuthenticationError, match=SWITCH):
        llm.list_models()
