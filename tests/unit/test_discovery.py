"""Fingerprinting: which server answers at a URL, from the answers each server really gives.

Every body below is a server fact from ../shared/providers (cited per case), never derived from
the profiles under test. Each fake origin answers what that server answers and 404 elsewhere;
LM Studio answers unknown routes with HTTP 200 and an ``error`` object, as the real one does.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest

from orbit_local.discovery import aidentify, base_url_for, discover, forget, identify
from orbit_local.providers import get_provider

Routes = dict[str, Any]

# providers/koboldcpp.md: /api/extra/version, /v1/models, and it impersonates llama.cpp and Ollama
KOBOLDCPP: Routes = {
    "/api/extra/version": {"result": "KoboldCpp", "version": "1.76", "protected": False},
    "/props": {"chat_template": "", "total_slots": 1, "default_generation_settings": {"n_ctx": 2048}},
    "/api/version": {"version": "0.7.0"},
    "/v1/models": {"object": "list", "data": [{"id": "koboldcpp/SmolLM2", "owned_by": "koboldcpp"}]},
}
# providers/lemonade.md: /api/v1/health (11.7.0) and the same routes under /api/v0
LEMONADE: Routes = {
    "/api/v1/health": {"model_loaded": None, "status": "ok", "version": "11.7.0", "all_models_loaded": []},
    "/api/v0/models": {"object": "list", "data": [{"id": "SmolLM2-135M-Instruct.Q4_1", "owned_by": "lemonade", "recipe": "llamacpp"}]},
    "/v1/models": {"object": "list", "data": [{"id": "SmolLM2-135M-Instruct.Q4_1", "owned_by": "lemonade"}]},
}
# providers/lmstudio.md: /api/v0/models with state; unknown routes -> 200 {"error": ...}
LMSTUDIO: Routes = {
    "/api/v0/models": {"object": "list", "data": [{"id": "qwen2.5-0.5b", "type": "llm", "compatibility_type": "gguf", "state": "loaded"}]},
    "/v1/models": {"object": "list", "data": [{"id": "qwen2.5-0.5b", "object": "model", "owned_by": "organization_owner"}]},
    "*": {"error": "Unexpected endpoint or method. (GET /x)"},
}
# providers/localai.md: /readyz -> 200 "OK"; /version; models without owned_by
LOCALAI: Routes = {
    "/readyz": "OK",
    "/version": {"version": "v2.20.1"},
    "/v1/models": {"object": "list", "data": [{"id": "gpt-4", "object": "model"}]},
}
# providers/llamacpp.md: /props with default_generation_settings; owned_by llamacpp
LLAMACPP: Routes = {
    "/props": {"default_generation_settings": {"n_ctx": 2048}, "total_slots": 1, "build_info": "b6000"},
    "/v1/models": {"object": "list", "data": [{"id": "smollm2.gguf", "owned_by": "llamacpp"}]},
}
# providers/vllm.md and ollama.md
VLLM: Routes = {
    "/version": {"version": "0.11.0"},
    "/v1/models": {"object": "list", "data": [{"id": "Qwen/Qwen3-0.6B", "owned_by": "vllm", "max_model_len": 4096}]},
}
OLLAMA: Routes = {
    "/api/version": {"version": "0.32.15"},
    "/v1/models": {"object": "list", "data": [{"id": "llama3.2:1b", "owned_by": "library"}]},
}
# REAL_SERVERS.md / cassettes: llama-cpp-python lists owned_by "me"; FastChat "fastchat"; GPT4All "humanity"
LLAMA_CPP_PYTHON: Routes = {"/v1/models": {"object": "list", "data": [{"id": "smollm2", "owned_by": "me"}]}}
FASTCHAT: Routes = {"/v1/models": {"object": "list", "data": [{"id": "smollm2", "owned_by": "fastchat"}]}}
GPT4ALL: Routes = {"/v1/models": {"object": "list", "data": [{"id": "Llama 3.2 1B Instruct", "owned_by": "humanity"}]}}
UNKNOWN: Routes = {"/v1/models": {"object": "list", "data": [{"id": "m"}]}}


def transport(routes: Routes, seen: list[str] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.url.path)
        body = routes.get(request.url.path, routes.get("*"))
        if body is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        if isinstance(body, str):
            return httpx.Response(200, text=body)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


CASES = [
    (KOBOLDCPP, "http://127.0.0.1:5001", "koboldai", "1.76", "http://127.0.0.1:5001/v1"),
    (LEMONADE, "http://127.0.0.1:13305", "lemonade", "11.7.0", "http://127.0.0.1:13305/api/v1"),
    (LMSTUDIO, "http://127.0.0.1:1234", "lmstudio", None, "http://127.0.0.1:1234/v1"),
    (LOCALAI, "http://127.0.0.1:8080", "localai", "v2.20.1", "http://127.0.0.1:8080/v1"),
    (LLAMACPP, "http://127.0.0.1:8080", "llamacpp", "b6000", "http://127.0.0.1:8080/v1"),
    (VLLM, "http://127.0.0.1:8000", "vllm", "0.11.0", "http://127.0.0.1:8000/v1"),
    (OLLAMA, "http://127.0.0.1:11434", "ollama", "0.32.15", "http://127.0.0.1:11434/v1"),
    (LLAMA_CPP_PYTHON, "http://127.0.0.1:8000", "llama-cpp-python", None, "http://127.0.0.1:8000/v1"),
    (FASTCHAT, "http://127.0.0.1:8000", "fastchat", None, "http://127.0.0.1:8000/v1"),
    (GPT4ALL, "http://127.0.0.1:4891", "gpt4all", None, "http://127.0.0.1:4891/v1"),
    (UNKNOWN, "http://127.0.0.1:9999", "openai-compatible", None, "http://127.0.0.1:9999/v1"),
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    forget()


@pytest.mark.parametrize(("routes", "url", "profile", "version", "base_url"), CASES, ids=[c[2] for c in CASES])
def test_each_server_is_recognised(routes: Routes, url: str, profile: str, version: str | None, base_url: str) -> None:
    found = identify(url, client=httpx.Client(transport=transport(routes)))
    assert found is not None
    assert (found.profile.name, found.version, found.base_url) == (profile, version, base_url)
    assert found.evidence


@pytest.mark.parametrize(("routes", "url", "profile", "version", "base_url"), CASES, ids=[c[2] for c in CASES])
def test_async_twin_agrees(routes: Routes, url: str, profile: str, version: str | None, base_url: str) -> None:
    async def run() -> Any:
        async with httpx.AsyncClient(transport=transport(routes)) as client:
            return await aidentify(url, client=client)

    found = asyncio.run(run())
    assert found is not None and (found.profile.name, found.version, found.base_url) == (profile, version, base_url)


def test_a_given_api_path_is_kept_and_models_are_listed() -> None:
    found = identify("http://127.0.0.1:5001/v1/", client=httpx.Client(transport=transport(KOBOLDCPP)))
    assert found is not None
    assert found.base_url == "http://127.0.0.1:5001/v1"
    assert found.models == ["koboldcpp/SmolLM2"]


def test_detection_is_cached_per_base_url() -> None:
    """Two APIs on one host:port are two servers to their users: each base URL is detected
    (and cached) on its own; a trailing slash is the same URL."""
    seen: list[str] = []
    client = httpx.Client(transport=transport(LLAMACPP, seen))
    first = identify("http://127.0.0.1:8080/v1", client=client)
    count = len(seen)
    assert identify("http://127.0.0.1:8080/v1/", client=client) is first
    assert len(seen) == count
    other = identify("http://127.0.0.1:8080/other/v1", client=client)
    assert len(seen) == 2 * count and other is not None and other.base_url == "http://127.0.0.1:8080/other/v1"
    assert identify("http://127.0.0.1:8080/v1", client=client, refresh=True) is not first


def test_nothing_listening_is_none() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert identify("http://127.0.0.1:9", client=httpx.Client(transport=httpx.MockTransport(refuse))) is None


def test_base_url_for_uses_each_servers_prefix() -> None:
    assert base_url_for(get_provider("lemonade"), "http://h:8000") == "http://h:8000/api/v1"
    assert base_url_for(get_provider("lmstudio"), "http://h:1234") == "http://h:1234/v1"
    assert base_url_for(get_provider("lemonade"), "http://h:8000/v1") == "http://h:8000/v1"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.enable_socket
def test_discover_answers_none_quickly_when_nothing_runs() -> None:
    """The real thing over loopback: every candidate port refuses, and the answer comes without
    waiting out the probe timeout. The timeout is long (20 s) so the bound says "did not wait"
    and holds on a loaded machine, not how fast the machine is."""
    urls = [f"http://127.0.0.1:{_closed_port()}/v1" for _ in range(12)]
    started = time.monotonic()
    assert discover(timeout=20.0, urls=urls) == []
    assert time.monotonic() - started < 10.0


