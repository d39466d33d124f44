"""The module layering of ../shared/ARCHITECTURE.md, checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def imported(module: str) -> set[str]:
    """The top-level names of every module `src/<module>.py` imports."""
    tree = ast.parse((SRC / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("prowlarr", {"ops", "workload", "charm", "charms"}),
        ("workload", {"httpx", "prowlarr", "charm", "charms"}),
    ],
)
def test_the_bottom_layers_know_nothing_of_each_other(module: str, forbidden: set[str]):
    assert imported(module) & forbidden == set()


def test_no_capability_module_is_a_charm():
    for path in SRC.glob("*.py"):
        if path.stem != "charm":
            assert "CharmBase" not in path.read_text(), path.name


def test_only_charm_py_imports_charm():
    importers = {path.stem for path in SRC.glob("*.py") if "charm" in imported(path.stem)}
    assert importers == set()


def test_charm_py_stays_a_table_of_contents():
    lines = (SRC / "charm.py").read_text().splitlines()
    assert len(lines) <= 300, "detail belongs in a capability module (ARCHITECTURE.md)"
