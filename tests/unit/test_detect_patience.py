"""How long auto-detection waits, and for what.

A probe never waits longer than the client's ``timeout``; one round of probes is bounded as a
whole (not eight probe timeouts in a row); a server that is starting (refusing connections, or
answering 503 "Loading model" as llama.cpp does, providers/llamacpp.md) is waited for by the
client's own retry policy, as a request is; a failure is remembered for a few seconds only.

No test here sleeps: the detection's clock is a fake that the fake transport advances by the
timeout each probe was given, so "waited" is counted, not timed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from langchain_orbit_local import ChatOrbitLocal
from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts.errors import OrbitLocalError, RequestTimeoutError, ServerBusyError, ServerNotRunningError
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.net import discovery, retry
from tests.fakes import completion

BASE = "http://127.0.0.1:8000/v1"
REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])
# llama-cpp-python once it listens (detect-llama-cpp-python cassettes): /v1/models owned_by "me"
MODELS = {"object": "list", "data": [{"id": "smollm2", "object": "model", "owned_by": "me"}]}
# llama.cpp while it loads the model (providers/llamacpp.md)
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


class Clock:
    """Stands in for the ``time`` module inside :mod:`orbit_local.net.discovery`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(discovery, "time", fake, raising=False)  # (absent before detection waited)
    monkeypatch.setattr(retry, "time", fake)  # the policy's windows run on the same clock

    async def no_wait(seconds: float) -> None:
        fake.sleep(seconds)

    monkeypatch.setattr(discovery.asyncio, "sleep", no_wait)
    return fake


class Server:
    """A fake llama-cpp-python at ``BASE`` whose probe answers a script decides."""

    def __init__(self, clock: Clock, probe: Callable[[httpx.Request, int], httpx.Response | None]) -> None:
        self.clock = clock
        self.probe = probe
        self.requests: list[httpx.Request] = []
        self.rounds = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            return httpx.Response(200, json=completion())
        if request.url.path == "/api/extra/version":  # the first probe of a round
            self.rounds += 1
        answer = self.probe(request, self.rounds)
        if answer is not None:
            return answer
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        return httpx.Response(404, json={"detail": "Not Found"})

    def probes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "GET"]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def hang(clock: Clock) -> Callable[[httpx.Request, int], httpx.Response | None]:
    """Every probe route hangs: the probe waits out the timeout it was given."""

    def answer(request: httpx.Request, round_: int) -> httpx.Response | None:
        clock.now += request.extensions["timeout"]["read"]
        raise httpx.ReadTimeout("timed out", request=request)

    return answer


def chat(kind: str, server: Server, **kwargs: Any) -> Any:
    if kind == "sync":
        client: Any = ChatClient("auto", base_url=BASE, http_client=server.client(), **kwargs)
        return client.chat(REQUEST)
    client = AsyncChatClient("auto", base_url=BASE, http_client=server.async_client(), **kwargs)
    return asyncio.run(client.chat(REQUEST))


@pytest.fixture(autouse=True)
def _fresh() -> None:
    discovery.forget()


# --- bounded by the user's timeout ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_probe_waits_longer_than_the_clients_timeout(kind: str, clock: Clock) -> None:
    server = Server(clock, lambda request, round_: None)
    chat(kind, server, timeout=0.3)
    assert {r.extensions["timeout"]["read"] for r in server.probes()} == {0.3}
    server = Server(clock, lambda request, round_: None)
    discovery.forget()
    chat(kind, server, timeout=600.0)  # a long request timeout does not make probes patient
    assert max(r.extensions["timeout"]["read"] for r in server.probes()) <= discovery.DETECT_TIMEOUT


def test_a_server_that_hangs_on_every_probe_costs_one_budget_not_eight_timeouts(clock: Clock) -> None:
    server = Server(clock, hang(clock))
    started = clock.now
    with pytest.raises(RequestTimeoutError) as info:
        chat("sync", server, timeout=120.0, max_retries=0)
    assert clock.now - started <= discovery.DETECT_BUDGET  # in turn, but within one round's budget
    assert len(server.probes()) < len(discovery.PROBES)  # the budget was spent before the last probe
    assert "accepted connections but answered none of the detection probes" in info.value.message
    assert "provider=" in (info.value.hint or "")  # naming the server skips detection


def test_the_async_round_waits_one_probe_timeout_at_most(clock: Clock) -> None:
    server = Server(clock, lambda request, round_: None)
    chat("async", server, timeout=120.0)
    assert len(server.probes()) == len(discovery.PROBES)  # together, each bounded
    assert {r.extensions["timeout"]["read"] for r in server.probes()} == {discovery.DETECT_TIMEOUT}


# --- warm-up: a server that is starting is waited for ------------------------------------------


