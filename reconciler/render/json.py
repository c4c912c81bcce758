"""Plans and drift as JSON: exactly the contracts that the `to_dict`s build (docs/design.md,
"Plan JSON" and "Drift JSON")."""

from __future__ import annotations

import json
from typing import Any

from reconciler.drift import model as drift
from reconciler.drift.model import DriftReport
from reconciler.plan.model import Plan
from reconciler.plan.model import dumps
from reconciler.printable import JSON_ESCAPES


def render(plan: Plan, *, color: bool = False) -> str:
    """The plan-JSON document; `color` is for the `Renderer` protocol and has no effect."""
    return dumps(plan)


def render_drift(report: DriftReport, *, color: bool = False) -> str:
    """The drift-JSON document; `color` is for the `Renderer` protocol and has no effect."""
    return _dump(drift.to_dict(report))


def render_applied(document: dict[str, Any]) -> str:
    """What `pcr apply --format json` prints: `apply.applied_to_dict`'s document."""
    return _dump(document)


def _dump(document: dict[str, Any]) -> str:
    # Non-ASCII customer names stay readable; JSON is UTF-8 either way.
    return json.dumps(document, indent=2, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"
