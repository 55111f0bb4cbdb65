"""The fault suite: a real loopback server misbehaves in every way we know, one test a fault.

Each fault ends either with the right answer or with the documented typed error
(docs/reliability.md); nothing hangs and nothing is cut silently. Run with
``pytest -k fault``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts import errors as ol
from orbit_local.facts.types import ChatRequest, Message
from tests.faults.server import SHAPES, STATUSES, FaultServer, closed_port, fault_server

pytestmark = [pytest.mark.enable_socket, pytest.mark.reliability]
REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="say hello world")])


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with fault_server(pause=3.0) as running:
        yield running


def client(server: FaultServer, fault: str, **kwargs: Any) -> ChatClient:
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("max_retries", 0)
    return ChatClient("openai-compatible", base_url=server.base_url(fault), **kwargs)


def answer(server: FaultServer, fault: str, *, stream: bool, **kwargs: Any) -> str:
    chat = client(server, fault, **kwargs)
    try:
        if stream:
            return "".join(d.text for d in chat.stream(REQUEST))
        return chat.chat(REQUEST).text
    finally:
        chat.close()


def test_fault_connection_refused_is_server_not_running() -> None:
    started = time.monotonic()
    with pytest.raises(ol.ServerNotRunningError, match="no OpenAI-compatible server answered"):
        ChatClient("openai-compatible", base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0).chat(REQUEST)
    assert time.monotonic() - started < 1.0


def test_fault_connect_then_hang_times_out(server: FaultServer) -> None:
    with pytest.raises(ol.RequestTimeoutError):
        answer(server, "hang", stream=False, timeout=0.3)


def test_fault_503_then_ok_is_retried(server: FaultServer) -> None:
    assert answer(server, "busy_then_ok", stream=False, max_retries=3) == "say hello world"
    assert server.state.hits["busy_then_ok"] == 3


def test_fault_503_with_retry_after_waits_as_told(server: FaultServer) -> None:
    started = time.monotonic()
    assert answer(server, "busy_retry_after", stream=False, max_retries=2) == "say hello world"
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 (more than the 0.5 s back-off)


def test_fault_slow_first_byte_within_the_timeout_is_fine(server: FaultServer) -> None:
    assert answer(server, "slow_first_byte", stream=True, timeout=2.0) == "say hello world "


def test_fault_slow_first_byte_past_the_timeout_is_a_timeout(server: FaultServer) -> None:
    with pytest.raises(ol.RequestTimeoutError):
        answer(server, "slow_first_byte", stream=False, timeout=0.1)


def test_fault_stall_between_tokens_is_a_stream_timeout(server: FaultServer) -> None:
    with pytest.raises(ol.StreamTimeoutError, match="connection stayed open") as info:
        answer(server, "stall", stream=True, timeout=0.3)
    assert isinstance(info.value, ol.RequestTimeoutError)


def test_fault_keepalives_only_end_the_stream(server: FaultServer) -> None:
    with pytest.raises(ol.StreamTimeoutError, match="nothing but keep-alives"):
        answer(server, "keepalives", stream=True, timeout=0.5)


def test_fault_cut_mid_token_raises_and_keeps_nothing_as_complete(server: FaultServer) -> None:
    with pytest.raises(ol.StreamInterruptedError):
        answer(server, "cut_mid_token", stream=True)


def test_fault_cut_without_done_raises(server: FaultServer) -> None:
    with pytest.raises(ol.StreamInterruptedError, match="before the server said it was complete"):
        answer(server, "cut_without_done", stream=True)


def test_fault_malformed_sse_is_a_protocol_error(server: FaultServer) -> None:
    with pytest.raises(ol.ProtocolError, match="not JSON"):
        answer(server, "malformed_sse", stream=True)


def test_fault_invalid_json_is_a_protocol_error(server: FaultServer) -> None:
    with pytest.raises(ol.ProtocolError, match="did not answer JSON"):
        answer(server, "invalid_json", stream=False)


def test_fault_html_error_page_is_a_server_error_with_the_page(server: FaultServer) -> None:
    with pytest.raises(ol.ServerError) as info:
        answer(server, "html_error", stream=False)
    assert info.value.status_code == 502 and "502 Bad Gateway" in (info.value.body or "")


def test_fault_wrong_content_type_is_a_protocol_error(server: FaultServer) -> None:
    with pytest.raises(ol.ProtocolError):
        answer(server, "wrong_content_type", stream=False)
    with pytest.raises(ol.ProtocolError):
        answer(server, "wrong_content_type", stream=True)


def test_fault_huge_single_event_arrives_whole(server: FaultServer) -> None:
    assert answer(server, "huge_event", stream=True, timeout=5.0) == "x" * 2_000_000


def test_fault_slow_single_event_within_the_timeout_arrives_whole(server: FaultServer) -> None:
    # about 0.7 s of trickling bytes against a 2 s timeout: slow, but it ends in time
    assert answer(server, "slow_event", stream=True, timeout=2.0) == "y" * 300


def test_fault_an_event_that_never_ends_is_a_stream_timeout(server: FaultServer) -> None:
    # a byte every 50 ms, never a blank line: each gap is far inside the 0.3 s timeout, but
    # the event is not done 0.3 s after its first byte (growth alone is not progress)
    with pytest.raises(ol.StreamTimeoutError, match=r"kept arriving for more than 0\.3 s without ending") as info:
        answer(server, "trickle", stream=True, timeout=0.3)
    assert info.value.url and info.value.url.endswith("/trickle/v1/chat/completions")


def test_fault_error_frame_in_a_200_stream_is_typed(server: FaultServer) -> None:
    with pytest.raises(ol.ServerError, match="the model crashed"):
        answer(server, "error_frame", stream=True)


EXPECTED = {
    400: ol.BadRequestError, 401: ol.AuthenticationError, 404: ol.BadRequestError, 405: ol.BadRequestError,
    422: ol.BadRequestError, 500: ol.ServerError, 501: ol.UnsupportedFeatureError,
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("status", STATUSES)
def test_fault_status_in_each_servers_shape(server: FaultServer, status: int, shape: str) -> None:
    with pytest.raises(ol.OrbitLocalError) as info:
        answer(server, f"s{status}_{shape}", stream=False)
    error = info.value
    expected = EXPECTED[status]
    if shape == "fastchat":
        # FastChat's own error code decides, whatever the status (its protocol's ErrorCode):
        # the fault server sends 40302 (bad request) below 500 and 50001 (worker error) above.
        expected = ol.BadRequestError if status < 500 else ol.ServerError
    assert isinstance(error, expected), (status, shape, type(error).__name__)
    assert (
        error.status_code == status and error.method == "POST" and error.url and error.url.endswith("/chat/completions")
    )
    assert f"status {status} from the server" in str(error)


def test_fault_async_twin_types_the_same_faults(server: FaultServer) -> None:
    async def run(fault: str, **kwargs: Any) -> str:
        kwargs.setdefault("timeout", 1.0)
        chat = AsyncChatClient("openai-compatible", base_url=server.base_url(fault), max_retries=0, **kwargs)
        try:
            return "".join([d.text async for d in chat.stream(REQUEST)])
        finally:
            await chat.aclose()

    with pytest.raises(ol.StreamTimeoutError):
        asyncio.run(run("stall", timeout=0.3))
    with pytest.raises(ol.StreamInterruptedError):
        asyncio.run(run("cut_without_done"))
    with pytest.raises(ol.ServerError):
        asyncio.run(run("error_frame"))
    with pytest.raises(ol.StreamTimeoutError):
        asyncio.run(run("trickle", timeout=0.3))
    assert asyncio.run(run("slow_event", timeout=2.0)) == "y" * 300
