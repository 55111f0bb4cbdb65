"""Model management on the wire, the details a user reads: which typed error names which server
and says what to do, what a step reports (status, bytes, the server's own answer), how often the
list is asked and when waiting stops, and the async twin doing the same as the sync one.

Answers are the shapes the servers document (../shared/providers/*.md, docs/models.md) or real
bytes from cassettes/models-llamacpp-router and cassettes/models-lemonade.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import (
    AuthenticationError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotLoadedError,
    ProtocolError,
    RequestTimeoutError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import get_provider
from orbit_local.features.model_admin import AsyncModelManager, ModelManager
from orbit_local.protocols.admin import PullSession, Waiting, parse_list
from tests.unit.test_model_admin import OLLAMA_PULL, Recorder, lmstudio_download_job, manager, ndjson

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
ROUTER = "http://h:8080/v1"
LEMONADE = "http://localhost:13305/api/v1"


def router_list(name: str, index: int) -> dict[str, Any]:
    """The ``index``-th recorded answer of a real llama.cpp router's ``GET /v1/models``."""
    cassette = yaml.safe_load((CASSETTES / "models-llamacpp-router" / name).read_text())
    answers = [i for i in cassette["interactions"] if i["request"]["uri"].endswith("/v1/models")]
    return dict(json.loads(answers[index]["response"]["body"]["string"]))


LOADING = "test_list_load_chat_unload_and_the_unloaded_answer.yaml"  # lists 0: unloaded, 1: loading, 3: loaded


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The polls' sleeps, recorded instead of slept (sync and async)."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", slept.append)
    monkeypatch.setattr("orbit_local.features.model_admin.asyncio.sleep", asleep)
    return slept


def amanager(provider: str, handler: Any, base_url: str | None = None, **kwargs: Any) -> AsyncModelManager:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncModelManager(client=AsyncChatClient(provider, base_url=base_url, max_retries=0, http_client=http),
                             **kwargs)  # fmt: skip


# ------------------------------------------------------------ the list's states
def test_a_model_listed_only_by_its_alias_is_found_while_waiting() -> None:
    """The router lists ``aliases`` (../shared/providers/llamacpp.md): a load asked by alias is
    done when the aliased entry says loaded."""
    payload = router_list(LOADING, 3)
    payload["data"][0]["aliases"] = ["smol"]
    step = Waiting(get_provider("llamacpp"), ROUTER, "smol", "load").polled(payload)
    assert (step.status, step.done) == ("loaded", True)
    assert step.raw["id"] == "smollm2-a"  # the server's own entry travels with the step


def test_the_router_list_while_loading_is_a_step_that_is_not_done() -> None:
    step = Waiting(get_provider("llamacpp"), ROUTER, "smollm2-a", "load").polled(router_list(LOADING, 1))
    assert (step.operation, step.status, step.done) == ("load", "loading", False)


def test_an_entry_without_a_state_is_unknown_and_not_done() -> None:
    payload = {"object": "list", "data": [{"id": "smollm2-a", "object": "model", "owned_by": "llamacpp"}]}
    step = Waiting(get_provider("llamacpp"), ROUTER, "smollm2-a", "load").polled(payload)
    assert (step.status, step.done) == ("unknown", False)


def test_a_model_gone_from_the_list_is_unloaded_but_missing_while_loading_is_an_error() -> None:
    payload = {"object": "list", "data": [{"id": "other", "status": {"value": "loaded"}}]}
    step = Waiting(get_provider("llamacpp"), ROUTER, "smollm2-a", "unload").polled(payload)
    assert (step.operation, step.status, step.done) == ("unload", "unloaded", True)
    assert step.raw == payload
    with pytest.raises(ProtocolError, match="a model list without 'smollm2-a'") as caught:
        Waiting(get_provider("llamacpp"), ROUTER, "smollm2-a", "load").polled(payload)
    assert '"other"' in (caught.value.body or "")


def test_a_failed_router_load_names_the_server_and_what_to_check() -> None:
    payload = router_list(LOADING, 1)
    payload["data"][0]["status"] = {"value": "unloaded", "failed": True, "exit_code": 1}
    with pytest.raises(ModelLoadError, match="exit code 1") as caught:
        Waiting(get_provider("llamacpp"), ROUTER, "smollm2-a", "load").polled(payload)
    error = caught.value
    assert (error.provider, error.base_url) == ("llama.cpp server", ROUTER)
    assert "check the server's log" in (error.hint or "")
    assert '"exit_code": 1' in (error.body or "")


