"""SIGINT and SIGTERM (exit 130): a signal mid-apply lets the steps in flight finish and
starts no other, in any worker; the summary counts what was not started, which is not
journaled, so a rerun does it and nothing is sent twice. GitHub's SIGTERM after its SIGINT
still lets the steps finish; a second SIGINT stops at once, leaving the steps in flight to
the next run's verification. plan, drift and import stop with one line. The installed
`pcr` as a subprocess against the fake over loopback; every wait ends on an event (a
request at the fake's door, a line on stderr)."""

from __future__ import annotations

import io
import logging
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from reconciler import cli
from reconciler import interrupts
from reconciler.apply.executor import Executor
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.fake import FakePartnerCenter
from reconciler.fake.app import Hold
from reconciler.fake.server import FakeServer
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.read import read_live
from reconciler.plan.actions import Outcome
from reconciler.plan.planner import make_plan
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import read_jsonl
from tests.apply.support import run_apply
from tests.apply.test_catalogue import AZURE_PLAN
from tests.apply.test_catalogue import LEAVING
from tests.apply.test_catalogue import build_state
from tests.apply.test_executor import NOW
from tests.apply.test_executor import client_for
from tests.apply.test_executor import example_desired
from tests.apply.test_executor import example_state
from tests.graphs import graph_beside
from tests.plan import builders

SAFETY_SECONDS = 120  # a net for a hung process, never a measure of speed
CUSTOMERS = 6  # the example plan's customers: each one's first step is a PATCH
FINISHING = "finishing the steps in flight, starting no new one"
STOPPED = "stopped at once; the steps in flight stay in the journal as started"


class Stderr:
    """A process's stderr, read line by line in a thread, so that a test can wait for a line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text: str) -> None:
        """Until a line holds `text`; fails if the stream ends first."""

        def said() -> bool:
            return any(text in line for line in self.lines)

        with self._changed:
            self._changed.wait_for(lambda: said() or self._ended, SAFETY_SECONDS)
            assert said(), f"never said {text!r}: {''.join(self.lines)}"

    def text(self) -> str:
        """Everything, once the process has ended."""
        self._reader.join(SAFETY_SECONDS)
        return "".join(self.lines)


@dataclass
class Run:
    process: subprocess.Popen[str]
    stderr: Stderr

    def finish(self) -> tuple[int, str]:
        return self.process.wait(SAFETY_SECONDS), self.stderr.text()


@contextmanager
def started(args: list[str], cwd: Path) -> Iterator[Run]:
    """The installed `pcr` as CI runs it (no terminal), its stdout to a file."""
    with (cwd / "stdout.txt").open("w") as stdout:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=pcr_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        try:
            yield Run(process, Stderr(process.stderr))
        finally:
            if process.poll() is None:  # a failed test: leave no process behind
                process.kill()
                process.wait(SAFETY_SECONDS)


def wait_until_held(held: Hold, count: int, run: Run) -> None:
    """Until `count` requests wait at the fake's door: one event per arrival."""
    while held.caught < count:
        if held.arrived.wait(0.2):
            held.arrived.clear()  # `caught` counts an arrival before it sets the event
        elif run.process.poll() is not None:
            _, err = run.finish()
            raise AssertionError(f"pcr ended with {held.caught} of {count} requests held: {err}")


def journal_events(estate: Estate) -> Counter[str]:
    return Counter(str(r["event"]) for r in read_jsonl(estate.journal()))


