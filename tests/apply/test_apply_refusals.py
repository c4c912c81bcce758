"""Saved plans that must not be applied: stale ones, expired ones, and ones a guardrail refuses,
even when the plan file was edited by hand. Each is refused with exit 1 and nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import Journal
from reconciler.fake.state import FakeState
from reconciler.plan import guardrails
from reconciler.plan import model as plan_model
from reconciler.plan.actions.removal import CONSEQUENCES as REMOVAL_CONSEQUENCES
from tests.apply.support import CONTOSO
from tests.apply.support import LITWARE
from tests.apply.support import NORTHWIND
from tests.apply.support import NORTHWIND_E1
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import make_estate
from tests.apply.support import run_apply
from tests.apply.support import run_pcr


def apply_saved(pcr: str, estate: Estate, now: str = NOW) -> tuple[int, str]:
    result = run_apply(pcr, estate, now=now)
    return result.returncode, result.stderr


def assert_nothing_changed(estate: Estate, mutations_before: list[dict[str, Any]]) -> None:
    assert estate.mutations() == mutations_before
    # Not even a journal or an audit log: apply stopped before the first step.
    assert not list(estate.state_dir.glob("journal-*")) and not estate.audit.exists()
    assert not (estate.state_dir / "apply.lock").exists()


def test_a_plan_made_before_live_state_changed_is_refused(
    planned: Estate, pcr_executable: str
) -> None:
    estate = planned
    # Someone suspends a Northwind subscription in Partner Center after the plan was reviewed.
    state = FakeState.load(estate.live)
    state.patch_subscription(NORTHWIND, NORTHWIND_E1, {"status": "suspended"})
    state.save(estate.live)
    before = estate.mutations()
    assert len(before) == 1

    code, stderr = apply_saved(pcr_executable, estate)

    assert code == 1
    assert "apply refused, nothing was changed" in stderr
    assert "live state in Partner Center changed since the plan was made" in stderr
    assert "Plan again" in stderr
    assert_nothing_changed(estate, before)


def test_a_plan_past_its_cancellation_deadline_is_refused(
    planned: Estate, pcr_executable: str
) -> None:
    estate = planned
    plan = json.loads(estate.plan.read_text())
    assert plan["expires_at"] == "2026-11-26T23:59:00Z"

    code, stderr = apply_saved(pcr_executable, estate, now="2026-11-27T00:00:00Z")

    assert code == 1
    assert "cancellation window that closed at 2026-11-26T23:59:00Z" in stderr
    assert "Plan again" in stderr
    assert_nothing_changed(estate, [])


def test_a_plan_just_inside_its_deadline_is_applied(planned: Estate, pcr_executable: str) -> None:
    code, stderr = apply_saved(pcr_executable, planned, now="2026-11-26T23:59:00Z")
    assert code == 0, stderr
    assert "13 done" in stderr


# --- guardrails, on plans edited after `pcr plan` or desired state changed since ------------------


def removal(customer: str, name: str) -> dict[str, Any]:
    return {
        "id": f"{customer}/remove_relationship/{customer}",
        "customer_id": customer,
        "type": "remove_relationship",
        "target_id": customer,
        "target_name": name,
        "depends_on": [],
        "reason": "edited in by hand",
        "irreversible": True,
        "consequences": list(REMOVAL_CONSEQUENCES),
    }


def edit_plan(estate: Estate, change: Callable[[dict[str, Any]], None]) -> None:
    plan = json.loads(estate.plan.read_text())
    change(plan)
    estate.plan.write_text(json.dumps(plan, indent=2))


def remove_protected(estate: Estate) -> None:
    edit_plan(estate, lambda plan: plan["actions"].append(removal(LITWARE, "Litware Inc")))


def exceed_removals(estate: Estate) -> None:
    """The policy allows the plan's three removals; a fourth is edited in."""
    policy = estate.desired / "partner.yaml"
    policy.write_text(
        policy.read_text().replace("max_removals_per_run: 10", "max_removals_per_run: 3")
    )
    edit_plan(estate, lambda plan: plan["actions"].append(removal(CONTOSO, "Contoso Ltd")))


