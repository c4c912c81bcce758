"""Apply under a misbehaving Partner Center: throttling and 409/5xx storms still converge and
honour Retry-After; a customer whose calls always fail leaves the others done."""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict

from reconciler.fake.app import RequestRecord
from reconciler.fake.server import FakeServer
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from tests.apply.support import ADVENTURE_WORKS
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import FABRIKAM
from tests.apply.support import NORTHWIND
from tests.apply.support import WIDE_WORLD
from tests.apply.support import Estate
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import run_apply


def changes(requests: list[RequestRecord]) -> list[list[RequestRecord]]:
    """The PATCHes, as calls: a resource's attempts up to and including one accepted."""
    open_calls: dict[str, list[RequestRecord]] = defaultdict(list)
    calls = []
    for request in requests:
        if request.method != "PATCH":
            continue
        open_calls[request.path].append(request)
        if request.status < 300:
            calls.append(open_calls.pop(request.path))
    return calls + list(open_calls.values())


def test_429_409_and_5xx_storms_converge_honouring_retry_after(
    planned: Estate, pcr_executable: str
) -> None:
    estate = planned
    with FakeServer(estate.live) as server:
        # Every change of these customers is answered twice with an error before it goes through.
        server.app.add_fault(
            "PATCH", f"/customers/{NORTHWIND}/", status=429, count=2, retry_after=1
        )
        server.app.add_fault("PATCH", f"/customers/{FABRIKAM}/", status=409, count=2, retry_after=1)
        server.app.add_fault(
            "PATCH", f"/customers/{ADVENTURE_WORKS}/", status=503, count=2, retry_after=1
        )
        server.app.add_fault("GET", f"/customers/{WIDE_WORLD}/orders/", status=500, count=2)
        applied = run_apply(pcr_executable, estate, "--endpoint", server.url)
        requests = server.app.requests

    assert applied.returncode == 0, applied.stderr
    assert "13 done" in applied.stderr and "0 failed" in applied.stderr
    assert_each_mutation_once(estate.mutations())
    calls = changes(requests)
    retried = sorted([r.status for r in attempts] for attempts in calls if len(attempts) > 1)
    # Each faulted change was retried until it was accepted, each attempt under a new
    # request id, as an answer had come (docs/partner-center.md).
    assert retried == [[409, 409, 200], [429, 429, 200], [503, 503, 200]]
    assert all(attempts[-1].status == 200 for attempts in calls)
    for attempts in calls:
        assert len({r.request_id for r in attempts}) == len(attempts)
        # Each retry came at least the Retry-After after the answer that asked for it (the
        # fake's own clock: nothing here times pcr).
        for answer, retry in itertools.pairwise(attempts):
            assert retry.arrived - answer.answered >= 1.0, (answer, retry)


def test_a_throttled_run_converges(planned: Estate, pcr_executable: str) -> None:
    """The fake's own rate limit (30 requests a second) answers a burst with 429 + Retry-After."""
    estate = planned
    with FakeServer(estate.live) as server:
        server.app.state.set_throttle(30, window_seconds=1.0)
        applied = run_apply(pcr_executable, estate, "--endpoint", server.url)
        throttled = [r for r in server.app.requests if r.status == 429]

    assert applied.returncode == 0, applied.stderr
    assert throttled, "the run never hit the throttle: the test proves nothing"
    assert "13 done" in applied.stderr
    assert_each_mutation_once(estate.mutations())


def test_one_failing_customer_leaves_the_others_done(planned: Estate, pcr_executable: str) -> None:
    estate = planned
    plan = json.loads(estate.plan.read_text())
    northwind = [a for a in plan["actions"] if a["customer_id"] == NORTHWIND]
    assert len(northwind) == 3
    # Every change to Northwind fails with a 500 (retried at once: Retry-After 0).
    estate.add_faults(
        {"method": "PATCH", "path": f"/customers/{NORTHWIND}", "status": 500, "count": None,
         "retry_after": 0}
    )  # fmt: skip

    failed = run_apply(pcr_executable, estate)

    assert failed.returncode == 1
    assert (
        "Apply: 10 done, 0 already in place, 2 skipped, 1 failed, 2 deferred, 1 blocked."
        in failed.stderr
    )
    # The summary names each step as the plan does: its verb and its target.
    first, *rest = (
        f"Northwind Traders: {kind_of(ActionType(a['type'])).verb} {a['target_name']}"
        for a in northwind
    )
    assert re.search(
        rf"  failed   {re.escape(first)} — Partner Center 500 .*gave up after 6 attempts",
        failed.stderr,
    )
    for skipped in rest:
        assert f"  skipped  {skipped} — not run: suspend failed" in failed.stderr
    mutations = estate.mutations()
    assert len(mutations) == EXAMPLE_ACTIONS - 3
    assert not [m for m in mutations if m["customer_id"] == NORTHWIND]

    # Partner Center recovers: the same saved plan finishes Northwind and repeats nothing.
    data = estate.live_data()
    data["faults"] = []
    estate.live.write_text(json.dumps(data))
    resumed = run_apply(pcr_executable, estate)

    assert resumed.returncode == 0, resumed.stderr
    assert "Apply: 3 done, 10 already in place, 0 skipped, 0 failed" in resumed.stderr
    assert_each_mutation_once(estate.mutations())
    assert len(estate.mutations()) == EXAMPLE_ACTIONS
