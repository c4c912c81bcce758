"""Apply fails closed too: a plan made before a subscription entered a state pcr does not
know (or a hand-edited one) never removes the relationship or changes that subscription;
the fake, like Partner Center, refuses such a removal as well."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply.executor import Executor
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.fake import FakePartnerCenter
from reconciler.live.client import PartnerCenterClient
from reconciler.live.read import read_live
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.planner import make_plan
from tests.apply.support import NORTHWIND
from tests.apply.support import NORTHWIND_E1
from tests.apply.support import NORTHWIND_EXCHANGE
from tests.apply.support import make_estate
from tests.apply.support import run_apply
from tests.apply.support import save_plan
from tests.graphs import graph_beside
from tests.vanishing import NOW
from tests.vanishing import example_desired
from tests.vanishing import example_fake
from tests.vanishing import in_process_client


@pytest.fixture
def fake() -> FakePartnerCenter:
    return example_fake()


@pytest.fixture
def client(fake: FakePartnerCenter) -> Iterator[PartnerCenterClient]:
    with in_process_client(fake) as opened:
        yield opened


def set_status(fake: FakePartnerCenter, subscription_id: str, status: str) -> None:
    with fake.lock:
        for sub in fake.state.data["subscriptions"][NORTHWIND]:
            if sub["id"] == subscription_id:
                sub["status"] = status


def test_a_plan_made_before_an_unknown_state_removes_nothing(
    fake: FakePartnerCenter, client: PartnerCenterClient, tmp_path: Path
) -> None:
    desired = example_desired()
    plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)
    northwind = [a for a in plan.actions if a.customer_id == NORTHWIND]
    assert [a.type for a in northwind][-1] is ActionType.REMOVE_RELATIONSHIP
    # Meanwhile, in Partner Center: one subscription is in a state pcr has never seen.
    set_status(fake, NORTHWIND_EXCHANGE, "transferring")
    executor = Executor(client, Journal(tmp_path / "j.jsonl"), AuditLog(tmp_path / "a.jsonl"), NOW)
    report = executor.apply(plan)
    outcomes = {
        r.action.type: (r.outcome, r.message)
        for r in report.results
        if r.action.customer_id == NORTHWIND
    }
    suspend = next(r for r in report.results if r.action.target_id == NORTHWIND_EXCHANGE)
    assert suspend.outcome is Outcome.FAILED
    assert "has status 'transferring', which pcr does not know" in suspend.message
    assert outcomes[ActionType.REMOVE_RELATIONSHIP][0] is not Outcome.DONE
    targets = {(m["target"], m["action"]) for m in fake.state.mutations}
    assert not any(target.endswith(NORTHWIND) for target, _ in targets), targets
    assert not any(NORTHWIND_EXCHANGE in target for target, _ in targets)


def test_the_removal_re_check_refuses_an_unknown_state(
    fake: FakePartnerCenter, client: PartnerCenterClient, tmp_path: Path
) -> None:
    desired = example_desired()
    plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)
    removal = next(
        a
        for a in plan.actions
        if a.customer_id == NORTHWIND and a.type is ActionType.REMOVE_RELATIONSHIP
    )
    # A hand-edited plan with only the removal, and a subscription pcr cannot place.
    set_status(fake, NORTHWIND_E1, "none")
    set_status(fake, NORTHWIND_EXCHANGE, "suspended")
    executor = Executor(client, Journal(tmp_path / "j.jsonl"), AuditLog(tmp_path / "a.jsonl"), NOW)
    result = executor.run_step(removal)
    assert result.outcome is Outcome.FAILED
    assert f"subscription {NORTHWIND_E1} is none" in result.message
    assert fake.state.mutations == []


def test_the_fake_refuses_to_remove_past_an_unsettled_subscription(
    fake: FakePartnerCenter,
) -> None:
    set_status(fake, NORTHWIND_EXCHANGE, "suspended")
    set_status(fake, NORTHWIND_E1, "transferring")
    blockers = fake.state.relationship_blockers(NORTHWIND)
    assert any("not yet settled" in b and NORTHWIND_E1 in b for b in blockers), blockers


def test_apply_refuses_a_hand_edited_removal_past_an_unknown_state(
    tmp_path: Path, pcr_executable: str
) -> None:
    """The planner blocked Northwind; someone edits the plan file to remove it anyway."""
    estate = make_estate(tmp_path)
    live = estate.live_data()
    for sub in live["subscriptions"][NORTHWIND]:
        if sub["id"] == NORTHWIND_E1:
            sub["status"] = "transferring"
    estate.live.write_text(json.dumps(live))
    plan = save_plan(pcr_executable, estate)
    assert not [a for a in plan["actions"] if a["customer_id"] == NORTHWIND]
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]
    assert blocked["kind"] == "unknown_state" and "'transferring'" in blocked["reason"]

    plan["blocked"].remove(blocked)
    for kind, target in (
        ("suspend_subscription", NORTHWIND_E1),
        ("remove_relationship", NORTHWIND),
    ):
        plan["actions"].append(
            {
                "id": f"{NORTHWIND}/{kind}/{target}",
                "customer_id": NORTHWIND,
                "type": kind,
                "target_id": target,
                "reason": "edited by hand",
                "irreversible": kind == "remove_relationship",
            }
        )
    estate.plan.write_text(json.dumps(plan))
    applied = run_apply(pcr_executable, estate)

    # Apply plans again before it runs a saved plan: a plan that asks for more than the
    # live state allows is refused whole. (The per-step re-check behind it is the test
    # above, which hands the executor the removal directly.)
    assert applied.returncode == 1, applied.stderr
    assert "apply refused, nothing was changed" in applied.stderr
    assert "no longer yields the same actions" in applied.stderr
    touched = [m for m in estate.mutations() if NORTHWIND in m["target"]]
    assert touched == [], touched
    assert estate.live_data()["customers"]  # the fake state is intact and readable
    northwind = next(c for c in estate.live_data()["customers"] if c["id"] == NORTHWIND)
    assert northwind["relationshipToPartner"] == "reseller"


def test_the_removal_re_check_refuses_an_entitlement_pcr_does_not_know(
    fake: FakePartnerCenter, client: PartnerCenterClient, tmp_path: Path
) -> None:
    desired = example_desired()
    plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)
    northwind = [a for a in plan.actions if a.customer_id == NORTHWIND]
    # Between plan and apply, Partner Center starts listing a kind of entitlement pcr
    # has never seen for this customer.
    with fake.lock:
        fake.state.add_entitlement(
            NORTHWIND, {"entitlementType": "hardwareLease", "productId": "HW-1", "quantity": 1}
        )
    executor = Executor(client, Journal(tmp_path / "j.jsonl"), AuditLog(tmp_path / "a.jsonl"), NOW)
    results = executor.run_customer(northwind, None)
    removal = results[-1]
    assert removal.action.type is ActionType.REMOVE_RELATIONSHIP
    assert removal.outcome is Outcome.FAILED
    assert "entitlementType 'hardwareLease'" in removal.message
    assert not any(m["action"] == "remove_relationship" for m in fake.state.mutations)
