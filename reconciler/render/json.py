"""The plan as JSON: exactly the plan-JSON contract (DESIGN.md) that `to_dict` builds."""

from __future__ import annotations

import json

from reconciler.plan import Plan, to_dict


def render(plan: Plan) -> str:
    # Non-ASCII customer names stay readable; JSON is UTF-8 either way.
    return json.dumps(to_dict(plan), indent=2, ensure_ascii=False) + "\n"