def test_lmstudio_v1_list_says_loaded_or_unloaded() -> None:
    payload = {"models": [{"type": "llm", "key": "qwen/qwen3-4b", "loaded_instances": [{"id": "qwen/qwen3-4b"}]},
                          {"type": "llm", "key": "gemma", "loaded_instances": []}]}  # fmt: skip
    loaded, idle = parse_list(get_provider("lmstudio"), "http://x/v1", payload)
    assert (loaded.state, idle.state) == ("loaded", "unloaded")


def test_a_loaded_context_of_zero_is_not_a_context() -> None:
    payload = {"models": [{"key": "gemma", "loaded_instances": [{"id": "gemma", "config": {"context_length": 0}}]}]}
    (model,) = parse_list(get_provider("lmstudio"), "http://x/v1", payload)
    assert model.context_length is None
    tags = {"models": [{"name": "gemma3:latest", "model": "gemma3:latest", "size": 3338801804}]}
    ps = {"models": [{"name": "gemma3:latest", "context_length": 0}]}
    (model,) = parse_list(get_provider("ollama"), "http://x/v1", tags, ps)
    assert model.loaded is True and model.context_length is None


def test_an_error_object_instead_of_the_list_is_typed() -> None:
    payload = {"error": {"code": 500, "message": "router is shutting down", "type": "server_error"}}
    with pytest.raises(Exception, match="router is shutting down") as caught:
        parse_list(get_provider("llamacpp"), ROUTER, payload)
    assert not isinstance(caught.value, ProtocolError)


def test_a_list_of_another_shape_is_a_protocol_error_with_the_bytes() -> None:
    with pytest.raises(ProtocolError, match="the model list is not the shape") as caught:
        parse_list(get_provider("lemonade"), LEMONADE, {"object": "list"})
    assert '"object": "list"' in (caught.value.body or "")


# ------------------------------------------------------------- load and unload
def test_a_router_load_answered_success_false_is_a_load_error() -> None:
    routes = Recorder({("POST", "/models/load"): {"success": False}})
    with manager("llamacpp", routes, base_url=ROUTER) as models, pytest.raises(ModelLoadError) as caught:
        models.load("smollm2-a")
    assert "without a reason" in str(caught.value)
    assert caught.value.body == '{"success": false}'


def test_lemonade_status_error_names_the_server_and_keeps_its_message() -> None:
    answer = {"status": "error", "message": "Model not found: X"}
    routes = Recorder({("POST", "/api/v1/load"): answer})
    with manager("lemonade", routes, base_url=LEMONADE) as models, pytest.raises(ModelLoadError) as caught:
        models.load("X")
    error = caught.value
    assert (error.provider, error.base_url, error.server_message) == ("Lemonade Server", LEMONADE, "Model not found: X")
    assert error.body is not None and json.loads(error.body) == answer


def test_an_error_object_in_a_200_load_answer_is_raised() -> None:
    routes = Recorder({("POST", "/api/v1/load"): {"error": {"message": "out of memory", "type": "server_error"}}})
    with manager("lemonade", routes, base_url=LEMONADE) as models, pytest.raises(Exception, match="out of memory"):
        models.load("M")


def test_a_context_length_refusal_names_the_server_and_the_command_line_remedy() -> None:
    with (
        manager("llamacpp", Recorder({}), base_url=ROUTER) as models,
        pytest.raises(UnsupportedFeatureError, match="cannot load a model with a context length over the API") as c,
    ):
        models.load("smol", context_length=4096)
    assert (c.value.provider, c.value.base_url) == ("llama.cpp server", ROUTER)
    assert "--ctx-size" in (c.value.hint or "")


def test_a_refused_operation_names_the_base_url() -> None:
    with (
        manager("vllm", Recorder({}), base_url="http://h:8000/v1") as models,
        pytest.raises(UnsupportedFeatureError) as c,
    ):
        models.load("m")
    assert c.value.base_url == "http://h:8000/v1"


