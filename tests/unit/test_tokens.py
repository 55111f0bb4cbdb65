"""Token counting: the request each server's tokenizer takes, caching, and honest estimates.

Endpoint shapes are from ../shared/providers and the servers' docs: vLLM ``POST /tokenize``
``{"model", "prompt"}`` -> ``{"count", "tokens"}``; Lemonade ``POST /api/v1/tokenize``
``{"model", "content"}`` -> ``{"tokens"}``; LocalAI ``POST /v1/tokenize``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.backends.tokens import (
    TokenCountEstimateWarning,
    count_tokens,
    estimate,
    parse_tokens,
    token_ids,
    tokenize_request,
)
from orbit_local.facts.errors import ProtocolError, UnsupportedFeatureError
from orbit_local.facts.providers import get_provider


class Tokenizer:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.seen.append((request.url.path, body))
        return httpx.Response(200, json=self.answer)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


@pytest.mark.parametrize(
    ("cls", "base", "answer", "path", "body"),
    [
        (lc.ChatVLLM, "http://h:8000/v1", {"count": 2, "max_model_len": 4096, "tokens": [9, 8]}, "/tokenize",
         {"prompt": "Hello world", "model": "m"}),
        (lc.ChatGaia, "http://h:13305/api/v1", {"tokens": [9, 8]}, "/api/v1/tokenize",
         {"content": "Hello world", "model": "m"}),
        (lc.ChatLocalAI, "http://h:8080/v1", {"tokens": [9, 8]}, "/v1/tokenize", {"content": "Hello world", "model": "m"}),
    ],
)  # fmt: skip
def test_each_tokenizer_endpoint(cls: type[Any], base: str, answer: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    server = Tokenizer(answer)
    chat = cls(base_url=base, model="m", http_client=server.client())
    assert chat.get_token_ids("Hello world") == [9, 8]
    assert chat.get_num_tokens("Hello world") == 2
    assert server.seen == [(path, body)]  # the second call was answered from the cache


def test_servers_without_a_tokenizer_estimate_and_say_so() -> None:
    server = Tokenizer({})
    chat = lc.ChatLMStudio(base_url="http://h:1234/v1", model="m", http_client=server.client())
    with pytest.warns(TokenCountEstimateWarning, match="LM Studio has no tokenizer endpoint"):
        assert chat.get_num_tokens("x" * 40) == 10
    with pytest.raises(UnsupportedFeatureError, match="no tokenizer endpoint"):
        chat.get_token_ids("hello")
    llm = li.LMStudio(base_url="http://h:1234/v1", model="m", http_client=server.client())
    with pytest.warns(TokenCountEstimateWarning):
        assert llm.count_tokens("x" * 40) == 10
    with pytest.raises(UnsupportedFeatureError, match="no tokenizer endpoint"):
        llm.tokenizer("hello")  # ids are never made up (tests/unit/test_llamaindex_tokenizer.py)
    assert server.seen == []


def test_trim_messages_uses_the_server_count() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, trim_messages

    server = Tokenizer({"tokens": [1, 2, 3, 4, 5]})  # every text is 5 tokens on this server
    chat = lc.ChatLlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client())
    history = [HumanMessage("a"), AIMessage("b"), HumanMessage("c")]
    kept = trim_messages(history, max_tokens=10, token_counter=chat, strategy="last")
    assert [m.content for m in kept] == ["b", "c"]


# --- tokenizer requests and answers, with no I/O --------------------------------------------------
# Shapes from ../shared/providers: llama.cpp ``POST /tokenize {"content"}`` -> ``{"tokens"}``;
# llama-cpp-python ``POST /extras/tokenize {"input", "model"}``; KoboldCpp ``POST
# /api/extra/tokencount {"prompt"}`` -> ``{"value": N, "ids": [...]}`` (``{"value": -1}`` on error);
# vLLM ``POST /tokenize {"model", "prompt"}`` -> ``{"count", "tokens"}``.


@pytest.mark.parametrize(
    ("provider", "model", "path", "body", "from_root"),
    [
        ("llamacpp", "m", "/tokenize", {"content": "Hello"}, True),
        ("llama-cpp-python", "m", "/extras/tokenize", {"input": "Hello", "model": "m"}, True),
        ("llama-cpp-python", None, "/extras/tokenize", {"input": "Hello"}, True),
        ("koboldai", "m", "/api/extra/tokencount", {"prompt": "Hello"}, True),
        ("localai", "m", "/tokenize", {"content": "Hello", "model": "m"}, False),
    ],
)
def test_each_server_gets_its_own_tokenize_request(
    provider: str, model: str | None, path: str, body: dict, from_root: bool
) -> None:
    request = tokenize_request(get_provider(provider), "Hello", model)
    assert (request.method, request.path, request.json, request.from_root) == ("POST", path, body, from_root)


def test_a_server_without_a_tokenizer_says_so_and_points_at_estimates() -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        tokenize_request(get_provider("lmstudio"), "Hello", "m")
    assert caught.value.provider == "LM Studio"
    assert "no tokenizer endpoint" in caught.value.message
    assert caught.value.hint is not None and "estimated" in caught.value.hint


@pytest.mark.parametrize(
    ("provider", "answer", "ids", "count"),
    [
        ("llamacpp", {"tokens": [15043, 3186]}, [15043, 3186], 2),
        ("vllm", {"count": 2, "max_model_len": 4096, "tokens": [9, 8]}, [9, 8], 2),
        ("koboldai", {"value": 2, "ids": [1, 2]}, [1, 2], 2),
        ("koboldai", {"value": 3, "ids": [1, "x"]}, None, 3),  # ids unusable: the count still is
        ("koboldai", {"value": 0}, None, 0),
        ("koboldai", {"value": 5, "ids": [1, 2]}, [1, 2], 5),  # the server's own count wins
        ("koboldai", {"value": -1, "ids": [1, 2]}, [1, 2], 2),
    ],
)
def test_ids_and_count_from_each_answer(provider: str, answer: dict, ids: list[int] | None, count: int) -> None:
    assert parse_tokens(get_provider(provider), answer) == (ids, count)


@pytest.mark.parametrize(
    ("provider", "answer"),
    [("koboldai", {"value": -1}), ("koboldai", {"value": "3"}), ("llamacpp", {"error": "x"}), ("llamacpp", [1, 2])],
)
def test_an_answer_without_ids_or_count_is_a_protocol_error_naming_the_server(provider: str, answer: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_tokens(get_provider(provider), answer)
    assert caught.value.provider == get_provider(provider).display_name
    if isinstance(answer, dict):
        assert str(answer) in caught.value.message  # the answer is shown
    else:
        assert "JSON object" in caught.value.message


def test_an_answer_from_a_server_without_a_tokenizer_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_tokens(get_provider("lmstudio"), {"tokens": [1]})


def test_estimates_are_rough_but_never_zero_for_text() -> None:
    assert estimate("") == 0
    assert estimate("a") == 1
    assert estimate("x" * 40) == 10  # the documented four characters a token
    assert estimate("x" * 41) == 11  # rounded up: an estimate must not undercount


class Counting:
    def __init__(self, answer: tuple[list[int] | None, int] | None, name: str = "KoboldAI") -> None:
        self.answer = answer
        self.profile = get_provider(name)
        self.models: list[str | None] = []

    def tokenize(self, text: str, model: str | None) -> tuple[list[int] | None, int]:
        self.models.append(model)
        if self.answer is None:
            raise UnsupportedFeatureError("no tokenizer endpoint")
        return self.answer


def test_count_uses_the_server_and_falls_back_to_a_named_estimate() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert count_tokens(Counting(([1, 2, 3], 3)), "Hello", None) == 3
    with pytest.warns(TokenCountEstimateWarning, match=r"^LM Studio has no tokenizer endpoint.*4 characters"):
        assert count_tokens(Counting(None, "lmstudio"), "x" * 8, None) == 2


def test_the_model_is_passed_to_the_tokenizer() -> None:
    # vLLM, LocalAI and llama-cpp-python tokenize with the named model
    server = Counting(([7, 8], 2), "vllm")
    assert count_tokens(server, "Hello", "qwen") == 2
    assert token_ids(server, "Hello", "qwen") == [7, 8]
    assert server.models == ["qwen", "qwen"]


def test_ids_come_only_from_the_server() -> None:
    assert token_ids(Counting(([7, 8], 2)), "Hello", None) == [7, 8]
    with pytest.raises(UnsupportedFeatureError) as caught:
        token_ids(Counting((None, 2)), "Hello", None)
    assert caught.value.provider == "KoboldAI" and "ids" in caught.value.message
    assert caught.value.hint is not None and "get_num_tokens" in caught.value.hint
    with pytest.raises(UnsupportedFeatureError, match="no tokenizer endpoint"):
        token_ids(Counting(None, "lmstudio"), "Hello", None)  # ids cannot be estimated
