"""Model management (list with state, load, unload, pull) per server, without a network.

Parsers are checked on real bytes recorded from servers (cassettes, read unchanged); request
shapes on httpx.MockTransport, against the bodies each server documents (docs/models.md and
docs/providers/ name the sources). Recorded sessions from a real llama.cpp router replay in
tests/replay/test_models.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import (
    EndpointNotFoundError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotLoadedError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.features.model_admin import AsyncModelManager, ModelManager
from orbit_local.protocols.admin import parse_list
from orbit_local.wire.streams import NDJSONDecoder

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


def recorded_body(path: str, index: int = 0) -> str:
    """The response body of a cassette's ``index``-th exchange, as recorded."""
    cassette = yaml.safe_load((CASSETTES / path).read_text())
    return str(cassette["interactions"][index]["response"]["body"]["string"])


def manager(provider: str, handler: Any, base_url: str | None = None, **kwargs: Any) -> ModelManager:
    client = ChatClient(
        provider, base_url=base_url, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    return ModelManager(client=client, **kwargs)


class Recorder:
    """A MockTransport handler: answers by ``(method, path)`` (a list is answered in turn) and
    keeps every request."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = {key: list(value) if isinstance(value, list) else [value] for key, value in routes.items()}
        self.seen: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.seen.append((request.method, request.url.path, body))
        answers = self.routes[(request.method, request.url.path)]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, httpx.Response):  # a fresh copy: a response object is read once
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
        return httpx.Response(200, json=answer)

    def sent(self) -> list[tuple[str, str, Any]]:
        return self.seen


# ---------------------------------------------------------------- real lists
def test_lmstudio_rest_list_gives_state_and_context_from_real_bytes() -> None:
    """LM Studio's /api/v0/models (real, lmstudio-public/decker-api-v0-models): every model
    "not-loaded", and its max_context_length is not passed off as the loaded context."""
    payload = json.loads(recorded_body("lmstudio-public/decker-api-v0-models.yaml"))
    models = parse_list(get_provider("lmstudio"), "http://x/v1", payload)
    assert [m.id for m in models][:3] == [
        "text-embedding-nomic-embed-text-v1.5",
        "smollm2-ft-masteryoda-motih",
        "qwen3-4b-instruct-2507",
    ]
    assert {m.state for m in models} == {"not-loaded"}
    assert {m.loaded for m in models} == {False}
    assert all(m.context_length is None for m in models)
    assert models[0].kind == "embeddings"


def test_lemonade_list_size_is_gib_and_health_says_what_is_loaded() -> None:
    """Lemonade 11.7.0 (real, cassettes/lemonade): "size": 0.092 is GiB (the file has
    98,362,432 bytes; Lemonade's own /api/tags says 98,784,247 = 0.092 GiB); its /health lists
    the loaded models (real 10.3.0 shape: model_name, recipe_options.ctx_size)."""
    payload = json.loads(recorded_body("lemonade/scenarios/test_list_models.yaml"))
    health = {"all_models_loaded": [{"model_name": "SmolLM2-135M-Instruct.Q4_1", "recipe_options": {"ctx_size": 2048}}]}
    (model,) = parse_list(get_provider("lemonade"), "http://x/api/v1", payload, health)
    assert model.id == "SmolLM2-135M-Instruct.Q4_1"
    assert model.size == 98_784_247
    assert model.loaded is True and model.state == "loaded"
    assert model.context_length == 2048  # the context it was loaded with, not context_length 4096
    (idle,) = parse_list(get_provider("lemonade"), "http://x/api/v1", payload, {"all_models_loaded": []})
    assert idle.loaded is False and idle.context_length == 4096


def test_lmstudio_v1_list_reads_instances_and_their_context() -> None:
    """The documented /api/v1/models shape (LM Studio 0.4): ``key``, ``size_bytes``,
    ``loaded_instances[].config.context_length``."""
    payload = {
        "models": [
            {"type": "llm", "key": "qwen/qwen3-4b", "size_bytes": 2_500_000_000, "max_context_length": 32768,
             "loaded_instances": [{"id": "qwen/qwen3-4b", "config": {"context_length": 4096}},
                                  {"id": "qwen/qwen3-4b:2", "config": {"context_length": 4096}}]},
            {"type": "embedding", "key": "nomic", "size_bytes": 80_000_000, "max_context_length": 2048,
             "loaded_instances": []},
        ]
    }  # fmt: skip
    loaded, idle = parse_list(get_provider("lmstudio"), "http://x/v1", payload)
    assert (loaded.id, loaded.loaded, loaded.context_length, loaded.size) == (
        "qwen/qwen3-4b",
        True,
        4096,
        2_500_000_000,
    )
    assert loaded.instances == ["qwen/qwen3-4b", "qwen/qwen3-4b:2"]
    assert (idle.loaded, idle.context_length, idle.instances) == (False, None, [])


# ------------------------------------------------------- request shapes: load
def test_lemonade_load_and_unload_bodies() -> None:
    routes = Recorder({
        ("POST", "/api/v1/load"): {"checkpoint": "x.gguf", "model_name": "M", "recipe": "llamacpp", "status": "success"},
        ("POST", "/api/v1/unload"): {"message": "Model unloaded successfully", "model_name": "M", "status": "success"},
    })  # fmt: skip
    with manager("lemonade", routes) as models:
        step = models.load("M", context_length=2048)
        assert step.done and step.status == "success"
        assert models.unload("M").status == "success"
    assert routes.sent() == [
        ("POST", "/api/v1/load", {"model_name": "M", "ctx_size": 2048}),
        ("POST", "/api/v1/unload", {"model_name": "M"}),
    ]


def test_lemonade_status_error_in_a_200_is_raised() -> None:
    routes = Recorder({("POST", "/api/v1/unload"): {"status": "error", "message": "Model not found: X"}})
    with manager("lemonade", routes) as models, pytest.raises(ModelLoadError, match="Model not found: X"):
        models.unload("X")


def test_lmstudio_load_then_unload_every_instance() -> None:
    listing = {"models": [{"key": "gemma", "loaded_instances": [{"id": "gemma"}, {"id": "gemma:2"}]}]}
    routes = Recorder({
        ("POST", "/api/v1/models/load"): {"type": "llm", "instance_id": "gemma", "status": "loaded"},
        ("GET", "/api/v1/models"): listing,
        ("POST", "/api/v1/models/unload"): [{"instance_id": "gemma"}, {"instance_id": "gemma:2"}],
    })  # fmt: skip
    with manager("lmstudio", routes) as models:
        assert models.load("gemma", context_length=8192).status == "loaded"
        models.unload("gemma")
    assert routes.sent() == [
        ("POST", "/api/v1/models/load", {"model": "gemma", "context_length": 8192}),
        ("GET", "/api/v1/models", None),
        ("POST", "/api/v1/models/unload", {"instance_id": "gemma"}),
        ("POST", "/api/v1/models/unload", {"instance_id": "gemma:2"}),
    ]


def test_lmstudio_unload_of_a_model_not_loaded_is_refused_before_sending() -> None:
    routes = Recorder({("GET", "/api/v1/models"): {"models": [{"key": "gemma", "loaded_instances": []}]}})
    with manager("lmstudio", routes) as models, pytest.raises(ModelNotFoundError, match="not loaded"):
        models.unload("gemma")
    assert [s[1] for s in routes.sent()] == ["/api/v1/models"]


def test_ollama_load_and_unload_are_empty_chats() -> None:
    """Ollama: an empty chat loads (done_reason "load"), with keep_alive 0 it unloads; the
    context goes in options.num_ctx."""
    routes = Recorder({
        ("POST", "/api/chat"): [
            {"model": "gemma3", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "load"},
            {"model": "gemma3", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "unload"},
        ],
    })  # fmt: skip
    with manager("ollama", routes) as models:
        assert models.load("gemma3", context_length=8192).status == "load"
        assert models.unload("gemma3").status == "unload"
    assert routes.sent() == [
        ("POST", "/api/chat", {"model": "gemma3", "messages": [], "stream": False, "options": {"num_ctx": 8192}}),
        ("POST", "/api/chat", {"model": "gemma3", "messages": [], "keep_alive": 0, "stream": False}),
    ]


def test_ollama_list_merges_api_ps() -> None:
    routes = Recorder({
        ("GET", "/api/tags"): {"models": [{"name": "qwen3:8b", "model": "qwen3:8b", "size": 5225388164},
                                          {"name": "gemma3:latest", "model": "gemma3:latest", "size": 3338801804}]},
        ("GET", "/api/ps"): {"models": [{"name": "gemma3:latest", "model": "gemma3:latest", "context_length": 4096}]},
    })  # fmt: skip
    with manager("ollama", routes) as models:
        qwen, gemma = models.list_models()
    assert (qwen.loaded, qwen.size, qwen.context_length) == (False, 5225388164, None)
    assert (gemma.loaded, gemma.context_length, gemma.state) == (True, 4096, "loaded")


def test_localai_list_without_system_access_leaves_state_unknown() -> None:
    routes = Recorder({
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": "gpt-4", "object": "model"}]},
        ("GET", "/system"): httpx.Response(401, json={"error": {"message": "unauthorized", "code": 401}}),
    })  # fmt: skip
    with manager("localai", routes) as models:
        (model,) = models.list_models()
    assert (model.id, model.loaded, model.state) == ("gpt-4", None, None)


def test_llamacpp_router_load_waits_until_the_list_says_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router answers {"success": true} at once; the model list says when it is loaded."""
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)

    def listed(value: str) -> dict[str, Any]:
        return {"data": [{"id": "smol", "object": "model", "status": {"value": value, "args": []}}], "object": "list"}

    routes = Recorder({
        ("POST", "/models/load"): {"success": True},
        ("GET", "/v1/models"): [listed("loading"), listed("loading"), listed("loaded")],
    })  # fmt: skip
    seen: list[str] = []
    with manager("llamacpp", routes, base_url="http://h:8080/v1") as models:
        step = models.load("smol", progress=lambda s: seen.append(s.status))
    assert step.done and step.status == "loaded"
    assert seen == ["success", "loading", "loading", "loaded"]
    assert routes.sent()[0] == ("POST", "/models/load", {"model": "smol"})


def test_llamacpp_router_unload_waits_until_the_list_says_unloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)
    listed = [{"data": [{"id": "smol", "status": {"value": v}}]} for v in ("loaded", "unloaded")]
    routes = Recorder({("POST", "/models/unload"): {"success": True}, ("GET", "/v1/models"): listed})
    with manager("llamacpp", routes, base_url="http://h:8080/v1") as models:
        step = models.unload("smol")
    assert (step.status, step.done) == ("unloaded", True)
    assert [p for _, p, _ in routes.sent()] == ["/models/unload", "/v1/models", "/v1/models"]