def test_lmstudio_unload_answer_without_a_status_is_unloaded() -> None:
    """LM Studio's unload answers ``{"instance_id": ...}`` only."""
    listing = {"models": [{"key": "gemma", "loaded_instances": [{"id": "gemma"}]}]}
    routes = Recorder({("GET", "/api/v1/models"): listing, ("POST", "/api/v1/models/unload"): {"instance_id": "gemma"}})
    with manager("lmstudio", routes) as models:
        step = models.unload("gemma")
    assert (step.operation, step.status, step.done) == ("unload", "unloaded", True)


def test_lmstudio_nothing_to_unload_names_the_server_and_the_list_command() -> None:
    routes = Recorder({("GET", "/api/v1/models"): {"models": [{"key": "gemma", "loaded_instances": []}]}})
    with manager("lmstudio", routes, base_url="http://h:1234/v1") as models, pytest.raises(ModelNotFoundError) as c:
        models.unload("gemma")
    assert (c.value.provider, c.value.base_url) == ("LM Studio", "http://h:1234/v1")
    assert "orbit-local models list" in (c.value.hint or "")


def test_an_unload_refused_for_auth_stays_an_auth_error() -> None:
    """Only "not loaded" becomes "nothing to unload"; a 401 keeps its own type and advice."""
    routes = Recorder({("POST", "/api/v1/unload"): httpx.Response(401, json={"error": "Invalid API key"})})
    with manager("lemonade", routes, base_url=LEMONADE) as models, pytest.raises(AuthenticationError) as caught:
        models.unload("M")
    assert not isinstance(caught.value, ModelNotLoadedError)
    assert "nothing to unload" not in str(caught.value)


def test_lmstudio_auth_error_gets_no_version_hint() -> None:
    """The "needs LM Studio 0.4" advice is for a missing route, not a refused key."""
    routes = Recorder({("POST", "/api/v1/models/load"): httpx.Response(401, json={"error": "Unauthorized"})})
    with manager("lmstudio", routes) as models, pytest.raises(AuthenticationError) as caught:
        models.load("gemma")
    assert "0.4" not in (caught.value.hint or "")


def test_the_api_key_and_timeout_given_to_the_manager_reach_the_server() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "model_name": "M"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with ModelManager("lemonade", base_url=LEMONADE, api_key="sk-1", timeout=7.0, http_client=http) as models:
        models.load("M")
    (request,) = [r for r in seen if r.url.path == "/api/v1/load"]
    assert request.headers["authorization"] == "Bearer sk-1"
    assert request.extensions["timeout"]["read"] == 7.0


def test_the_async_manager_passes_api_key_and_timeout_too() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "model_name": "M"})

    async def run() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncModelManager("lemonade", base_url=LEMONADE, api_key="sk-1", timeout=7.0,
                                     http_client=http) as models:  # fmt: skip
            await models.load("M")

    asyncio.run(run())
    (request,) = [r for r in seen if r.url.path == "/api/v1/load"]
    assert request.headers["authorization"] == "Bearer sk-1"
    assert request.extensions["timeout"]["read"] == 7.0


# ------------------------------------------------------------------- waiting
def test_a_load_still_loading_after_load_wait_times_out(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]) -> None:
    ticks = itertools.count()
    monkeypatch.setattr("orbit_local.features.model_admin.time.monotonic", lambda: float(next(ticks)))
    routes = Recorder({("POST", "/models/load"): {"success": True}, ("GET", "/v1/models"): router_list(LOADING, 1)})
    with (
        manager("llamacpp", routes, base_url=ROUTER, load_wait=2.5) as models,
        pytest.raises(RequestTimeoutError, match=r"'smollm2-a' was still not loaded after 2\.5 s") as caught,
    ):
        models.load("smollm2-a")
    assert (caught.value.provider, caught.value.base_url) == ("llama.cpp server", ROUTER)
    assert "raise load_wait" in (caught.value.hint or "")
    assert no_sleep and set(no_sleep) == {0.5}


def test_the_async_load_times_out_the_same(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]) -> None:
    ticks = itertools.count()
    monkeypatch.setattr("orbit_local.features.model_admin.time.monotonic", lambda: float(next(ticks)))
    routes = Recorder({("POST", "/models/load"): {"success": True}, ("GET", "/v1/models"): router_list(LOADING, 1)})

    async def run() -> None:
        await amanager("llamacpp", routes, base_url=ROUTER, load_wait=2.5).load("smollm2-a")

    with pytest.raises(RequestTimeoutError, match="still not loaded"):
        asyncio.run(run())