def signalled_mid_apply(
    pcr: str, estate: Estate, server: FakeServer, *signals: signal.Signals
) -> str:
    """Apply with every customer's first change held; `signals` once they are all in
    flight, each one seen handled (its line on stderr) before the next."""
    with server.app.hold("PATCH", r"/customers/", count=None) as held:
        with started(apply_command(pcr, "--endpoint", server.url), estate.root) as run:
            wait_until_held(held, CUSTOMERS, run)
            before = len(server.app.requests)
            for sig in signals:
                run.process.send_signal(sig)
                run.stderr.wait_for(sig.name)  # handled: its line names it
            held.release()
            code, err = run.finish()
        after = server.app.requests[before:]
        assert code == interrupts.EXIT_CODE, err
        # Nothing at all after the signal but the changes in flight: no new step's
        # reads, no new step's change, in any worker.
        assert [r.method for r in after] == ["PATCH"] * CUSTOMERS, after
        assert {r.request_id for r in after} == set(held.request_ids)
        assert held.caught == CUSTOMERS
    return err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_apply_finishes_the_steps_in_flight_and_starts_no_other(
    planned: Estate, pcr_executable: str, sig: signal.Signals
) -> None:
    estate, left = planned, EXAMPLE_ACTIONS - CUSTOMERS
    with FakeServer(estate.live) as server:
        err = signalled_mid_apply(pcr_executable, estate, server, sig)
        assert len(server.app.mutations) == CUSTOMERS
        # Each step in flight was journaled done; the rest not at all, so a rerun does them.
        assert journal_events(estate) == {"start": CUSTOMERS, "done": CUSTOMERS}
        rerun = run_apply(pcr_executable, estate, "--endpoint", server.url)
        mutations = server.app.mutations
    assert f"pcr: interrupted ({sig.name}): {FINISHING} (Ctrl+C again stops at once)" in err
    assert (
        f"Apply: {CUSTOMERS} done, 0 already in place, 0 skipped, 0 failed, "
        f"{left} not started: interrupted, " in err
    )
    assert err.count("\n  not started ") == left  # each one named in the summary
    assert f"pcr: applied {CUSTOMERS} of {EXAMPLE_ACTIONS} steps" in err
    steps = "1 step" if left == 1 else f"{left} steps"
    last = f"pcr: interrupted: {steps} not started; the next `pcr apply` does them"
    assert err.rstrip().endswith(last)
    assert "aborted" not in err and "Traceback" not in err
    assert rerun.returncode == 0, rerun.stderr
    assert f"Apply: {left} done, {CUSTOMERS} already in place, 0 skipped, 0 failed" in (
        rerun.stderr
    )
    assert len(mutations) == EXAMPLE_ACTIONS
    assert_each_mutation_once(mutations)


def test_a_sigterm_after_the_sigint_lets_the_steps_in_flight_finish(
    planned: Estate, pcr_executable: str
) -> None:
    """GitHub's cancel: SIGINT, then SIGTERM 7.5 s later; the steps still finish."""
    with FakeServer(planned.live) as server:
        err = signalled_mid_apply(pcr_executable, planned, server, signal.SIGINT, signal.SIGTERM)
        assert len(server.app.mutations) == CUSTOMERS
    assert "pcr: SIGTERM: still finishing the steps in flight (SIGINT stops at once)" in err
    assert f"Apply: {CUSTOMERS} done, " in err
    assert journal_events(planned) == {"start": CUSTOMERS, "done": CUSTOMERS}


def test_a_second_sigint_stops_at_once(planned: Estate, pcr_executable: str) -> None:
    estate = planned
    with FakeServer(estate.live) as server:
        with server.app.hold("PATCH", r"/customers/", count=None) as held:
            args = apply_command(pcr_executable, "--endpoint", server.url)
            with started(args, estate.root) as run:
                wait_until_held(held, CUSTOMERS, run)
                run.process.send_signal(signal.SIGINT)
                run.stderr.wait_for(FINISHING)
                run.process.send_signal(signal.SIGINT)
                # It ends while its changes still wait at the door: at once.
                code, err = run.finish()
            assert server.app.mutations == []
            # In flight: `start` without `done`, for the next run to verify.
            assert journal_events(estate) == {"start": CUSTOMERS}
            held.release()
            while len(server.app.mutations) < CUSTOMERS:  # they land; nobody hears it
                assert held.answered.wait(SAFETY_SECONDS)
                held.answered.clear()
        resumed = run_apply(pcr_executable, estate, "--endpoint", server.url)
        mutations = server.app.mutations
    assert code == interrupts.EXIT_CODE, err
    assert f"pcr: interrupted again (SIGINT): {STOPPED}, and the next run verifies them" in err
    assert "Apply:" not in err and "Traceback" not in err
    assert resumed.returncode == 0, resumed.stderr
    assert "removing a stale lock" in resumed.stderr  # the process that held it is gone
    assert resumed.stderr.count("(sent by an interrupted run)") == CUSTOMERS
    assert len(mutations) == EXAMPLE_ACTIONS
    assert_each_mutation_once(mutations)


READERS = {
    "plan": ["plan", "--desired", "desired-state", "--out", "new-plan.json"],
    "drift": ["drift", "--desired", "desired-state"],
    "import": ["import", "--out", "imported"],
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(READERS))
def test_an_interrupted_read_exits_130_with_one_line(
    tmp_path: Path, pcr_executable: str, command: str, sig: signal.Signals
) -> None:
    estate = make_estate(tmp_path / "estate")
    # One customer's subscriptions wait at the door: reads are in flight in a pool.
    with FakeServer(estate.live) as server, server.app.hold("GET", r"/subscriptions$") as held:
        args = [pcr_executable, *READERS[command], "--endpoint", server.url]
        with started(args, estate.root) as run:
            wait_until_held(held, 1, run)
            run.process.send_signal(sig)
            # It ends while a read still waits at the door: nothing is awaited.
            code, err = run.finish()
    assert (code, err) == (interrupts.EXIT_CODE, "pcr: interrupted\n")
    assert (estate.root / "stdout.txt").read_text() == ""
    assert not (estate.root / "new-plan.json").exists()
    assert not (estate.root / "imported").exists()
    assert not list(estate.root.glob(".new-plan.json.*"))