def test_llamacpp_router_failed_load_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)
    failed = {"data": [{"id": "smol", "status": {"value": "unloaded", "failed": True, "exit_code": 1}}]}
    routes = Recorder({("POST", "/models/load"): {"success": True}, ("GET", "/v1/models"): failed})
    with (
        manager("llamacpp", routes, base_url="http://h:8080/v1") as models,
        pytest.raises(ModelLoadError, match="exit code 1"),
    ):
        models.load("smol")


def test_llamacpp_single_model_server_says_router_mode_is_needed() -> None:
    routes = Recorder(
        {
            ("POST", "/models/load"): httpx.Response(
                404, json={"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
            )
        }
    )
    with (
        manager("llamacpp", routes, base_url="http://h:8080/v1") as models,
        pytest.raises(EndpointNotFoundError) as caught,
    ):
        models.load("smol")
    assert "router mode" in str(caught.value) and "--models-dir" in str(caught.value)


# -------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("provider", "operation", "reason"),
    [
        ("localai", "load", "first request"),
        ("localai", "unload", "/backend/shutdown"),
        ("llamacpp", "pull", "does not download through llama-server's router"),
        ("vllm", "load", "no API to load"),
        ("koboldai", "unload", "no API to unload"),
        ("gpt4all", "pull", "no API to download"),
    ],
)
def test_what_a_server_cannot_do_is_refused_before_sending(provider: str, operation: str, reason: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing may be sent: {request.method} {request.url}")

    with (
        manager(provider, refuse, base_url="http://h:1/v1") as models,
        pytest.raises(UnsupportedFeatureError) as caught,
    ):
        if operation == "pull":
            list(models.pull("m"))
        else:
            getattr(models, operation)("m")
    assert reason in str(caught.value)
    assert caught.value.provider == get_provider(provider).display_name


def test_a_context_length_the_router_cannot_take_is_refused() -> None:
    with (
        manager("llamacpp", Recorder({}), base_url="http://h:8080/v1") as models,
        pytest.raises(UnsupportedFeatureError, match="context length"),
    ):
        models.load("smol", context_length=4096)


# ------------------------------------------------------------------------ pull
OLLAMA_PULL = [  # the lines Ollama's API docs show for POST /api/pull
    {"status": "pulling manifest"},
    {"status": "pulling c6eb396dbd59", "digest": "sha256:c6eb", "total": 1000, "completed": 100},
    {"status": "pulling c6eb396dbd59", "digest": "sha256:c6eb", "total": 1000, "completed": 1000},
    {"status": "pulling 8d5f", "digest": "sha256:8d5f", "total": 50, "completed": 50},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def ndjson(lines: list[dict[str, Any]], cut: bool = False) -> httpx.Response:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    return httpx.Response(200, content=text[:-1] if cut else text, headers={"content-type": "application/x-ndjson"})


def test_ollama_pull_streams_ndjson_progress_summed_over_layers() -> None:
    routes = Recorder({("POST", "/api/pull"): ndjson(OLLAMA_PULL)})
    with manager("ollama", routes) as models:
        steps = list(models.pull("gemma3"))
    assert routes.sent() == [("POST", "/api/pull", {"model": "gemma3", "stream": True})]
    assert [s.status for s in steps] == [line["status"] for line in OLLAMA_PULL]
    assert (steps[1].completed, steps[1].total) == (100, 1000)
    assert (steps[3].completed, steps[3].total, steps[3].fraction) == (1050, 1050, 1.0)
    assert [s.done for s in steps] == [False] * 6 + [True]


def test_ollama_pull_error_line_is_a_download_error() -> None:
    routes = Recorder(
        {
            ("POST", "/api/pull"): ndjson(
                [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
            )
        }
    )
    with manager("ollama", routes) as models, pytest.raises(ModelDownloadError, match="file does not exist"):
        list(models.pull("nope"))


def test_ollama_pull_cut_before_success_is_an_interrupted_stream() -> None:
    routes = Recorder({("POST", "/api/pull"): ndjson(OLLAMA_PULL[:3])})
    with (
        manager("ollama", routes) as models,
        pytest.raises(Exception, match="ended before the server said it was complete"),
    ):
        list(models.pull("gemma3"))


def lmstudio_download_job() -> Recorder:
    """LM Studio's documented download job, as its docs show it: the POST starts it (948 bytes
    in), then the status route answers once mid-way and once "completed"."""
    job = {"job_id": "job_493c7c9ded", "total_size_bytes": 2279145003, "started_at": "2025-10-03T15:33:23.496Z"}
    return Recorder({
        ("POST", "/api/v1/models/download"): {**job, "status": "downloading", "downloaded_bytes": 948},
        ("GET", "/api/v1/models/download/status/job_493c7c9ded"): [
            {**job, "status": "downloading", "downloaded_bytes": 1_000_000_000},
            {**job, "status": "completed", "downloaded_bytes": 2279145003},
        ],
    })  # fmt: skip


def test_lmstudio_download_is_a_job_asked_until_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    """LM Studio's documented download job: POST /api/v1/models/download, then
    GET /api/v1/models/download/status/:job_id until "completed"."""
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)
    routes = lmstudio_download_job()
    with manager("lmstudio", routes) as models:
        steps = list(models.pull("ibm/granite-4-micro"))
    assert routes.sent()[0] == ("POST", "/api/v1/models/download", {"model": "ibm/granite-4-micro"})
    assert [(s.status, s.completed, s.done) for s in steps] == [
        ("downloading", 948, False),
        ("downloading", 1_000_000_000, False),
        ("completed", 2279145003, True),
    ]


def test_lmstudio_already_downloaded_needs_no_job() -> None:
    routes = Recorder({("POST", "/api/v1/models/download"): {"status": "already_downloaded"}})
    with manager("lmstudio", routes) as models:
        (step,) = list(models.pull("ibm/granite-4-micro"))
    assert step.done and step.status == "already_downloaded"


def test_lmstudio_failed_job_is_a_download_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)
    routes = Recorder({
        ("POST", "/api/v1/models/download"): {"job_id": "j", "status": "downloading"},
        ("GET", "/api/v1/models/download/status/j"): {"job_id": "j", "status": "failed"},
    })  # fmt: skip
    with manager("lmstudio", routes) as models, pytest.raises(ModelDownloadError):
        list(models.pull("x"))


def test_localai_gallery_apply_then_job_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)
    routes = Recorder({
        ("POST", "/models/apply"): {"uuid": "1a2b", "status": "http://h:8080/models/jobs/1a2b"},
        ("GET", "/models/jobs/1a2b"): [
            {"error": None, "processed": False, "message": "queued"},
            {"error": None, "processed": True, "message": "completed"},
        ],
    })  # fmt: skip
    with manager("localai", routes, base_url="http://h:8080/v1") as models:
        steps = list(models.pull("localai@phi-2"))
    assert routes.sent()[0] == ("POST", "/models/apply", {"id": "localai@phi-2"})
    assert [(s.status, s.done) for s in steps] == [("queued", False), ("queued", False), ("completed", True)]


