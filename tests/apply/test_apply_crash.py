"""`pcr apply` killed with SIGKILL at random points and run again with the same saved plan:
it converges, and no change ever reaches Partner Center twice.

Every kill point is an event, never a timer: a request reaching the fake (held there
until the killed client is dead), a request the fake has just answered, or a line the run
writes once a step is done. So a loaded machine moves nothing but the clock."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from reconciler.fake.server import FakeServer
from tests.apply.killing import SAFETY_SECONDS
from tests.apply.killing import STEP_DONE
from tests.apply.killing import Run
from tests.apply.killing import Tally
from tests.apply.killing import run_to_the_end
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import copy_estate
from tests.apply.support import read_jsonl
from tests.apply.support import run_pcr

SEED = 20261122


def assert_converged_once(pcr: str, estate: Estate) -> None:
    mutations = estate.mutations()
    assert len(mutations) == EXAMPLE_ACTIONS
    assert_each_mutation_once(mutations)
    # Every change is in the audit log exactly once, under the request id that carried it
    # (`verified` when the run that sent it was killed before it could write the line).
    audit = read_jsonl(estate.audit)
    assert sorted(r["request_id"] for r in audit) == sorted(m["request_id"] for m in mutations)
    assert {r["result"] for r in audit} <= {"done", "verified"}
    replanned = run_pcr(
        pcr,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        "--detailed-exitcode",
        cwd=estate.root,
    )
    assert "Plan: 0 to change, 2 deferred, 1 blocked" in replanned.stdout
    assert replanned.returncode == 0  # waiting items are no changes


def test_sigkill_at_random_points_over_loopback(
    tmp_path: Path, planned_template: Estate, pcr_executable: str
) -> None:
    """Against the fake on loopback, where a killed client's last request may still land."""
    rng = random.Random(SEED)
    tally = Tally()
    rounds: list[Estate] = []

    def new_round() -> tuple[Estate, FakeServer]:
        estate = copy_estate(planned_template, tmp_path / f"round-{len(rounds)}")
        rounds.append(estate)
        return estate, FakeServer(estate.live).start()

    def kill_once(estate: Estate, server: FakeServer) -> int | None:
        """One run, killed when the fake gets (or has answered) one of its first changes."""
        nth, on_the_wire = rng.randint(1, 3), rng.random() < 0.5
        stop = threading.Event()
        if on_the_wire:
            # The change waits at the fake's door while its client is killed, and lands
            # only after the client is dead.
            hold = server.app.hold("PATCH", ".", skip=nth - 1, arrived=stop)
        else:
            # The change landed and its answer is on the way back when the client dies.
            passing = threading.Event()
            passing.set()
            hold = server.app.hold("PATCH", ".", skip=nth - 1, until=passing, answered=stop)
        with hold:
            run = Run(apply_command(pcr_executable, "--endpoint", server.url), estate, stop)
            run.wait_for_stop()
            code = run.kill_or_exit_code(tally)
        if code is None and hold.caught:
            assert hold.answered.wait(SAFETY_SECONDS), "the held change never landed"
        return code

    estate, server = new_round()
    try:
        for _ in range(10):  # kill points; a run that finishes first starts a new round
            code = kill_once(estate, server)
            if code is not None:
                assert code == 0, tally.stderr[-1]
                server.stop()
                assert_converged_once(pcr_executable, estate)
                estate, server = new_round()
        command = apply_command(pcr_executable, "--endpoint", server.url)
        assert run_to_the_end(command, estate, tally) == 0, tally.stderr[-1]
    finally:
        server.stop()
    assert_converged_once(pcr_executable, estate)

    assert tally.kills >= 5, tally  # most kill points hit a running apply
    assert tally.in_flight >= 1, tally  # and some of them a change on the wire
    assert any("removing a stale lock" in text for text in tally.stderr)


def test_sigkill_at_random_points_in_process(planned: Estate, pcr_executable: str) -> None:
    """The fake inside the killed process: a change cut off mid-call never landed, and the
    next run sends it again under the same request id."""
    # Slow changes, so that while one step reports done, others are still on their way.
    planned.add_faults({"method": "PATCH", "path": ".", "latency": 0.25, "count": None})
    rng = random.Random(SEED + 1)
    tally = Tally()
    command = apply_command(pcr_executable)
    for _ in range(4):
        # Killed as it reports its nth step done in this run.
        run = Run(command, planned, threading.Event(), STEP_DONE.match, rng.randint(1, 3))
        run.wait_for_stop()
        if run.kill_or_exit_code(tally) is not None:
            break
    assert run_to_the_end(command, planned, tally) == 0, tally.stderr[-1]

    assert_converged_once(pcr_executable, planned)
    assert tally.kills >= 2 and tally.in_flight >= 1, tally
    journal = read_jsonl(next(planned.state_dir.glob("journal-*.jsonl")))
    started_twice = [
        r["request_id"]
        for r in journal
        if r["event"] == "start"
        and sum(o["event"] == "start" and o["action"] == r["action"] for o in journal) > 1
    ]
    sent = {m["request_id"] for m in planned.mutations()}
    assert started_twice and set(started_twice) & sent  # a resent step kept its request id
