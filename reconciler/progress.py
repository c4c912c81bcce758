"""What a long command shows while it works, on stderr: how far it is, how fast it goes,
and when it should be done.

What is counted is the work that takes the time: for a read of Partner Center, the
customers read in depth (their subscriptions, entitlements, orders, GDAP relationships:
rate-limited calls), not the customers listed, which page by quickly. The total can
change as the work learns its size (`Progress.expect`).

On a terminal that can redraw a line, one line redrawn in place: the label, a bar,
done/total, the rate, the time left and the status. It is written with carriage returns
and spaces only, never an escape code, so `NO_COLOR` (and `--no-color`) has nothing to
take out. Anywhere else (a CI log, a pipe, `TERM=dumb`) plain lines, and only once the
work has taken `QUIET_SECONDS`: one then, one at each tenth of the way, and one at least
every `LOG_INTERVAL` seconds while it goes on, each with done/total, the rate and the
time left. A log shows that a long read is alive, without a line per customer, and a
quick one stays quiet. Stdout stays the report's alone.

The rate is that of the last `RATE_WINDOW` seconds, counted from the first unit done
(units done before the meter existed arrive at once and say nothing about the pace), and
is told only once units have been done over `RATE_SPAN` seconds; the time left is what
remains at that rate.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol
from typing import TextIO


class Progress(Protocol):
    """What the reading and applying code reports; how it is shown is the command's."""

    def expect(self, total: int) -> None:
        """The work is `total` units in all, as far as is known now."""

    def advance(self, steps: int = 1) -> None: ...

    def status(self, text: str) -> None: ...


