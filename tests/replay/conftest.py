"""Fixtures the target-parametrised replay suites share.

A suite sets ``TARGETS`` (pytest params of :class:`~tests.targets.Target`) at module level;
its cassettes are ``cassettes/<target>/<test name>.yaml`` unless the module overrides
``vcr_cassette_dir`` (the scenario suite keeps them under ``scenarios/``).
"""

from __future__ import annotations

import pytest

from tests.targets import Target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames and hasattr(metafunc.module, "TARGETS"):
        metafunc.parametrize("target", metafunc.module.TARGETS)


@pytest.fixture
def vcr_cassette_dir(target: Target) -> str:
    return str(target.cassette_dir)


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    return request.node.originalname  # type: ignore[no-any-return]
