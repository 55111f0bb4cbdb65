"""The live tier (opt-in: ``ORBIT_LIVE=1``): start each real server this machine can run and
talk to it, in both frameworks. Servers whose requirements are missing are skipped with what
to install or set (see tests/live/servers.py and docs/recording.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from tests.live.servers import LaunchedServer, ServerUnavailable, running
from tests.targets import TARGETS, Target

pytestmark = pytest.mark.live

LIVE = [pytest.param(t, id=t.name) for t in TARGETS if t.launcher]


@pytest.fixture(scope="module", params=LIVE)
def live(request: pytest.FixtureRequest) -> Iterator[tuple[Target, LaunchedServer]]:
    target: Target = request.param
    try:
        with running(target.launcher or "") as server:
            yield target, server
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


def test_invoke_and_stream_both_frameworks(live: tuple[Target, LaunchedServer]) -> None:
    target, server = live
    chat = ChatOrbitLocal(
        provider=target.provider, base_url=server.base_url, model=target.chat_model, max_tokens=32, temperature=0
    )
    assert chat.invoke("Say hello.").text
    assert "".join(c.text for c in chat.stream("Say hello."))
    llm = OrbitLocal(
        provider=target.provider, base_url=server.base_url, model=target.chat_model, max_tokens=32, temperature=0
    )
    assert llm.complete("Say hello.").text
    assert "".join(r.delta or "" for r in llm.stream_complete("Say hello."))
