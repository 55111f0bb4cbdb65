"""Where a setting comes from: argument, then the server's variable, then the file, then the
default (docs/configuration.md's precedence table), the same for every caller."""

from __future__ import annotations

import pytest

from orbit_local.facts.environment import env_name, given, pick, sources, with_environment
from orbit_local.facts.providers import get_provider


def test_the_variables_are_the_prefix_and_the_setting() -> None:
    assert [env_name("LMSTUDIO_", s) for s in ("base_url", "api_key", "model")] == [
        "LMSTUDIO_BASE_URL",
        "LMSTUDIO_API_KEY",
        "LMSTUDIO_MODEL",
    ]
    assert get_provider("lmstudio").env_model == "LMSTUDIO_MODEL"


def test_the_order_is_argument_environment_file_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMSTUDIO_MODEL", "from-env")
    assert [where for where, _ in sources("LMSTUDIO_", "model", "arg", file="f", default="d")] == [
        "model",
        "LMSTUDIO_MODEL",
        "the config file",
        "the default",
    ]
    assert pick("LMSTUDIO_", "model", "arg", file="f", default="d") == "arg"
    assert pick("LMSTUDIO_", "model", None, file="f", default="d") == "from-env"
    monkeypatch.delenv("LMSTUDIO_MODEL")
    assert pick("LMSTUDIO_", "model", None, file="f", default="d") == "f"
    assert pick("LMSTUDIO_", "model", None, default="d") == "d"
    assert pick("LMSTUDIO_", "model") is None


@pytest.mark.parametrize("value", [None, "", "   ", "\n"])
def test_an_empty_value_counts_as_not_given(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMSTUDIO_API_KEY", "sk-env")
    assert not given(value)
    assert pick("LMSTUDIO_", "api_key", value) == "sk-env"


def test_openai_api_key_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.delenv("LMSTUDIO_API_KEY", raising=False)
    assert pick("LMSTUDIO_", "api_key") is None


def test_an_adapters_keywords_are_filled_where_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "http://env:1234/v1")
    monkeypatch.setenv("LMSTUDIO_API_KEY", "sk-env")
    monkeypatch.setenv("LMSTUDIO_MODEL", "env-model")
    assert with_environment("LMSTUDIO_", {"api_key": ""}) == {
        "base_url": "http://env:1234/v1",
        "api_key": "sk-env",
        "model": "env-model",
    }
    given_ = {"base_url": "http://arg/v1", "api_key": "sk-arg", "model_name": "arg-model"}
    assert with_environment("LMSTUDIO_", dict(given_), ("model", "model_name")) == given_
    # Without the alias among the model keys, model_name is not a model: the variable fills it.
    assert with_environment("LMSTUDIO_", dict(given_))["model"] == "env-model"
