"""The executor's GDAP paths that a plain run does not take: a relationship that turns up
active after the plan stops the removal, a draft changed since its read is not deleted, a
failed terminate request stops the wait, and a termination that never ends is given up."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from reconciler.apply.executor import Executor
from reconciler.apply.executor import StepResult
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.fake.app import FakePartnerCenter
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import TenantClients
from reconciler.live.config import Limits
from reconciler.live.graph import GraphClient
from reconciler.live.read import read_live
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from tests.apply.support import NORTHWIND
from tests.apply.support import TOKEN
from tests.apply.test_executor import NOW
from tests.apply.test_executor import example_desired
from tests.apply.test_executor import example_state
from tests.graphs import graph_beside


def run(
    tmp_path: Path,
    app: FakePartnerCenter,
    between: object = None,
    stop: threading.Event | None = None,
) -> list[StepResult]:
    """Plan the example estate, let `between(app)` change the world, apply Northwind. With
    `stop`, the first pause of a wait sets it (a signal arriving then)."""
    desired = example_desired()
    # Waits are the client's: instant here, so a poll of minutes is counted, not slept.
    client = PartnerCenterClient(
        "https://pc.test",
        StaticToken(TOKEN),
        transport=httpx.WSGITransport(app=app),
        limits=Limits(rate_per_minute=100_000),
        sleep=lambda seconds: stop.set() if stop is not None else None,
    )
    with client:
        graph = graph_beside(client)
        plan: Plan = make_plan(desired, read_live(client, desired, graph=graph), NOW)
        if callable(between):
            with app.edit():
                between(app)
        executor = northwind_executor(tmp_path, client, graph, stop=stop)
        northwind = [a for a in plan.actions if a.customer_id == NORTHWIND]
        return executor.run_customer(northwind, None)


def northwind_executor(
    tmp_path: Path,
    client: PartnerCenterClient,
    graph: GraphClient | None,
    stop: threading.Event | None = None,
    tenants: TenantClients | None = None,
) -> Executor:
    """An executor for Northwind's steps, its journal and audit trail in `tmp_path`."""
    return Executor(
        client,
        Journal(tmp_path / "j.jsonl"),
        AuditLog(tmp_path / "a.jsonl"),
        NOW,
        graph=graph,
        tenants=tenants,
        gdap_customers=frozenset({NORTHWIND}),
        stop=stop or threading.Event(),
    )


def outcome(results: list[StepResult], kind: ActionType) -> StepResult:
    (found,) = [r for r in results if r.action.type is kind]
    return found


def test_a_relationship_active_since_the_plan_stops_the_removal(tmp_path: Path) -> None:
    app = FakePartnerCenter(example_state())

    def approved_meanwhile(app: FakePartnerCenter) -> None:
        app.state.add_gdap_relationship(NORTHWIND, status="active", display_name="late one")

    results = run(tmp_path, app, approved_meanwhile)
    removal = outcome(results, ActionType.REMOVE_RELATIONSHIP)
    assert removal.outcome is Outcome.FAILED
    assert "removal still blocked" in removal.message and "late one" in removal.message
    assert not [m for m in app.mutations if m["action"] == "remove_relationship"]


def test_a_draft_changed_since_its_read_is_not_deleted(tmp_path: Path) -> None:
    state = example_state()
    draft = state.add_gdap_relationship(NORTHWIND, status="created", display_name="draft")
    app = FakePartnerCenter(state)

    def edited_meanwhile(app: FakePartnerCenter) -> None:
        for relationship in app.state.data["gdapRelationships"]:
            if relationship["id"] == draft["id"]:
                relationship["@odata.etag"] = 'W/"edited-by-someone"'

    results = run(tmp_path, app, edited_meanwhile)
    # Read right before the DELETE, the new ETag is the one sent: nothing is stale then.
    assert outcome(results, ActionType.DELETE_GDAP).outcome is Outcome.DONE
    assert outcome(results, ActionType.REMOVE_RELATIONSHIP).outcome is Outcome.DONE


def test_a_termination_that_never_ends_is_given_up_and_the_removal_not_run(
    tmp_path: Path,
) -> None:
    state = example_state()
    state.add_gdap_relationship(NORTHWIND, status="active", display_name="slow one")
    state.gdap.set_terminate_reads(1_000_000)  # never settles on reads
    app = FakePartnerCenter(state)
    results = run(tmp_path, app)
    terminate = outcome(results, ActionType.TERMINATE_GDAP)
    assert terminate.outcome is Outcome.FAILED
    assert "still terminationRequested after 20 minutes" in terminate.message
    assert outcome(results, ActionType.REMOVE_RELATIONSHIP).outcome is Outcome.SKIPPED


def test_a_stop_ends_the_wait_for_a_termination_already_asked_for(tmp_path: Path) -> None:
    """The terminate request is sent before the wait: a stop cannot take it back, so the
    step is not `not started` (as a wait before sending is) but stopped with what it did."""
    state = example_state()
    state.add_gdap_relationship(NORTHWIND, status="active", display_name="slow one")
    state.gdap.set_terminate_reads(1_000_000)  # only the stop ends the wait
    app = FakePartnerCenter(state)
    results = run(tmp_path, app, stop=threading.Event())
    terminate = outcome(results, ActionType.TERMINATE_GDAP)
    assert terminate.outcome is Outcome.FAILED
    assert "interrupted while waiting for GDAP relationship slow one to end" in terminate.message
    assert outcome(results, ActionType.REMOVE_RELATIONSHIP).outcome is Outcome.SKIPPED
    assert [m["action"] for m in app.mutations if m["customer_id"] == NORTHWIND][-1:] == [
        "terminate_gdap_relationship"
    ]  # asked once, and no removal after it
