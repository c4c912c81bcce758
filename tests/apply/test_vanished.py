"""Apply's re-checks when a customer's relationship is removed while pcr applies its plan:
the removal step of a customer already gone ends ALREADY, never FAILED; a subscription
step of a gone customer stops that customer with a clear reason; the others carry on."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.apply.executor import ApplyReport
from reconciler.apply.executor import Executor
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.desired.model import Desired
from reconciler.live.client import PartnerCenterClient
from reconciler.live.read import read_live
from reconciler.plan.actions import Outcome
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import NORTHWIND
from tests.apply.support import read_jsonl
from tests.graphs import graph_beside
from tests.vanishing import NOW
from tests.vanishing import Trigger
from tests.vanishing import Vanishing
from tests.vanishing import after_customer_read
from tests.vanishing import example_desired
from tests.vanishing import example_fake
from tests.vanishing import in_process_client

GONE = "the customer is no longer in the partner's list"


def after_subscriptions_list(customer_id: str) -> Trigger:
    """Between the re-check's subscription list and its entitlement list."""
    return lambda method, path: (
        method == "GET" and path == f"/v1/customers/{customer_id}/subscriptions"
    )


@dataclass
class Rig:
    vanishing: Vanishing
    client: PartnerCenterClient
    desired: Desired
    folder: Path

    def plan(self) -> Plan:
        return make_plan(
            self.desired, read_live(self.client, self.desired, graph=graph_beside(self.client)), NOW
        )

    def apply(self, plan: Plan) -> ApplyReport:
        executor = Executor(
            client=self.client,
            journal=Journal(self.folder / "journal.jsonl"),
            audit=AuditLog(self.folder / "audit.jsonl"),
            now=NOW,
            expected_domains={c: d.domain for c, d in self.desired.customers.items() if d.domain},
        )
        return executor.apply(plan)

    def requests_for(self, path: str, method: str = "GET") -> list[int]:
        """The statuses of the requests to exactly this path."""
        return [
            r.status for r in self.vanishing.app.requests if (r.method, r.path) == (method, path)
        ]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    vanishing = Vanishing(example_fake(), removed={NORTHWIND}, armed=False)
    with in_process_client(vanishing) as client:
        yield Rig(vanishing, client, example_desired(), tmp_path)


def results_of(report: ApplyReport, customer_id: str) -> list[tuple[Outcome, str]]:
    return [(r.outcome, r.message) for r in report.results if r.action.customer_id == customer_id]


@pytest.mark.parametrize(
    "vanishes", [after_customer_read, after_subscriptions_list], ids=["before-subs", "before-ents"]
)
def test_removal_of_a_customer_that_vanished_during_its_recheck_is_already(
    rig: Rig, vanishes: Callable[[str], Trigger]
) -> None:
    plan = rig.plan()
    rig.vanishing.after = vanishes(NORTHWIND)
    rig.vanishing.armed = True

    report = rig.apply(plan)

    (*steps, removal) = results_of(report, NORTHWIND)
    assert [outcome for outcome, _ in steps] == [Outcome.DONE, Outcome.DONE]
    assert removal == (Outcome.ALREADY, GONE)
    assert not report.failed and report.count(Outcome.DONE) == EXAMPLE_ACTIONS - 1
    assert 404 in rig.requests_for(f"/v1/customers/{NORTHWIND}")  # confirmed gone
    assert rig.requests_for(f"/v1/customers/{NORTHWIND}", "PATCH") == []  # nothing sent
    journal = read_jsonl(rig.folder / "journal.jsonl")
    (done,) = [e for e in journal if e["action"].endswith(f"remove_relationship/{NORTHWIND}")]
    assert (done["event"], done.get("result")) == ("done", "already")


def test_a_404_on_the_recheck_of_a_customer_still_there_fails_the_removal(rig: Rig) -> None:
    plan = rig.plan()
    rig.vanishing.app.add_fault("GET", f"/customers/{NORTHWIND}/subscriptions$", status=404)

    report = rig.apply(plan)

    outcome, message = results_of(report, NORTHWIND)[-1]
    assert outcome is Outcome.FAILED and "404" in message
    assert [r.action.customer_id for r in report.failed] == [NORTHWIND]


def test_a_subscription_step_of_a_vanished_customer_stops_that_customer_only(rig: Rig) -> None:
    plan = rig.plan()
    rig.vanishing.remove_now()  # after planning, before applying

    report = rig.apply(plan)

    (failed, *rest) = results_of(report, NORTHWIND)
    assert failed[0] is Outcome.FAILED
    assert GONE in failed[1] and "plan again" in failed[1]
    assert [outcome for outcome, _ in rest] == [Outcome.SKIPPED, Outcome.SKIPPED]
    assert report.count(Outcome.DONE) == EXAMPLE_ACTIONS - 3
    assert not [m for m in rig.vanishing.app.mutations if m["customer_id"] == NORTHWIND]
