"""A fault soak: 200 applies of the example estate, planned afresh each time, with service
faults and runs that die at random, some right after Partner Center took a change and
before anyone heard the answer (as a SIGKILL does). However they die, once a run has got
through its recovery every change that reached Partner Center is in the audit trail, and
none is sent twice. The reads run side by side (Partner Center and Graph each on a pool of
their own, over the one dying transport), so where runs die varies from one soak to the
next: the property must hold for every such soak."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.apply.executor import Executor
from reconciler.apply.journal import AUDIT_NAME
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.apply.journal import RunContext
from reconciler.apply.journal import journal_name
from reconciler.apply.journal import orphans
from reconciler.apply.state import StateStore
from reconciler.apply.state.local import LocalStore
from reconciler.commands.apply import fresh_run_key
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.read import read_live
from reconciler.plan.planner import make_plan
from tests.apply.support import assert_each_mutation_once
from tests.conftest import EXAMPLE
from tests.graphs import graph_beside
from tests.vanishing import NOW
from tests.vanishing import example_desired

RUNS = 100
KILL_CHANCE = 0.008  # per request; and 5 times that right after a change was taken


class Killed(BaseException):
    """The process is gone: nothing after this reaches Partner Center or any file.

    A BaseException, as SIGKILL leaves no chance to handle anything: the
    executor's `except Exception` does not see it.
    """


class Dying(httpx.BaseTransport):
    """The fake behind a transport that can die before a request, or after it was served."""

    def __init__(self, app: FakePartnerCenter, chance: random.Random, kill: float) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.random = chance
        self.kill = kill
        self.dead = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.dead or self.random.random() < self.kill:
            self.dead = True
            raise Killed
        response = self.inner.handle_request(request)
        if request.method != "GET" and self.random.random() < self.kill * 5:
            self.dead = True  # Partner Center took the change; its answer is lost
            raise Killed
        return response


def fresh_fake() -> FakePartnerCenter:
    return FakePartnerCenter(FakeState(json.loads((EXAMPLE / "fake-state.json").read_text())))


def one_run(
    app: FakePartnerCenter, store: StateStore, chance: random.Random, kill: float = KILL_CHANCE
) -> bool:
    """One apply, planned afresh; True when it had nothing left to do."""
    transport = Dying(app, chance, kill)
    client = PartnerCenterClient(
        "https://pc.test",
        StaticToken("tok-SOAK-7f3e2a91"),
        transport=transport,
        limits=Limits(rate_per_minute=1_000_000, max_attempts=3),
        sleep=lambda _: None,
    )
    desired = example_desired()
    with client:
        try:
            plan = make_plan(
                desired, read_live(client, desired, workers=1, graph=graph_beside(client)), NOW
            )
            key = fresh_run_key(plan)
            journal = Journal(store.records(journal_name(key)))
            audit = AuditLog(store.records(AUDIT_NAME), RunContext("soak", "", key))
            executor = Executor(client, journal, audit, NOW)
            executor.recover(orphans(store, journal))
            executor.apply(plan, workers=1)
        except Killed:
            return False
        except Exception:  # a run that failed (a fault it could not ride out): next run
            return False
    return not plan.actions  # and what killed runs left in flight was settled above


def settle(app: FakePartnerCenter, store: StateStore) -> None:
    """One more run, that nothing kills and no fault stops: its recovery verifies what the
    runs before it left in flight."""
    one_run(app, store, random.Random(0), kill=0.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    yield LocalStore(tmp_path / "state")


def audited(store: StateStore) -> set[str]:
    text = store.records(AUDIT_NAME).read()
    return {json.loads(line)["request_id"] for line in text.splitlines() if line.strip()}


def test_every_change_that_reached_partner_center_is_audited(store: LocalStore) -> None:
    chance = random.Random(20261201)  # a fixed seed: the same soak every time
    app, episodes, mutations = fresh_fake(), 0, []
    for run in range(RUNS):
        if run % 7 == 3:  # now and then the service itself fails for a while
            app.add_fault("*", "/customers/", status=503, count=chance.randint(1, 4))
        if one_run(app, store, chance):
            # Converged: check this estate's story, then start again on a fresh one.
            assert_each_mutation_once(app.state.mutations)
            mutations += app.state.mutations
            app, episodes = fresh_fake(), episodes + 1
    # The soak stops wherever chaos left it: a change the last killed run sent is settled
    # (verified, and audited) by the next run's recovery, as a user's next run does.
    settle(app, store)
    mutations += app.state.mutations
    assert episodes >= 10, "the soak must see many estates through to the end"
    missing = [m for m in mutations if m["request_id"] not in audited(store)]
    assert missing == [], f"{len(missing)} of {len(mutations)} changes not audited"
    verified = [
        json.loads(line)
        for line in store.records(AUDIT_NAME).read().splitlines()
        if '"verified"' in line
    ]
    assert verified, "some run must have died after a change landed, and been audited later"
