"""Every subscription change is written from a read of it by id, made for that write: the
PATCH body is the full resource, and a list's item is not shown to carry every field the
GET does (docs/partner-center.md). One read and one write a change, no more."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.fake.server import FakeServer
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import NOW
from tests.apply.support import make_estate
from tests.apply.support import run_pcr
from tests.apply.support import save_plan

ONE_SUBSCRIPTION = re.compile(r"^/v1/customers/[^/]+/subscriptions/[^/]+$")


def test_each_subscription_change_is_read_by_id_right_before_it_is_written(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    save_plan(pcr_executable, estate)
    with FakeServer(estate.live) as server:
        applied = run_pcr(
            pcr_executable,
            *("apply", "--desired", "desired-state", "--endpoint", server.url, "--now", NOW),
            "--auto-approve",
            cwd=estate.root,
        )
        requests = list(server.app.requests)
    assert applied.returncode == 0, applied.stderr
    assert len(estate.mutations()) == EXAMPLE_ACTIONS
    on_one = [r for r in requests if ONE_SUBSCRIPTION.match(r.path)]
    patched = [r for r in on_one if r.method == "PATCH"]
    assert patched
    for patch in patched:
        before = [r for r in on_one[: on_one.index(patch)] if r.path == patch.path]
        assert before and before[-1].method == "GET", patch.path  # its read, then the write
    reads = [r for r in on_one if r.method == "GET"]
    assert len(reads) <= len(patched) + len({p.path for p in patched})  # no more than that
