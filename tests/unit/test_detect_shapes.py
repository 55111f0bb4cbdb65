"""A fingerprint is the server's own shape, never a bare 200.

A web front end, a proxy or a dashboard answers ``200`` with an HTML page on every route,
``/readyz`` included. LocalAI's ``/readyz`` answers 200 ``OK`` (v2) or an empty 200 (v3+), and
LocalAI has ``/version`` ``{"version": ...}`` and a model list without ``owned_by``
(providers/localai.md): those must agree before a 200 on ``/readyz`` means LocalAI. An HTML
front end with an OpenAI model list behind it is the generic profile; one without is nothing
we know, and says so.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import AuthenticationError, ProtocolError
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.net import discovery
from orbit_local.net.discovery import Answer, classify, discover, identify

HTML = "<!doctype html><html><head><title>Open WebUI</title></head><body><div id=app></div></body></html>"
OPENAI_LIST = {"object": "list", "data": [{"id": "m", "object": "model"}]}
REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])


@pytest.fixture(autouse=True)
def _fresh() -> None:
    discovery.forget()


def decide(origin: str = "http://127.0.0.1:9999", **answers: Answer) -> str | None:
    decided = classify(origin, answers)
    return None if decided is None else decided[0].name


def everywhere(body: Any, status: int = 200, **overrides: Answer) -> dict[str, Answer]:
    answers = {probe.name: Answer(status, body) for probe in discovery.PROBES}
    answers.update(overrides)
    return answers


def test_an_html_page_on_readyz_is_not_localai() -> None:
    assert decide(**everywhere(HTML)) is None
    assert decide(**everywhere(HTML, models=Answer(200, OPENAI_LIST))) == "openai-compatible"
    assert decide(localai=Answer(200, HTML), models=Answer(200, OPENAI_LIST)) == "openai-compatible"


def test_a_bare_200_on_readyz_is_not_localai_without_localais_other_answers() -> None:
    assert decide(localai=Answer(200, None)) is None
    assert decide(localai=Answer(200, "OK")) is None
    assert decide(localai=Answer(200, {"status": "ready"}), vllm=Answer(200, {"version": "v2.20.1"})) != "localai"
    # LocalAI as it is: /readyz OK (or empty) and /version, or models listed without owned_by
    assert decide(localai=Answer(200, "OK"), vllm=Answer(200, {"version": "v2.20.1"})) == "localai"
    assert decide(localai=Answer(200, None), models=Answer(200, OPENAI_LIST)) == "localai"
    assert decide(localai=Answer(503, {"status": "starting", "reason": "startup preload in progress"})) == "localai"


def test_the_port_guess_needs_an_openai_model_list() -> None:
    """Only GPT4All uses :4891 by default, but an HTML page there is no GPT4All."""
    assert decide("http://127.0.0.1:4891", **everywhere(HTML)) is None
    assert decide("http://127.0.0.1:4891", **everywhere(HTML, models=Answer(200, OPENAI_LIST))) == "gpt4all"


def test_a_json_object_that_is_no_model_list_is_not_openai() -> None:
    assert decide(models=Answer(200, {"message": "welcome"})) is None
    assert decide(vllm=Answer(200, {"version": ""}), models=Answer(200, {"message": "welcome"})) is None


def front_end(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=HTML, headers={"content-type": "text/html"})


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_detection_on_a_front_end_says_what_answered(kind: str) -> None:
    base = "http://127.0.0.1:3000/v1"
    with pytest.raises(ProtocolError) as info:
        if kind == "sync":
            ChatClient("auto", base_url=base, http_client=httpx.Client(transport=httpx.MockTransport(front_end))).chat(
                REQUEST
            )
        else:
            client = AsyncChatClient(
                "auto", base_url=base, http_client=httpx.AsyncClient(transport=httpx.MockTransport(front_end))
            )
            asyncio.run(client.chat(REQUEST))
    message = info.value.message
    assert "not like any server orbit-local knows" in message and "an HTML page" in message
    assert "provider=" in (info.value.hint or "")


def test_a_protected_server_says_it_wants_a_key() -> None:
    def locked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "invalid api key", "type": "invalid_request_error"}})

    with pytest.raises(AuthenticationError) as info:
        ChatClient("auto", base_url="http://127.0.0.1:8000/v1",
                   http_client=httpx.Client(transport=httpx.MockTransport(locked))).chat(REQUEST)  # fmt: skip
    assert "401" in info.value.message and "api_key=" in (info.value.hint or "")


class _FrontEnd(BaseHTTPRequestHandler):
    """A web front end on a real loopback port: an HTML page for every GET."""

    def do_GET(self) -> None:
        body = HTML.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def front_end_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FrontEnd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.enable_socket
def test_discover_does_not_list_a_front_end_as_localai(front_end_url: str) -> None:
    assert discover(timeout=5.0, urls=[front_end_url]) == []
    assert identify(front_end_url, timeout=5.0) is None
