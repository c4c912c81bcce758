"""The JSON rendering is the plan-JSON contract and reads back into the same plan."""

from __future__ import annotations

import json

from reconciler.plan import CustomerRef, from_dict, to_dict
from reconciler.render.json import render
from tests.render.plans import CONTOSO, small_plan


def test_round_trip_gives_back_the_same_plan() -> None:
    plan = small_plan()
    plan.errors = ["refused"]
    back = from_dict(json.loads(render(plan)))
    assert back.actions == plan.actions
    assert back.deferred == plan.deferred
    assert back.blocked == plan.blocked
    assert (back.warnings, back.errors, back.unmanaged) == (
        plan.warnings,
        plan.errors,
        plan.unmanaged,
    )
    assert back.customers == plan.customers
    assert (back.now, back.expires_at, back.live_fingerprint) == (
        plan.now,
        plan.expires_at,
        plan.live_fingerprint,
    )
    assert (back.max_removals, back.api_calls) == (plan.max_removals, plan.api_calls)


def test_keys_in_contract_order_indented_with_final_newline() -> None:
    text = render(small_plan())
    assert list(json.loads(text)) == list(to_dict(small_plan()))
    assert text.startswith('{\n  "format_version": 1,\n  "now": "2026-11-22T00:00:00Z",')
    assert text.endswith("}\n")


def test_non_ascii_names_stay_readable() -> None:
    plan = small_plan()
    plan.customers[CONTOSO] = CustomerRef("Müller & Söhne GmbH", "customers/mueller.yaml")
    text = render(plan)
    assert '"name": "Müller & Söhne GmbH"' in text
    assert "\\u00fc" not in text
