"""Serialization round trips: LangChain ``dumps``/``loads`` and LlamaIndex ``to_json``/``to_dict``.

The key never appears in clear: LangChain writes it as the server's env var name (its
``lc_secrets``), LlamaIndex masks it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.load import dumps, loads

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.providers import get_provider
from tests.providers_under_test import PAIRS

KEY = "sk-local-123"


@pytest.mark.parametrize("pair", PAIRS, ids=[p.provider for p in PAIRS])
def test_langchain_dumps_then_loads_gives_the_same_model(pair: Any) -> None:
    kwargs: dict[str, Any] = {"api_key": KEY, "temperature": 0.3, "max_tokens": 64, "model_kwargs": {"mirostat": 5}}
    kwargs["base_url"] = "http://127.0.0.1:9999/v1"
    if pair.provider == "openai-compatible":
        kwargs["provider"] = "openai-compatible"
    model = pair.langchain(**kwargs)
    text = dumps(model)
    assert KEY not in text
    env_var = get_provider(pair.provider).env_api_key
    assert json.loads(text)["kwargs"]["api_key"] == {"lc": 1, "type": "secret", "id": [env_var]}
    back = loads(
        text,
        secrets_map={env_var: KEY},
        valid_namespaces=["langchain_orbit_local"],
        allowed_objects=[type(model)],
    )
    assert type(back) is type(model)
    assert back == model
    assert back.api_key is not None and back.api_key.get_secret_value() == KEY


def test_langchain_kobold_samplers_survive_the_round_trip() -> None:
    model = lc.ChatKoboldAI(top_k=7, rep_pen=1.1)
    back = loads(dumps(model), valid_namespaces=["langchain_orbit_local"], allowed_objects=[lc.ChatKoboldAI])
    assert back.extra_body == {"rep_pen": 1.1} == model.extra_body
    assert back.top_k == 7 == model.top_k  # a common sampler field: sent as the generate API's top_k


@pytest.mark.parametrize("pair", PAIRS, ids=[p.provider for p in PAIRS])
def test_llamaindex_to_json_masks_the_key_and_comes_back(pair: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = pair.llamaindex(api_key=KEY, temperature=0.3, base_url="http://127.0.0.1:9999/v1", additional_kwargs={"a": 1})
    as_dict = llm.to_dict()
    text = llm.to_json()
    assert KEY not in text and as_dict["api_key"] == "**********"
    assert as_dict["class_name"] == type(llm).class_name()
    env_var = get_provider(llm.provider_profile.name if pair.provider != "openai-compatible" else "openai-compatible")
    monkeypatch.setenv(env_var.env_api_key, "from-env")
    back = type(llm).from_json(text)
    assert (back.temperature, back.base_url, back.additional_kwargs) == (0.3, llm.base_url, {"a": 1})
    assert back.api_key is not None and back.api_key.get_secret_value() == "from-env"  # never the mask


def test_llamaindex_embeddings_to_dict_masks_the_key() -> None:
    embedding = li.LlamaCppEmbedding(api_key=KEY, model="e")
    assert embedding.to_dict()["api_key"] == "**********"
    assert KEY not in embedding.to_json()
