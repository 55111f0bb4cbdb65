"""Every cassette folder is complete: a missing provenance.json must fail the run, not make
that target's tests vanish, and the provenance lists exactly the cassettes that are there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.targets import CASSETTES, TARGETS

FOLDERS = sorted(p for p in CASSETTES.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_every_cassette_folder_has_a_complete_provenance(folder: Path) -> None:
    provenance = folder / "provenance.json"
    assert provenance.is_file(), f"{folder} has cassettes but no provenance.json: record it with make record"
    facts = json.loads(provenance.read_text())
    assert facts["pytest_exit_code"] == 0, f"{folder.name} was recorded from a failing run"
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))
    assert on_disk == sorted(facts["cassettes"])
    assert facts["target"] == folder.name and facts["server"] and facts["recorded_at"]


def test_every_folder_belongs_to_a_target() -> None:
    names = {t.name for t in TARGETS}
    assert {p.name for p in FOLDERS} <= names