class Silent:
    """Progress nobody watches (library use, tests)."""

    def expect(self, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def status(self, text: str) -> None:
        pass


SILENT = Silent()
# A plain log gets no progress lines for work done within this long.
QUIET_SECONDS = 2.0
# After that, a plain line at least this often while the work goes on (and at each tenth).
LOG_INTERVAL = 60.0
# The rate is that of the units done in this many seconds up to now...
RATE_WINDOW = 30.0
# ...and says nothing until units have been done over at least this long.
RATE_SPAN = 1.0
# A terminal's line is redrawn at most this often (and when the work is done).
REDRAW_SECONDS = 0.1
# How often a meter looks at the clock by itself: the line's rate and time left stay
# true while nothing finishes, and a log hears of a read that has gone quiet.
HEARTBEAT_SECONDS = 0.5
BAR_WIDTH = 30
MIN_BAR_WIDTH = 10


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


def per_unit_time(rate: float) -> str:
    """Units a second, or a minute when fewer than one a second: `8.3/s`, `42/min`."""
    if rate >= 100:
        return f"{rate:.0f}/s"
    if rate >= 1:
        return f"{rate:.1f}/s"
    minute = rate * 60
    return f"{minute:.0f}/min" if minute >= 10 else f"{minute:.1f}/min"


def duration(seconds: float) -> str:
    """`0.4s`, `42s`, `7m 04s`, `2h 05m`."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"


class Meter:
    """Progress towards `total` units (reads, customers, steps); thread-safe.

    `tenths=False` leaves the plain mode silent, for a command that already logs a line
    per unit (apply logs every step). `clock` and `heartbeat` (seconds between the
    meter's own looks at the clock; None: only when told, by `tick`) are for tests.
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        *,
        tenths: bool = True,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: float | None = HEARTBEAT_SECONDS,
    ) -> None:
        self.label, self.total, self.unit, self.tenths = label, max(0, total), unit, tenths
        self.clock = clock
        self.stream: TextIO = sys.stderr
        self.done = 0
        self.note = ""
        self._lock = threading.Lock()  # reads and steps finish on worker threads
        self._started = clock()
        # (time, units done) at each advance; the first is the rate's starting point.
        self._samples: deque[tuple[float, int]] = deque()
        self._redraws = takes_escapes(self.stream)
        self._drawn = 0  # characters on the terminal's line now
        self._drawn_at = -float("inf")
        self._drawn_done = -1  # units done when the line was last drawn
        self._said = -1  # the tenth the last plain line reached
        self._said_at: float | None = None  # when the last plain line was written
        self._broken = False  # the stream cannot be written to any more
        self._closed = False  # once the meter is closed it shows nothing more
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    @property
    def redraws(self) -> bool:
        return self._redraws

    def __enter__(self) -> Meter:
        with self._lock:
            self._show(self.clock())  # on a terminal, the line from the start
        if self._heartbeat is not None:
            self._beating = threading.Thread(target=self._beat, name="pcr-meter", daemon=True)
            self._beating.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Also on an interrupt: the line is left whole, the next output on a line of its own.
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
        with self._lock:
            if self._redraws and self._drawn:
                self._draw(self.clock(), force=True)
                self._write("\n")
            self._closed = True

    def expect(self, total: int) -> None:
        with self._lock:
            total = max(total, self.done, 0)
            if total != self.total:
                self.total = total
                self._show(self.clock())

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            steps = min(steps, self.total - self.done)
            if steps <= 0:
                return
            self.done += steps
            now = self.clock()
            self._samples.append((now, self.done))
            self._forget_before(now - RATE_WINDOW)
            self._show(now)

    def status(self, text: str) -> None:
        with self._lock:
            self.note = f" ({text})" if text else ""
            self._show(self.clock())

    def finish(self) -> None:
        """Everything done: the units nobody reported one by one count too."""
        self.advance(self.total - self.done)

    def tick(self) -> None:
        """Look at the clock: redraw the line, or write a plain line if one is due."""
        with self._lock:
            self._show(self.clock())

    def rate(self) -> float | None:
        """Units a second lately, or None while that is not known."""
        with self._lock:
            return self._rate(self.clock())

    def _beat(self) -> None:
        assert self._heartbeat is not None
        while not self._stop.wait(self._heartbeat):
            self.tick()

    # -- under the lock ----------------------------------------------------------------

    def _show(self, now: float) -> None:
        if self._closed:
            return
        if self._redraws:
            self._draw(now)
        elif self.tenths:
            self._log(now)

    def _forget_before(self, then: float) -> None:
        """Keep the samples since `then`, and the last one before it (where the rate starts)."""
        samples = self._samples
        while len(samples) > 1 and samples[1][0] <= then:
            samples.popleft()

    def _rate(self, now: float) -> float | None:
        self._forget_before(now - RATE_WINDOW)
        if not self._samples:
            return None
        since, done_then = self._samples[0]
        if now - since < RATE_SPAN or self.done <= done_then:
            return None
        return (self.done - done_then) / (now - since)

    def _pace(self, now: float) -> list[str]:
        """The rate, and the time left (or taken, once done), as far as they are known."""
        rate = self._rate(now)
        pace = [per_unit_time(rate)] if rate else []
        if self.done >= self.total:
            pace.append(f"in {duration(now - self._started)}")
        elif rate:
            pace.append(f"ETA {duration((self.total - self.done) / rate)}")
        return pace

    def _log(self, now: float) -> None:
        if self.total <= 0 or now - self._started < QUIET_SECONDS:
            return
        tenth = self.done * 10 // self.total
        if tenth >= 10 and (self._said_at is None or self._said >= 10):
            return  # done before a line was due, or the last line said it was done
        # The first line comes once the quiet start is over (`_said` starts below 0).
        late = self._said_at is not None and now - self._said_at >= LOG_INTERVAL
        if tenth <= self._said and not late:
            return
        self._said, self._said_at = tenth, now
        percent = f"{self.done * 100 // self.total}%"
        parts = [f"{self.done:,}/{self.total:,} {self.unit}{self.note}", percent, *self._pace(now)]
        self._write(f"pcr: {self.label}: {', '.join(parts)}\n")

    def _draw(self, now: float, *, force: bool = False) -> None:
        if self.total <= 0 and not self._drawn:
            return
        # The line that says the work is done is drawn at once; the rest at most so often.
        newly_done = self.done >= self.total and self._drawn_done != self.done
        if not force and not newly_done and now - self._drawn_at < REDRAW_SECONDS:
            return
        line = self._line(now)
        self._write("\r" + line + " " * max(0, self._drawn - len(line)))
        self._drawn, self._drawn_at, self._drawn_done = len(line), now, self.done

    def _line(self, now: float) -> str:
        """What fits of: the label, done/total, the rate and the time left; then the bar;
        then the status (a narrow terminal gets no wrapped line to redraw)."""
        room = self._columns() - 1  # the last column would wrap the line on some terminals
        core = "  ".join([f"{self.done:,}/{self.total:,} {self.unit}", *self._pace(now)])
        note = f"  {self.note.strip()}" if self.note else ""
        spare = room - len(self.label) - 2 - len(core)
        bar_room = spare - 4  # "[", "]" and two spaces
        if bar_room - len(note) >= MIN_BAR_WIDTH:
            width = min(BAR_WIDTH, bar_room - len(note))
        elif bar_room >= MIN_BAR_WIDTH:
            width, note = min(BAR_WIDTH, bar_room), ""
        else:
            width, note = 0, note if len(note) <= spare else ""
        if width and self.total > 0:
            filled = self.done * width // self.total
            bar = f"  [{'#' * filled}{'-' * (width - filled)}]"
        else:
            bar = ""
        return f"{self.label}{bar}  {core}{note}"[:room]

    def _columns(self) -> int:
        try:
            columns = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        return columns if columns > 0 else 80

    def _write(self, text: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: the work goes on unseen
            self._broken = True
