"""The clients: auto-detection (what it adopts, which key it sends, what it says when nothing
answers), the hint that names a better-fitting profile, the default model, the context window,
token counting and its cache, and the async twin's copies of all of these.

When there is no server or no model, the message names where the client looked, and the hint the
ways out in words a user can act on: the command to run and the environment variable, as spelt.

Server answers are server facts from ../shared/providers (cited per case); transports are
httpx.MockTransport, so nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orbit_local.backends.client import (
    AsyncChatClient,
    ChatClient,
    ContextOverflowWarning,
    pick_default_model,
    warn_if_overflowing,
)
from orbit_local.facts.errors import (
    ModelNotFoundError,
    OrbitLocalError,
    ServerBusyError,
    ServerError,
    ServerNotRunningError,
)
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, GenerationParams, Message, ModelInfo
from orbit_local.net.discovery import FoundServer, forget
from tests.fakes import FakeServer, completion

Routes = dict[str, Any]

# providers/localai.md: /readyz answers "OK", /version names the version, models carry no owned_by.
LOCALAI: Routes = {
    "/readyz": "OK",
    "/version": {"version": "v2.20.1"},
    "/v1/models": {"object": "list", "data": [{"id": "gpt-4", "object": "model"}]},
}
# REAL_SERVERS.md / cassettes: llama-cpp-python lists its models with owned_by "me".
LLAMA_CPP_PYTHON: Routes = {"/v1/models": {"object": "list", "data": [{"id": "smollm2", "owned_by": "me"}]}}
# providers/llamacpp.md and the llama-cpp-python cassettes: an unsupported json_schema is an HTTP 500.
SCHEMA_500 = {"error": {"code": 500, "message": "Unsupported JSON schema", "type": "server_error"}}

REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])


class Origin:
    """One fake server origin: GET routes by path, POST /v1/chat/completions by ``chat``."""

    def __init__(
        self,
        routes: Routes,
        chat: Callable[[dict[str, Any]], httpx.Response] | None = None,
        key: str | None = None,
    ) -> None:
        self.routes = routes
        self.chat = chat or (lambda body: httpx.Response(200, json=completion()))
        self.key = key
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            return httpx.Response(401, json={"error": {"message": "invalid api key", "type": "invalid_request_error"}})
        if request.method == "POST" and request.url.path.endswith("/chat/completions"):
            return self.chat(json.loads(request.content))
        body = self.routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        if isinstance(body, str):
            return httpx.Response(200, text=body)
        return httpx.Response(200, json=body)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.method == "POST"]


@pytest.fixture(autouse=True)
def _no_cached_detection() -> None:
    forget()


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOCALAI_API_KEY", "LOCALAI_BASE_URL", "ORBIT_LOCAL_BASE_URL", "ORBIT_LOCAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def chatted(kind: str, provider: str, server: Any, **kwargs: Any) -> tuple[Any, Any]:
    """A sync or async client over ``server`` (an ``Origin`` or ``FakeServer``), and its answer
    to ``REQUEST``: the twin clients go through the same test."""
    if kind == "sync":
        client: Any = ChatClient(provider, http_client=server.client(), **kwargs)
        return client, client.chat(REQUEST)
    client = AsyncChatClient(provider, http_client=server.async_client(), **kwargs)
    return client, run(client.chat(REQUEST))


# --- the default model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "chosen"),
    [
        # LM Studio's /api/v0/models types an embedding model "embeddings" (providers/lmstudio.md)
        ([ModelInfo(id="nomic-embed", loaded=True, kind="embeddings"), ModelInfo(id="qwen", kind="llm")], "qwen"),
        # Lemonade and LM Studio 0.4 type it "embedding" (providers/lemonade.md, lmstudio.md)
        ([ModelInfo(id="nomic-embed", loaded=True, kind="embedding"), ModelInfo(id="qwen", kind="llm")], "qwen"),
        # most servers do not type models at all: an untyped model is a chat model
        ([ModelInfo(id="nomic-embed", loaded=True, kind="embedding"), ModelInfo(id="plain")], "plain"),
        ([ModelInfo(id="a"), ModelInfo(id="b", loaded=True)], "b"),
        ([ModelInfo(id="only-embed", kind="embeddings"), ModelInfo(id="embed-2", kind="embedding", loaded=True)],
         "embed-2"),
        ([], None),
    ],
    ids=["lmstudio-embeddings", "lemonade-embedding", "untyped-is-chat", "loaded-first", "only-embeddings", "none"],
)  # fmt: skip
def test_the_default_model_is_a_loaded_chat_model(models: list[ModelInfo], chosen: str | None) -> None:
    assert pick_default_model(models) == chosen


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_model_anywhere_says_how_to_load_one(kind: str) -> None:
    server = FakeServer(models=[])
    if kind == "sync":
        client: Any = ChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=server.client())
        call = client.resolve_model
    else:
        client = AsyncChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=server.async_client())

        def call() -> Any:
            return run(client.resolve_model())

    with pytest.raises(ModelNotFoundError) as info:
        call()
    error = info.value
    assert (error.provider, error.base_url) == ("LM Studio", "http://127.0.0.1:1234/v1")
    assert "lms load" in (error.hint or "") and "LMSTUDIO_MODEL" in (error.hint or "")
    assert str(error).startswith("LM Studio at http://127.0.0.1:1234/v1: ")


def test_a_server_that_lists_no_models_says_so() -> None:
    server = FakeServer(models=[])
    client = ChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=server.client())
    with pytest.raises(ModelNotFoundError) as caught:
        client.resolve_model()
    assert "the server lists no models, and none was given" in caught.value.message


# --- the context window -----------------------------------------------------------------------


def test_a_prompt_that_may_still_fit_is_not_warned_about() -> None:
    """The warning fires only when even a lower bound of the tokens exceeds the window: a token
    is never more than six UTF-8 bytes of ordinary text, so 6000 bytes may be 1000 tokens."""
    fits = ChatRequest(model="m", messages=[Message(role="user", content="x" * 6000)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_overflowing(fits, 1000, "llama.cpp server")
        warn_if_overflowing(dataclasses.replace(fits, raw_prompt="y" * 6005), 1000, "llama.cpp server")
    no_room = dataclasses.replace(fits, params=GenerationParams(max_tokens=1))
    with pytest.warns(ContextOverflowWarning) as caught:
        warn_if_overflowing(no_room, 1000, "llama.cpp server")
    message = str(caught[0].message)
    assert "llama.cpp server" in message and "1001" in message and "1000" in message
    with pytest.warns(ContextOverflowWarning):
        warn_if_overflowing(dataclasses.replace(fits, raw_prompt="y" * 6006), 1000, "llama.cpp server")


def test_the_context_window_is_the_requested_models_entry() -> None:
    """LM Studio lists every model with its loaded_context_length (providers/lmstudio.md)."""
    listing = {
        "object": "list",
        "data": [
            {"id": "qwen", "type": "llm", "state": "loaded", "loaded_context_length": 4096},
            {"id": "llama", "type": "llm", "state": "loaded", "loaded_context_length": 8192},
        ],
    }
    origin = Origin({"/api/v0/models": listing})
    base = "http://127.0.0.1:1234/v1"
    assert ChatClient("lmstudio", base_url=base, model="llama", http_client=origin.client()).context_window() == 8192
    client = AsyncChatClient("lmstudio", base_url=base, model="llama", http_client=origin.async_client())
    assert run(client.context_window()) == 8192


def test_async_context_window_asks_for_the_model_it_serves() -> None:
    """FastChat's token_check names the model (providers/fastchat.md); the answer carries the window."""
    server = FakeServer()
    client = AsyncChatClient("fastchat", base_url="http://127.0.0.1:8000/v1", model="vicuna",
                             http_client=server.async_client())  # fmt: skip
    assert run(client.context_window()) == 8192
    (asked,) = [json.loads(r.content) for r in server.requests if r.url.path == "/api/v1/token_check"]
    assert asked["prompts"][0]["model"] == "vicuna"


