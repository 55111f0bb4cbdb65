"""Model management against a real Lemonade Server, replayed (target ``models-lemonade``).

Recorded from ``lemond`` 11.7.0 (built by tests/live/lemonade_build.sh) started offline with
SmolLM2 as its one extra model and llama.cpp's CPU ``llama-server`` as backend; nothing loaded
when the recording starts. Expected values are Lemonade's behaviour as its source and API docs
describe it (``docs/api/lemonade.md``; ``server.cpp`` ``handle_load`` / ``handle_unload`` /
``handle_pull``) and as the recorded bytes show: ``/models`` lists the model with ``size`` in GiB
and no state, ``/health``'s ``all_models_loaded`` names what runs with its
``recipe_options.ctx_size``; ``/load`` answers once the model is ready; the unload of a model
that is not loaded is HTTP 404 ``{"error": "Model not loaded: <id>"}``; a pull while offline is
HTTP 400 ``{"code": "lemond_offline", ...}``; a chat loads the model by itself. Each test leaves
nothing loaded, as it found it.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from langchain_orbit_local import ChatGaia
from orbit_local.backends.client import ChatClient
from orbit_local.cli import main
from orbit_local.facts.errors import ModelDownloadError, ModelNotFoundError, ModelNotLoadedError
from orbit_local.facts.types import ChatRequest, GenerationParams, Message
from orbit_local.features.model_admin import AsyncModelManager, ModelManager
from tests.targets import Target, models_lemonade_targets, replay_params

pytestmark = pytest.mark.vcr

TARGETS = replay_params(models_lemonade_targets(), "Lemonade model-management")

MODEL = "SmolLM2-135M-Instruct.Q4_1"
NOT_DOWNLOADED = "Qwen3-0.6B-GGUF"  # in Lemonade's catalog, never downloaded here
SIZE = int(0.092 * 2**30)  # /models says "size": 0.092 (GiB); the file has 98,362,432 bytes


def hello() -> ChatRequest:
    return ChatRequest(
        model=MODEL,
        messages=[Message(role="user", content="Say hello.")],
        params=GenerationParams(max_tokens=8, temperature=0, seed=7),
    )


def listed(models: ModelManager) -> dict[str, Any]:
    return {info.id: info for info in models.list_models()}


def test_list_load_with_context_chat_unload_and_the_not_loaded_404(target: Target) -> None:
    with ModelManager(target.provider, base_url=target.base_url) as models:
        idle = listed(models)
        assert list(idle) == [MODEL]
        info = idle[MODEL]
        assert (info.state, info.loaded, info.size) == ("unloaded", False, SIZE)
        assert info.context_length == info.raw["max_context_window"] == 8192  # not loaded: the model's limit

        steps: list[Any] = []
        final = models.load(MODEL, context_length=2048, progress=steps.append)
        assert steps == [final] and final.done and final.status == "success"  # answered once loaded
        assert final.raw["model_name"] == MODEL and final.raw["recipe"] == "llamacpp"
        loaded = listed(models)[MODEL]
        assert (loaded.state, loaded.loaded, loaded.context_length) == ("loaded", True, 2048)  # /health's ctx_size

        with ChatClient(target.provider, base_url=target.base_url, max_retries=0) as client:
            assert client.chat(hello()).text.strip()

        final = models.unload(MODEL)
        assert final.done and final.status == "success" and final.raw["message"] == "Model unloaded successfully"
        assert listed(models)[MODEL].state == "unloaded"
        with pytest.raises(ModelNotLoadedError) as caught:
            models.unload(MODEL)
    error = caught.value
    assert error.status_code == 404 and error.server_message == f"Model not loaded: {MODEL}"
    assert "nothing to unload" in str(error) and "auto_load" not in str(error)  # an unload, not a chat


def test_load_of_an_unknown_model_is_model_not_found(target: Target) -> None:
    with ModelManager(target.provider, base_url=target.base_url) as models, pytest.raises(ModelNotFoundError) as caught:
        models.load("No-Such-Model-GGUF")
    error = caught.value
    assert error.status_code == 404 and not isinstance(error, ModelNotLoadedError)
    assert "No-Such-Model-GGUF" in (error.server_message or "")


def test_pull_while_offline_says_what_to_do(target: Target) -> None:
    with ModelManager(target.provider, base_url=target.base_url) as models, pytest.raises(ModelDownloadError) as caught:
        list(models.pull(NOT_DOWNLOADED))
    error = caught.value
    assert error.status_code == 400
    assert error.server_message == "Lemond is in offline mode, models not downloaded"
    assert "lemonade config set offline=false" in str(error) and "extra_models_dir" in str(error)


def test_the_async_twin_loads_unloads_and_refuses_the_same(target: Target) -> None:
    async def session() -> list[Any]:
        async with AsyncModelManager(target.provider, base_url=target.base_url) as models:
            loaded = await models.load(MODEL, context_length=2048)
            (info,) = await models.list_models()
            unloaded = await models.unload(MODEL)
            with pytest.raises(ModelDownloadError) as caught:
                [step async for step in models.pull(NOT_DOWNLOADED)]
        return [loaded.status, (info.state, info.context_length), unloaded.status, caught.value.status_code]

    assert asyncio.run(session()) == ["success", ("loaded", 2048), "success", 400]


def test_auto_load_is_left_to_the_server_which_loads_on_the_chat(target: Target, vcr: Any) -> None:
    """Lemonade loads a model a chat names by itself: ``auto_load`` has nothing to do, and no
    load request is sent; the model then runs with the context Lemonade chose (4096 here)."""
    chat = ChatGaia(base_url=target.base_url, model=MODEL, auto_load=True, max_tokens=8, temperature=0, seed=7,
                    max_retries=0)  # fmt: skip
    assert str(chat.invoke("Say hello.").content).strip()
    with ModelManager(target.provider, base_url=target.base_url) as models:
        loaded = listed(models)[MODEL]
        assert (loaded.state, loaded.context_length) == ("loaded", 4096)  # the context Lemonade chose
        models.unload(MODEL)
    sent = [f"{r.method} {r.path}" for r in vcr.requests]
    assert sent.count("POST /api/v1/chat/completions") == 1 and "POST /api/v1/load" not in sent
    assert sent[-1] == "POST /api/v1/unload"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_the_cli_lists_loads_unloads_and_refuses_as_json(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run("models", "list", "--server", target.base_url, "--json")  # found by detection
    assert code == 0
    (entry,) = json.loads(text)
    assert (entry["id"], entry["state"], entry["size"]) == (MODEL, "unloaded", SIZE)
    monkeypatch.setenv("LEMONADE_BASE_URL", target.base_url)
    code, text = run("models", "load", MODEL, "--server", "lemonade", "--context-length", "1024", "--json")
    assert code == 0 and json.loads(text) == {
        "model": MODEL, "operation": "load", "status": "success", "completed": None, "total": None, "done": True
    }  # fmt: skip
    code, text = run("models", "list", "--server", "lemonade", "--json")
    assert code == 0 and [(m["state"], m["context_length"]) for m in json.loads(text)] == [("loaded", 1024)]
    code, text = run("models", "unload", MODEL, "--server", "lemonade", "--json")
    assert code == 0 and json.loads(text)["status"] == "success"
    capsys.readouterr()
    assert run("models", "unload", MODEL, "--server", "lemonade", "--json")[0] == 2
    assert "nothing to unload" in capsys.readouterr().err
    assert run("models", "pull", NOT_DOWNLOADED, "--server", "lemonade", "--json")[0] == 2
    assert "lemonade config set offline=false" in capsys.readouterr().err