def refuse_until(round_: int) -> Callable[[httpx.Request, int], httpx.Response | None]:
    def answer(request: httpx.Request, now: int) -> httpx.Response | None:
        if now < round_:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return None

    return answer


def loading_until(round_: int) -> Callable[[httpx.Request, int], httpx.Response | None]:
    def answer(request: httpx.Request, now: int) -> httpx.Response | None:
        return httpx.Response(503, json=LOADING) if now < round_ else None

    return answer


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("starting", [refuse_until, loading_until], ids=["refusing", "loading"])
def test_a_server_that_is_starting_is_waited_for(kind: str, starting: Any, clock: Clock) -> None:
    server = Server(clock, starting(4))
    result = chat(kind, server, max_retries=5, startup_timeout=30)
    assert result.text == "Hello there."
    assert server.rounds == 4 and len(clock.slept) == 3  # three waits, by the retry policy's back-off
    assert clock.slept == sorted(clock.slept) and clock.slept[0] > 0


def test_a_new_user_with_the_default_class_waits_for_llama_cpp_python_to_start(clock: Clock) -> None:
    """The report: ``ChatOrbitLocal(base_url=...)`` gave up on a llama-cpp-python still loading
    its model (the port refuses until then), where ``provider=`` named waited and answered.
    Detection now waits as a named provider's request does: for ``startup_timeout``."""
    server = Server(clock, refuse_until(5))  # refuses for 0.5 + 1 + 2 + 4 = 7.5 s of back-off
    chat_model = ChatOrbitLocal(base_url=BASE, model="m", http_client=server.client(), startup_timeout=30)
    assert chat_model.invoke("hi").text == "Hello there."
    assert chat_model.provider_profile.name == "llama-cpp-python"
    assert sum(clock.slept) == pytest.approx(7.5)


