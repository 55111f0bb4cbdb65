"""One settings model for the four adapter bases: the same fields, checks and messages.

Bad values fail when the model is built (not at the first call), and the message says what
to write instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import ValidationError

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.providers import PROFILES, ProviderProfile, get_provider, list_providers, register
from orbit_local.features.settings import ChatSettings, ConnectionSettings, check_base_url

CHAT_CLASSES: list[type[Any]] = [lc.ChatOrbitLocal, lc.ChatLMStudio, li.OrbitLocal, li.LMStudio]
ALL_CLASSES: list[type[Any]] = [*CHAT_CLASSES, lc.OrbitLocalEmbeddings, li.OrbitLocalEmbedding]


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: f"{c.__module__.split('_')[0]}.{c.__name__}")
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("localhost:1234", "write 'http://localhost:1234/v1'"),
        ("http://", "has no host"),
        ("ftp://x", "http or https"),
        ("http://h:99999/v1", "bad port"),
    ],
)
def test_bad_base_urls_fail_at_construction_with_the_fix(cls: type[Any], value: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        cls(base_url=value)


def test_lemonade_suggestion_uses_its_api_prefix() -> None:
    with pytest.raises(ValidationError, match="write 'http://localhost:13305/api/v1'"):
        lc.ChatGaia(base_url="localhost:13305")


@pytest.mark.parametrize("cls", CHAT_CLASSES, ids=lambda c: f"{c.__module__.split('_')[0]}.{c.__name__}")
@pytest.mark.parametrize(
    ("field", "value"),
    [("max_retries", -1), ("max_tokens", -5), ("max_tokens", 0), ("timeout", 0), ("temperature", -0.1),
     ("top_p", 1.5), ("n", 0), ("top_logprobs", 21), ("presence_penalty", 3), ("warmup_timeout", -1)],
)  # fmt: skip
def test_numeric_ranges_are_checked(cls: type[Any], field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        cls(base_url="http://127.0.0.1:1/v1", **{field: value})


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"Known providers: .*lmstudio"):
        lc.ChatOrbitLocal(provider="lmstuido", base_url="http://127.0.0.1:1/v1")


def test_the_four_bases_share_one_declaration() -> None:
    for cls in (lc.BaseChatOrbitLocal, li.OrbitLocalLLM):
        assert issubclass(cls, ChatSettings)
    for cls in (lc.BaseOrbitLocalEmbeddings, li.OrbitLocalEmbedding):
        assert issubclass(cls, ConnectionSettings)
    own = {"temperature", "max_tokens", "n", "logprobs", "reasoning_effort", "user", "warmup_timeout"}
    for cls in (lc.BaseChatOrbitLocal, li.OrbitLocalLLM):
        assert own <= set(cls.model_fields)
        assert "temperature" not in inspect.get_annotations(cls)  # not redeclared


def test_good_values_pass_and_keep_aliases() -> None:
    model = lc.ChatLMStudio(model_name="m", stop_sequences=["x"], base_url="https://box:1234/v1", max_retries=0)
    assert (model.model, model.stop, model.base_url, model.max_retries) == ("m", ["x"], "https://box:1234/v1", 0)
    assert li.KoboldAI(rep_pen=1.2, extra_body={"a": 1}).extra_body == {"rep_pen": 1.2, "a": 1}


# --- base URL checks and the profile registry, as a user meets them -------------------------------
# A bad ``base_url`` fails when the model is built with the fix written out (module docstring of
# ``orbit_local.features.settings``); a server's address, key and model come from the argument, then
# ``<PREFIX>BASE_URL`` / ``API_KEY`` / ``MODEL``, never ``OPENAI_API_KEY`` (docs/configuration.md).
# Ports and prefixes are the servers' own (LM Studio 1234 under ``/v1``, Lemonade under ``/api/v1``).


@pytest.mark.parametrize(
    ("url", "prefix", "problem", "fix"),
    [
        ("localhost:1234", None, "has no scheme", "'http://localhost:1234/v1'"),  # /v1 unless told otherwise
        ("XPS-13:1234", "/v1", "has no scheme", "'http://XPS-13:1234/v1'"),  # the host as the user wrote it
        ("localhost:1234/v1/", "/v1", "has no scheme", "'http://localhost:1234/v1/'"),  # a path is kept
        ("//box:8080", "/v1", "has no scheme", "'http://box:8080/v1'"),
        ("localhost:13305", "/api/v1", "has no scheme", "'http://localhost:13305/api/v1'"),
        ("ftp://box:21/v1", "/v1", "uses 'ftp'", "http or https"),
        ("http://", "/v1", "has no host", "'http://localhost:8080/v1'"),
        ("http://box:99999/v1", "/v1", "has a bad port", "'http://localhost:8080/v1'"),
        ("http://box:port/v1", "/v1", "has a bad port", "'http://localhost:8080/v1'"),
    ],
)
def test_a_bad_base_url_says_what_to_write(url: str, prefix: str | None, problem: str, fix: str) -> None:
    with pytest.raises(ValueError) as info:
        check_base_url(url) if prefix is None else check_base_url(url, prefix)
    message = str(info.value)
    assert message.startswith(f"base_url {url!r} {problem}") and fix in message


@pytest.mark.parametrize(
    "url", ["http://localhost:1234/v1", "https://box/api/v1", "HTTP://box:8080", "http://[::1]:8000"]
)
def test_good_base_urls_pass_unchanged(url: str) -> None:
    assert check_base_url(url) == url


def test_no_base_url_is_none_and_the_class_uses_its_servers_prefix() -> None:
    assert check_base_url(None) is None and check_base_url("") is None
    with pytest.raises(ValueError, match="'http://localhost:13305/api/v1'"):
        lc.ChatGaia(base_url="localhost:13305")  # Lemonade's API lives under /api/v1


def test_only_the_optional_parameters_that_are_set_are_sent() -> None:
    settings = ChatSettings(n=2, logprobs=False, user="me", temperature=0.5)
    assert settings.optional_params() == {"n": 2, "logprobs": False, "user": "me"}  # False is a value, None is not
    assert ChatSettings().optional_params() == {}


def test_address_key_and_model_come_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    lmstudio = get_provider("lmstudio")
    for name in ("LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY", "LMSTUDIO_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")  # never read
    assert lmstudio.resolve_base_url() == "http://localhost:1234/v1"
    assert (lmstudio.resolve_api_key(), lmstudio.resolve_model()) == (None, None)
    monkeypatch.setenv("LMSTUDIO_BASE_URL", "http://env:1234/v1/")
    monkeypatch.setenv("LMSTUDIO_API_KEY", "sk-env")
    monkeypatch.setenv("LMSTUDIO_MODEL", "env-model")
    assert lmstudio.resolve_base_url() == "http://env:1234/v1"  # trailing slash dropped
    assert (lmstudio.resolve_api_key(), lmstudio.resolve_model()) == ("sk-env", "env-model")
    assert lmstudio.resolve_base_url(" http://box:1/v1/\n") == "http://box:1/v1"  # whitespace, then the slash
    assert lmstudio.resolve_api_key("sk-arg") == "sk-arg" and lmstudio.resolve_model("arg") == "arg"
    monkeypatch.setenv("LMSTUDIO_API_KEY", "")
    assert lmstudio.resolve_api_key() is None  # an empty variable is no key


def test_a_server_without_a_default_address_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBIT_LOCAL_BASE_URL", raising=False)
    generic = get_provider("openai-compatible")
    with pytest.raises(ValueError) as info:
        generic.resolve_base_url()
    assert "OpenAI-compatible server" in str(info.value) and "ORBIT_LOCAL_BASE_URL" in str(info.value)
    monkeypatch.setenv("ORBIT_LOCAL_BASE_URL", "http://box:9000/v1")
    assert generic.resolve_base_url() == "http://box:9000/v1"


def test_lookups_are_case_insensitive_and_unknown_names_list_the_known() -> None:
    assert get_provider("LM-Studio") is get_provider("lmstudio") is get_provider("LMSTUDIO")
    assert get_provider("Llama.CPP").name == "llamacpp"
    with pytest.raises(ValueError) as info:
        get_provider("lmstuido")
    message = str(info.value)
    assert "'lmstuido'" in message and "fastchat, gpt4all, koboldai" in message


def test_the_registry_lists_each_server_once_and_takes_new_ones() -> None:
    names = [p.name for p in list_providers()]
    assert len(names) == len(set(names)) and names[0] == "lmstudio"
    assert {"lmstudio", "localai", "fastchat", "gpt4all", "koboldai", "lemonade", "llamacpp", "vllm", "ollama"} <= set(
        names
    )
    shimmy = get_provider("shimmy")
    custom = shimmy.with_overrides(name="my-box", display_name="My box", aliases=("box9",))
    assert (custom.name, custom.display_name, custom.default_base_url) == ("my-box", "My box", shimmy.default_base_url)
    assert shimmy.name == "shimmy"  # the original is unchanged
    try:
        assert register(custom) is custom
        assert get_provider("my-box") is custom and get_provider("BOX9") is custom
        assert [p for p in list_providers() if p.name == "my-box"] == [custom]
        assert isinstance(get_provider(custom), ProviderProfile)
    finally:
        PROFILES.pop("my-box", None)
        PROFILES.pop("box9", None)
