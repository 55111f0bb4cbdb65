"""A server that cannot stream gets one request, prepared once: the emulated stream and
``chat()`` share one answer step, so setup and its warnings run once per call (they ran twice).

GPT4All's API server cannot stream (``"stream": true`` → 400, providers/gpt4all.md), so every
stream to it is one non-streamed answer emulated as a stream.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient, ContextOverflowWarning
from orbit_local.facts.types import ChatRequest, GenerationParams, Message
from tests.fakes import FakeServer, chat_bodies

BASE = "http://127.0.0.1:4891/v1"
LONG = ChatRequest(
    model="m", messages=[Message(role="user", content="word " * 400)], params=GenerationParams(max_tokens=8)
)


def overflow_warnings(caught: list[warnings.WarningMessage]) -> int:
    return sum(1 for w in caught if issubclass(w.category, ContextOverflowWarning))


def test_a_sync_emulated_stream_prepares_once(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer()
    client = ChatClient("gpt4all", base_url=BASE, http_client=server.client())
    client._context_window = 64  # as if the server had told it
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, "orbit_local"):
        warnings.simplefilter("always")
        text = "".join(d.text for d in client.stream(LONG))
    assert text == "Hello there."
    assert overflow_warnings(caught) == 1
    assert sum("context window is 64" in r.getMessage() for r in caplog.records) == 1
    (body,) = chat_bodies(server)
    assert "stream" not in body


def test_an_async_emulated_stream_prepares_once() -> None:
    server = FakeServer()

    async def run() -> int:
        client = AsyncChatClient("gpt4all", base_url=BASE, http_client=server.async_client())
        client._context_window = 64
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async for _ in client.stream(LONG):
                pass
        await client.aclose()
        return overflow_warnings(caught)

    assert asyncio.run(run()) == 1
    assert len(chat_bodies(server)) == 1