def recorded_exchange(path: str, method: str, uri_end: str, nth: int = 0) -> httpx.Response:
    """The ``nth`` recorded answer to ``method`` on a URI ending in ``uri_end``, as recorded."""
    cassette = yaml.safe_load((CASSETTES / path).read_text())
    found = [
        i["response"]
        for i in cassette["interactions"]
        if i["request"]["method"] == method and i["request"]["uri"].endswith(uri_end)
    ]
    return httpx.Response(found[nth]["status"]["code"], content=found[nth]["body"]["string"].encode(),
                          headers={"content-type": "application/json"})  # fmt: skip


def test_lemonade_pull_offline_answer_is_a_download_error_that_says_what_to_do() -> None:
    """Lemonade 11.7.0 started offline (real, cassettes/models-lemonade): HTTP 400
    ``{"code": "lemond_offline", "error": ...}``. Its code names the remedy (the profile's
    ``error_hints``), not "check the values you passed"."""
    offline = recorded_exchange("models-lemonade/test_pull_while_offline_says_what_to_do.yaml", "POST", "/pull")
    routes = Recorder({("POST", "/api/v1/pull"): offline})
    with manager("lemonade", routes) as models, pytest.raises(ModelDownloadError) as caught:
        list(models.pull("Qwen3-0.6B-GGUF"))
    assert routes.sent() == [("POST", "/api/v1/pull", {"model_name": "Qwen3-0.6B-GGUF"})]
    error = caught.value
    assert error.status_code == 400 and error.server_message == "Lemond is in offline mode, models not downloaded"
    assert error.hint is not None and "lemonade config set offline=false" in error.hint
    assert "check the values you passed" not in str(error)


