"""The packages follow the data flow (docs/design.md, "Where things live"): each imports only
from the layers below it, so the import graph points one way and has no cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1] / "reconciler"

# Lowest first. A package may import from its own layer and the layers before it.
LAYERS = [
    {"__init__", "errors", "wording", "printable", "timestamps", "progress", "interrupts", "git"},
    {"desired"},
    {"live"},
    {"fake"},  # speaks Partner Center's wire format, read by live's own models
    {"plan"},
    {"calendar"},
    {"drift"},  # its notes are the calendar's events
    {"apply"},
    {"render"},
    {"scaffold"},
    {"connect"},
    {"commands"},
    {"cli", "__main__"},
]
LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}


def package_of(module: str) -> str:
    """`reconciler.live.read` -> `live`; `reconciler` itself -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> Iterator[tuple[str, str, str]]:
    """(file, importing package, imported package) for every import of pcr's own modules."""
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        source = package_of(
            module.removesuffix(".__init__") + ".x" if path.name == "__init__.py" else module
        )
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "reconciler":
                    targets = [f"reconciler.{alias.name}" for alias in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("reconciler."):
                    imported = package_of(target)
                    imported = "__init__" if imported == "__version__" else imported
                    yield str(path.relative_to(ROOT.parent)), source, imported


def test_every_package_has_a_layer() -> None:
    packages = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert packages - set(LAYER) == set()


def upward(found: Iterable[tuple[str, str, str]]) -> list[str]:
    return [
        f"{where}: {source} imports {imported}"
        for where, source, imported in found
        if LAYER[imported] > LAYER[source]
    ]


def test_imports_point_down_the_data_flow() -> None:
    found = list(imports())
    assert ("reconciler/drift/compare.py", "drift", "calendar") in found  # it reads them all
    assert upward(found) == []


def test_the_check_sees_an_upward_import() -> None:
    """It can fail: the planner importing the renderer, or live state the planner, is found."""
    edges = [("plan.py", "plan", "render"), ("read.py", "live", "plan"), ("ok.py", "plan", "live")]
    assert upward(edges) == ["plan.py: plan imports render", "read.py: live imports plan"]
