"""``with`` / ``async with`` close the connections a client or a model opened, and leave an
httpx client that the user passed in open (it is theirs)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.backends.client import AsyncChatClient, ChatClient

BASE = "http://127.0.0.1:8080/v1"
MODELS: list[Any] = [lc.ChatLlamaCpp, li.LlamaCpp, lc.LlamaCppEmbeddings, li.LlamaCppEmbedding]


def test_client_with_block_closes_its_own_pool_but_not_an_injected_one() -> None:
    with ChatClient("llamacpp", base_url=BASE) as client:
        pool = client.transport.client  # built on first use, owned by the client
    assert pool.is_closed
    injected = httpx.Client()
    with ChatClient("llamacpp", base_url=BASE, http_client=injected) as client:
        assert client.transport.client is injected
    assert not injected.is_closed
    injected.close()


def test_async_client_with_block_closes_its_pool() -> None:
    async def run() -> httpx.AsyncClient:
        async with AsyncChatClient("llamacpp", base_url=BASE) as client:
            return client.transport.client

    assert asyncio.run(run()).is_closed


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_model_with_block_closes_the_clients_it_built(cls: Any) -> None:
    with cls(base_url=BASE, model="m") as model:
        pool = model.client.transport.client
    assert pool.is_closed
    # Used again after the block, the model builds a fresh client instead of failing.
    assert not model.client.transport.client.is_closed
    model.close()


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_model_async_with_block_closes_both_clients(cls: Any) -> None:
    async def run() -> tuple[httpx.Client, httpx.AsyncClient]:
        async with cls(base_url=BASE, model="m") as model:
            return model.client.transport.client, model.async_client.transport.client

    sync_pool, async_pool = asyncio.run(run())
    assert sync_pool.is_closed and async_pool.is_closed


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_closing_a_model_that_never_connected_or_closing_twice_is_harmless(cls: Any) -> None:
    # `with Model(...) as m:` around code that never calls it, or close() in two cleanup paths.
    with cls(base_url=BASE, model="m"):
        pass
    model = cls(base_url=BASE, model="m")
    model.close()
    model.close()

    async def run() -> None:
        async with cls(base_url=BASE, model="m"):
            pass
        await model.aclose()
        await model.aclose()

    asyncio.run(run())


# --- closing a model while its client is still held ---------------------------------------------
# A model's client lives on as long as anything holds it (a user keeping `model.client`, a
# traceback, a callback). Closing the model must close the pools then, not when the garbage
# collector gets to the client.
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_closing_a_model_closes_its_pool_even_while_its_client_is_still_held(cls: Any) -> None:
    with cls(base_url=BASE, model="m") as model:
        held = model.client
        pool: httpx.Client = held.transport.client
    assert pool.is_closed
    assert held is not None


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_aclose_closes_both_pools_at_once_even_while_the_clients_are_still_held(cls: Any) -> None:
    # Checked while the loop still runs: a server's loop lives on after a model is closed (an
    # async pool would also close itself when its loop shuts down, which hides a missed close).
    async def run() -> tuple[bool, bool]:
        model = cls(base_url=BASE, model="m")
        held = model.client, model.async_client
        sync_pool, async_pool = held[0].transport.client, held[1].transport.client  # built on first use
        await model.aclose()
        return sync_pool.is_closed, async_pool.is_closed

    assert asyncio.run(run()) == (True, True)