def test_lemonade_unload_of_a_model_not_loaded_says_nothing_to_unload() -> None:
    """Lemonade 11.7.0 (real, cassettes/models-lemonade): HTTP 404 ``{"error": "Model not
    loaded: <id>"}``. For an unload that is no reason to load the model, as a chat's hint says."""
    answer = recorded_exchange(
        "models-lemonade/test_list_load_with_context_chat_unload_and_the_not_loaded_404.yaml", "POST", "/unload", 1
    )
    routes = Recorder({("POST", "/api/v1/unload"): answer})
    with manager("lemonade", routes) as models, pytest.raises(ModelNotLoadedError) as caught:
        models.unload("SmolLM2-135M-Instruct.Q4_1")
    error = caught.value
    assert error.status_code == 404 and error.hint is not None and error.hint.startswith("it is not loaded")
    assert "auto_load" not in error.hint


def test_async_twin_pulls_and_lists_the_same() -> None:
    async def run() -> list[str]:
        routes = Recorder({("POST", "/api/pull"): ndjson(OLLAMA_PULL)})
        http = httpx.AsyncClient(transport=httpx.MockTransport(routes))
        client = AsyncChatClient("ollama", max_retries=0, http_client=http)
        statuses = [step.status async for step in AsyncModelManager(client=client).pull("gemma3")]
        await http.aclose()
        return statuses

    assert asyncio.run(run()) == [line["status"] for line in OLLAMA_PULL]