def test_the_async_router_load_polls_and_reports_every_step(no_sleep: list[float]) -> None:
    routes = Recorder({
        ("POST", "/models/load"): {"success": True},
        ("GET", "/v1/models"): [router_list(LOADING, 1), router_list(LOADING, 2), router_list(LOADING, 3)],
    })  # fmt: skip
    seen: list[str] = []

    async def run() -> str:
        models = amanager("llamacpp", routes, base_url=ROUTER)
        step = await models.load("smollm2-a", progress=lambda s: seen.append(s.status))
        return step.status

    assert asyncio.run(run()) == "loaded"
    assert seen == ["success", "loading", "loading", "loaded"]
    assert no_sleep == [0.5, 0.5, 0.5]


def test_the_async_router_unload_reports_its_steps(no_sleep: list[float]) -> None:
    listed = [{"data": [{"id": "smol", "status": {"value": v}}]} for v in ("loaded", "unloaded")]
    routes = Recorder({("POST", "/models/unload"): {"success": True}, ("GET", "/v1/models"): listed})
    seen: list[str] = []

    async def run() -> None:
        await amanager("llamacpp", routes, base_url=ROUTER).unload("smol", progress=lambda s: seen.append(s.status))

    asyncio.run(run())
    assert seen == ["success", "loaded", "unloaded"]


def test_the_async_lmstudio_unload_unloads_every_instance() -> None:
    listing = {"models": [{"key": "gemma", "loaded_instances": [{"id": "gemma"}, {"id": "gemma:2"}]}]}
    routes = Recorder({("GET", "/api/v1/models"): listing, ("POST", "/api/v1/models/unload"): {"instance_id": "x"}})

    async def run() -> None:
        await amanager("lmstudio", routes).unload("gemma")

    asyncio.run(run())
    assert [b for m, _, b in routes.sent() if m == "POST"] == [{"instance_id": "gemma"}, {"instance_id": "gemma:2"}]


def test_the_async_lemonade_unload_of_a_model_not_loaded_says_nothing_to_unload() -> None:
    answer = httpx.Response(404, json={"error": "Model not loaded: M"})
    routes = Recorder({("POST", "/api/v1/unload"): answer})

    async def run() -> None:
        await amanager("lemonade", routes, base_url=LEMONADE).unload("M")

    with pytest.raises(ModelNotLoadedError) as caught:
        asyncio.run(run())
    assert (caught.value.hint or "").startswith("it is not loaded")


def test_the_async_localai_list_without_system_access_leaves_state_unknown() -> None:
    routes = Recorder({
        ("GET", "/v1/models"): {"object": "list", "data": [{"id": "gpt-4", "object": "model"}]},
        ("GET", "/system"): httpx.Response(401, json={"error": {"message": "unauthorized", "code": 401}}),
    })  # fmt: skip

    async def run() -> list[Any]:
        return [(m.id, m.loaded, m.state) for m in await amanager("localai", routes).list_models()]

    assert asyncio.run(run()) == [("gpt-4", None, None)]


# ---------------------------------------------------------------------- pull
def test_ollama_pull_bytes_are_unknown_until_a_layer_is_seen_and_zero_when_omitted() -> None:
    """Ollama omits empty fields (omitempty): a layer's first line may have no "completed"."""
    session = PullSession(get_provider("ollama"), "http://x/v1", "gemma3")
    first = session.feed({"status": "pulling manifest"})
    assert (first.completed, first.total, first.done) == (None, None, False)
    line = {"status": "pulling c6eb396dbd59", "digest": "sha256:c6eb", "total": 1000}
    step = session.feed(line)
    assert (step.completed, step.total) == (0, 1000)
    assert step.raw == line


def test_ollama_error_line_names_the_server_and_what_to_check() -> None:
    line = {"error": "pull model manifest: file does not exist"}
    routes = Recorder({("POST", "/api/pull"): ndjson([{"status": "pulling manifest"}, line])})
    with manager("ollama", routes) as models, pytest.raises(ModelDownloadError) as caught:
        list(models.pull("nope"))
    error = caught.value
    assert "the download of 'nope' failed" in str(error)
    assert (error.provider, error.base_url) == ("Ollama", "http://localhost:11434/v1")
    assert error.server_message == "pull model manifest: file does not exist"
    assert "disk space" in (error.hint or "")
    assert error.body is not None and json.loads(error.body) == line


