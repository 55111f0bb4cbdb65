"""The live tier (opt-in: ``ORBIT_LIVE=1``): start each real server this machine can run and
talk to it, in both frameworks. Servers whose requirements are missing are skipped with what
to install or set (see tests/live/servers.py and docs/recording.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from orbit_local.net.discovery import discover
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


# Which profile each server the harness can start needs: known from what is started.
LAUNCHED_PROFILES = {"llama-cpp-python": "llama-cpp-python", "fastchat": "fastchat", "koboldcpp": "koboldai", "llamacpp": "llamacpp"}


@pytest.mark.parametrize("launcher", sorted(LAUNCHED_PROFILES))
def test_discover_names_each_server_the_harness_starts(launcher: str) -> None:
    try:
        with running(launcher) as server:
            found = discover(urls=[server.base_url], timeout=5.0)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    assert [f.profile.name for f in found] == [LAUNCHED_PROFILES[launcher]]


def test_with_fallbacks_across_two_real_servers() -> None:
    """The first server is stopped (connection refused), the second answers."""
    from langchain_orbit_local import ChatOrbitLocal
    from orbit_local.facts.errors import ServerNotRunningError

    try:
        with running("koboldcpp") as first:
            down_url = first.base_url
        with running("llama-cpp-python") as second:
            primary = ChatOrbitLocal(provider="koboldai", base_url=down_url, max_tokens=16, max_retries=0)
            secondary = ChatOrbitLocal(base_url=second.base_url, model="smollm2", max_tokens=16, temperature=0)
            chain = primary.with_fallbacks([secondary], exceptions_to_handle=(ServerNotRunningError,))
            message = chain.invoke("Say hello.")
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    assert message.text
    assert message.response_metadata["model_provider"] == "llama-cpp-python"
