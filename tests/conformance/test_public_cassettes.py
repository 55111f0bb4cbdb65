"""The public-recording cassettes are the case files' bytes, and the conversion reproduces them.

``cassettes/<server>-public/`` is written by ``tests/real_sessions_to_cassettes.py`` from the shared
corpus (``ORBIT_REAL_SESSIONS``). With the corpus at hand, every cassette's response body must equal
its case file's ``response.body`` byte for byte, ``cases.json`` must copy each case's ``expect`` and
``source`` as they are, and converting again must give the same files. Without the corpus there is
nothing to compare with, and only this check is skipped (the replays themselves need no corpus).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.real_sessions_to_cassettes import CASSETTES, SERVERS, convert

CORPUS = os.environ.get("ORBIT_REAL_SESSIONS")
needs_corpus = pytest.mark.skipif(not CORPUS, reason="set ORBIT_REAL_SESSIONS to the real-sessions folder")


def _body(folder: Path, case_id: str) -> str:
    cassette = yaml.safe_load((folder / f"{case_id}.yaml").read_text(encoding="utf-8"))
    (interaction,) = cassette["interactions"]
    return str(interaction["response"]["body"]["string"])


@needs_corpus
def test_cassettes_hold_the_case_files_bytes() -> None:
    checked = 0
    for server in SERVERS:
        folder = CASSETTES / f"{server}-public"
        for case_id, entry in json.loads((folder / "cases.json").read_text(encoding="utf-8")).items():
            case = json.loads((Path(str(CORPUS)) / server / f"{case_id}.json").read_text(encoding="utf-8"))
            assert _body(folder, case_id) == case["response"]["body"], case_id
            assert entry["expect"] == case["expect"], case_id
            assert entry["source"] == case["source"], case_id
            checked += 1
    assert checked >= 60


@needs_corpus
def test_conversion_reproduces_the_cassettes(tmp_path: Path) -> None:
    convert(Path(str(CORPUS)), tmp_path)
    for server in SERVERS:
        ours, again = CASSETTES / f"{server}-public", tmp_path / f"{server}-public"
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in again.iterdir())
        for path in again.iterdir():
            assert (ours / path.name).read_bytes() == path.read_bytes(), f"{server}-public/{path.name} is stale"