# ------------------------------------------------------------------ auto_load
NO_MODELS_LOADED = httpx.Response(
    404, json={"error": "No models loaded. Please load a model in the developer page or use the 'lms load' command."}
)
ANSWER = {"id": "c", "object": "chat.completion", "model": "gemma",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}  # fmt: skip
REQUEST = ChatRequest(model="gemma", messages=[Message(role="user", content="hello")])


def chat_client(routes: Recorder, **kwargs: Any) -> ChatClient:
    return ChatClient(
        "lmstudio",
        model="gemma",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(routes)),
        **kwargs,
    )


def lmstudio_routes(*chat: Any) -> Recorder:
    return Recorder({
        ("GET", "/api/v0/models"): {"data": []},
        ("POST", "/v1/chat/completions"): list(chat),
        ("POST", "/api/v1/models/load"): {"type": "llm", "instance_id": "gemma", "status": "loaded"},
    })  # fmt: skip


def test_auto_load_loads_and_retries_once() -> None:
    routes = lmstudio_routes(NO_MODELS_LOADED, ANSWER)
    assert chat_client(routes, auto_load=True).chat(REQUEST).text == "hi"
    assert [p for _, p, _ in routes.sent() if p != "/api/v0/models"] == [
        "/v1/chat/completions", "/api/v1/models/load", "/v1/chat/completions"
    ]  # fmt: skip


