"""The model-fallback warning (OpenAIProtocol._warn_if_fallback) fires only where it is true:
on a server whose profile says it serves its default model for a name it does not know
(GPT4All, recorded: tests/replay/test_gpt4all_desktop.py), when the answer names another
model than the one asked for.

Elsewhere a different name in ``model`` is normal (Lemonade names the model file, LM Studio
an instance), and a warning there would be noise on every call.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.params import ModelFallbackWarning
from orbit_local.providers import get_provider
from orbit_local.types import ChatRequest, Message
from tests.fakes import completion

URL = "http://127.0.0.1:4891/v1"
ASKED = "Llama 3.2 1B Instruct"


def _answer(**changes: Any) -> dict[str, Any]:
    payload = completion("Hi.")
    payload.update(changes)
    return payload


def _request(model: str = ASKED) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content="Hi")])


def _no_fallback_warning(provider: str, payload: dict[str, Any], request: ChatRequest | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFallbackWarning)
        result = OpenAIProtocol(get_provider(provider), URL).parse_chat(payload, request)
    assert result.text == "Hi."


def test_the_model_asked_for_answering_is_no_fallback() -> None:
    _no_fallback_warning("gpt4all", _answer(model=ASKED), _request())


def test_no_model_asked_for_means_nothing_to_compare() -> None:
    _no_fallback_warning("gpt4all", _answer(model=ASKED), _request(model=""))


def test_an_answer_that_names_no_model_or_no_request_is_no_fallback() -> None:
    without_model = _answer()
    del without_model["model"]
    _no_fallback_warning("gpt4all", without_model, _request())
    _no_fallback_warning("gpt4all", _answer(model="other"), None)  # parsed without its request


def test_servers_that_do_not_fall_back_are_not_warned_about_another_name() -> None:
    _no_fallback_warning("lmstudio", _answer(model="qwen2.5-7b-instruct:2"), _request("qwen2.5-7b-instruct"))
    _no_fallback_warning("lemonade", _answer(model="Qwen3-0.6B-GGUF"), _request("qwen3"))


def test_gpt4all_answering_with_another_model_is_warned_about() -> None:
    with pytest.warns(ModelFallbackWarning, match="not the requested 'no-such-model'"):
        OpenAIProtocol(get_provider("gpt4all"), URL).parse_chat(_answer(model=ASKED), _request("no-such-model"))