def test_with_the_defaults_detection_gives_up_on_a_refusing_port_as_a_named_provider_does(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listening is reported after ``startup_timeout`` (2 s), whether the provider is
    named or detected, and the error says how to wait longer."""
    from orbit_local.net import transport

    monkeypatch.setattr(transport, "time", clock)  # a named provider's request sleeps there

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    waited = []
    for provider in ("auto", "llama-cpp-python"):
        discovery.forget()
        start = clock.now
        http = httpx.Client(transport=httpx.MockTransport(refuse))
        client = ChatClient(provider, base_url=BASE, http_client=http)
        with pytest.raises(ServerNotRunningError) as info:
            client.chat(REQUEST)
        assert "startup_timeout" in str(info.value)
        waited.append(clock.now - start)
    assert waited[0] == pytest.approx(2.0) and waited[0] == pytest.approx(waited[1])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_retry_policy_ends_the_wait(kind: str, clock: Clock) -> None:
    server = Server(clock, loading_until(99))
    with pytest.raises(ServerBusyError) as info:
        chat(kind, server, max_retries=2)
    assert server.rounds == 3 and len(clock.slept) == 2
    assert "still starting" in info.value.message and "503" in info.value.message
    server = Server(clock, refuse_until(99))
    discovery.forget()
    with pytest.raises(ServerNotRunningError):
        chat(kind, server, max_retries=0)
    assert server.rounds == 1 and len(clock.slept) == 2  # max_retries=0: one round, no wait


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_detection_waits_as_long_as_a_loading_servers_retry_after_asks(
    kind: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/reliability.md: a 503 with ``Retry-After: N`` is retried after at least N seconds,
    not after the 0.5 s back-off; detection waits for a starting server as a request does."""

    def answer(request: httpx.Request, round_: int) -> httpx.Response | None:
        if round_ < 2:
            return httpx.Response(503, json=LOADING, headers={"Retry-After": "3"})
        return None

    server = Server(clock, answer)
    caplog.set_level(logging.INFO, logger="orbit_local")
    assert chat(kind, server, max_retries=5).text == "Hello there."
    assert server.rounds == 2 and clock.slept == [3.0]
    # the wait is logged: where, why (the miss's own message), how long, and how much window is left
    (line,) = [r.getMessage() for r in caplog.records if "probing again" in r.getMessage()]
    assert f"auto-detection at {BASE}" in line and "still starting" in line and "in 3.0 s" in line
    assert "s of the warm-up window left" in line


def test_a_retry_after_of_zero_leaves_the_back_off_as_it_is(clock: Clock) -> None:
    """``Retry-After: 0`` asks for no extra wait: the first back-off (0.5 s) applies."""

    def answer(request: httpx.Request, round_: int) -> httpx.Response | None:
        return httpx.Response(503, json=LOADING, headers={"Retry-After": "0"}) if round_ < 2 else None

    server = Server(clock, answer)
    assert chat("sync", server, max_retries=5).text == "Hello there."
    assert clock.slept == [0.5]


# --- failures are remembered briefly -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_failure_is_remembered_for_a_few_seconds_only(kind: str, clock: Clock) -> None:
    server = Server(clock, refuse_until(2))
    for _ in range(3):  # a burst of calls: one probe round, not three
        with pytest.raises(ServerNotRunningError):
            chat(kind, server, max_retries=0)
    assert server.rounds == 1
    clock.now += discovery.MISS_TTL  # the server has started since
    assert chat(kind, server, max_retries=0).text == "Hello there."
    assert server.rounds == 2


def test_a_hurried_failure_does_not_answer_a_patient_caller(clock: Clock) -> None:
    """A miss seen by a hint's short probes (or without warm-up waits) is no answer for a
    detection that may wait longer."""
    server = Server(clock, refuse_until(2))
    assert discovery.identify(BASE, client=server.client(), timeout=0.2) is None
    assert chat("sync", server, max_retries=3).text == "Hello there."
    assert server.rounds == 2
    discovery.forget()
    server = Server(clock, hang(clock))
    with pytest.raises(RequestTimeoutError):
        chat("sync", server, timeout=0.3, max_retries=0)  # each probe could wait 0.3 s only
    with pytest.raises(RequestTimeoutError):
        chat("sync", server, timeout=120.0, max_retries=0)
    assert server.rounds == 2  # the patient caller probed again


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_failure_found_without_waiting_does_not_answer_a_caller_who_waits(kind: str, clock: Clock) -> None:
    """``identify`` probes once, without the warm-up waits; a client with a retry policy that
    comes next (as patient per probe) must still wait for the server, not reuse that miss."""
    server = Server(clock, refuse_until(2))
    if kind == "sync":
        found = discovery.identify(BASE, client=server.client(), timeout=discovery.DETECT_TIMEOUT)
    else:
        found = asyncio.run(discovery.aidentify(BASE, client=server.async_client(), timeout=discovery.DETECT_TIMEOUT))
    assert found is None and server.rounds == 1
    assert chat(kind, server, max_retries=3).text == "Hello there."
    assert server.rounds == 2


# --- the probes behind a hint ---------------------------------------------------------------------


SCHEMA_500 = {"error": {"code": 500, "message": "Unsupported JSON schema", "type": "server_error"}}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_probes_behind_a_hint_share_one_short_budget(kind: str, clock: Clock) -> None:
    """With a named profile a server error may get a hint from probes, but all of them together
    take at most ``HINT_BUDGET`` however long the client's ``timeout`` is, and they are not
    retried: the error is what the caller waits for."""
    server = Server(clock, hang(clock))
    posts = Server.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            server.requests.append(request)
            return httpx.Response(500, json=SCHEMA_500)
        return posts(server, request)

    started = clock.now
    options: dict[str, Any] = {"base_url": BASE, "timeout": 120.0, "max_retries": 3}
    with pytest.raises(OrbitLocalError) as info:
        if kind == "sync":
            ChatClient("openai-compatible", http_client=httpx.Client(transport=httpx.MockTransport(handle)),
                       **options).chat(REQUEST)  # fmt: skip
        else:
            client = AsyncChatClient(
                "openai-compatible", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)), **options
            )
            asyncio.run(client.chat(REQUEST))
    assert info.value.status_code == 500
    probes = server.probes()
    assert probes and max(r.extensions["timeout"]["read"] for r in probes) <= discovery.HINT_BUDGET
    if kind == "sync":  # in turn: the clock moved by what the probes waited, one budget in all
        assert clock.now - started <= discovery.HINT_BUDGET
    assert clock.slept == []  # a hint never waits for a server to start


def test_a_client_timeout_shorter_than_the_hint_budget_bounds_the_hint_probes(clock: Clock) -> None:
    """The hint's probes wait ``HINT_BUDGET`` at most, and no longer than the client's own timeout."""
    server = Server(clock, hang(clock))

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(500, json=SCHEMA_500)
        return Server.handle(server, request)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    client = ChatClient("openai-compatible", base_url=BASE, http_client=http, timeout=0.2, max_retries=0)
    with pytest.raises(OrbitLocalError):
        client.chat(REQUEST)
    probes = server.probes()
    assert probes and max(r.extensions["timeout"]["read"] for r in probes) <= 0.2 < discovery.HINT_BUDGET


def test_a_probe_round_without_a_budget_takes_twice_the_probe_timeout_at_most(clock: Clock) -> None:
    """``probe_server``'s documented default: a round's budget is twice ``timeout``; against a
    server that hangs on every route, the probes in turn stop there, not after eight timeouts."""
    server = Server(clock, hang(clock))
    started = clock.now
    miss = discovery.probe_server(BASE, client=server.client(), timeout=0.3)
    assert isinstance(miss, discovery.Miss) and miss.kind == "silent"
    assert clock.now - started == pytest.approx(0.6)
