"""What waits is shown, but never as something apply does: plans of only deferred and
blocked items, deferred items that are due, and drift records that are waiting."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from datetime import datetime

from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.drift.model import to_dict
from reconciler.plan.model import Plan
from reconciler.render import render
from reconciler.render import render_drift
from reconciler.render.common import NO_CHANGES
from reconciler.render.common import NOTHING_TO_APPLY
from reconciler.render.common import ONLY_WAITING
from tests.render.plans import NORTHWIND
from tests.render.plans import NOW
from tests.render.plans import small_plan

DUE_DAY = datetime(2027, 3, 2, tzinfo=UTC)  # the deferred removal's date is 2027-03-01


def only_waiting(now: datetime = NOW) -> Plan:
    """The small plan's deferred and blocked items, without its actions."""
    return replace(small_plan(), now=now, actions=[], expires_at=None, api_calls=0)


def test_a_plan_of_only_deferred_and_blocked_items_says_nothing_is_applied() -> None:
    lines = render(only_waiting(), "text").splitlines()
    assert lines[-2:] == [NOTHING_TO_APPLY, "Plan: 0 to change, 1 deferred, 1 blocked."]
    assert NOTHING_TO_APPLY == (
        "Nothing to apply now: deferred items wait for a date or Partner Center, blocked ones "
        "for a person."
    )
    document = render(only_waiting(), "markdown")
    assert f"**{NOTHING_TO_APPLY}**" in document
    assert NO_CHANGES not in document
    assert "Merging" not in document


def test_a_plan_with_actions_does_not_say_nothing_is_applied() -> None:
    for fmt in ("text", "markdown"):
        assert NOTHING_TO_APPLY not in render(small_plan(), fmt)


def test_a_deferred_item_past_its_date_is_due_since_then() -> None:
    lines = render(only_waiting(DUE_DAY), "text").splitlines()
    assert f"  >  due since 2027-03-01 00:00 UTC: remove relationship {NORTHWIND}" in lines
    assert not any("deferred until" in line for line in lines)
    assert lines[-1] == "Plan: 0 to change, 1 deferred (1 due), 1 blocked."
    document = render(only_waiting(DUE_DAY), "markdown")
    assert "- **due since 2027-03-01 00:00 UTC:** remove relationship <code>" in document
    assert "| Deferred | 1 (1 due) |" in document
    data = json.loads(render(only_waiting(DUE_DAY), "json"))
    assert data["deferred"][0]["due"] is True


def report(*waiting: bool) -> DriftReport:
    records = [
        DriftRecord(
            f"c-{n}",
            DriftKind.RELATIONSHIP,
            f"c-{n}",
            "none",
            "reseller",
            "offboarding: removal deferred until 2027-03-01 00:00 UTC (its term ends)",
            waiting=wait,
        )
        for n, wait in enumerate(waiting)
    ]
    return DriftReport(now=NOW, records=records, checked=len(records))


def test_drift_of_only_waiting_records_is_shown_but_says_nothing_to_act_on() -> None:
    only = report(True, True)
    assert only.has_drift and not only.has_changes
    lines = render_drift(only, "text").splitlines()
    assert lines[1].startswith("  >  relationship")
    assert lines[2].startswith("       desired none, live reseller (waiting): offboarding:")
    assert lines[-1] == (
        "No drift to act on: 2 differences in 2 of 2 declared customers, all waiting for a "
        "deferred date."
    )
    document = render_drift(only, "markdown")
    assert f"**{ONLY_WAITING}**" in document
    assert "| Waiting for a date | 2 |" in document
    assert document.count("| **Waiting:** offboarding: removal deferred until") == 2
    data = to_dict(only)
    assert [r["waiting"] for r in data["drift"]] == [True, True]
    assert data["summary"]["waiting"] == 2


def test_drift_with_something_to_act_on_counts_what_waits() -> None:
    mixed = report(True, False)
    assert mixed.has_changes and mixed.changes == [mixed.records[1]]
    lines = render_drift(mixed, "text").splitlines()
    assert lines[-1] == "Drift: 2 differences in 2 of 2 declared customers (1 waiting)."
    assert ONLY_WAITING not in render_drift(mixed, "markdown")
