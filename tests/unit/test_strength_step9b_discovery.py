"""What one probe may wait is the caller's ``timeout`` (orbit_local/discovery.py: "one probe
waits at most ``timeout``"; ``orbit-local discover --timeout S``: "seconds per probe"), for
``discover`` and for ``first_server`` too, not the 2 s ``DETECT_TIMEOUT`` of auto-detection.

Seen without waiting: httpx hands every request's timeout to its transport
(``request.extensions["timeout"]``), so a MockTransport reads what each probe was allowed.
Both functions build their own client, so the test swaps httpx's client classes for ones
bound to the MockTransport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orbit_local.discovery import DETECT_TIMEOUT, Miss, discover, first_server
from orbit_local.fingerprint import Answer, classify

MODEL_LIST = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "me"}]}


class Probes:
    """Answers every probe with a model list and notes the read timeout each one was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, Any] = request.extensions["timeout"]
        self.timeouts.append(timeout["read"])
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json=MODEL_LIST)
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Probes:
    answer = Probes()

    class Client(httpx.Client):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **options)

    class AsyncClient(httpx.AsyncClient):
        def __init__(self, **options: Any) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **options)

    monkeypatch.setattr(httpx, "Client", Client)
    monkeypatch.setattr(httpx, "AsyncClient", AsyncClient)
    return answer


def test_discover_gives_each_probe_the_callers_timeout(probes: Probes) -> None:
    assert DETECT_TIMEOUT > 0.25  # so the caller's value is told apart from detection's own
    (found,) = discover(timeout=0.25, urls=["http://127.0.0.1:9/v1"])
    assert found.models == ["m"]
    assert probes.timeouts and set(probes.timeouts) == {0.25}


def test_first_server_gives_each_probe_the_callers_timeout_at_most(probes: Probes) -> None:
    found = first_server(timeout=0.25)
    assert found is not None and found.models == ["m"]
    # the synchronous round hands each probe what is left of its budget, never more than timeout
    assert probes.timeouts and all(0 < t <= 0.25 for t in probes.timeouts)


def test_localai_known_by_its_model_list_says_both_answers_that_decided() -> None:
    """``orbit-local discover`` shows the evidence ("how we know"): a LocalAI v3 whose /readyz
    answers an empty 200 is told by its model list, whose entries carry no ``owned_by``
    (providers/localai.md), and the evidence names both requests."""
    answers = {
        "localai": Answer(200, None),
        "models": Answer(200, {"object": "list", "data": [{"id": "qwen3-0.6b", "object": "model"}]}),
    }
    decided = classify("http://127.0.0.1:8080", answers)
    assert decided is not None
    profile, evidence, _ = decided
    assert profile.name == "localai"
    assert evidence.startswith("GET /readyz answered OK")
    assert "GET /v1/models lists models without owned_by" in evidence


def test_an_unrecognised_server_is_told_what_a_base_url_looks_like() -> None:
    hint = Miss("unrecognised", "http://127.0.0.1:8000", detail="GET /v1/models 404").error().hint or ""
    assert "check that base_url is the server's API (e.g. http://host:port/v1)" in hint


def test_probes_cut_off_by_the_round_budget_are_reported_as_unanswered(monkeypatch: pytest.MonkeyPatch) -> None:
    """One round may take ``budget``: a server slow on every route (1 s a probe here, on a fake
    clock) answers the first probes; the rest, the model list among them, count as no answer,
    and the miss says so."""
    from orbit_local.discovery import probe_server

    now = [100.0]
    monkeypatch.setattr("orbit_local.discovery.time.monotonic", lambda: now[0])

    def slow(request: httpx.Request) -> httpx.Response:
        now[0] += 1.0
        return httpx.Response(500, text="Internal Server Error")

    with httpx.Client(transport=httpx.MockTransport(slow)) as client:
        miss = probe_server("http://127.0.0.1:9000/v1", timeout=1.0, budget=2.0, client=client)
    assert isinstance(miss, Miss) and miss.kind == "unrecognised"
    assert "GET /api/extra/version 500" in miss.detail
    assert "GET /v1/models no answer" in miss.detail


def test_localai_v3s_empty_readyz_answer_is_read_as_ok() -> None:
    """LocalAI v3+ answers ``GET /readyz`` with 200 and no body (providers/localai.md); read off
    the wire, that empty body is "OK", and with a model list without ``owned_by`` it is LocalAI."""
    from orbit_local.discovery import probe_server

    def localai(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/readyz":
            return httpx.Response(200, content=b"")
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "qwen3-0.6b", "object": "model"}]})
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})

    with httpx.Client(transport=httpx.MockTransport(localai)) as client:
        found = probe_server("http://127.0.0.1:8080/v1", client=client)
    assert not isinstance(found, Miss)
    assert found.profile.name == "localai"
