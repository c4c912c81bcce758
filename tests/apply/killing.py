"""Runs of the installed `pcr` that a test kills with SIGKILL at an event: a line the run
writes, or a request reaching (or answered by) the fake. Never a timer."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from reconciler.apply.journal import Journal
from tests.apply.support import Estate
from tests.apply.support import pcr_env

# Only a safety net: every wait below normally ends on an event within a second or two.
SAFETY_SECONDS = 120
# The line a run without a terminal writes once a step has sent its change and seen it done.
STEP_DONE = re.compile(r"^\[\d+/\d+\] done ")


@dataclass
class Tally:
    kills: int = 0
    in_flight: int = 0  # kills that left a step started and never answered
    stderr: list[str] = field(default_factory=list)


class Run:
    """`command` in the estate, its stderr read on a thread. `ended` is set when the run closes
    its stderr (it is exiting); `stop` then too, or before on the `nth` line `wake_on` matches
    (or whenever the caller's own event for it is set: a kill point)."""

    def __init__(
        self,
        command: list[str],
        estate: Estate,
        stop: threading.Event,
        wake_on: Callable[[str], object] = lambda line: False,
        nth: int = 1,
    ) -> None:
        self.estate, self.stop = estate, stop
        self.ended = threading.Event()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=estate.root,
            env=pcr_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(wake_on, nth), daemon=True)
        self._reader.start()

    def _read(self, wake_on: Callable[[str], object], nth: int) -> None:
        assert self.process.stderr is not None
        seen = 0
        for line in self.process.stderr:
            self.lines.append(line)
            if wake_on(line):
                seen += 1
                if seen == nth:
                    self.stop.set()
        self.ended.set()
        self.stop.set()

    def wait_for_stop(self) -> None:
        if not self.stop.wait(SAFETY_SECONDS):
            self.process.kill()
            self.finish()
            raise AssertionError(f"the run neither ended nor reached its kill point: {self.lines}")

    def finish(self) -> str:
        """Reap the process (its pid is then really dead); everything it wrote."""
        self.process.wait(SAFETY_SECONDS)
        self._reader.join(SAFETY_SECONDS)
        return "".join(self.lines)

    def kill_or_exit_code(self, tally: Tally) -> int | None:
        """SIGKILL the run unless it is ending on its own; its exit code if so, else None."""
        if not self.ended.is_set():
            self.process.send_signal(signal.SIGKILL)
        tally.stderr.append(self.finish())
        if self.process.returncode != -signal.SIGKILL:  # it ended on its own first
            return self.process.returncode
        tally.kills += 1
        (journal,) = self.estate.state_dir.glob("journal-*.jsonl")
        tally.in_flight += any(step.event == "start" for step in Journal(journal).steps.values())
        return None


def run_to_the_end(command: list[str], estate: Estate, tally: Tally) -> int:
    run = Run(command, estate, threading.Event())
    run.wait_for_stop()
    tally.stderr.append(run.finish())
    return run.process.returncode
