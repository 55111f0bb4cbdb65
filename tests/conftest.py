"""Shared test configuration.

Unit and replay tests run with sockets disabled (pytest-socket): nothing reaches a network,
not even loopback. Only tests marked ``live`` may open sockets, and they are opt-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = os.environ.get("ORBIT_LIVE") == "1"
    for item in items:
        if item.get_closest_marker("live") is not None:
            if not live:
                item.add_marker(pytest.mark.skip(reason="live-server test: set ORBIT_LIVE=1 to run it"))
            else:
                item.add_marker(pytest.mark.enable_socket)


def pytest_recording_configure(config: pytest.Config, vcr: object) -> None:
    from tests.cassette_matching import headers_matcher, json_body_matcher

    vcr.register_matcher("orbit_json_body", json_body_matcher)  # type: ignore[attr-defined]
    vcr.register_matcher("orbit_headers", headers_matcher)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, object]:
    from tests.cassette_matching import vcr_config as config

    return config()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed and not hasattr(report, "wasxfail")


_CALL_PASSED = pytest.StashKey[bool]()


RetiredRequest = Callable[[Any], bool]
"""Says whether a recorded request (a vcrpy ``Request``) is one the code no longer sends."""


@pytest.fixture
def retired_requests() -> list[RetiredRequest]:
    """Recorded requests a test declares no longer sent, on purpose: a defect fixed after the
    recording (the doctor asked a chat model for embeddings). The recording keeps its bytes;
    the test names what it must not send again, and every other request must still be sent."""
    return []


@pytest.fixture(autouse=True)
def _every_recorded_request_is_replayed(request: pytest.FixtureRequest) -> object:
    """A replayed test that passed must have sent every request its cassette holds: a request
    that is no longer sent (a lost abort, a skipped probe) is a change in behaviour too."""
    if request.node.get_closest_marker("vcr") is None:
        yield None
        return
    cassette = request.getfixturevalue("vcr")
    retired: list[RetiredRequest] = request.getfixturevalue("retired_requests")
    yield cassette
    replaying = request.config.getoption("--record-mode", default="none") in ("none", None)
    if cassette is None or not replaying or not request.node.stash.get(_CALL_PASSED, False):
        return
    unsent = [r for i, r in enumerate(cassette.requests) if not cassette.play_counts[i]]
    unplayed = [f"{r.method} {r.uri}" for r in unsent if not any(rule(r) for rule in retired)]
    if unplayed:
        pytest.fail(f"{cassette._path}: recorded requests were not sent again: {unplayed[:5]}")
    for rule in retired:
        sent = [r for i, r in enumerate(cassette.requests) if cassette.play_counts[i] and rule(r)]
        if sent:
            pytest.fail(f"{cassette._path}: a retired request was sent again: {sent[0].method} {sent[0].uri}")


@pytest.fixture(autouse=True)
def _fresh_detection_cache() -> None:
    """Fingerprints are cached per base URL for a process; each test (and each recording) starts
    without, so what a cassette holds never depends on which tests ran before it."""
    from orbit_local.net.discovery import forget

    forget()


@pytest.fixture(autouse=True)
def _registered_secrets_stay_in_their_test() -> Any:
    """API keys a test sends are registered for masking process-wide (as in real use); each test
    starts from the registry it found, so one test's key ("secret") cannot mask another's text."""
    from orbit_local.facts import redact

    before = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(before)
