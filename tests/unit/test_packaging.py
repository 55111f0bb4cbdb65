"""What the distribution promises: PEP 561 markers and the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orbit_local", "langchain_orbit_local", "llamaindex_orbit_local")


def test_each_package_ships_py_typed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["*"]
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package


def test_console_script_and_module_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["orbit-local"] == "orbit_local.cli:main"
    shown = subprocess.run([sys.executable, "-m", "orbit_local", "--version"], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.startswith("orbit-local ")
