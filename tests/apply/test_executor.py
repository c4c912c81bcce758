"""The executor on its own: resuming from a journal, re-checks before destructive steps,
per-customer order with customers in parallel, and changes whose answer was lost."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.apply.executor import ApplyReport
from reconciler.apply.executor import Executor
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.desired.load import load_desired
from reconciler.desired.model import Desired
from reconciler.fake import FakePartnerCenter
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.read import read_live
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.model import Action
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from tests.apply.support import ADVENTURE_WORKS
from tests.apply.support import ADVENTURE_WORKS_NCE
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import FABRIKAM
from tests.apply.support import NORTHWIND
from tests.apply.support import NORTHWIND_E1
from tests.apply.support import NORTHWIND_EXCHANGE
from tests.apply.support import TOKEN
from tests.apply.support import WIDE_WORLD
from tests.apply.support import read_jsonl
from tests.conftest import EXAMPLE
from tests.graphs import graph_beside
from tests.timeouts import FirstAttemptTimesOut

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
# Only a safety net for waits that end on events.
SAFETY_SECONDS = 60


def example_desired() -> Desired:
    desired = load_desired(EXAMPLE).desired
    assert desired is not None
    return desired


@dataclass
class Rig:
    """The example estate against the fake in process, with a journal and audit log on disk."""

    app: FakePartnerCenter
    client: PartnerCenterClient
    desired: Desired
    folder: Path

    @property
    def journal_path(self) -> Path:
        return self.folder / "journal.jsonl"

    @property
    def audit_path(self) -> Path:
        return self.folder / "audit.jsonl"

    def plan(self) -> Plan:
        return make_plan(
            self.desired, read_live(self.client, self.desired, graph=graph_beside(self.client)), NOW
        )

    def apply(self, plan: Plan, *, workers: int = 8) -> ApplyReport:
        """A fresh executor, as a new run would build it: journal and audit read from disk."""
        executor = Executor(
            client=self.client,
            journal=Journal(self.journal_path),
            audit=AuditLog(self.audit_path),
            now=NOW,
            expected_domains={
                cid: c.domain for cid, c in self.desired.customers.items() if c.domain
            },
        )
        return executor.apply(plan, workers=workers)

    def mutations_of(self, target: str) -> list[dict[str, Any]]:
        return [m for m in self.app.mutations if m["target"] == target]

    def journal_line(self, event: str, action: Action, request_id: str, **extra: str) -> None:
        record = {"event": event, "action": action.id, "request_id": request_id, **extra}
        with self.journal_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")


def example_state() -> FakeState:
    return FakeState(json.loads((EXAMPLE / "fake-state.json").read_text()))


def client_for(app: Callable[..., Any]) -> PartnerCenterClient:
    return PartnerCenterClient(
        "https://pc.test",
        StaticToken(TOKEN),
        transport=httpx.WSGITransport(app=app),
        limits=Limits(rate_per_minute=100_000),
    )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    app = FakePartnerCenter(example_state())
    with client_for(app) as client:
        yield Rig(app, client, example_desired(), tmp_path)


def action(plan: Plan, customer: str, kind: ActionType, target: str | None = None) -> Action:
    (found,) = [
        a
        for a in plan.actions
        if a.customer_id == customer and a.type is kind and target in (None, a.target_id)
    ]
    return found


def outcomes(report: ApplyReport, customer: str) -> list[Outcome]:
    return [r.outcome for r in report.results if r.action.customer_id == customer]


# --- resuming from the journal -----------------------------------------------------------


def test_in_flight_step_that_never_landed_is_resent_with_its_request_id(rig: Rig) -> None:
    plan = rig.plan()
    step = action(plan, NORTHWIND, ActionType.SUSPEND, NORTHWIND_EXCHANGE)
    rig.journal_line("start", step, "req-of-the-killed-run")

    report = rig.apply(plan)

    assert not report.failed
    (sent,) = rig.mutations_of(NORTHWIND_EXCHANGE)
    assert sent["request_id"] == "req-of-the-killed-run"
    others = {m["request_id"] for m in rig.app.mutations} - {"req-of-the-killed-run"}
    assert len(others) == EXAMPLE_ACTIONS - 1  # every other step got its own, new id
    done = [r for r in read_jsonl(rig.journal_path) if r["action"] == step.id]
    assert [(r["event"], r["request_id"]) for r in done] == [
        ("start", "req-of-the-killed-run"),
        ("start", "req-of-the-killed-run"),
        ("done", "req-of-the-killed-run"),
    ]


def test_in_flight_step_that_landed_is_verified_not_resent(rig: Rig) -> None:
    plan = rig.plan()
    step = action(plan, NORTHWIND, ActionType.SUSPEND, NORTHWIND_EXCHANGE)
    # The killed run journaled the start and its PATCH reached the service; then it died.
    rig.journal_line("start", step, "req-landed")
    rig.client.update_subscription(
        NORTHWIND, NORTHWIND_EXCHANGE, status="suspended", request_id="req-landed"
    )

    report = rig.apply(plan)

    (result,) = [r for r in report.results if r.action == step]
    assert result.outcome is Outcome.ALREADY and "interrupted run" in result.message
    assert len(rig.mutations_of(NORTHWIND_EXCHANGE)) == 1  # not sent again
    assert outcomes(report, NORTHWIND) == [Outcome.ALREADY, Outcome.DONE, Outcome.DONE]
    audit = [r for r in read_jsonl(rig.audit_path) if r["request_id"] == "req-landed"]
    assert [r["result"] for r in audit] == ["verified"]  # the mutation is in the audit log

    # A further run finds the step finished in the journal: nothing new is logged or sent.
    before = len(read_jsonl(rig.audit_path))
    again = rig.apply(plan)
    assert {r.outcome for r in again.results} == {Outcome.ALREADY}
    assert len(read_jsonl(rig.audit_path)) == before
    assert len(rig.app.mutations) == EXAMPLE_ACTIONS


def test_a_step_audited_before_the_crash_is_not_audited_twice(rig: Rig) -> None:
    plan = rig.plan()
    step = action(plan, FABRIKAM, ActionType.DISABLE_AUTO_RENEW)
    # Killed after the audit line and before the journal's `done`.
    rig.journal_line("start", step, "req-audited")
    rig.client.update_subscription(
        FABRIKAM, step.target_id, auto_renew=False, request_id="req-audited"
    )
    AuditLog(rig.audit_path).record(
        customer_id=FABRIKAM,
        action=str(step.type),
        target_id=step.target_id,
        result="done",
        request_id="req-audited",
    )

    rig.apply(plan)

    audit = [r for r in read_jsonl(rig.audit_path) if r["request_id"] == "req-audited"]
    assert [r["result"] for r in audit] == ["done"]


def test_a_finished_step_is_neither_reread_nor_resent(rig: Rig) -> None:
    plan = rig.plan()
    step = action(plan, FABRIKAM, ActionType.DISABLE_AUTO_RENEW)
    rig.journal_line("start", step, "req-1")
    rig.journal_line("done", step, "req-1", result="done")

    report = rig.apply(plan)

    (result,) = [r for r in report.results if r.action == step]
    assert result.outcome is Outcome.ALREADY
    assert "journal" in result.message
    assert rig.mutations_of(step.target_id) == []
    assert not [r for r in rig.app.requests if step.target_id in r.path]


def test_a_step_that_failed_is_retried_as_a_new_call(rig: Rig) -> None:
    plan = rig.plan()
    step = action(plan, FABRIKAM, ActionType.DISABLE_AUTO_RENEW)
    rig.journal_line("start", step, "req-refused")
    rig.journal_line("failed", step, "req-refused", error="Partner Center 409")

    rig.apply(plan)

    (sent,) = rig.mutations_of(step.target_id)
    # The service answered the old call: the documentation asks for a new MS-RequestId.
    assert sent["request_id"] not in ("req-refused", None)


def test_a_line_cut_short_by_a_crash_loses_nothing_after_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(
        '{"event": "start", "action": "a", "request_id": "r-a"}\n'
        '{"event": "done", "action": "a", "request_id": "r-a"}\n'
        '{"event": "start", "action": "b", "requ'
    )
    journal = Journal(path)
    assert journal.finished("a") and journal.in_flight("b") is None
    journal.start("c", "r-c")

    replayed = Journal(path)
    assert replayed.finished("a")
    in_flight = replayed.in_flight("c")
    assert in_flight is not None and in_flight.request_id == "r-c"


# --- re-checks before destructive steps ----------------------------------------------------


def test_a_vanished_subscription_stops_that_customer_only(rig: Rig) -> None:
    plan = rig.plan()
    subs = rig.app.state.data["subscriptions"][NORTHWIND]
    subs[:] = [s for s in subs if s["id"] != NORTHWIND_EXCHANGE]

    report = rig.apply(plan)

    assert outcomes(report, NORTHWIND) == [Outcome.FAILED, Outcome.SKIPPED, Outcome.SKIPPED]
    (failed,) = report.failed
    assert f"subscription {NORTHWIND_EXCHANGE} no longer exists" in failed.message
    assert not [m for m in rig.app.mutations if m["customer_id"] == NORTHWIND]
    assert report.count(Outcome.DONE) == EXAMPLE_ACTIONS - 3


def test_removal_is_rechecked_against_new_subscriptions(rig: Rig) -> None:
    plan = rig.plan()
    fresh = dict(rig.app.state.subscription(NORTHWIND, NORTHWIND_E1), id="new-legacy-sub")
    rig.app.state.add_subscription(NORTHWIND, fresh | {"status": "active"})

    report = rig.apply(plan)

    assert outcomes(report, NORTHWIND) == [Outcome.DONE, Outcome.DONE, Outcome.FAILED]
    (failed,) = report.failed
    assert "removal still blocked" in failed.message and "new-legacy-sub" in failed.message
    assert rig.mutations_of(NORTHWIND) == []  # the relationship was kept


def test_removal_is_refused_when_the_domain_changed(rig: Rig) -> None:
    plan = rig.plan()
    customer = rig.app.state.customer(WIDE_WORLD)
    customer["companyProfile"]["domain"] = "someone-else.onmicrosoft.com"

    report = rig.apply(plan)

    assert outcomes(report, WIDE_WORLD) == [Outcome.DONE, Outcome.FAILED]
    (failed,) = report.failed
    assert "someone-else.onmicrosoft.com" in failed.message
    assert "refusing to remove" in failed.message
    assert rig.mutations_of(WIDE_WORLD) == []


def test_something_already_done_by_someone_else_is_not_sent(rig: Rig) -> None:
    plan = rig.plan()
    rig.app.state.patch_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, {"status": "deleted"})

    report = rig.apply(plan)

    assert outcomes(report, ADVENTURE_WORKS) == [Outcome.ALREADY, Outcome.DONE]
    assert len(rig.mutations_of(ADVENTURE_WORKS_NCE)) == 1  # only the other party's change


# --- order and parallelism ---------------------------------------------------------------------


class Watch:
    """WSGI middleware: records how many changes (PATCH, POST) overlap, overall and per
    customer.

    Each customer's first change waits at the door until every customer with actions has
    sent its first (an event; the timeout is only a safety net). So an overlap of
    customers is certain whenever the executor really runs them in parallel, and a second
    step of a customer sent before its first was answered would arrive while the first is
    held, and show as an overlap of that customer.
    """

    def __init__(self, app: FakePartnerCenter) -> None:
        self.app = app
        self.customers = 0  # how many customers have actions: set once the plan is made
        self.lock = threading.Lock()
        self.running: dict[str, int] = defaultdict(int)
        self.peak_total = 0
        self.peak_customer: dict[str, int] = defaultdict(int)
        self.started: set[str] = set()
        self.all_started = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            return self.app(environ, start_response)
        customer = environ["PATH_INFO"].split("/")[3]
        with self.lock:
            self.running[customer] += 1
            self.peak_total = max(self.peak_total, sum(self.running.values()))
            self.peak_customer[customer] = max(self.peak_customer[customer], self.running[customer])
            first = customer not in self.started
            self.started.add(customer)
            if len(self.started) == self.customers:
                self.all_started.set()
        try:
            if first:
                assert self.all_started.wait(SAFETY_SECONDS), "not every customer started"
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.running[customer] -= 1


def test_customers_in_parallel_each_customers_steps_in_plan_order(tmp_path: Path) -> None:
    app = FakePartnerCenter(example_state())
    watch = Watch(app)
    with client_for(watch) as client:
        rig = Rig(app, client, example_desired(), tmp_path)
        plan = rig.plan()
        watch.customers = len({a.customer_id for a in plan.actions})
        assert watch.customers <= 8  # the workers: each can hold one customer's first step
        report = rig.apply(plan, workers=8)

    assert report.count(Outcome.DONE) == EXAMPLE_ACTIONS
    assert watch.peak_total == watch.customers  # every customer at once
    assert set(watch.peak_customer.values()) == {1}  # but never two steps of one customer
    for customer in plan.customer_ids():
        planned = [a.target_id for a in plan.actions if a.customer_id == customer]
        sent = [m["target"] for m in app.mutations if m["customer_id"] == customer]
        assert sent == planned, customer


# --- an answer lost on the way back --------------------------------------------------------------


def test_a_change_that_landed_before_a_timeout_is_not_a_failure(tmp_path: Path) -> None:
    """The first PATCH outlives the client's timeout but lands; its retry, under the same id,
    is answered as the first was."""
    state_file = tmp_path / "live.json"
    example_state().save(state_file)
    targets = (f"/subscriptions/{ADVENTURE_WORKS_NCE}$", f"/customers/{NORTHWIND}$")
    with FakeServer(state_file) as server, ExitStack() as holds:
        for path in targets:
            # The first attempt waits at the fake until the client has given up on it and
            # sent the retry; the retry waits until the first has landed. Events, so the
            # timeout is certain and the retry always comes after the change.
            gave_up = threading.Event()
            first = holds.enter_context(server.app.hold("PATCH", path, until=gave_up))
            holds.enter_context(
                server.app.hold("PATCH", path, until=first.answered, arrived=gave_up)
            )
        with PartnerCenterClient(
            server.url,
            StaticToken(TOKEN),
            # Only these first attempts time out; every other request has the default timeout.
            transport=FirstAttemptTimesOut("PATCH", "|".join(targets), read=0.2),
            limits=Limits(rate_per_minute=100_000),
        ) as client:
            rig = Rig(server.app, client, example_desired(), tmp_path)
            report = rig.apply(rig.plan())
        patches = [r for r in server.app.requests if r.method == "PATCH"]

    assert not report.failed, [r.message for r in report.failed]
    # Each retry reached the service after the first attempt had landed, under the same
    # request id (no answer had come): the service answered it as it had the first
    # (docs/partner-center.md), and did nothing again.
    for path in (
        f"/v1/customers/{ADVENTURE_WORKS}/subscriptions/{ADVENTURE_WORKS_NCE}",
        f"/v1/customers/{NORTHWIND}",
    ):
        first, retry = [r for r in patches if r.path == path]
        assert (first.status, retry.status) == (200, 200)
        assert first.request_id == retry.request_id
    for target in (ADVENTURE_WORKS_NCE, NORTHWIND):
        assert len(rig.mutations_of(target)) == 1
    results = {r["target_id"]: r["result"] for r in read_jsonl(rig.audit_path)}
    assert results[ADVENTURE_WORKS_NCE] == results[NORTHWIND] == "done"
