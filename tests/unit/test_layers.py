"""The core's layout shows its layers: each subpackage of ``orbit_local`` imports only from
its own layer and the ones below (docs/architecture.md), at module level. Imports inside
functions may reach up (they keep import time low); ``TYPE_CHECKING`` imports are types only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orbit_local

PACKAGE = Path(orbit_local.__file__).parent
LAYERS = ["facts", "wire", "protocols", "net", "backends", "features"]
"""Lowest first; the package's own modules (its public names, the CLI) sit on top."""


def _layer(module: str) -> int:
    """The rank of a dotted module name inside orbit_local."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def _module_level_imports(tree: ast.Module) -> list[str]:
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []:
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("orbit_local"):
                found.append(child.module)
            elif isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names if alias.name.startswith("orbit_local"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_nothing_from_a_layer_above_its_own(path: Path) -> None:
    name = ".".join(("orbit_local", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    own = _layer(name)
    above = [m for m in _module_level_imports(ast.parse(path.read_text())) if _layer(m) > own]
    assert not above, f"{name} (layer {own}) imports from a layer above: {above}"


def test_every_layer_is_a_package_that_says_what_it_may_import() -> None:
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        assert "import" in doc.lower(), f"orbit_local/{layer}/__init__.py should say what it may import"
    flat = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__", "cli"))
    assert flat == [], f"modules left outside the layers: {flat}"


def test_a_planted_upward_import_is_seen() -> None:
    tree = ast.parse("from orbit_local.features.settings import ChatSettings\n")
    assert _layer(_module_level_imports(tree)[0]) > _layer("orbit_local.facts.types")
