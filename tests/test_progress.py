"""`Meter`: one line redrawn in place on a terminal, plain lines in a log after a quiet start;
both say done/total, the rate and the time left. Driven by a clock the test moves."""

from __future__ import annotations

import io
import re
import threading

import pytest

from reconciler.progress import LOG_INTERVAL
from reconciler.progress import QUIET_SECONDS
from reconciler.progress import RATE_SPAN
from reconciler.progress import Meter
from reconciler.progress import duration
from reconciler.progress import per_unit_time
from reconciler.progress import takes_escapes

SAFETY_SECONDS = 30  # only a bound for waits that end on events


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def a_real_terminal_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)


def meter_on(
    stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    total: int = 20,
    unit: str = "reads",
    **options: object,
) -> Meter:
    monkeypatch.setattr("sys.stderr", stream)
    options.setdefault("heartbeat", None)  # the test says when the meter looks at the clock
    return Meter("reading", total, unit, **options)  # type: ignore[arg-type]


def frames(drawn: str) -> list[str]:
    """Each state of a redrawn line, its padding stripped."""
    return [frame.rstrip() for frame in drawn.split("\r") if frame.strip()]


# --- in a log ------------------------------------------------------------------------------


def test_a_log_hears_nothing_in_the_quiet_start_then_a_line_a_tenth_with_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, clock=clock) as meter:
        for done in range(1, 21):  # a read every half second
            clock.now = 100 + done / 2
            meter.advance()
            if clock.now < 100 + QUIET_SECONDS:
                assert log.getvalue() == ""
        meter.finish()
    assert log.getvalue().splitlines() == [
        # The quiet start is over: how far, how fast, and how long still.
        "pcr: reading: 4/20 reads, 20%, 2.0/s, ETA 8.0s",
        "pcr: reading: 6/20 reads, 30%, 2.0/s, ETA 7.0s",
        "pcr: reading: 8/20 reads, 40%, 2.0/s, ETA 6.0s",
        "pcr: reading: 10/20 reads, 50%, 2.0/s, ETA 5.0s",
        "pcr: reading: 12/20 reads, 60%, 2.0/s, ETA 4.0s",
        "pcr: reading: 14/20 reads, 70%, 2.0/s, ETA 3.0s",
        "pcr: reading: 16/20 reads, 80%, 2.0/s, ETA 2.0s",
        "pcr: reading: 18/20 reads, 90%, 2.0/s, ETA 1.0s",
        "pcr: reading: 20/20 reads, 100%, 2.0/s, in 10s",
    ]


def test_a_quick_run_leaves_a_log_silent_and_a_slow_one_is_said_as_the_quiet_start_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, clock=clock) as quick:
        quick.status("200 listed")
        for done in range(1, 21):
            clock.now = 100 + done * (QUIET_SECONDS * 0.9) / 20
            quick.advance()
        clock.now += LOG_INTERVAL * 2  # the command does something else before it closes
        quick.tick()
    assert log.getvalue() == ""
    with meter_on(log, monkeypatch, clock=clock) as slow:
        slow.status("200 listed")
        clock.now += QUIET_SECONDS  # and no read done yet
        slow.tick()
    assert log.getvalue() == "pcr: reading: 0/20 reads (200 listed), 0%\n"


def test_a_long_stretch_inside_one_tenth_still_gets_a_line_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, total=1000, clock=clock) as meter:
        meter.status("5,000 listed")
        for done in range(1, 171):  # a read a second: a tenth takes 100 s
            clock.now = 100 + done
            meter.advance()
        # Then nothing finishes for a minute (a service that throttles): a line says the
        # read is alive, and that no rate can be told.
        for _ in range(int(LOG_INTERVAL / 0.5)):
            clock.now += 0.5
            meter.tick()
    assert log.getvalue().splitlines() == [
        "pcr: reading: 2/1,000 reads (5,000 listed), 0%, 1.0/s, ETA 16m 38s",
        "pcr: reading: 62/1,000 reads (5,000 listed), 6%, 1.0/s, ETA 15m 38s",
        "pcr: reading: 100/1,000 reads (5,000 listed), 10%, 1.0/s, ETA 15m 00s",
        "pcr: reading: 160/1,000 reads (5,000 listed), 16%, 1.0/s, ETA 14m 00s",
        "pcr: reading: 170/1,000 reads (5,000 listed), 17%",
    ]


