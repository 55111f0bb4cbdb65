"""Auto-detection is per base URL, not per host:port.

Two APIs behind one host:port (a reverse proxy in front of two servers, or one server that
serves several prefixes) are two servers to their users. Each auto-detected model must reach
its own path, in both frameworks, sync and async; a hint must name the URL that failed; a
model's profile must come from its own detection.

Server answers are facts from ../shared/providers: llama-cpp-python lists its models with
``owned_by: "me"`` and FastChat with ``owned_by: "fastchat"`` (REAL_SERVERS.md, the detect-*
cassettes); every other probe route answers 404 ``{"detail": "Not Found"}`` on both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatLlamaCpp, ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import ServerError
from orbit_local.facts.types import ChatRequest, Message
from tests.fakes import completion

ORIGIN = "http://127.0.0.1:9000"
A, B = f"{ORIGIN}/a/v1", f"{ORIGIN}/b/v1"
# llama-cpp-python behind /a (and the proxy's own /v1), FastChat behind /b
OWNERS = {"/a/v1": "me", "/b/v1": "fastchat", "/v1": "me"}
SCHEMA_500 = {"error": {"code": 500, "message": "Unsupported JSON schema", "type": "server_error"}}


class TwoApis:
    """One origin, two API prefixes; records every request."""

    def __init__(self, chat_status: int = 200) -> None:
        self.chat_status = chat_status
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        prefix = path[: path.find("/v1") + 3] if "/v1" in path else ""
        if path.endswith("/models") and prefix in OWNERS:
            model = {"id": f"model{prefix}", "object": "model", "owned_by": OWNERS[prefix]}
            return httpx.Response(200, json={"object": "list", "data": [model]})
        if request.method == "POST" and path.endswith("/chat/completions") and prefix in OWNERS:
            if self.chat_status != 200:
                return httpx.Response(self.chat_status, json=SCHEMA_500)
            return httpx.Response(200, json=completion(f"from {prefix}"))
        return httpx.Response(404, json={"detail": "Not Found"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def chats(self) -> list[str]:
        return [str(r.url) for r in self.seen if r.method == "POST"]


def _langchain(base: str, server: TwoApis) -> ChatOrbitLocal:
    return ChatOrbitLocal(
        base_url=base, model="m", http_client=server.client(), http_async_client=server.async_client()
    )


def _llamaindex(base: str, server: TwoApis) -> OrbitLocal:
    return OrbitLocal(base_url=base, model="m", http_client=server.client(), async_http_client=server.async_client())


USER = [ChatMessage(role=MessageRole.USER, content="hi")]


def _ask(framework: str, kind: str, base: str, server: TwoApis) -> tuple[str, Any]:
    """One chat through ``framework`` (sync or async): the answer's text and the model object."""
    if framework == "langchain":
        chat = _langchain(base, server)
        message = chat.invoke("hi") if kind == "sync" else asyncio.run(chat.ainvoke("hi"))
        return str(message.text), chat
    llm = _llamaindex(base, server)
    response = llm.chat(USER) if kind == "sync" else asyncio.run(llm.achat(USER))
    return str(response.message.content), llm


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_two_auto_detected_models_on_one_host_port_each_reach_their_own_path(framework: str, kind: str) -> None:
    server = TwoApis()
    first, model_a = _ask(framework, kind, A, server)
    second, model_b = _ask(framework, kind, B, server)
    assert (first, second) == ("from /a/v1", "from /b/v1")
    assert server.chats() == [f"{A}/chat/completions", f"{B}/chat/completions"]
    assert (model_a.provider_profile.name, model_b.provider_profile.name) == ("llama-cpp-python", "fastchat")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_each_client_adopts_the_base_url_it_was_given(kind: str) -> None:
    server = TwoApis()
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
    for base in (A, B):
        if kind == "sync":
            client: Any = ChatClient("auto", base_url=base, http_client=server.client())
            client.chat(request)
        else:
            client = AsyncChatClient("auto", base_url=base, http_client=server.async_client())
            asyncio.run(client.chat(request))
        assert client.base_url == base and client.detected.base_url == base
    assert server.chats() == [f"{A}/chat/completions", f"{B}/chat/completions"]


def test_a_models_profile_comes_from_its_own_detection() -> None:
    """``provider_profile`` reads the cache without I/O: B's must not be A's detection."""
    server = TwoApis()
    model_a, model_b = _langchain(A, server), _langchain(B, server)
    assert model_a.detect_provider().name == "llama-cpp-python"
    assert model_b.provider_profile.name == "openai-compatible"  # not detected yet: the generic profile
    assert model_b.detect_provider().name == "fastchat"
    models = [r.url.path for r in server.seen if r.url.path.endswith("/models") and "/v1" in r.url.path]
    assert models == ["/a/v1/models", "/b/v1/models"]  # each API's own model list was asked


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_hint_names_the_url_that_failed(kind: str) -> None:
    """With a named (wrong) profile a server error gets a hint naming the profile that fits,
    and the URL it fits: the one that failed, not an earlier one on the same host:port."""
    server = TwoApis(chat_status=500)
    hints = []
    for base in (A, B):
        chat = ChatLlamaCpp(base_url=base, model="m", http_client=server.client(),
                            http_async_client=server.async_client(), max_retries=0)  # fmt: skip
        with pytest.raises(ServerError) as info:
            chat.invoke("hi") if kind == "sync" else asyncio.run(chat.ainvoke("hi"))
        hints.append(info.value.hint or "")
    assert f"the server at {A} looks like llama-cpp-python server" in hints[0]
    assert f"the server at {B} looks like FastChat" in hints[1] and A not in hints[1]
