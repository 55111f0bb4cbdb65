"""Gaps the full mutation run over step 9 showed in the config modules (see
docs/dev/mutation.md): closing a model closes its connections
even while its client is still referenced, the alias limit is the caller's, a refused alias
is readable as a plain ``yaml.YAMLError``, a short wrong value is shown whole, a file that
nests too deeply is reported like every other file-level error, and a refused base URL is shown
with only its credentials masked, fixed with the server's own API path and traced to its
source."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.bounded_yaml import AliasExpansionError, safe_load_bounded
from orbit_local.config_file import ConfigError, load_config
from orbit_local.providers import get_provider
from orbit_local.urls import check_base_url
from tests.inference_files import _no_server_env, write  # noqa: F401  (an autouse fixture)

BASE = "http://127.0.0.1:8080/v1"
MODELS: list[Any] = [lc.ChatLlamaCpp, li.LlamaCpp, lc.LlamaCppEmbeddings, li.LlamaCppEmbedding]


# ------------------------------------------------------------------ closing
# A model's client lives on as long as anything holds it (a user keeping `model.client`, a
# traceback, a callback). Closing the model must close the pools then, not when the garbage
# collector gets to the client.
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_closing_a_model_closes_its_pool_even_while_its_client_is_still_held(cls: Any) -> None:
    with cls(base_url=BASE, model="m") as model:
        held = model.client
        pool: httpx.Client = held.transport.client
    assert pool.is_closed
    assert held is not None


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_aclose_closes_both_pools_at_once_even_while_the_clients_are_still_held(cls: Any) -> None:
    # Checked while the loop still runs: a server's loop lives on after a model is closed (an
    # async pool would also close itself when its loop shuts down, which hides a missed close).
    async def run() -> tuple[bool, bool]:
        model = cls(base_url=BASE, model="m")
        held = model.client, model.async_client
        sync_pool, async_pool = held[0].transport.client, held[1].transport.client  # built on first use
        await model.aclose()
        return sync_pool.is_closed, async_pool.is_closed

    assert asyncio.run(run()) == (True, True)


# ------------------------------------------------------------------ aliases
def test_the_alias_limit_is_the_callers() -> None:
    # `a` is 2 values (the list and its one item); each `*a` adds those 2 again: 4 in all.
    text = "a: &a [x]\nb: [*a, *a]\n"
    assert safe_load_bounded(text, limit=4) == {"a": ["x"], "b": [["x"], ["x"]]}
    with pytest.raises(AliasExpansionError, match="more than 3 values"):
        safe_load_bounded(text, limit=3)


def test_a_refused_alias_reads_like_any_yaml_error() -> None:
    # Callers catch yaml.YAMLError and print it; the text must be the problem, not "None".
    with pytest.raises(yaml.YAMLError) as info:
        safe_load_bounded("a: &a [*a]\n")
    assert str(info.value) == "an alias (*name) refers to the node that contains it"
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value) and copy.problem_mark.line == 0


# ------------------------------------------------------------- error texts
def test_a_refused_base_url_is_shown_with_only_its_credentials_masked() -> None:
    # `http://user:key@host` is shown as `http://***@host` (docs: still recognisably the URL).
    with pytest.raises(ValueError) as info:
        check_base_url("http://me:sk-123@box :8080/v1")
    message = str(info.value)
    assert "'http://***@box :8080/v1' has whitespace inside: write 'http://***@box:8080/v1'" in message
    assert "sk-123" not in message


def test_a_short_wrong_value_is_shown_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "lm_studio:\n  temperature: hot\n"))
    assert info.value.hint == "got 'hot'"  # no "..." after a value that fits


def test_a_document_nested_too_deep_is_reported_at_file_level_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: (file): nests too deeply to read")
    assert info.value.hint  # every file-level refusal says what to do


@pytest.mark.parametrize(
    ("provider", "written", "fix"),
    [
        ("lemonade", "localhost:13305", "http://localhost:13305/api/v1"),  # Lemonade serves /api/v1
        ("llamacpp", "box:8080", "http://box:8080/v1"),
        ("openai-compatible", "box:9000", "http://box:9000/v1"),  # no default URL: the usual /v1
    ],
)
def test_a_url_without_a_scheme_is_fixed_with_the_servers_own_api_path(provider: str, written: str, fix: str) -> None:
    with pytest.raises(ValueError, match=rf"has no scheme: write '{fix}' \(from base_url\)$"):
        get_provider(provider).resolve_base_url(written)


def test_a_bad_default_url_of_a_users_own_profile_is_named_as_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # The argument and <PREFIX>BASE_URL are named when they are wrong (test_config_inputs); a
    # profile made with with_overrides can bring a wrong default of its own.
    monkeypatch.delenv("SHIMMY_BASE_URL", raising=False)
    box = get_provider("shimmy").with_overrides(display_name="My box", default_base_url="box:9/v1")
    with pytest.raises(ValueError, match=r"^My box: base_url 'box:9/v1' has no scheme: .* \(from the default\)$"):
        box.resolve_base_url()
