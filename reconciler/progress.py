"""What a long command shows while it works, on stderr.

On a terminal that can redraw a line, click's own progress bar, redrawn in place.
Anywhere else (a CI log, a pipe, `TERM=dumb`) a plain line at each tenth of the
way once the work has taken a few seconds: a log shows that a long read is alive,
without a line per customer, and a quick one stays quiet. Stdout stays the
report's alone.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


class Progress(Protocol):
    """What the reading and applying code reports; how it is shown is the command's."""

    def advance(self, steps: int = 1) -> None: ...

    def status(self, text: str) -> None: ...


class Silent:
    """Progress nobody watches (library use, tests)."""

    def advance(self, steps: int = 1) -> None:
        pass

    def status(self, text: str) -> None:
        pass


SILENT = Silent()
# A plain log gets no progress lines for work done within this long.
QUIET_SECONDS = 2.0


class TTYStream(Protocol):
    def isatty(self) -> bool: ...


def takes_escapes(stream: TTYStream) -> bool:
    """A terminal that takes escape codes (colour, a line redrawn): a TTY whose TERM is
    not `dumb`."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except ValueError:  # a closed stream is no terminal
        return False


class Meter:
    """Progress towards `total` units (customers read, steps done); thread-safe.

    `tenths=False` leaves the plain mode silent, for a command that already logs
    a line per unit (apply logs every step).
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        *,
        tenths: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit, self.tenths = label, total, unit, tenths
        self.clock = clock
        self._quiet_until = clock() + QUIET_SECONDS
        self.stream = sys.stderr
        self.done = 0
        self.note = ""
        self._said = 0  # tenths already logged
        self._lock = threading.Lock()  # reads and steps finish on worker threads
        self._bar: ProgressBar[int] | None = (
            click.progressbar(
                length=total,
                label=label,
                file=self.stream,
                show_pos=True,
                item_show_func=lambda _: f"{unit}{self.note}",
            )
            if total and takes_escapes(self.stream)
            else None
        )

    @property
    def redraws(self) -> bool:
        return self._bar is not None

    def __enter__(self) -> Meter:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # Also on an interrupt: the bar gives the terminal its cursor back.
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            steps = min(steps, self.total - self.done)
            if steps <= 0:
                return
            self.done += steps
            if self._bar is not None:
                self._bar.update(steps)
            elif self.tenths:
                self._log_tenth()

    def status(self, text: str) -> None:
        with self._lock:
            self.note = f" ({text})" if text else ""

    def finish(self) -> None:
        """Everything done: the units nobody reported one by one count too."""
        self.advance(self.total - self.done)

    def _log_tenth(self) -> None:
        tenth = self.done * 10 // self.total
        if tenth > self._said and self.clock() >= self._quiet_until:
            self._said = tenth
            line = f"pcr: {self.label}: {self.done}/{self.total} {self.unit}{self.note}"
            click.echo(line, file=self.stream)
