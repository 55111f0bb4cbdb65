"""Shared by the inference.yaml tests: a clean environment and a file writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``<PREFIX>BASE_URL`` / ``_API_KEY`` / ``_MODEL`` from the machine leaks into a test
    (import this fixture into a test module to apply it there)."""
    for key in list(os.environ):
        if key.endswith(("_BASE_URL", "_API_KEY", "_MODEL")):
            monkeypatch.delenv(key, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    """``text`` as ``inference.yaml`` in ``tmp_path``."""
    path = tmp_path / "inference.yaml"
    path.write_text(text)
    return path
