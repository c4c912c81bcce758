"""Microsoft's definitions of the APIs pcr calls, as data (`microsoft.yaml`, each entry
naming its public source), and the lookups the conformance tests need: which route a
request is, which fields a resource has, which values an enum takes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "microsoft.yaml"


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    template: str
    query: frozenset[str]  # lower case
    body: frozenset[str]  # lower case
    pattern: re.Pattern[str]

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self.pattern.fullmatch(path) is not None


@dataclass(frozen=True)
class Contract:
    routes: tuple[Route, ...]
    resources: dict[str, frozenset[str]]  # resource -> its field names, lower case
    enums: dict[str, tuple[str, ...]]  # Resource.field -> Microsoft's values
    sources: dict[str, str]  # what each entry cites

    def routes_for(self, method: str, path: str) -> list[Route]:
        """The documented routes this request is (a listing and its next page share one path).
        A route spelled out wins over one with a placeholder in its place:
        `/customers/relationshiprequests` is not the customer `relationshiprequests`."""
        found = [r for r in self.routes if r.matches(method, path)]
        fewest = min((r.template.count("{") for r in found), default=0)
        return [r for r in found if r.template.count("{") == fewest]

    def fields(self, resource: str) -> frozenset[str]:
        return self.resources[resource]


def _pattern(template: str) -> re.Pattern[str]:
    """A route template as a regex: each `{placeholder}` one path segment. Microsoft's
    paths are matched without regard to case (its docs spell one route two ways)."""
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(regex, re.IGNORECASE)


@functools.cache
def contract() -> Contract:
    data: dict[str, Any] = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    routes = tuple(
        Route(
            service=entry["service"],
            method=entry["method"],
            template=entry["template"],
            query=frozenset(q.lower() for q in entry.get("query") or ()),
            body=frozenset(b.lower() for b in entry.get("body") or ()),
            pattern=_pattern(entry["template"]),
        )
        for entry in data["routes"]
    )
    resources = {
        name: frozenset(f.lower() for f in entry["fields"])
        for name, entry in data["resources"].items()
    }
    enums = {name: tuple(entry["values"]) for name, entry in data["enums"].items()}
    sources = {
        name: str(entry["source"])
        for section in ("resources", "enums")
        for name, entry in data[section].items()
    }
    return Contract(routes, resources, enums, sources)
