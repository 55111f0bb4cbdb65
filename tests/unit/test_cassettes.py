"""Every cassette folder is complete: a missing provenance must fail the run, not make that
target's tests vanish, and the provenance lists exactly the cassettes that are there.

A folder is either recorded here (``provenance.json``, written by tests/recorder.py) or
converted from public recordings (``cases.json`` and ``SOURCES.md``, written by
tests/real_sessions_to_cassettes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real_sessions_to_cassettes import SERVERS
from tests.targets import CASSETTES, TARGETS

FOLDERS = sorted(p for p in CASSETTES.iterdir() if p.is_dir())
CONVERTED = [p for p in FOLDERS if (p / "cases.json").is_file()]
RECORDED = [p for p in FOLDERS if p not in CONVERTED]


@pytest.mark.parametrize("folder", RECORDED, ids=[p.name for p in RECORDED])
def test_every_cassette_folder_has_a_complete_provenance(folder: Path) -> None:
    provenance = folder / "provenance.json"
    assert provenance.is_file(), f"{folder} has cassettes but no provenance.json: record it with make record"
    facts = json.loads(provenance.read_text())
    assert facts["pytest_exit_code"] == 0, f"{folder.name} was recorded from a failing run"
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))
    assert on_disk == sorted(facts["cassettes"])
    assert facts["target"] == folder.name and facts["server"] and facts["recorded_at"]


@pytest.mark.parametrize("folder", CONVERTED, ids=[p.name for p in CONVERTED])
def test_every_converted_folder_names_the_source_of_each_cassette(folder: Path) -> None:
    cases = json.loads((folder / "cases.json").read_text(encoding="utf-8"))
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))
    assert on_disk == sorted(f"{case_id}.yaml" for case_id in cases)
    sources = (folder / "SOURCES.md").read_text(encoding="utf-8")
    for case_id, case in cases.items():
        assert f"`{case_id}.yaml`" in sources
        assert case["source"]["repository"] and case["source"]["fidelity"] in ("verbatim", "reserialized", "abridged")


def test_every_folder_belongs_to_a_target() -> None:
    names = {t.name for t in TARGETS}
    assert {p.name for p in RECORDED} <= names
    assert {p.name for p in CONVERTED} == {f"{server}-public" for server in SERVERS}
