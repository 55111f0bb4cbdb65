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
from orbit_local.settings import ChatSettings, ConnectionSettings

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
