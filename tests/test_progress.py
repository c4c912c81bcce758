"""`Meter`: click's bar where a line can be redrawn, a line a tenth in a log after a quiet start."""

from __future__ import annotations

import io
import threading

import pytest

from reconciler.progress import QUIET_SECONDS, Meter, takes_escapes


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


def meter_on(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, total: int = 20, **options: object
) -> Meter:
    monkeypatch.setattr("sys.stderr", stream)
    return Meter("reading", total, "customers", **options)  # type: ignore[arg-type]


def test_a_log_gets_nothing_in_the_quiet_start_then_a_line_a_tenth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log, clock = io.StringIO(), Clock()
    with meter_on(log, monkeypatch, clock=clock) as meter:
        meter.advance(5)
        assert log.getvalue() == ""  # a quick read stays quiet
        clock.now += QUIET_SECONDS
        meter.status("300 listed")
        meter.advance()  # 6 of 20: three tenths crossed, one line
        meter.advance()  # 7 of 20: still the third tenth
        meter.finish()
    assert log.getvalue().splitlines() == [
        "pcr: reading: 6/20 customers (300 listed)",
        "pcr: reading: 20/20 customers (300 listed)",
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


def test_a_terminal_gets_a_bar_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    with meter_on(terminal, monkeypatch, total=4) as meter:
        assert meter.redraws
        meter.status("2 failed")
        meter.advance(4)
    drawn = terminal.getvalue()
    assert "\r" in drawn and "4/4" in drawn and "customers (2 failed)" in drawn
    assert not drawn.startswith("pcr:")


def test_term_dumb_is_no_terminal_for_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    terminal = Terminal()
    assert not takes_escapes(terminal)
    with meter_on(terminal, monkeypatch) as meter:
        meter.finish()
    assert "\x1b" not in terminal.getvalue() and "\r" not in terminal.getvalue()


def test_advances_from_many_threads_count_once_each_and_never_past_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with meter_on(io.StringIO(), monkeypatch, total=400) as meter:

        def fifty() -> None:
            for _ in range(50):
                meter.advance()

        workers = [threading.Thread(target=fifty) for _ in range(10)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert meter.done == 400  # 500 advances, clamped at the total


def test_nothing_to_do_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    with meter_on(terminal, monkeypatch, total=0) as meter:
        meter.finish()
    assert terminal.getvalue() == ""
