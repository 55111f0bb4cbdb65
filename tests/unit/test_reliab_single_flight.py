"""Reliability: concurrent first calls without a model ask the server for its models once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from langchain_orbit_local import ChatLlamaCpp
from tests.fakes import FakeServer

pytestmark = pytest.mark.reliability

BASE = "http://127.0.0.1:5999/v1"


def model_lookups(server: FakeServer) -> int:
    return sum(1 for r in server.requests if r.url.path.endswith("/models"))


def slow_models(server: FakeServer) -> None:
    """The model list takes a while, as on a real server, so concurrent callers overlap."""
    plain = server.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            time.sleep(0.02)
        return plain(request)

    server.handler = handler  # type: ignore[method-assign]


def test_reliab_100_concurrent_async_first_calls_look_the_model_up_once() -> None:
    server = FakeServer()
    plain = server.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            await asyncio.sleep(0.02)  # yields: the other 99 first calls run meanwhile
        return plain(request)

    transport = httpx.MockTransport(handler)
    chat = ChatLlamaCpp(base_url=BASE, http_async_client=httpx.AsyncClient(transport=transport))

    async def run() -> list[str]:
        answers = await asyncio.gather(*(chat.ainvoke("hi") for _ in range(100)))
        return [a.text for a in answers]

    assert asyncio.run(run()) == ["Hello there."] * 100
    assert model_lookups(server) == 1


def test_reliab_threaded_first_calls_look_the_model_up_once() -> None:
    server = FakeServer()
    slow_models(server)
    chat = ChatLlamaCpp(base_url=BASE, http_client=server.client())
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: chat.invoke("hi").text, range(64)))
    assert answers == ["Hello there."] * 64
    assert model_lookups(server) == 1
