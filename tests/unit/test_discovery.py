"""Fingerprinting: which server answers at a URL, from the answers each server really gives.

Every body below is a server fact from ../shared/providers (cited per case), never derived from
the profiles under test. Each fake origin answers what that server answers and 404 elsewhere;
LM Studio answers unknown routes with HTTP 200 and an ``error`` object, as the real one does.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from orbit_local.facts.providers import get_provider, list_providers
from orbit_local.net.discovery import (
    DETECT_TIMEOUT,
    Answer,
    FoundServer,
    Miss,
    aidentify,
    base_url_for,
    cached,
    candidate_urls,
    classify,
    discover,
    first_server,
    forget,
    identify,
    probe_server,
)

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


# --- fingerprinting edge cases: what decides, what is said as evidence, what is sent and cached ----
# Server answers are the facts in ``docs/providers/`` and ``../shared/providers`` (the same bodies
# as above): LocalAI's ``/readyz`` answers 503 ``{"status": "starting"}`` while it loads, LM Studio
# answers unknown routes with HTTP 200 and an ``error`` object, GPT4All is the only server on port
# 4891 and vLLM, FastChat and llama-cpp-python share port 8000.

LMSTUDIO_MODELS = {"object": "list", "data": [{"id": "qwen2.5-0.5b", "type": "llm", "state": "loaded"}]}
VLLM_LIST = {"object": "list", "data": [{"id": "Qwen/Qwen3-0.6B", "owned_by": "vllm"}]}


def ok(body: Any) -> Answer:
    return Answer(200, body)


def decide(origin: str = "http://127.0.0.1:9999", **answers: Answer) -> tuple[str, str, str | None] | None:
    decided = classify(origin, answers)
    return None if decided is None else (decided[0].name, decided[1], decided[2])


@pytest.mark.parametrize(
    ("answers", "profile", "evidence", "version"),
    [
        ({"koboldcpp": ok({"result": "KoboldCpp", "version": "1.76"})}, "koboldai", "GET /api/extra/version", "1.76"),
        ({"lemonade": ok({"status": "ok", "model_loaded": None, "version": "11.7.0"})}, "lemonade", "GET /api/v1/health",
         "11.7.0"),
        ({"lmstudio": ok({"data": [{"id": "m", "compatibility_type": "gguf"}]})}, "lmstudio", "GET /api/v0/models", None),
        ({"lmstudio": ok(LMSTUDIO_MODELS)}, "lmstudio", "GET /api/v0/models", None),
        ({"localai": ok("OK"), "vllm": ok({"version": "v2.20.1"})}, "localai", "GET /readyz", "v2.20.1"),
        ({"localai": Answer(503, {"status": "starting"})}, "localai", "GET /readyz", None),  # still loading
        ({"llamacpp": ok({"default_generation_settings": {}, "build_info": "b6000"})}, "llamacpp", "GET /props", "b6000"),
        ({"vllm": ok({"version": "0.11.0"}), "models": ok(VLLM_LIST)}, "vllm", "GET /version", "0.11.0"),
        ({"vllm": ok({"version": 11})}, "vllm", "GET /version", "11"),  # no model list: nothing says otherwise
        ({"ollama": ok({"version": "0.32.15"})}, "ollama", "GET /api/version", "0.32.15"),
        ({"models": ok({"data": [{"id": "m", "owned_by": "fastchat"}]})}, "fastchat", "GET /v1/models says owned_by 'fastchat'", None),
    ],
)  # fmt: skip
def test_each_rule_names_the_answer_that_decided(
    answers: dict[str, Answer], profile: str, evidence: str, version: str | None
) -> None:
    decided = decide(**answers)
    assert decided is not None
    assert (decided[0], decided[2]) == (profile, version)
    assert decided[1].startswith(evidence)  # the request that decided comes first


@pytest.mark.parametrize(
    ("answers", "profile"),
    [
        # LM Studio answers every unknown route 200 + {"error": ...}: that is no answer
        ({"koboldcpp": ok({"error": "Unexpected endpoint"}), "localai": ok({"error": "Unexpected endpoint"}),
          "lmstudio": ok(LMSTUDIO_MODELS)}, "lmstudio"),
        ({"koboldcpp": ok({"result": "KoboldAI United"}), "models": ok({"data": [{"id": "m", "owned_by": "koboldcpp"}]})},
         "koboldai"),
        ({"lemonade": ok({"status": "ok"}), "ollama": ok({"version": "1"})}, "ollama"),  # no model_loaded
        ({"lemonade": ok({"model_loaded": None}), "ollama": ok({"version": "1"})}, "ollama"),  # no status
        ({"lmstudio": ok({"data": [{"id": "m"}, "x"]}), "ollama": ok({"version": "1"})}, "ollama"),  # no states
        ({"lmstudio": ok({"data": "m"}), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": ok({"error": "Unexpected endpoint"}), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": Answer(503, {"status": "loading"}), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": Answer(503, "starting"), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": Answer(300, ""), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": Answer(404, ""), "ollama": ok({"version": "1"})}, "ollama"),
        ({"localai": Answer(299, ""), "ollama": ok({"version": "1"})}, "ollama"),  # a bare 2xx is no LocalAI
        ({"localai": Answer(None), "ollama": ok({"version": "1"})}, "ollama"),
        # /readyz OK is LocalAI's only with a model list whose entries lack owned_by (LocalAI's do)
        ({"localai": ok("OK"), "models": ok(VLLM_LIST)}, "vllm"),
        ({"localai": ok("OK"), "vllm": ok({"name": "x"}), "models": ok(VLLM_LIST)}, "vllm"),  # no version in it
        ({"localai": Answer(300, None), "models": ok({"data": [{"id": "m"}]})}, "openai-compatible"),  # not 2xx
        ({"llamacpp": ok({"n_ctx": 2048}), "ollama": ok({"version": "1"})}, "ollama"),
        # /version on a server whose model list is owned by someone else is not vLLM
        ({"vllm": ok({"version": "1"}), "models": ok({"data": [{"id": "m", "owned_by": "fastchat"}]})}, "fastchat"),
        ({"vllm": ok({"name": "x"}), "ollama": ok({"version": "1"})}, "ollama"),
        ({"ollama": ok({"name": "x"}), "models": ok({"data": [{"id": "m", "owned_by": "me"}]})}, "llama-cpp-python"),
        ({"ollama": Answer(500, {"version": "1"}), "models": ok({"data": [{"id": "m", "owned_by": "humanity"}]})},
         "gpt4all"),
    ],
)  # fmt: skip
def test_answers_that_only_look_alike_do_not_decide(answers: dict[str, Answer], profile: str) -> None:
    decided = decide(**answers)
    assert decided is not None and decided[0] == profile


def test_a_model_list_whose_data_is_not_a_list_decides_nothing() -> None:
    """A fuzzed or broken ``/v1/models`` (``"data": 3``) next to a bare ``/readyz`` OK."""
    assert decide(localai=ok("OK"), models=ok({"object": "list", "data": 3})) is None


def test_versions_are_text_and_empty_ones_are_none() -> None:
    assert decide(ollama=ok({"version": ""})) == ("ollama", "GET /api/version answered", None)
    decided = decide(koboldcpp=ok({"result": "KoboldCpp", "version": 1.76}))
    assert decided is not None and decided[2] == "1.76"
    decided = decide(llamacpp=ok({"default_generation_settings": {}, "build_info": {"n": 1}}))
    assert decided is not None and decided[2] is None


def test_without_a_fingerprint_the_port_or_the_openai_model_list_decides() -> None:
    listing = ok({"object": "list", "data": [{"id": "m"}]})
    decided = decide("http://127.0.0.1:4891", models=listing)  # GPT4All's port, no one else's
    assert decided is not None and decided[0] == "gpt4all" and "4891" in decided[1] and "port" in decided[1]
    decided = decide("http://127.0.0.1:8000", models=listing)  # vLLM, FastChat, llama-cpp-python: no guess
    assert decided is not None and decided[0] == "openai-compatible" and decided[1].startswith("GET /v1/models")
    assert decide("http://127.0.0.1:8000", models=Answer(404, "")) is None
    assert decide("http://127.0.0.1:9999", models=Answer(None), ollama=Answer(None)) is None
    assert decide("http://127.0.0.1:9999", ollama=Answer(404, "")) is None


def test_owned_by_picks_the_server_even_among_other_owners() -> None:
    models = ok({"data": [{"id": "a", "owned_by": "aardvark"}, {"id": "b", "owned_by": "humanity"}, {"id": "c"}, "d"]})
    decided = decide(models=models)
    assert decided is not None and decided[0] == "gpt4all" and "'humanity'" in decided[1]
    models = ok({"data": [{"id": "a", "owned_by": "koboldcpp"}]})  # KoboldCpp's native API comes first
    decided = decide(models=models)
    assert decided is not None and decided[0] == "koboldai"


def test_localai_known_by_its_model_list_says_both_answers_that_decided() -> None:
    """``orbit-local discover`` shows the evidence ("how we know"): a LocalAI v3 whose /readyz
    answers an empty 200 is told by its model list, whose entries carry no ``owned_by``
    (providers/localai.md), and the evidence names both requests."""
    answers = {
        "localai": Answer(200, None),
        "models": Answer(200, {"object": "list", "data": [{"id": "qwen3-0.6b", "object": "model"}]}),
    }
    decided = classify("http://127.0.0.1:8080", answers)
    assert decided is not None
    profile, evidence, _ = decided
    assert profile.name == "localai"
    assert evidence.startswith("GET /readyz answered OK")
    assert "GET /v1/models lists models without owned_by" in evidence


def test_localai_v3s_empty_readyz_answer_is_read_as_ok() -> None:
    """LocalAI v3+ answers ``GET /readyz`` with 200 and no body (providers/localai.md); read off
    the wire, that empty body is "OK", and with a model list without ``owned_by`` it is LocalAI."""

    def localai(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(200, content=b"")
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "qwen3-0.6b", "object": "model"}]})
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})

    with httpx.Client(transport=httpx.MockTransport(localai)) as client:
        found = probe_server("http://127.0.0.1:8080/v1", client=client)
    assert not isinstance(found, Miss)
    assert found.profile.name == "localai"


class Recorder:
    """An httpx transport that answers from routes and records every request."""

    def __init__(self, routes: dict[str, Any], fail: dict[str, type[Exception]] | None = None) -> None:
        self.routes = routes
        self.fail = fail or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path in self.fail:
            raise self.fail[request.url.path]("boom", request=request)
        body = self.routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, text="Not Found")
        if isinstance(body, str):
            return httpx.Response(200, text=body)
        return httpx.Response(200, json=body)


LLAMACPP_LISTING_A_BLANK_ID = {
    "/props": {"default_generation_settings": {"n_ctx": 2048}, "build_info": "b6000"},
    "/v1/models": {"object": "list", "data": [{"id": "smollm2.gguf", "owned_by": "llamacpp"}, {"id": ""}]},
}


def test_every_probe_carries_the_key_and_goes_to_the_origin() -> None:
    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID)
    found = identify("http://127.0.0.1:8080/v1", api_key="sk-1",
                     client=httpx.Client(transport=httpx.MockTransport(recorder)), timeout=0.5)  # fmt: skip
    assert found is not None and found.profile.name == "llamacpp"
    assert found.models == ["smollm2.gguf"] and found.default_model == "smollm2.gguf"
    paths = [r.url.path for r in recorder.requests]
    assert "/props" in paths and "/v1/models" in paths and "/v1/v1/models" not in paths
    assert {r.headers.get("authorization") for r in recorder.requests} == {"Bearer sk-1"}
    assert {r.extensions["timeout"]["read"] for r in recorder.requests} == {0.5}
    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID)
    identify("http://127.0.0.1:8080", client=httpx.Client(transport=httpx.MockTransport(recorder)), refresh=True)
    assert all("authorization" not in r.headers for r in recorder.requests)


def test_a_probe_that_times_out_is_no_answer_but_a_refused_one_is_nothing() -> None:
    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID, fail={"/api/extra/version": httpx.ReadTimeout, "/readyz": httpx.RemoteProtocolError})
    found = identify("http://127.0.0.1:8080", client=httpx.Client(transport=httpx.MockTransport(recorder)))
    assert found is not None and found.profile.name == "llamacpp"
    forget()
    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID, fail={"/props": httpx.ConnectError})
    assert identify("http://127.0.0.1:8080", client=httpx.Client(transport=httpx.MockTransport(recorder))) is None
    assert recorder.requests[-1].url.path == "/props"  # nothing more is asked once nothing listens
    assert cached("http://127.0.0.1:8080") is None


def test_async_probes_agree_on_timeouts_and_refusals() -> None:
    async def run(recorder: Recorder, key: str | None = None) -> FoundServer | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
            return await aidentify("http://127.0.0.1:8080/v1", client=client, api_key=key, refresh=True, timeout=0.7)

    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID, fail={"/api/extra/version": httpx.ReadTimeout})
    found = asyncio.run(run(recorder, "sk-2"))
    assert found is not None and found.profile.name == "llamacpp" and found.version == "b6000"
    assert {r.headers.get("authorization") for r in recorder.requests} == {"Bearer sk-2"}
    assert {r.extensions["timeout"]["read"] for r in recorder.requests} == {0.7}
    assert cached("http://127.0.0.1:8080/v1/") is found  # cached per base URL
    assert cached("http://127.0.0.1:8080/other") is None
    assert asyncio.run(run(Recorder(LLAMACPP_LISTING_A_BLANK_ID, fail={"/readyz": httpx.ConnectError}))) is None
    assert asyncio.run(run(Recorder({}))) is None  # everything 404: nothing to tell


def test_a_cached_answer_is_used_until_forgotten() -> None:
    recorder = Recorder(LLAMACPP_LISTING_A_BLANK_ID)
    client = httpx.Client(transport=httpx.MockTransport(recorder))
    found = identify("http://127.0.0.1:8080/v1", client=client)
    asked = len(recorder.requests)

    async def again() -> FoundServer | None:
        return await aidentify("http://127.0.0.1:8080/v1/")

    assert asyncio.run(again()) is found and len(recorder.requests) == asked
    forget()
    assert cached("http://127.0.0.1:8080/v1") is None


def test_base_urls_for_bare_hosts_and_paths() -> None:
    lemonade, vllm = get_provider("lemonade"), get_provider("vllm")
    assert base_url_for(vllm, "127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert base_url_for(lemonade, "https://box:13305/") == "https://box:13305/api/v1"
    assert base_url_for(vllm, "http://box:8000/v1/") == "http://box:8000/v1"
    assert base_url_for(get_provider("openai-compatible"), "http://box:9000") == "http://box:9000/v1"


def test_a_url_without_a_scheme_but_with_a_path_gets_http() -> None:
    """``127.0.0.1:8000/v1`` (as users type it) keeps its path and gains the scheme httpx needs."""
    assert base_url_for(get_provider("vllm"), "127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert base_url_for(get_provider("vllm"), "box:8000/v1/") == "http://box:8000/v1"


def test_candidate_urls_one_per_origin_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    for profile in list_providers():
        monkeypatch.delenv(profile.env_base_url, raising=False)
    urls = candidate_urls()
    # vLLM, FastChat and llama-cpp-python share :8000; llama.cpp and LocalAI :8080; KoboldCpp's two APIs :5001
    ports = [url.split(":")[2].split("/")[0] for url in urls]
    assert sorted(ports) == sorted(set(ports))
    assert {"1234", "8080", "8000", "4891", "5001", "13305", "11434", "11435"} == set(ports)
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "http://box:1300/v1")
    monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", "http://other:7000/v1")
    urls = candidate_urls([get_provider("lmstudio"), get_provider("openai-compatible"), get_provider("vllm")])
    assert urls == ["http://box:1300/v1", "http://other:7000/v1", "http://localhost:8000/v1"]
    monkeypatch.delenv("ORBIT_LOCAL_BASE_URL")
    assert candidate_urls([get_provider("openai-compatible")]) == []  # no address: nothing to try
    assert candidate_urls([get_provider("openai-compatible"), get_provider("vllm")]) == ["http://localhost:8000/v1"]


class _Ollama(BaseHTTPRequestHandler):
    """Just enough of Ollama (docs/providers/ollama.md) on a real loopback port."""

    def do_GET(self) -> None:
        bodies = {"/api/version": b'{"version": "0.32.15"}',
                  "/v1/models": b'{"object": "list", "data": [{"id": "llama3.2:1b", "owned_by": "library"}]}'}  # fmt: skip
        body = bodies.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ollama_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.enable_socket
def test_discover_finds_a_real_listener(ollama_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{ollama_port}"
    (found,) = discover(timeout=5.0, urls=[f"http://127.0.0.1:{_closed_port()}", url])
    assert (found.profile.name, found.base_url, found.version) == ("ollama", f"{url}/v1", "0.32.15")
    assert found.models == ["llama3.2:1b"]
    monkeypatch.setenv("OLLAMA_BASE_URL", f"{url}/v1")
    # the same server under another name (another origin) for LM Studio: only the profiles asked for are tried
    monkeypatch.setenv("LMSTUDIO_BASE_URL", f"http://localhost:{ollama_port}/v1")
    (only,) = discover(timeout=5.0, profiles=[get_provider("ollama")])
    assert only.base_url == f"{url}/v1"
    assert len(discover(timeout=5.0, profiles=[get_provider("ollama"), get_provider("lmstudio")])) == 2


@pytest.mark.enable_socket
def test_discovery_says_what_runs_now_not_what_was_cached(ollama_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{ollama_port}"
    # an earlier detection on this origin found llama.cpp; since then Ollama took the port
    earlier = identify(url, client=httpx.Client(transport=httpx.MockTransport(Recorder(LLAMACPP_LISTING_A_BLANK_ID))))
    assert earlier is not None and earlier.profile.name == "llamacpp"
    (found,) = discover(timeout=5.0, urls=[url])
    assert found.profile.name == "ollama"
    assert cached(url) is found  # and the cache now says so too
    # first_server probes again too: a stale llama.cpp at the very base URL it tries first is no answer
    stale = identify(f"{url}/v1", client=httpx.Client(transport=httpx.MockTransport(Recorder(LLAMACPP_LISTING_A_BLANK_ID))), refresh=True)
    assert stale is not None and cached(f"{url}/v1") is stale
    monkeypatch.setenv("LMSTUDIO_BASE_URL", f"{url}/v1")  # the first candidate first_server tries
    first = first_server(timeout=5.0)
    assert first is not None and first.profile.name == "ollama" and first.base_url == f"{url}/v1"


# --- why a detection found nothing: the error a client raises ---------------------------------


URL = "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("kind", "error_class", "fix"),
    [
        ("refused", "ServerNotRunningError", "startup_timeout"),
        ("warming", "ServerBusyError", "warmup_timeout"),
        ("silent", "RequestTimeoutError", "timeout="),
        ("locked", "AuthenticationError", "ORBIT_LOCAL_API_KEY"),  # the generic profile's variable
        ("unrecognised", "ProtocolError", "provider="),
    ],
)
def test_every_miss_is_an_error_naming_detection_the_url_and_the_fix(kind: Any, error_class: str, fix: str) -> None:
    error = Miss(kind, URL, detail="GET /v1/models 401").error()
    assert type(error).__name__ == error_class
    assert error.provider == "auto-detection" and error.base_url == URL
    assert fix in (error.hint or "")
    # a server still loading answered 503 (llama.cpp, LocalAI /readyz); the others sent no status
    assert error.status_code == (503 if kind == "warming" else None)


def test_a_miss_describes_the_answers_that_say_something_and_always_the_model_list() -> None:
    """The detail of an unrecognised server: the probes that answered other than 404 (here a
    500 on KoboldCpp's version route), and the model list's answer even when it is a 404; each
    by its path, without the origin the message names already."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/extra/version":
            return httpx.Response(500, text="Internal Server Error")
        return httpx.Response(404, text="Not Found")

    http = httpx.Client(transport=httpx.MockTransport(handle))
    miss = probe_server(URL, client=http, refresh=True)
    assert isinstance(miss, Miss) and miss.kind == "unrecognised"
    assert miss.detail == "GET /api/extra/version 500, GET /v1/models 404"


def test_an_unrecognised_server_is_told_what_a_base_url_looks_like() -> None:
    hint = Miss("unrecognised", "http://127.0.0.1:8000", detail="GET /v1/models 404").error().hint or ""
    assert "check that base_url is the server's API (e.g. http://host:port/v1)" in hint


# --- what one probe may wait: the caller's timeout ----------------------------------------------
# orbit_local/net/discovery.py: "one probe waits at most ``timeout``"; ``orbit-local discover --timeout
# S``: "seconds per probe", for ``discover`` and for ``first_server`` too, not the 2 s
# ``DETECT_TIMEOUT`` of auto-detection. Seen without waiting: httpx hands every request's timeout to
# its transport (``request.extensions["timeout"]``), so a MockTransport reads what each probe was
# allowed. Both functions build their own client, so the tests swap httpx's client classes for
# ones bound to the MockTransport.


MODEL_LIST = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "me"}]}