def test_a_pull_line_that_is_not_json_is_a_protocol_error_with_the_line() -> None:
    response = httpx.Response(200, content=b'{"status": "pulling manifest"}\n<html>proxy error</html>\n',
                              headers={"content-type": "application/x-ndjson"})  # fmt: skip
    routes = Recorder({("POST", "/api/pull"): response})
    with manager("ollama", routes) as models, pytest.raises(ProtocolError, match="line is not JSON") as caught:
        list(models.pull("gemma3"))
    assert (caught.value.provider, caught.value.base_url) == ("Ollama", "http://localhost:11434/v1")
    assert caught.value.body == "<html>proxy error</html>"


def test_a_pull_stream_cut_short_names_the_server_and_says_pull_again() -> None:
    routes = Recorder({("POST", "/api/pull"): ndjson(OLLAMA_PULL[:3])})
    with manager("ollama", routes) as models, pytest.raises(StreamInterruptedError) as caught:
        list(models.pull("gemma3"))
    assert (caught.value.provider, caught.value.base_url) == ("Ollama", "http://localhost:11434/v1")
    assert "pull again" in (caught.value.hint or "")


def test_lemonade_pull_success_is_one_done_step() -> None:
    answer = {"status": "success", "message": "Installed model: Qwen3-0.6B-GGUF"}
    routes = Recorder({("POST", "/api/v1/pull"): answer})
    with manager("lemonade", routes, base_url=LEMONADE) as models:
        (step,) = list(models.pull("Qwen3-0.6B-GGUF"))
    assert (step.operation, step.status, step.done) == ("pull", "success", True)
    assert step.raw == answer


@pytest.mark.parametrize(
    ("answer", "reason"),
    [({"status": "error", "message": "Model Foo not found in registry"}, "Model Foo not found in registry"),
     ({"status": "error"}, "no reason given")],
)  # fmt: skip
def test_lemonade_pull_status_error_is_a_download_error(answer: dict[str, Any], reason: str) -> None:
    routes = Recorder({("POST", "/api/v1/pull"): answer})
    with manager("lemonade", routes, base_url=LEMONADE) as models, pytest.raises(ModelDownloadError) as caught:
        list(models.pull("Foo"))
    assert caught.value.server_message == reason
    assert caught.value.body is not None and json.loads(caught.value.body) == answer


def test_an_error_object_in_a_200_pull_answer_is_raised() -> None:
    routes = Recorder({("POST", "/api/v1/pull"): {"error": {"message": "disk full", "type": "server_error"}}})
    with manager("lemonade", routes, base_url=LEMONADE) as models, pytest.raises(Exception, match="disk full"):
        list(models.pull("Foo"))


def test_a_pull_answer_that_is_not_an_object_is_a_protocol_error() -> None:
    routes = Recorder({("POST", "/api/v1/pull"): httpx.Response(200, json=["success"])})
    with (
        manager("lemonade", routes, base_url=LEMONADE) as models,
        pytest.raises(ProtocolError, match="a download answer is not the shape") as caught,
    ):
        list(models.pull("Foo"))
    assert caught.value.body == '["success"]'


def test_lmstudio_job_steps_carry_the_total_and_the_server_answer(no_sleep: list[float]) -> None:
    with manager("lmstudio", lmstudio_download_job()) as models:
        steps = list(models.pull("ibm/granite-4-micro"))
    assert [s.total for s in steps] == [2279145003] * 3
    assert steps[-1].fraction == 1.0
    assert steps[0].raw["job_id"] == "job_493c7c9ded"
    assert no_sleep == [0.5, 0.5]  # between the three questions, not after the last


def test_the_async_lmstudio_job_is_asked_until_completed(no_sleep: list[float]) -> None:
    routes = Recorder({
        ("POST", "/api/v1/models/download"): {"job_id": "j", "status": "downloading"},
        ("GET", "/api/v1/models/download/status/j"): [{"job_id": "j", "status": "downloading"},
                                                      {"job_id": "j", "status": "completed"}],
    })  # fmt: skip

    async def run() -> list[str]:
        return [step.status async for step in amanager("lmstudio", routes).pull("x")]

    assert asyncio.run(run()) == ["downloading", "downloading", "completed"]
    assert no_sleep == [0.5, 0.5]