# -- in process: the executor and the signal handling on their own ------------------------


def test_steps_after_a_stop_are_not_started_and_not_journaled(tmp_path: Path) -> None:
    app = FakePartnerCenter(example_state())
    desired = example_desired()
    with client_for(app) as client:
        plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)

        def executor() -> Executor:
            return Executor(client, Journal(tmp_path / "j"), AuditLog(tmp_path / "a"), NOW)

        first = executor()
        # One customer at a time; the stop comes as the first step ends.
        report = first.apply(plan, workers=1, progress=lambda result: first.stop.set())
        assert report.count(Outcome.DONE) == 1
        assert report.count(Outcome.NOT_STARTED) == EXAMPLE_ACTIONS - 1
        assert len(read_jsonl(tmp_path / "j")) == 2  # the one step's start and done
        again = executor().apply(plan)
    assert again.count(Outcome.DONE) == EXAMPLE_ACTIONS - 1
    assert again.count(Outcome.ALREADY) == 1
    assert_each_mutation_once(app.mutations)


def test_a_stop_ends_the_wait_for_azure_cancellations(tmp_path: Path) -> None:
    state = build_state()
    state.set_azure_cancel_reads(10_000)  # never settles: only the stop ends the wait
    stop = threading.Event()
    client = PartnerCenterClient(
        "https://pc.test",
        StaticToken("t"),
        transport=httpx.WSGITransport(app=FakePartnerCenter(state)),
        limits=Limits(rate_per_minute=100_000),
        sleep=lambda seconds: stop.set(),  # the signal comes during the first pause
    )
    leaving = builders.customer(
        LEAVING, name="Alpine Ski House", domain="alpineskihouse.onmicrosoft.com"
    )
    desired, _ = builders.estate((leaving, None))
    with client:
        plan = make_plan(desired, read_live(client, desired, graph=graph_beside(client)), NOW)
        azure = [a for a in plan.actions if AZURE_PLAN in (a.parent_id, a.target_id)]
        journal = Journal(tmp_path / "j")
        audit = AuditLog(tmp_path / "a")
        results = Executor(client, journal, audit, NOW, stop=stop).run_customer(azure, None)
    suspend = results[-1]
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE, Outcome.NOT_STARTED]
    assert "interrupted while waiting for Azure subscriptions" in suspend.message
    # Nothing was sent: never `failed`; its `start` is left for the next run to re-read.
    assert journal.steps[suspend.action.id].event == "start"
    assert [r["result"] for r in read_jsonl(tmp_path / "a")] == ["done", "done"]
    assert state.subscription(LEAVING, AZURE_PLAN)["status"] == "active"


def test_a_signal_in_a_held_section_is_acted_on_at_its_end() -> None:
    went_on = False
    with interrupts.handled(), pytest.raises(interrupts.Interrupted), interrupts.held():
        signal.raise_signal(signal.SIGTERM)
        went_on = True
    assert went_on


def test_a_first_signal_while_graceful_only_sets_the_stop() -> None:
    stop = threading.Event()
    with interrupts.handled(), interrupts.graceful(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
    with interrupts.handled(), pytest.raises(interrupts.Interrupted):
        signal.raise_signal(signal.SIGINT)  # outside: nothing to finish, it stops
    assert signal.getsignal(signal.SIGINT) is not interrupts._handle  # put back


def test_pcr_installs_the_filter_on_its_log_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    cli.main(["--version"])
    assert interrupts.not_after_interrupt in handler.filters


def test_nothing_is_logged_once_a_read_is_interrupted(caplog: pytest.LogCaptureFixture) -> None:
    """The threads of an interrupted read may still fail as their clients close under them
    (a retry after a closed connection): the user was told "interrupted", and that is all."""
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(interrupts.not_after_interrupt)
    log = logging.getLogger("pcr.test.interrupted")
    log.addHandler(handler)
    try:
        with interrupts.handled():
            log.warning("before")
            with pytest.raises(interrupts.Interrupted):
                signal.raise_signal(signal.SIGINT)
            reader = threading.Thread(target=log.warning, args=("retrying in 0.5 s",))
            reader.start()
            reader.join()
        log.warning("after the run")  # a new run in this process says what it says
    finally:
        log.removeHandler(handler)
    assert handler.stream.getvalue() == "before\nafter the run\n"
