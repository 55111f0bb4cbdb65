"""Load: 200 concurrent streams through one async client against a real loopback server.

Bounded (200 streams of a few events, a 60 s ceiling) so it runs in CI; selected by
``pytest -k load``. Every stream must get its own words back (no cross-talk), and when the
client closes no connection, task or file descriptor is left behind.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from orbit_local.backends.client import AsyncChatClient
from orbit_local.facts.types import ChatRequest, Message
from tests.faults.server import fault_server

pytestmark = [pytest.mark.enable_socket, pytest.mark.reliability]
STREAMS = 200


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_load_200_concurrent_streams_without_cross_talk_or_leaks() -> None:
    with fault_server() as server:
        before = open_descriptors()

        async def run() -> tuple[list[str], int]:
            client = AsyncChatClient("openai-compatible", base_url=server.base_url("ok"), model="m", timeout=30.0)

            async def one(n: int) -> str:
                prompt = f"stream {n} says {n * 7} words"
                request = ChatRequest(model="m", messages=[Message(role="user", content=prompt)])
                return "".join([delta.text async for delta in client.stream(request)])

            try:
                texts = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(STREAMS))), timeout=60)
            finally:
                await client.aclose()
            await asyncio.sleep(0.05)  # closed streams' finalisers run (httpx's inner generators)
            leftover = len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
            return list(texts), leftover

        texts, leftover_tasks = asyncio.run(run())
        assert texts == [f"stream {n} says {n * 7} words " for n in range(STREAMS)]
        assert leftover_tasks == 0
        assert open_descriptors() <= before  # every connection closed with the client
        assert server.state.hits["ok"] == STREAMS