def test_units_done_before_the_meter_existed_do_not_make_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read begun while the desired state validated hands its reads over at once."""
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, total=100, clock=clock) as meter:
        meter.advance(40)
        for _ in range(10):  # then one every second
            clock.now += 1
            meter.advance()
        assert meter.rate() == pytest.approx(1.0)
    assert log.getvalue().splitlines() == [
        "pcr: reading: 42/100 reads, 42%, 1.0/s, ETA 58s",
        "pcr: reading: 50/100 reads, 50%, 1.0/s, ETA 50s",  # the fifth tenth
    ]


def test_a_rate_waits_for_units_spread_over_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    with meter_on(io.StringIO(), monkeypatch, total=100, clock=clock) as meter:
        meter.advance()
        clock.now += RATE_SPAN / 2
        meter.advance(5)
        assert meter.rate() is None  # 5 in half a second says little yet
        clock.now += RATE_SPAN / 2
        assert meter.rate() == pytest.approx(5 / RATE_SPAN)


def test_a_total_learned_as_the_work_goes_is_the_one_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, total=0, clock=clock) as meter:
        meter.advance()  # nothing is expected yet: nothing to count
        meter.expect(10)
        meter.advance(3)
        meter.expect(8)  # two turned out to need no read
        clock.now += QUIET_SECONDS
        meter.tick()
        meter.advance(20)  # never past the total
    assert meter.done == meter.total == 8
    assert log.getvalue().splitlines() == [
        "pcr: reading: 3/8 reads, 37%",
        "pcr: reading: 8/8 reads, 100%, 2.5/s, in 2.0s",
    ]


def test_a_line_per_unit_command_keeps_the_log_to_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, tenths=False, clock=clock) as meter:
        clock.now += 60
        meter.finish()
    assert log.getvalue() == ""
    assert not meter.redraws


# --- on a terminal -------------------------------------------------------------------------


@pytest.mark.parametrize("no_color", ["", "1"])
def test_a_terminal_gets_one_line_redrawn_with_rate_and_time_left_and_no_escape_code(
    monkeypatch: pytest.MonkeyPatch, no_color: str
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)
    terminal, clock = Terminal(), Clock()
    with meter_on(terminal, monkeypatch, total=4, unit="steps", clock=clock) as meter:
        assert meter.redraws
        for step in range(4):
            clock.now += 1
            meter.advance()
            if step == 1:
                meter.status("1 failed")
    drawn = terminal.getvalue()
    assert frames(drawn) == [
        "reading  [------------------------------]  0/4 steps",
        "reading  [#######-----------------------]  1/4 steps",
        "reading  [###############---------------]  2/4 steps  1.0/s  ETA 2.0s",
        # The failure said at once after a step waits for the next drawing.
        "reading  [######################--------]  3/4 steps  1.0/s  ETA 1.0s  (1 failed)",
        "reading  [##############################]  4/4 steps  1.0/s  in 4.0s  (1 failed)",
        "reading  [##############################]  4/4 steps  1.0/s  in 4.0s  (1 failed)",
    ]  # the last drawn as the meter closes
    assert drawn.endswith("\n") and drawn.count("\n") == 1  # one line, left whole at the end
    assert "\x1b" not in drawn and "pcr:" not in drawn


def test_a_terminal_is_redrawn_at_most_so_often_but_at_once_when_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal, clock = Terminal(), Clock()
    with meter_on(terminal, monkeypatch, total=100, clock=clock) as meter:
        for done in range(1, 101):  # a read every 3 ms
            clock.now = 100 + done * 0.003
            meter.advance()
            meter.status("5,000 listed")
        for listed in range(5001, 6000):  # the list pages on after the reads are done
            meter.status(f"{listed:,} listed")
    drawn = [
        (int(re.findall(r"(\d+)/100 reads", frame)[0]), frame.partition("(")[2])
        for frame in frames(terminal.getvalue())
    ]
    assert drawn == [
        (0, ""),
        (34, "5,000 listed)"),  # a tenth of a second on
        (68, "5,000 listed)"),
        (100, "5,000 listed)"),  # done: at once
        (100, "5,999 listed)"),  # as the meter closes
    ]


@pytest.mark.parametrize(
    ("columns", "drawn"),
    [
        (
            100,
            "reading  [------------------------------]  30/5,000 reads  2.9/s  ETA 28m 34s"
            "  (98,000 listed)",
        ),
        (60, "reading  [------------]  30/5,000 reads  2.9/s  ETA 28m 34s"),
        (50, "reading  30/5,000 reads  2.9/s  ETA 28m 34s"),
        (40, "reading  30/5,000 reads  2.9/s  ETA 28m"),
    ],
)
def test_a_narrow_terminal_gets_the_numbers_first_then_the_bar_then_the_status(
    monkeypatch: pytest.MonkeyPatch, columns: int, drawn: str
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    terminal, clock = Terminal(), Clock()
    with meter_on(terminal, monkeypatch, total=5000, clock=clock) as meter:
        meter.status("98,000 listed")
        clock.now += 10
        meter.advance(1)
        clock.now += 10
        meter.advance(29)
    assert frames(terminal.getvalue())[-1] == drawn
    assert all(len(frame.rstrip("\n")) < columns for frame in terminal.getvalue().split("\r"))


def test_term_dumb_is_no_terminal_for_a_redrawn_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    terminal, clock = Terminal(), Clock()
    assert not takes_escapes(terminal)
    with meter_on(terminal, monkeypatch, clock=clock) as meter:
        clock.now += QUIET_SECONDS
        meter.tick()
        meter.finish()
    assert terminal.getvalue().splitlines() == [
        "pcr: reading: 0/20 reads, 0%",
        "pcr: reading: 20/20 reads, 100%, in 2.0s",
    ]


def test_nothing_to_do_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    with meter_on(terminal, monkeypatch, total=0) as meter:
        meter.finish()
    assert terminal.getvalue() == ""


class Watched(Terminal):
    """A terminal that says when it has been drawn on again."""

    def __init__(self) -> None:
        super().__init__()
        self.again = threading.Event()
        self._drawings = 0

    def watch(self) -> threading.Event:
        self._drawings = self.getvalue().count("\r")
        self.again.clear()
        return self.again

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\r") > self._drawings:
            self.again.set()
        return written


def test_the_line_is_redrawn_while_nothing_finishes_and_never_after_the_meter_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal, clock = Watched(), Clock()
    with meter_on(terminal, monkeypatch, total=5, clock=clock, heartbeat=0.01) as meter:
        meter.advance()
        drawn = terminal.watch()
        clock.now += 1
        # Nothing more is done, and yet the line is drawn again: its rate and time left
        # are the meter's to keep true.
        assert drawn.wait(SAFETY_SECONDS)
    closed = terminal.getvalue()
    clock.now += 1
    meter.tick()
    meter.advance()
    assert terminal.getvalue() == closed


def test_advances_from_many_threads_count_once_each_and_never_past_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def done_after_500_advances(total: int) -> int:
        with meter_on(io.StringIO(), monkeypatch, total=total) as meter:

            def fifty() -> None:
                for _ in range(50):
                    meter.advance()

            workers = [threading.Thread(target=fifty) for _ in range(10)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        return meter.done

    assert done_after_500_advances(1000) == 500  # none lost
    assert done_after_500_advances(400) == 400  # clamped at the total


def test_a_closed_stream_ends_the_drawing_not_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, clock = Terminal(), Clock()
    with meter_on(terminal, monkeypatch, clock=clock) as meter:
        terminal.close()
        clock.now += 1
        meter.advance(20)
    assert meter.done == 20


@pytest.mark.parametrize(
    ("rate", "said"),
    [(250.0, "250/s"), (8.33, "8.3/s"), (0.5, "30/min"), (0.01, "0.6/min")],
)
def test_a_rate_is_said_per_second_or_per_minute(rate: float, said: str) -> None:
    assert per_unit_time(rate) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.42, "0.4s"), (42.4, "42s"), (424, "7m 04s"), (7_500, "2h 05m")],
)
def test_a_duration_is_said_in_its_largest_units(seconds: float, said: str) -> None:
    assert duration(seconds) == said
