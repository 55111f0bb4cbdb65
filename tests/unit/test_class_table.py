"""The per-server classes of both frameworks against the profile registry: one table, no
stray names, and no name that is a framework's own Ollama class."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.providers import get_provider, list_providers
from tests.providers_under_test import PAIRS

# Profiles reached through the generic classes (provider="..."), without classes of their own.
GENERIC_ONLY = {"llama-cpp-python", "koboldcpp-openai"}
# What langchain-ollama and llama-index's Ollama integrations call their classes.
FRAMEWORK_OLLAMA_NAMES = {"ChatOllama", "OllamaEmbeddings", "OllamaLLM", "Ollama", "OllamaEmbedding"}
DEPRECATED = [
    (lc.ChatOllama, lc.ChatOllamaOpenAI),
    (lc.OllamaEmbeddings, lc.OllamaOpenAIEmbeddings),
    (li.Ollama, li.OllamaOpenAI),
    (li.OllamaEmbedding, li.OllamaOpenAIEmbedding),
]


def test_every_profile_has_a_class_pair_or_is_reached_through_the_generic_ones() -> None:
    with_classes = {pair.provider for pair in PAIRS}
    assert {p.name for p in list_providers()} == with_classes | GENERIC_ONLY
    assert not with_classes & GENERIC_ONLY


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.provider != "openai-compatible"], ids=lambda p: p.provider)
def test_each_pair_is_its_profile(pair: Any) -> None:
    profile = get_provider(pair.provider)
    assert pair.langchain.model_fields["provider"].default == profile.name
    assert pair.llamaindex.model_fields["provider"].default == profile.name
    assert pair.env_prefix == profile.env_prefix
    assert lc.chat_model_class(profile.name) is pair.langchain


def test_exported_names_never_take_a_framework_ollama_class_name_except_deprecated_aliases() -> None:
    deprecated = {old.__name__ for old, _ in DEPRECATED}
    exported = set(lc.__all__) | set(li.__all__)
    assert exported & FRAMEWORK_OLLAMA_NAMES == deprecated


@pytest.mark.parametrize(("old", "new"), DEPRECATED, ids=lambda c: c.__name__)
def test_the_old_ollama_names_still_work_and_say_what_to_use(old: type[Any], new: type[Any]) -> None:
    with pytest.warns(DeprecationWarning, match=rf"{old.__name__} is deprecated: use {new.__name__}") as caught:
        instance = old()
    assert caught[0].filename == __file__  # the user's line
    assert isinstance(instance, new) and instance.provider == "ollama"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new()
