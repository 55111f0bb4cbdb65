"""Token counting: the request each server's tokenizer takes, caching, and honest estimates.

Endpoint shapes are from ../shared/providers and the servers' docs: vLLM ``POST /tokenize``
``{"model", "prompt"}`` -> ``{"count", "tokens"}``; Lemonade ``POST /api/v1/tokenize``
``{"model", "content"}`` -> ``{"tokens"}``; LocalAI ``POST /v1/tokenize``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.errors import UnsupportedFeatureError
from orbit_local.tokens import TokenCountEstimateWarning


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
