"""Apply near the minimum of calls: a reversible subscription change is written from the
read the run has just made, an irreversible one is read again right before it."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.partnercenter.fake.server import FakeServer
from tests.apply.support import EXAMPLE_ACTIONS, NOW, make_estate, run_pcr, save_plan

ONE_SUBSCRIPTION = re.compile(r"^/v1/customers/[^/]+/subscriptions/[^/]+$")


def test_reversible_changes_need_no_second_read_and_irreversible_ones_get_it(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    planned = save_plan(pcr_executable, estate)
    irreversible = {
        a["target_id"] for a in planned["actions"] if a["type"] == "cancel_subscription"
    }
    with FakeServer(estate.live) as server:
        applied = run_pcr(
            pcr_executable,
            *("apply", "--desired", "desired-state", "--endpoint", server.url, "--now", NOW),
            "--auto-approve",
            cwd=estate.root,
        )
        requests = list(server.app.requests)
    assert applied.returncode == 0, applied.stderr
    patched = [r.path for r in requests if r.method == "PATCH" and ONE_SUBSCRIPTION.match(r.path)]
    read_again = [r.path for r in requests if r.method == "GET" and ONE_SUBSCRIPTION.match(r.path)]
    assert len(estate.mutations()) == EXAMPLE_ACTIONS
    # Read again: an irreversible cancellation, and a second change of one subscription
    # (its first change made the run's read of it old). Every other change: no read.
    second = {p for p in patched if patched.count(p) > 1}
    expected = {p for p in read_again if p.rsplit("/", 1)[1] in irreversible} | second
    assert set(read_again) == expected
    assert len(read_again) == len(irreversible) + len(second) < len(patched)
