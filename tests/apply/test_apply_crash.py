"""`pcr apply` killed with SIGKILL at random points and run again with the same saved plan:
it converges, and no change ever reaches Partner Center twice."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.journal import Journal
from reconciler.partnercenter.fake_server import FakeServer
from tests.apply.support import (
    EXAMPLE_ACTIONS,
    NOW,
    Estate,
    apply_command,
    assert_each_mutation_once,
    copy_estate,
    pcr_env,
    read_jsonl,
    run_pcr,
)

SEED = 20261122


@dataclass
class Tally:
    kills: int = 0
    in_flight: int = 0  # kills that left a step started and never answered
    stderr: list[str] = field(default_factory=list)


def journal_size(estate: Estate) -> int:
    return sum(path.stat().st_size for path in estate.state_dir.glob("journal-*.jsonl"))


def run_and_kill(command: list[str], estate: Estate, delay: float, tally: Tally) -> int | None:
    """Run `command` in the estate and SIGKILL it `delay` seconds after it starts to change
    things (its journal grows). Its exit code if it finished first, else None."""
    before = journal_size(estate)
    process = subprocess.Popen(
        command,
        cwd=estate.root,
        env=pcr_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while process.poll() is None and journal_size(estate) == before:
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("apply made no progress in 30 s")
        time.sleep(0.01)
    try:
        _, stderr = process.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()  # reaps it: its pid is then really dead
        tally.stderr.append(stderr)
        tally.kills += 1
        (journal,) = estate.state_dir.glob("journal-*.jsonl")
        tally.in_flight += any(step.event == "start" for step in Journal(journal).steps.values())
        return None
    tally.stderr.append(stderr)
    return process.returncode


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
    assert replanned.returncode == 2


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
        server = FakeServer(estate.live).start()
        # Slow changes, so that kills often land while one is on the wire; the server
        # sleeps before it acts, so a change sent by a killed run lands after it died.
        server.app.add_fault("PATCH", ".", latency=0.3, count=None)
        server.app.add_fault("GET", ".", latency=0.01, count=None)
        return estate, server

    estate, server = new_round()
    try:
        for _ in range(10):  # kill points; a run that finishes first starts a new round
            command = apply_command(pcr_executable, "--endpoint", server.url)
            code = run_and_kill(command, estate, rng.uniform(0.0, 0.7), tally)
            if code is not None:
                assert code == 0, tally.stderr[-1]
                server.stop()
                assert_converged_once(pcr_executable, estate)
                estate, server = new_round()
        command = apply_command(pcr_executable, "--endpoint", server.url)
        assert run_and_kill(command, estate, 60, tally) == 0, tally.stderr[-1]
    finally:
        server.stop()
    assert_converged_once(pcr_executable, estate)

    assert tally.kills >= 5, tally  # most random points hit a running apply
    assert tally.in_flight >= 1, tally  # and some of them a change on the wire
    assert any("removing a stale lock" in text for text in tally.stderr)


def test_sigkill_at_random_points_in_process(planned: Estate, pcr_executable: str) -> None:
    """The fake inside the killed process: a change cut off mid-call never landed, and the
    next run sends it again under the same request id."""
    planned.add_faults({"method": "PATCH", "path": ".", "latency": 0.25, "count": None})
    rng = random.Random(SEED + 1)
    tally = Tally()
    command = apply_command(pcr_executable)
    for _ in range(4):
        if run_and_kill(command, planned, rng.uniform(0.0, 0.3), tally) is not None:
            break
    assert run_and_kill(command, planned, 60, tally) == 0, tally.stderr[-1]

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