def test_a_job_answer_with_an_empty_job_id_is_a_protocol_error() -> None:
    payload = {"job_id": "", "status": "downloading"}
    session = PullSession(get_provider("lmstudio"), "http://x/v1", "x")
    with pytest.raises(ProtocolError, match="a download answer without a job id is not the shape") as caught:
        session.feed(payload)
    assert caught.value.body is not None and json.loads(caught.value.body) == payload


def test_lmstudio_failed_job_gives_its_message_or_says_failed() -> None:
    session = PullSession(get_provider("lmstudio"), "http://x/v1", "x")
    with pytest.raises(ModelDownloadError) as caught:
        session.feed({"job_id": "j", "status": "failed", "message": "not enough disk space"})
    assert caught.value.server_message == "not enough disk space"
    assert '"status": "failed"' in (caught.value.body or "")
    with pytest.raises(ModelDownloadError) as caught:
        session.feed({"job_id": "j", "status": "failed"})
    assert caught.value.server_message == "failed"


def test_localai_job_status_says_its_message_or_completed() -> None:
    """``GET /models/jobs/<uuid>``: ``"message"`` says the phase; ``processed`` ends the job."""
    session = PullSession(get_provider("localai"), "http://h:8080/v1", "localai@phi-2")
    session.feed({"uuid": "1a2b", "status": "http://h:8080/models/jobs/1a2b"})
    running = session.feed({"error": None, "processed": False, "message": "processing"})
    assert (running.status, running.done) == ("processing", False)
    done = session.feed({"error": None, "processed": True})
    assert (done.status, done.done) == ("completed", True)


def router_only(body: Any) -> Any:
    """A llama.cpp router that answers its model list and 404s everything else, as the
    recorded one does for routes it lacks."""
    listing = json.dumps(body)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, content=listing, headers={"content-type": "application/json"})
        return httpx.Response(
            404, json={"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
        )

    return handler


def test_a_manager_made_without_a_provider_fingerprints_the_server() -> None:
    """The default provider is "auto": the recorded router list (``owned_by: llamacpp``)
    makes it llama.cpp, and its states are read."""
    http = httpx.Client(transport=httpx.MockTransport(router_only(router_list(LOADING, 3))))
    with ModelManager(base_url="http://127.0.0.1:8080/v1", http_client=http) as models:
        listed = models.list_models()
        assert models.profile.name == "llamacpp"
    assert ("smollm2-a", "loaded") in [(m.id, m.state) for m in listed]


def test_the_async_manager_made_without_a_provider_fingerprints_too() -> None:
    async def run() -> str:
        http = httpx.AsyncClient(transport=httpx.MockTransport(router_only(router_list(LOADING, 3))))
        async with AsyncModelManager(base_url="http://127.0.0.1:8080/v1", http_client=http) as models:
            await models.list_models()
            return models.profile.name

    assert asyncio.run(run()) == "llamacpp"


def test_closing_the_manager_leaves_a_shared_client_open(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    client = ChatClient(
        "lemonade", base_url=LEMONADE, http_client=httpx.Client(transport=httpx.MockTransport(Recorder({})))
    )
    monkeypatch.setattr(client, "close", lambda: closed.append("sync"))
    with ModelManager(client=client):
        pass
    aclient = AsyncChatClient(
        "lemonade", base_url=LEMONADE, http_client=httpx.AsyncClient(transport=httpx.MockTransport(Recorder({})))
    )

    async def aclose() -> None:
        closed.append("async")

    monkeypatch.setattr(aclient, "aclose", aclose)

    async def run() -> None:
        async with AsyncModelManager(client=aclient):
            pass

    asyncio.run(run())
    assert closed == []


def test_a_failed_localai_job_is_a_download_error_with_the_servers_reason() -> None:
    """``GET /models/jobs/<uuid>`` reports a failure in ``"error"`` (with ``"processed": true``):
    that is the download failing, so a ``ModelDownloadError``, not a server error."""
    session = PullSession(get_provider("localai"), "http://h:8080/v1", "localai@phi-2")
    session.feed({"uuid": "1a2b", "status": "http://h:8080/models/jobs/1a2b"})
    with pytest.raises(ModelDownloadError) as caught:
        session.feed({"error": "failed to download file: 404 Not Found", "processed": True, "message": "error"})
    assert caught.value.server_message == "failed to download file: 404 Not Found"
    assert "http://h:8080" in str(caught.value)
