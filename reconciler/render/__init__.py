"""Render a plan or a drift report: text for a terminal, JSON for machines, Markdown for GitHub.

One module per format, each rendering both plans and drift (the words they
share live in `common`), registered in FORMATS: a new format is one module
and one line there. This module also decides whether a terminal gets colour.
"""

from __future__ import annotations

import os
from typing import Protocol
from typing import TypeVar

from reconciler.drift.model import DriftReport
from reconciler.plan.model import Plan
from reconciler.printable import shown
from reconciler.progress import TTYStream
from reconciler.progress import takes_escapes
from reconciler.render import json
from reconciler.render import markdown
from reconciler.render import text

T = TypeVar("T")


class Renderer(Protocol):
    """A format: a module with these two functions."""

    def render(self, plan: Plan, *, color: bool) -> str: ...

    def render_drift(self, report: DriftReport, *, color: bool) -> str: ...


# In the order `--format` lists them; the first is the default.
FORMATS: dict[str, Renderer] = {"text": text, "json": json, "markdown": markdown}


def render(plan: Plan, fmt: str, *, color: bool = False) -> str:
    """The plan in one of FORMATS; `color` only affects text."""
    return _renderer(fmt, "plan").render(_for(fmt, plan), color=color)


def render_drift(report: DriftReport, fmt: str, *, color: bool = False) -> str:
    """The drift report in one of FORMATS; `color` only affects text."""
    return _renderer(fmt, "drift").render_drift(_for(fmt, report), color=color)


def _for(fmt: str, document: T) -> T:
    """What a format is given: for people (text, Markdown), every string from outside made
    safe to show (`printable.shown`); JSON escapes for itself and keeps text as it came."""
    return document if fmt == "json" else shown(document)


def _renderer(fmt: str, what: str) -> Renderer:
    if fmt not in FORMATS:
        raise ValueError(f"unknown {what} format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def _set(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def use_color(stream: TTYStream) -> bool:
    """ANSI colour only on a terminal that shows it, never when NO_COLOR is set (no-color.org).

    FORCE_COLOR turns it on where output is not a TTY but is shown in colour
    anyway (CI logs), and on a `TERM=dumb` terminal; NO_COLOR wins over it,
    being the reader's own choice.
    """
    if os.environ.get("NO_COLOR"):
        return False
    if _set("FORCE_COLOR"):
        return True
    return takes_escapes(stream)