def test_auto_load_retries_exactly_once() -> None:
    routes = lmstudio_routes(NO_MODELS_LOADED)
    with pytest.raises(ModelNotFoundError):
        chat_client(routes, auto_load=True).chat(REQUEST)
    assert [p for _, p, _ in routes.sent()].count("/v1/chat/completions") == 2
    assert [p for _, p, _ in routes.sent()].count("/api/v1/models/load") == 1


def test_without_auto_load_nothing_is_loaded() -> None:
    routes = lmstudio_routes(NO_MODELS_LOADED, ANSWER)
    with pytest.raises(ModelNotFoundError):
        chat_client(routes).chat(REQUEST)
    assert "/api/v1/models/load" not in [p for _, p, _ in routes.sent()]


def test_a_failed_auto_load_raises_the_original_error_with_the_reason() -> None:
    routes = lmstudio_routes(NO_MODELS_LOADED)
    routes.routes[("POST", "/api/v1/models/load")] = [httpx.Response(404, json={"error": "Model not found: gemma"})]
    with pytest.raises(ModelNotFoundError) as caught:
        chat_client(routes, auto_load=True).chat(REQUEST)
    assert "No models loaded" in str(caught.value)
    assert "auto_load tried to load the model and failed" in str(caught.value)


def test_auto_load_in_a_stream_before_its_first_delta() -> None:
    stream = (
        "".join(
            f"data: {json.dumps(c)}\n\n"
            for c in (
                {
                    "id": "c",
                    "model": "gemma",
                    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
                },
                {"id": "c", "model": "gemma", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            )
        )
        + "data: [DONE]\n\n"
    )
    ok = httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    routes = lmstudio_routes(NO_MODELS_LOADED, ok)
    with chat_client(routes, auto_load=True).stream(REQUEST) as answer:
        text = "".join(delta.text or "" for delta in answer)
    assert text == "hi"
    assert [p for _, p, _ in routes.sent()].count("/api/v1/models/load") == 1


def test_async_auto_load_loads_and_retries_once() -> None:
    async def run() -> str:
        routes = lmstudio_routes(NO_MODELS_LOADED, ANSWER)
        http = httpx.AsyncClient(transport=httpx.MockTransport(routes))
        client = AsyncChatClient("lmstudio", model="gemma", max_retries=0, http_client=http, auto_load=True)
        result = await client.chat(REQUEST)
        await http.aclose()
        return result.text

    assert asyncio.run(run()) == "hi"


def test_auto_load_on_a_server_that_cannot_load_raises_at_once() -> None:
    routes = Recorder(
        {
            ("POST", "/v1/chat/completions"): httpx.Response(
                404, json={"error": {"message": "The model `gemma` does not exist.", "code": 404}}
            )
        }
    )
    client = ChatClient(
        "vllm",
        model="gemma",
        max_retries=0,
        auto_load=True,
        http_client=httpx.Client(transport=httpx.MockTransport(routes)),
    )
    with pytest.raises(ModelNotFoundError):
        client.chat(REQUEST)
    assert [p for _, p, _ in routes.sent()] == ["/v1/chat/completions"]


# --------------------------------------------------------------------- ndjson
def test_ndjson_decoder_splits_lines_at_any_byte() -> None:
    body = '{"status":"pulling manifest"}\n{"status":"ü"}\n{"status":"success"}'.encode()
    decoder = NDJSONDecoder()
    events = [e for i in range(len(body)) for e in decoder.feed(body[i : i + 1])] + decoder.flush()
    assert [json.loads(e.data)["status"] for e in events] == ["pulling manifest", "ü", "success"]
    assert [e.truncated for e in events] == [False, False, True]
