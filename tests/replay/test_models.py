"""Model management against a real llama.cpp router, replayed (``make record PROVIDER=models-llamacpp-router``).

The router (tests/live/servers.py ``llamacpp-router``) serves two copies of SmolLM2 from its
``--models-dir`` with ``--no-models-autoload`` and ``--models-max 1``. Expected values are the
router's documented behaviour (llama.cpp ``tools/server/README.md``, "Using multiple models",
and ``server-models.cpp``): every model is listed with ``status.value`` "unloaded" until loaded;
``POST /models/load`` answers ``{"success": true}`` before the model is ready, so the list is
asked until it says "loaded"; a request for a model that is not loaded is HTTP 400 "model is not
loaded" (``router_validate_model``). The first recording showed that ``/models/unload`` also
answers while the instance still stops (the list said "loaded" right after it): the unload is
now polled the same way. Each test leaves every model unloaded, as it found them.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from langchain_orbit_local import ChatLlamaCpp
from orbit_local.backends.client import ChatClient
from orbit_local.cli import main
from orbit_local.facts.errors import ModelNotLoadedError
from orbit_local.facts.types import ChatRequest, GenerationParams, Message
from orbit_local.features.model_admin import ModelManager
from tests.live.servers import ROUTER_MODELS
from tests.targets import Target, models_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in models_targets()]
if not TARGETS:
    TARGETS = [
        pytest.param(None, marks=pytest.mark.skip(reason="no model-management cassettes recorded yet"), id="none")
    ]

FIRST, SECOND = ROUTER_MODELS


@pytest.fixture(autouse=True)
def _no_polling_waits_in_replay(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replayed answers come at once: the half-second between two "is it loaded?" questions
    is only waited for while recording (the questions themselves are all replayed)."""
    if request.config.getoption("--record-mode", default="none") in ("none", None):
        monkeypatch.setattr("orbit_local.features.model_admin.time.sleep", lambda _: None)


def hello(model: str) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[Message(role="user", content="Say hello.")],
        params=GenerationParams(max_tokens=8, temperature=0, seed=7),
    )


def states(models: ModelManager) -> dict[str, str | None]:
    return {info.id: info.state for info in models.list_models()}


def test_list_load_chat_unload_and_the_unloaded_answer(target: Target) -> None:
    with ModelManager(target.provider, base_url=target.base_url) as models:
        assert states(models) == {FIRST: "unloaded", SECOND: "unloaded"}
        steps: list[Any] = []
        final = models.load(FIRST, progress=steps.append)
        assert steps[0].status == "success" and not steps[0].done  # answered before the model is ready
        assert final.done and final.status == "loaded" and steps[-1] is final
        assert {s.status for s in steps[1:-1]} <= {"loading"}
        loaded = {info.id: info for info in models.list_models()}
        assert (loaded[FIRST].state, loaded[FIRST].loaded) == ("loaded", True)
        assert loaded[FIRST].context_length == 2048  # the router's -c 2048, once an instance runs
        assert loaded[FIRST].size is not None and 90e6 < loaded[FIRST].size < 100e6  # SmolLM2 Q4_1: ~98 MB
        assert (loaded[SECOND].state, loaded[SECOND].context_length, loaded[SECOND].size) == ("unloaded", None, None)

        with ChatClient(target.provider, base_url=target.base_url, max_retries=0) as client:
            assert client.chat(hello(FIRST)).text.strip()
            steps = []
            final = models.unload(FIRST, progress=steps.append)
            assert steps[0].status == "success" and not steps[0].done  # answered while the instance still stops
            assert final.done and final.status == "unloaded" and steps[-1] is final
            assert states(models) == {FIRST: "unloaded", SECOND: "unloaded"}
            with pytest.raises(ModelNotLoadedError) as caught:
                client.chat(hello(FIRST))
    error = caught.value
    assert error.status_code == 400 and error.server_message == "model is not loaded"
    assert "auto_load=True" in str(error) and "orbit-local models load" in str(error)


def test_auto_load_loads_the_model_and_retries_once(target: Target, vcr: Any) -> None:
    chat = ChatLlamaCpp(base_url=target.base_url, model=SECOND, auto_load=True, max_tokens=8, temperature=0, seed=7,
                        max_retries=0)  # fmt: skip
    assert str(chat.invoke("Say hello.").content).strip()
    with ModelManager(target.provider, base_url=target.base_url) as models:
        models.unload(SECOND)
    sent = [f"{r.method} {r.path}" for r in vcr.requests]
    chats = [i for i, r in enumerate(sent) if r == "POST /v1/chat/completions"]
    assert len(chats) == 2  # the "not loaded" answer, then exactly one retry
    between = sent[chats[0] + 1 : chats[1]]
    assert between[0] == "POST /models/load" and set(between[1:]) == {"GET /v1/models"}
    assert sent[chats[1] + 1] == "POST /models/unload"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_the_cli_lists_loads_and_unloads_as_json(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = run("models", "list", "--server", target.base_url, "--json")
    assert code == 0
    listed = {m["id"]: m for m in json.loads(text)}
    assert {listed[m]["state"] for m in ROUTER_MODELS} == {"unloaded"}
    monkeypatch.setenv("LLAMACPP_BASE_URL", target.base_url)
    code, text = run("models", "load", FIRST, "--server", "llamacpp", "--json")
    assert code == 0 and json.loads(text) == {
        "model": FIRST, "operation": "load", "status": "loaded", "completed": None, "total": None, "done": True
    }  # fmt: skip
    code, text = run("models", "unload", FIRST, "--server", "llamacpp", "--json")
    assert code == 0 and json.loads(text)["status"] == "unloaded"
    assert run("models", "pull", FIRST, "--server", "llamacpp")[0] == 2  # refused: no request sent