def change_domain(estate: Estate) -> None:
    """The declared domain of a customer being removed no longer matches Partner Center's."""
    path = estate.desired / "customers" / "northwind.yaml"
    path.write_text(path.read_text().replace("northwindtraders.", "northwind-traders."))


def declare_an_unknown_subscription(estate: Estate) -> None:
    """Since the plan was saved, a file names a subscription its customer does not have: a
    fresh plan is refused, whatever the saved file (which has no errors) says."""
    path = estate.desired / "customers" / "contoso.yaml"
    path.write_text(
        path.read_text()
        + "subscriptions:\n  - id: 0badc0de-0000-4000-8000-00000000beef\n    auto_renew: false\n"
    )


def become_indirect_reseller(estate: Estate) -> None:
    policy = estate.desired / "partner.yaml"
    policy.write_text(policy.read_text().replace("type: direct", "type: indirect_reseller"))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (remove_protected, "desired-state/customers/litware.yaml is protected (protected: true)"),
        (
            exceed_removals,
            "the plan removes 4 reseller relationships, more than max_removals_per_run (3)",
        ),
        (change_domain, "says domain 'northwind-traders.onmicrosoft.com', Partner Center says"),
        (become_indirect_reseller, "indirect resellers cannot remove a reseller relationship"),
        (
            declare_an_unknown_subscription,
            "a fresh plan is refused: desired-state/customers/contoso.yaml:8:5: subscription "
            "0badc0de-0000-4000-8000-00000000beef is not one of this customer's subscriptions",
        ),
    ],
    ids=["protected", "max-removals", "two-key-domain", "indirect-reseller", "unknown-sub"],
)
def test_guardrails_hold_at_apply(
    planned: Estate, pcr_executable: str, edit: Callable[[Estate], None], reason: str
) -> None:
    estate = planned
    edit(estate)

    code, stderr = apply_saved(pcr_executable, estate)

    assert code == 1
    assert "apply refused, nothing was changed" in stderr
    assert reason in stderr
    assert_nothing_changed(estate, [])


def test_a_plan_over_the_removal_limit_is_refused_at_plan_and_at_apply(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    policy = estate.desired / "partner.yaml"
    policy.write_text(
        policy.read_text().replace("max_removals_per_run: 10", "max_removals_per_run: 2")
    )
    args = ("--desired", "desired-state", "--fake", "live.json", "--now", NOW)
    planned = run_pcr(pcr_executable, "plan", *args, "--out", "plan.json", cwd=estate.root)
    assert planned.returncode == 1
    # Computed once, said once: not again beside the plan's own refusal.
    assert planned.stdout.count("more than max_removals_per_run (2)") == 1
    assert not estate.plan.exists(), "a refused plan is never saved"

    applied = run_pcr(pcr_executable, "apply", *args, "--auto-approve", cwd=estate.root)
    assert applied.returncode == 1
    assert applied.stderr.count("more than max_removals_per_run (2)") == 1
    assert_nothing_changed(estate, [])


def test_a_plan_that_is_not_a_plan_is_refused(planned: Estate, pcr_executable: str) -> None:
    estate = planned
    edit_plan(estate, lambda plan: plan["actions"][0].update(target_id="someone-else"))

    code, stderr = apply_saved(pcr_executable, estate)

    assert code == 1
    assert "not a pcr plan" in stderr and "does not match its content" in stderr
    assert_nothing_changed(estate, [])


def test_a_resumed_plan_still_honours_its_deadline(
    planned_template: Estate, tmp_path: Path
) -> None:
    """Resuming skips the fingerprint check (the plan's own steps moved live state), never the
    deadline: a cancellation planned inside a window must not be sent after it closed."""
    saved = plan_model.from_dict(json.loads(planned_template.plan.read_text()))
    assert saved.expires_at is not None
    journal = Journal(tmp_path / "journal.jsonl")
    journal.start(saved.actions[0].id, "req-1")  # an earlier run got this far
    fresh = replace(saved, live_fingerprint="sha256:moved-by-the-first-run")

    assert guardrails.staleness(saved, fresh, journal.steps, saved.expires_at) == []
    late = saved.expires_at + timedelta(minutes=1)
    (reason,) = guardrails.staleness(saved, fresh, journal.steps, late)
    assert "cancellation window that closed at 2026-11-26T23:59:00Z" in reason
