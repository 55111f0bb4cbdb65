"""Detection against a real loopback server whose probe routes hang.

Some servers and proxies accept a connection on routes they do not serve and never answer.
With a named provider, a server error must arrive without the hint's probes being waited out;
under auto-detection, the probes together cost one bounded round, not eight probe timeouts.
The client's ``timeout`` is 60 s and each hanging route would hold a probe for 30 s, so an
answer inside the test's 12 s bound means nothing was waited out (the bound is the test's, not
a claim about speed: the budgets it checks are 0.5 s and 4 s).
"""

from __future__ import annotations

import asyncio
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import OrbitLocalError, RequestTimeoutError, ServerError
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.net import discovery

pytestmark = [pytest.mark.enable_socket, pytest.mark.reliability]
REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
# llama-cpp-python's answer to a json_schema it cannot compile (REAL_SERVERS.md, detect cassettes)
SCHEMA_500 = b'{"error": {"code": 500, "message": "Unsupported JSON schema", "type": "server_error"}}'
BOUND = 12.0


class _Handler(socketserver.BaseRequestHandler):
    server: _HangingServer

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = self.request.recv(65536)
            if not piece:
                return
            data += piece
        method = data.split(b" ", 1)[0]
        with self.server.lock:
            self.server.seen.append(method.decode())
        if method == b"POST":
            head = f"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {len(SCHEMA_500)}\r\nConnection: close\r\n\r\n"
            self.request.sendall(head.encode() + SCHEMA_500)
            return
        self.server.release.wait(30.0)  # every GET (every probe route) hangs


class _HangingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.seen: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def hanging() -> Iterator[_HangingServer]:
    discovery.forget()
    server = _HangingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def within_bound(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` on a thread; the error it raised, or fail when it outlives the bound."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # handed to the test
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND)
    assert not worker.is_alive(), f"still waiting after {BOUND} s: the probe timeouts were waited out"
    return outcome[0]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_error_is_not_held_up_by_hint_probes_that_hang(hanging: _HangingServer, kind: str) -> None:
    def call() -> None:
        if kind == "sync":
            ChatClient("openai-compatible", base_url=hanging.base_url, timeout=60.0, max_retries=0).chat(REQUEST)
        else:
            client = AsyncChatClient("openai-compatible", base_url=hanging.base_url, timeout=60.0, max_retries=0)
            asyncio.run(client.chat(REQUEST))

    error = within_bound(call)
    assert isinstance(error, ServerError) and error.status_code == 500
    assert "looks like" not in (error.hint or "")  # nothing answered the probes: no hint
    assert hanging.seen[0] == "POST" and "GET" in hanging.seen  # the hint did probe, briefly


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_auto_detection_on_a_server_that_hangs_costs_one_bounded_round(hanging: _HangingServer, kind: str) -> None:
    def call() -> None:
        if kind == "sync":
            ChatClient("auto", base_url=hanging.base_url, timeout=60.0, max_retries=0).chat(REQUEST)
        else:
            asyncio.run(AsyncChatClient("auto", base_url=hanging.base_url, timeout=60.0, max_retries=0).chat(REQUEST))

    error = within_bound(call)
    assert isinstance(error, RequestTimeoutError), error
    assert "accepted connections but answered none of the detection probes" in error.message
    assert "POST" not in hanging.seen  # nothing was sent with a profile that was never found


def test_a_burst_of_errors_probes_once(hanging: _HangingServer) -> None:
    """The hint's miss is remembered for a few seconds: ten errors, one round of probes."""
    client = ChatClient("openai-compatible", base_url=hanging.base_url, timeout=60.0, max_retries=0)

    def burst() -> None:
        for _ in range(10):
            with pytest.raises(OrbitLocalError):
                client.chat(REQUEST)

    assert within_bound(burst) is None
    assert hanging.seen.count("POST") == 10
    assert hanging.seen.count("GET") <= len(discovery.PROBES)
