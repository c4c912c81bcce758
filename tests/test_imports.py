"""The packages follow the data flow (docs/design.md, "Packages"): each imports only from the
layers below it, so the import graph points one way; and no module imports itself back as
it loads, through others (within a layer too; imports for the type checker only, and a
function's own, do not load with it)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1] / "reconciler"

# Lowest first. A package may import from its own layer and the layers before it.
LAYERS = [
    {"__init__", "errors", "wording", "printable", "timestamps", "progress", "interrupts", "git"},
    {"desired"},
    {"live"},
    {"fake"},  # speaks Partner Center's wire format, read by live's own models
    {"connect"},  # the real APIs or the fake: what a run talks to
    {"plan"},
    {"calendar"},
    {"drift"},  # its notes are the calendar's events
    {"apply"},
    {"render"},
    {"scaffold"},
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


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports() -> dict[str, set[str]]:
    """Each of pcr's modules and the modules of pcr's it imports as it loads (the package
    itself when a name is taken from a package's __init__)."""
    modules = {module_of(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _loaded_with(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found = next((n for n in names if n in modules), None)
            if found is not None and found != name:
                graph[name].add(found)
    return graph


def _loaded_with(tree: ast.Module) -> Iterator[ast.stmt]:
    """The imports that run when the module loads: at its top level, not those only a type
    checker reads (`if TYPE_CHECKING:`) nor those a function makes when it is called."""
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            yield from (n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a walk from each module (one path per cycle)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        if name in path:
            found.append([*path[path.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            walk(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        walk(name, [])
    return found


def test_no_module_imports_itself_back_as_it_loads() -> None:
    graph = module_imports()
    assert "reconciler.errors" in graph["reconciler.git"]  # it sees a module's imports
    assert cycles(graph) == []


def test_the_cycle_check_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