class Probes:
    """Answers every probe with a model list and notes the read timeout each one was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, Any] = request.extensions["timeout"]
        self.timeouts.append(timeout["read"])
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json=MODEL_LIST)
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Probes:
    answer = Probes()

    class Client(httpx.Client):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **options)

    class AsyncClient(httpx.AsyncClient):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **options)

    monkeypatch.setattr(httpx, "Client", Client)
    monkeypatch.setattr(httpx, "AsyncClient", AsyncClient)
    return answer


def test_discover_gives_each_probe_the_callers_timeout(probes: Probes) -> None:
    assert DETECT_TIMEOUT > 0.25  # so the caller's value is told apart from detection's own
    (found,) = discover(timeout=0.25, urls=["http://127.0.0.1:9/v1"])
    assert found.models == ["m"]
    assert probes.timeouts and set(probes.timeouts) == {0.25}


def test_first_server_gives_each_probe_the_callers_timeout_at_most(probes: Probes) -> None:
    found = first_server(timeout=0.25)
    assert found is not None and found.models == ["m"]
    # the synchronous round hands each probe what is left of its budget, never more than timeout
    assert probes.timeouts and all(0 < t <= 0.25 for t in probes.timeouts)


def test_probes_cut_off_by_the_round_budget_are_reported_as_unanswered(monkeypatch: pytest.MonkeyPatch) -> None:
    """One round may take ``budget``: a server slow on every route (1 s a probe here, on a fake
    clock) answers the first probes; the rest, the model list among them, count as no answer,
    and the miss says so."""

    now = [100.0]
    monkeypatch.setattr("orbit_local.net.discovery.time.monotonic", lambda: now[0])

    def slow(request: httpx.Request) -> httpx.Response:
        now[0] += 1.0
        return httpx.Response(500, text="Internal Server Error")

    with httpx.Client(transport=httpx.MockTransport(slow)) as client:
        miss = probe_server("http://127.0.0.1:9000/v1", timeout=1.0, budget=2.0, client=client)
    assert isinstance(miss, Miss) and miss.kind == "unrecognised"
    assert "GET /api/extra/version 500" in miss.detail
    assert "GET /v1/models no answer" in miss.detail
