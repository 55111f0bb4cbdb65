"""LlamaIndex ``llm.tokenizer(text)`` gives the server's own token ids, or refuses: never
placeholder ids (step 9)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import llamaindex_orbit_local as li
from orbit_local.facts.errors import UnsupportedFeatureError


class Tokenizer:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.path, json.loads(request.content) if request.content else {}))
        return httpx.Response(200, json=self.answer)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


def test_ids_come_from_the_server_tokenizer() -> None:
    server = Tokenizer({"tokens": [9906, 1917]})  # llama.cpp /tokenize answers {"tokens": [ids]}
    llm = li.LlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client())
    assert llm.tokenizer("Hello world") == [9906, 1917]
    assert server.seen == [("/tokenize", {"content": "Hello world"})]


def test_a_server_that_only_counts_refuses_ids() -> None:
    # An answer with a count and no ids (the profile's count_key; KoboldCpp answers
    # {"value": n, "ids": [...]}, providers/koboldcpp.md, so only the ids are left out here).
    server = Tokenizer({"value": 3})
    llm = li.KoboldAI(base_url="http://h:5001/v1", model="m", http_client=server.client())
    with pytest.raises(UnsupportedFeatureError, match="does not return their ids"):
        llm.tokenizer("Hello world")
    assert llm.count_tokens("Hello world") == 3


def test_a_server_without_a_tokenizer_refuses_ids() -> None:
    server = Tokenizer({})
    llm = li.LMStudio(base_url="http://h:1234/v1", model="m", http_client=server.client())
    with pytest.raises(UnsupportedFeatureError):
        llm.tokenizer("Hello world")
