"""KoboldCpp's native API: a consumer that stops reading a stream aborts the generation.

Replayed from a real KoboldCpp session (``make record PROVIDER=koboldcpp-abort``): the cassette
holds the ``/api/extra/abort`` request the client sent with the stream's genkey, and the test
fails if replay does not send it again.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatKoboldAI
from llamaindex_orbit_local import KoboldAI
from tests.targets import KOBOLD_ABORT

pytestmark = pytest.mark.vcr

STORY = "Write a very long story about a dragon who learns to cook."


@pytest.fixture
def base_url() -> str:
    if os.environ.get("ORBIT_RECORD_TARGET") != KOBOLD_ABORT.name and not KOBOLD_ABORT.recorded:
        pytest.skip("no cassettes yet: make record PROVIDER=koboldcpp-abort")
    return os.environ.get("ORBIT_RECORD_BASE_URL") or KOBOLD_ABORT.base_url


@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(KOBOLD_ABORT.cassette_dir)


def _aborts(cassette: object) -> list[dict[str, object]]:
    requests = getattr(cassette, "requests", [])
    return [json.loads(r.body) for r in requests if r.path.endswith("/api/extra/abort")]


def _stream_genkeys(cassette: object) -> list[str]:
    requests = getattr(cassette, "requests", [])
    return [json.loads(r.body)["genkey"] for r in requests if r.path.endswith("/api/extra/generate/stream")]


def _done(cassette: object) -> bool:
    """The abort went out: recorded (while recording) or replayed (all interactions played)."""
    if os.environ.get("ORBIT_RECORD_TARGET"):
        return bool(_aborts(cassette))
    return bool(cassette.all_played)  # type: ignore[attr-defined]


def _assert_replayed_whole(cassette: object) -> None:
    """In replay, every recorded request — the abort included — must have been sent again."""
    if os.environ.get("ORBIT_RECORD_TARGET"):
        return  # recording: the cassette is being written, nothing is played
    assert cassette.all_played  # type: ignore[attr-defined]


def test_langchain_early_stop_aborts_the_generation(base_url: str, vcr: object) -> None:
    model = ChatKoboldAI(base_url=base_url, max_tokens=400, temperature=0, seed=7)
    stream = model.stream(STORY)
    first = [next(stream).text for _ in range(2)]
    stream.close()
    assert "".join(first).strip()
    aborts = _aborts(vcr)
    assert len(aborts) == 1
    assert aborts[0]["genkey"] == _stream_genkeys(vcr)[0]  # the stream's own generation
    _assert_replayed_whole(vcr)


def test_llamaindex_cancelled_stream_aborts(base_url: str, vcr: object) -> None:
    llm = KoboldAI(base_url=base_url, max_tokens=400, temperature=0, seed=7)

    async def run() -> str:
        responses = await llm.astream_chat([ChatMessage(role=MessageRole.USER, content=STORY)])
        text = ""
        async for response in responses:
            text += response.delta or ""
            if len(text) > 10:
                break
        await responses.aclose()
        # LlamaIndex's callback wrapper does not close the generator it wraps; ours is closed
        # by the event loop's async-generator finalizer a moment later, and that sends the abort.
        deadline = asyncio.get_running_loop().time() + 10
        while not _done(vcr) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return text

    assert asyncio.run(run()).strip()
    assert len(_aborts(vcr)) == 1
    _assert_replayed_whole(vcr)
