"""Shared test configuration.

Unit and replay tests run with sockets disabled (pytest-socket): nothing reaches a network,
not even loopback. Only tests marked ``live`` may open sockets, and they are opt-in.
"""

from __future__ import annotations

import os

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
    from tests.cassette_matching import json_body_matcher

    vcr.register_matcher("orbit_json_body", json_body_matcher)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, object]:
    from tests.cassette_matching import vcr_config as config

    return config()