def test_async_context_window_falls_back_when_koboldai_lacks_the_extra_api() -> None:
    """KoboldAI United has no /api/extra (providers/koboldcpp.md): the standard route is asked next."""
    server = FakeServer(kobold_united=True)
    client = AsyncChatClient("koboldai", base_url="http://127.0.0.1:5000", http_client=server.async_client())
    assert run(client.context_window()) == 2048
    result = run(client.chat(REQUEST))  # its version probe 404s too: not an error, just "no extra API"
    assert result.text == "Hello there."


# --- auto-detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_adopts_the_server_found_and_its_key(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALAI_API_KEY", "from-env")
    origin = Origin(LOCALAI)
    base = "http://127.0.0.1:8080/v1"
    client, result = chatted(kind, "auto", origin, base_url=base)
    assert result.text == "Hello there."
    assert client.profile.name == "localai" and client.auto is False
    assert client.detected is not None and client.detected.profile.name == "localai"
    (chat,) = origin.posts()
    assert chat.headers["authorization"] == "Bearer from-env"
    assert str(chat.url) == base + "/chat/completions"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_keeps_an_explicit_key_and_sends_it_while_detecting(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALAI_API_KEY", "from-env")
    origin = Origin(LOCALAI, key="explicit")  # a protected server: probes without the key get 401
    base = "http://127.0.0.1:8080/v1"
    client, _ = chatted(kind, "auto", origin, base_url=base, api_key="explicit")
    assert client.profile.name == "localai"
    assert {r.headers.get("authorization") for r in origin.seen} == {"Bearer explicit"}


def test_auto_detection_runs_once() -> None:
    origin = Origin(LOCALAI)
    client = ChatClient("auto", base_url="http://127.0.0.1:8080/v1", http_client=origin.client())
    client.chat(REQUEST)
    probes = len(origin.seen) - 1
    forget()  # even with the process-wide cache gone, the client remembers what it adopted
    client.chat(REQUEST)
    assert len(origin.seen) == probes + 2


@pytest.mark.parametrize("from_env", [False, True], ids=["base_url", "ORBIT_LOCAL_BASE_URL"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_with_nothing_at_the_url_says_how_to_point_it(
    kind: str, from_env: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    base = "http://127.0.0.1:8999/v1"
    given: str | None = base + "/"  # a trailing slash is not part of the base URL
    if from_env:
        monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", base + "/")
        given = None
    with pytest.raises(ServerNotRunningError) as info:
        if kind == "sync":
            ChatClient(
                "auto", base_url=given, http_client=httpx.Client(transport=httpx.MockTransport(refuse)), max_retries=0
            ).chat(REQUEST)
        else:
            client = AsyncChatClient(
                "auto",
                base_url=given,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
                max_retries=0,
            )
            run(client.chat(REQUEST))
    error = info.value
    assert base in error.message and error.base_url == base
    assert error.provider == "auto-detection"
    assert "base_url=" in (error.hint or "") and "ORBIT_LOCAL_BASE_URL" in (error.hint or "")
    assert "orbit-local discover" in (error.hint or "")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_without_a_url_names_the_default_ports_it_tried(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.backends.client.first_server", lambda: None)
    with pytest.raises(ServerNotRunningError) as info:
        if kind == "sync":
            ChatClient("auto").chat(REQUEST)
        else:
            run(AsyncChatClient("auto").chat(REQUEST))
    error = info.value
    # LM Studio's and Ollama's default ports (providers/lmstudio.md, ollama.md)
    assert "http://localhost:1234/v1, " in error.message and "localhost:11434" in error.message
    assert error.message.rstrip().endswith(")")
    assert error.base_url is None and error.provider == "auto-detection"
    assert "ORBIT_LOCAL_BASE_URL" in (error.hint or "")


def test_no_server_on_any_default_port_says_where_it_looked_and_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.backends.client.first_server", lambda: None)
    with pytest.raises(ServerNotRunningError) as caught:
        ChatClient("auto").chat(REQUEST)
    error = caught.value
    assert error.message.startswith("no local server answered at any default port (")
    assert "http://localhost:1234/v1" in error.message  # LM Studio's default (providers/lmstudio.md)
    hint = error.hint or ""
    assert hint.startswith("start a server, or pass base_url=... (or set ORBIT_LOCAL_BASE_URL)")
    assert "`orbit-local discover` lists what runs" in hint  # the command, as typed


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_without_a_url_adopts_the_first_server(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    found = FoundServer(get_provider("llamacpp"), "http://127.0.0.1:8080/v1", ["m"], "b6000", "GET /props")
    monkeypatch.setattr("orbit_local.backends.client.first_server", lambda: found)
    client, result = chatted(kind, "auto", server)
    assert result.text == "Hello there."
    assert client.profile.name == "llamacpp" and client.base_url == "http://127.0.0.1:8080/v1"
    assert str(server.requests[-1].url) == "http://127.0.0.1:8080/v1/chat/completions"


# --- the hint that names a better-fitting profile ----------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_error_names_the_profile_that_fits_probing_with_the_key(kind: str) -> None:
    """docs/reliability.md: llama-cpp-python's HTTP 500 on json_schema under a generic profile gets
    a hint naming the profile that handles it. The probes go through the client's own pool and
    carry its key (a protected server would not answer them otherwise)."""
    origin = Origin(LLAMA_CPP_PYTHON, chat=lambda body: httpx.Response(500, json=SCHEMA_500), key="k")
    base = "http://127.0.0.1:8000/v1"
    with pytest.raises(ServerError) as info:
        chatted(kind, "openai-compatible", origin, base_url=base, api_key="k")
    hint = info.value.hint or ""
    assert "llama-cpp-python" in hint and base in hint


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_error_that_is_no_quirk_is_not_explained_by_probing(kind: str) -> None:
    not_found = httpx.Response(404, json={"error": {"message": "model 'x' not found", "type": "invalid_request_error"}})
    origin = Origin(LLAMA_CPP_PYTHON, chat=lambda body: not_found)
    base = "http://127.0.0.1:8000/v1"
    with pytest.raises(ModelNotFoundError) as info:
        chatted(kind, "openai-compatible", origin, base_url=base)
    assert "llama-cpp-python" not in (info.value.hint or "")
    assert [r.method for r in origin.seen] == ["POST"]  # no fingerprint probes


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_error_from_the_right_profile_gets_no_extra_hint(kind: str) -> None:
    origin = Origin(LLAMA_CPP_PYTHON, chat=lambda body: httpx.Response(500, json=SCHEMA_500))
    base = "http://127.0.0.1:8000/v1"
    with pytest.raises(ServerError) as info:
        chatted(kind, "llama-cpp-python", origin, base_url=base)
    assert "provider=" not in (info.value.hint or "")


# --- headers, keys and token counting in the async twin -----------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_client_hands_its_key_headers_timeout_and_retry_policy_to_the_wire(kind: str) -> None:
    loading = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}

    def build(server: FakeServer, **kwargs: Any) -> Any:
        base = "http://127.0.0.1:8080/v1"
        if kind == "sync":
            return ChatClient("localai", base_url=base, http_client=server.client(), **kwargs)
        return AsyncChatClient("localai", base_url=base, http_client=server.async_client(), **kwargs)

    def chat(client: Any) -> Any:
        return client.chat(REQUEST) if kind == "sync" else run(client.chat(REQUEST))

    server = FakeServer()
    chat(build(server, api_key="sk-1", headers={"X-Team": "blue"}, timeout=7.0))
    sent = server.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-1" and sent.headers["x-team"] == "blue"
    assert sent.extensions["timeout"]["read"] == 7.0
    for settings in ({"max_retries": 0}, {"max_retries": 5, "warmup_timeout": 0.0}):
        busy = FakeServer(queue=[httpx.Response(503, json=loading)] * 3)
        with pytest.raises(ServerBusyError):
            chat(build(busy, **settings))
        assert len(busy.requests) == 1, settings  # no retry: not allowed, or no window left


class Tokenizer:
    """vLLM's POST /tokenize: {"model", "prompt"} -> {"count", "tokens"} (providers/vllm.md)."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.asked.append(body)
        tokens = list(range(len(body["prompt"].split())))
        return httpx.Response(200, json={"count": len(tokens), "max_model_len": 4096, "tokens": tokens})


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_tokenize_names_the_model_and_caches_per_model_and_text(kind: str) -> None:
    tokenizer = Tokenizer()
    base = "http://127.0.0.1:8000/v1"
    transport = httpx.MockTransport(tokenizer.handle)
    if kind == "sync":
        client: Any = ChatClient("vllm", base_url=base, model="default-m", http_client=httpx.Client(transport=transport))

        def tokenize(text: str, model: str | None = None) -> Any:
            return client.tokenize(text, model)
    else:
        aclient = AsyncChatClient("vllm", base_url=base, model="default-m", http_client=httpx.AsyncClient(transport=transport))

        def tokenize(text: str, model: str | None = None) -> Any:
            return run(aclient.tokenize(text, model))

    assert tokenize("one two three", "other-m") == ([0, 1, 2], 3)
    assert tokenize("one two three", "other-m") == ([0, 1, 2], 3)  # cached
    assert tokenize("one two three") == ([0, 1, 2], 3)  # another model: asked again
    assert tokenize("one two three") == ([0, 1, 2], 3)  # cached under the default model
    assert tokenize("four five") == ([0, 1], 2)
    assert [(a["model"], a["prompt"]) for a in tokenizer.asked] == [
        ("other-m", "one two three"),
        ("default-m", "one two three"),
        ("default-m", "four five"),
    ]


# --- what the clients log ---------------------------------------------------------------------


def test_emulated_streams_and_aborts_are_logged_with_server_and_url(caplog: pytest.LogCaptureFixture) -> None:
    """docs/reliability.md: every emulated stream and every aborted generation is logged at INFO."""
    from orbit_local.facts.types import ToolSpec

    base = "http://127.0.0.1:8000/v1"
    server = FakeServer()
    with caplog.at_level(logging.INFO, logger="orbit_local"):
        list(ChatClient("gpt4all", base_url="http://127.0.0.1:4891/v1", http_client=server.client()).stream(REQUEST))
        tools = dataclasses.replace(REQUEST, tools=[ToolSpec(name="f")], tool_choice="auto")
        list(ChatClient("llama-cpp-python", base_url=base, http_client=server.client()).stream(tools))
        kobold = ChatClient("koboldai", base_url="http://127.0.0.1:5001", http_client=server.client())
        stream = kobold.stream(REQUEST)
        next(stream)
        stream.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "orbit_local"]
    gpt4all = [line for line in lines if "GPT4All" in line]
    assert gpt4all and "http://127.0.0.1:4891/v1" in gpt4all[0] and "cannot stream" in gpt4all[0]
    assert "tool choice" not in gpt4all[0]
    tool_line = next(line for line in lines if "llama-cpp-python" in line)
    assert base in tool_line and "cannot stream this tool choice" in tool_line
    abort = next(line for line in lines if "abort" in line)
    assert "KoboldAI" in abort and "http://127.0.0.1:5001" in abort


def test_a_failed_chat_keeps_the_request_it_was() -> None:
    origin = Origin(LLAMA_CPP_PYTHON, chat=lambda body: httpx.Response(500, json=SCHEMA_500))
    with pytest.raises(OrbitLocalError) as info:
        ChatClient("llama-cpp-python", base_url="http://127.0.0.1:8000/v1", http_client=origin.client()).chat(REQUEST)
    assert (info.value.method, info.value.url) == ("POST", "http://127.0.0.1:8000/v1/chat/completions")


@pytest.mark.parametrize(
    ("provider", "base"),
    [("gpt4all", "http://127.0.0.1:4891/v1"), ("koboldai", "http://127.0.0.1:5001")],
)
def test_what_a_server_cannot_do_is_refused_naming_its_url(provider: str, base: str) -> None:
    """docs/errors.md: embeddings on GPT4All (and KoboldAI's own API) are an UnsupportedFeatureError
    that, like every error, names the server and the URL."""
    from orbit_local.facts.errors import UnsupportedFeatureError

    client = ChatClient(provider, base_url=base, http_client=FakeServer().client())
    with pytest.raises(UnsupportedFeatureError) as info:
        client.embed(["hello"], "m")
    assert info.value.base_url == base and f" at {base}: " in str(info.value)


def test_a_profile_with_an_unknown_wire_protocol_is_refused_by_name() -> None:
    from orbit_local.backends.client import make_protocol

    profile = dataclasses.replace(get_provider("vllm"), protocol="grpc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vLLM") as info:
        make_protocol(profile, "http://127.0.0.1:8000/v1")
    assert "'grpc'" in str(info.value)


def test_koboldcpp_is_told_the_context_it_reported_unless_the_request_names_one() -> None:
    """KoboldAI's generate API takes max_context_length (providers/koboldcpp.md); the client sends
    what /api/extra/true_max_context_length reported, and warns, naming the server, when a
    prompt cannot fit it."""
    server = FakeServer()
    client = ChatClient("koboldai", base_url="http://127.0.0.1:5001", http_client=server.client())

    def sent_context() -> int:
        bodies = [json.loads(r.content) for r in server.requests if r.url.path == "/api/v1/generate"]
        return int(bodies[-1]["max_context_length"])

    client.chat(REQUEST)
    assert sent_context() == 2048
    client.chat(dataclasses.replace(REQUEST, messages=list(REQUEST.messages), context_window=1024))
    assert sent_context() == 1024
    with pytest.warns(ContextOverflowWarning, match="KoboldAI"):
        client.chat(dataclasses.replace(REQUEST, messages=[Message(role="user", content="x" * 20_000)]))
