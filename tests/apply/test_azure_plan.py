"""Apply and an Azure plan: the plan is suspended only once every Azure subscription this
plan cancelled shows inactive; one it did not cancel (created since) stops the customer;
one that never settles stops it too, after a bounded wait on the client's clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from reconciler.apply.executor import AZURE_CANCEL_WAIT_SECONDS
from reconciler.apply.executor import Executor
from reconciler.apply.executor import StepResult
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.read import read_live
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.model import Action
from reconciler.plan.planner import make_plan
from tests.apply.test_catalogue import AZURE_PLAN
from tests.apply.test_catalogue import AZURE_SUBS
from tests.apply.test_catalogue import LEAVING
from tests.apply.test_catalogue import build_state
from tests.graphs import graph_beside
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import estate


class Clock:
    """The client's sleep: records each pause and returns at once."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


STRAY = "5a000000-0000-4000-8000-0000000000ff"


def run(
    state: FakeState,
    tmp_path: Path,
    clock: Clock,
    between: Callable[[], None] = lambda: None,
) -> tuple[list[StepResult], list[Action]]:
    """Plan the leaving customer, call `between`, then apply its Azure plan's steps."""
    app = FakePartnerCenter(state)
    client = PartnerCenterClient(
        "https://pc.test",
        StaticToken("tok-SOAK-7f3e2a91"),
        transport=httpx.WSGITransport(app=app),
        limits=Limits(rate_per_minute=100_000),
        sleep=clock,
    )
    leaving = customer(LEAVING, name="Alpine Ski House", domain="alpineskihouse.onmicrosoft.com")
    desired, _ = estate((leaving, None))
    with client:
        plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)
        azure = [a for a in plan.actions if AZURE_PLAN in (a.parent_id, a.target_id)]
        between()
        executor = Executor(client, Journal(tmp_path / "j"), AuditLog(tmp_path / "a"), NOW)
        return executor.run_customer(azure, None), azure


def test_the_plan_waits_for_its_cancellations_to_settle(tmp_path: Path) -> None:
    state, clock = build_state(), Clock()
    state.set_azure_cancel_reads(3)
    results, planned = run(state, tmp_path, clock)
    assert [a.type for a in planned] == [
        ActionType.CANCEL_AZURE_ENTITLEMENT,
        ActionType.CANCEL_AZURE_ENTITLEMENT,
        ActionType.SUSPEND,
    ]
    assert {a.target_id for a in planned[:2]} == set(AZURE_SUBS)
    assert [r.outcome for r in results] == [Outcome.DONE] * 3, results
    assert clock.pauses  # it did wait, on the client's clock
    assert state.subscription(LEAVING, AZURE_PLAN)["status"] == "suspended"


def test_an_azure_subscription_created_since_stops_the_suspension(tmp_path: Path) -> None:
    state, clock = build_state(), Clock()
    state.set_azure_cancel_reads(0)

    def someone_adds_one() -> None:
        state.add_azure_entitlement(LEAVING, AZURE_PLAN, {"id": STRAY, "status": "active"})

    results, _ = run(state, tmp_path, clock, between=someone_adds_one)
    assert [r.outcome for r in results[:2]] == [Outcome.DONE, Outcome.DONE]
    suspend = results[-1]
    assert suspend.outcome is Outcome.FAILED
    assert STRAY in suspend.message and "not in this plan" in suspend.message
    assert clock.pauses == []  # nothing to wait for: it is not this plan's to cancel
    assert state.subscription(LEAVING, AZURE_PLAN)["status"] == "active"


def test_a_cancellation_that_never_settles_stops_the_customer(tmp_path: Path) -> None:
    state, clock = build_state(), Clock()
    state.set_azure_cancel_reads(10_000)
    results, _ = run(state, tmp_path, clock)
    suspend = results[-1]
    assert suspend.action.type is ActionType.SUSPEND
    assert suspend.outcome is Outcome.FAILED
    assert "still active after" in suspend.message and "apply again later" in suspend.message
    assert sum(clock.pauses) >= AZURE_CANCEL_WAIT_SECONDS
    assert state.subscription(LEAVING, AZURE_PLAN)["status"] == "active"


def test_an_azure_subscription_in_a_state_pcr_does_not_know_is_not_cancelled(
    tmp_path: Path,
) -> None:
    state, clock = build_state(), Clock()

    def it_changes() -> None:
        for item in state.data["azureEntitlements"][LEAVING]:
            item["status"] = "migrating"

    results, _ = run(state, tmp_path, clock, between=it_changes)
    first = results[0]
    assert first.outcome is Outcome.FAILED
    assert "'migrating', which pcr does not know" in first.message
    assert not [m for m in state.mutations if m["action"] == "cancel_azure_entitlement"]
