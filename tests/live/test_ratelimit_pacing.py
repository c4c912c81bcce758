"""The limiter's pacing: pages (priority callers) take any free slot first, deep reads use the
rest, neither starves, and the window is never exceeded.

Time is a fake clock that moves only when the limiter sleeps on it (or a test says so), and
the waits between threads are events: no test here waits on the wall clock.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.live.ratelimit import ORDINARY_EVERY
from reconciler.live.ratelimit import RateLimiter

# Only a safety net for waits that end on events.
SAFETY_SECONDS = 60


class FakeTime:
    """A clock and a `sleep` that passes it; `gate` closed holds every sleeper."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert self.gate.wait(SAFETY_SECONDS), "the gate never opened"
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Observed(RateLimiter):
    """A limiter that records each grant (time, priority) and publishes its queue."""

    def __init__(self, limit: int, window: float, time: FakeTime, **kwargs: Any) -> None:
        super().__init__(limit, window, clock=time.clock, sleep=time.sleep, **kwargs)
        self.grants: list[tuple[float, bool]] = []
        self.changed = threading.Condition()
        self.snapshot = (0, 0)

    def _grant(self, waiter: Any, now: float) -> None:
        super()._grant(waiter, now)
        self.grants.append((now, waiter.priority))

    def _dispatch(self, now: float, caller: Any = None) -> None:
        super()._dispatch(now, caller)
        # Under the limiter's lock: copy what the test waits for, never take that lock back.
        with self.changed:
            self.snapshot = (len(self._priority), len(self._ordinary))
            self.changed.notify_all()

    def wait_until_queued(self, priority: int, ordinary: int) -> None:
        with self.changed:
            reached = self.changed.wait_for(
                lambda: self.snapshot == (priority, ordinary), SAFETY_SECONDS
            )
        assert reached, f"queue is {self.snapshot}, expected {(priority, ordinary)}"


def _start(target: Callable[[], object], count: int = 1) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(SAFETY_SECONDS)
        assert not thread.is_alive(), "a caller is still waiting"


def _busiest(times: list[float], window: float) -> int:
    """The most grants in any half-open window [t, t + window)."""
    ordered = sorted(times)
    return max(
        bisect.bisect_left(ordered, t + window) - bisect.bisect_left(ordered, t) for t in ordered
    )


def test_pages_alone_get_every_slot_of_the_rate() -> None:
    time = FakeTime()
    limiter = Observed(10, 1.0, time)
    # Nothing else in flight: the first page goes at once, each next one a slot later —
    # ten in the first second, not the tenth of the window pages used to be kept to.
    waits = [limiter.acquire(priority=True) for _ in range(11)]
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([0.1] * 10)
    assert [at for at, _ in limiter.grants] == pytest.approx([i / 10 for i in range(11)])


def test_slots_are_spread_evenly_but_a_lone_request_goes_at_once() -> None:
    time = FakeTime()
    even = Observed(10, 1.0, time, max_in_flight=4)
    held = [even.acquire() for _ in range(4)]  # four in flight at once: spaced
    assert held == pytest.approx([0.0, 0.1, 0.1, 0.1])
    for _ in held:
        even.release()
    # One at a time, each after the last one finished: nothing to bunch up with, so each
    # goes as soon as the window has room (the ten of this window by t = 1).
    for _ in range(7):
        with even.slot():
            pass
    assert [at for at, _ in even.grants][4:] == pytest.approx([0.3] * 6 + [1.0])


def test_a_priority_caller_arriving_behind_50_waiting_ordinary_callers_is_served_next() -> None:
    time = FakeTime()
    limiter = Observed(1, 1.0, time)
    limiter.acquire()  # the window is full until t = 1
    time.gate.clear()  # time stands still while the queue forms
    ordinary = _start(limiter.acquire, 50)
    limiter.wait_until_queued(0, 50)
    waits: list[float] = []
    page = _start(lambda: waits.append(limiter.acquire(priority=True)))
    limiter.wait_until_queued(1, 50)
    time.gate.set()
    _join(page + ordinary)
    after_fill = limiter.grants[1:]
    assert after_fill[0] == (1.0, True)  # the next slot, ahead of all 50
    assert waits == [1.0]  # one slot interval, the least it could wait
    assert [priority for _, priority in after_fill[1:]] == [False] * 50
    assert [at for at, _ in after_fill] == [float(t) for t in range(1, 52)]


def test_a_stream_of_priority_callers_leaves_ordinary_ones_their_share() -> None:
    time = FakeTime()
    limiter = Observed(1, 1.0, time)
    limiter.acquire()
    time.gate.clear()
    ordinary = _start(limiter.acquire, 5)  # waiting before any of the priority callers
    limiter.wait_until_queued(0, 5)
    priority = _start(lambda: limiter.acquire(priority=True), 30)
    limiter.wait_until_queued(30, 5)
    time.gate.set()
    _join(priority + ordinary)
    kinds = "".join("P" if p else "o" for _, p in limiter.grants[1:])
    every = "P" * (ORDINARY_EVERY - 1) + "o"
    # One slot in ten for the callers that waited longest; then the rest of the pages first.
    assert kinds == every * 3 + "PPPoo"


def test_priority_callers_never_wait_behind_ordinary_callers_that_came_later() -> None:
    time = FakeTime()
    limiter = Observed(1, 1.0, time)
    limiter.acquire()
    time.gate.clear()
    priority = _start(lambda: limiter.acquire(priority=True), 3)
    limiter.wait_until_queued(3, 0)
    ordinary = _start(limiter.acquire, 20)
    limiter.wait_until_queued(3, 20)
    time.gate.set()
    _join(priority + ordinary)
    # Even with ordinary callers passed over, none of them came before these three.
    assert [p for _, p in limiter.grants[1:4]] == [True, True, True]


def test_the_in_flight_cap_goes_to_priority_callers_first() -> None:
    time = FakeTime()
    limiter = Observed(1000, 1.0, time, max_in_flight=2)
    limiter.acquire()
    limiter.acquire()  # both places taken; the rate has room
    ordinary = _start(limiter.acquire, 10)  # each keeps its place: released below
    limiter.wait_until_queued(0, 10)
    page = _start(lambda: limiter.acquire(priority=True))
    limiter.wait_until_queued(1, 10)
    limiter.release()  # one request done: its place goes to the page
    _join(page)
    assert limiter.grants[2][1] is True
    assert limiter.queued == (0, 10)
    for left in range(9, -1, -1):  # each release lets exactly one more in
        limiter.release()
        limiter.wait_until_queued(0, left)
        assert len(limiter.grants) == 13 - left
    _join(ordinary)
    assert len(limiter.grants) == 13


@pytest.mark.parametrize("cap", [None, 6])
def test_the_window_is_never_exceeded_under_mixed_load_from_threads(cap: int | None) -> None:
    time = FakeTime()
    limiter = Observed(10, 1.0, time, max_in_flight=cap)
    in_flight, peak, lock = 0, 0, threading.Lock()

    def caller(seed: int) -> None:
        nonlocal in_flight, peak
        rng = random.Random(seed)
        for _ in range(150):
            with limiter.slot(priority=rng.random() < 0.3):
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                time.advance(rng.choice([0.0, 0.0, 0.001, 0.01, 0.05]))  # the request
                with lock:
                    in_flight -= 1
            time.advance(rng.choice([0.0, 0.0, 0.02, 0.3]))  # work between requests

    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    _join(threads)
    times = [at for at, _ in limiter.grants]
    assert len(times) == 12 * 150
    assert _busiest(times, 1.0) <= 10
    assert _busiest(times, 1.0) == 10  # and the load did fill windows
    if cap is None:  # one slot an interval (under a cap, a lone request may skip its wait)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= 0.1 - 1e-9
    assert peak <= (cap or 12)
    assert {p for _, p in limiter.grants} == {True, False}


def test_sequential_mixed_traffic_never_exceeds_the_limit_in_any_window() -> None:
    time = FakeTime()
    limiter = Observed(10, 1.0, time)
    rng = random.Random(3)
    for _ in range(2000):
        time.advance(rng.choice([0.0, 0.0, 0.01, 0.05, 0.3]))
        limiter.acquire(priority=rng.random() < 0.2)
    assert _busiest([at for at, _ in limiter.grants], 1.0) <= 10


def test_a_sleep_that_passes_no_time_still_moves_the_schedule_on() -> None:
    slept: list[float] = []
    limiter = RateLimiter(2, window=1.0, clock=lambda: 0.0, sleep=slept.append)
    waits = [limiter.acquire() for _ in range(6)]
    assert waits == [0.0] + [0.5] * 5
    assert slept == [0.5] * 5


class LateWaking(FakeTime):
    """Every sleep ends `late` seconds after it was due: a thread waking while the GIL is
    busy elsewhere."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.late)


def test_a_grant_that_comes_late_does_not_push_back_the_ones_after_it() -> None:
    time = LateWaking(0.03)
    limiter = Observed(100, 10.0, time)  # a slot every 0.1 s; the window is not reached
    for _ in range(21):
        limiter.acquire()
    granted = [at for at, _ in limiter.grants]
    # Each grant is late by the one oversleep, not by the sum of all before it: the pace
    # keeps to the rate (21 grants in 2.03 s, not in 2.6 s).
    assert granted == pytest.approx([0.0] + [i / 10 + 0.03 for i in range(1, 21)])


def test_a_limiter_idle_for_a_while_does_not_bunch_its_next_grants() -> None:
    time = FakeTime()
    limiter = Observed(10, 1.0, time)
    limiter.acquire()
    time.advance(5.0)  # idle: no credit is saved up for a burst
    waits = [limiter.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.1, 0.1])


class Interrupted(Exception):
    pass


def test_a_caller_interrupted_while_waiting_gives_its_place_up() -> None:
    time = FakeTime()
    interrupt = threading.Event()

    def sleep(seconds: float) -> None:
        if interrupt.is_set():
            interrupt.clear()
            raise Interrupted
        time.sleep(seconds)

    limiter = RateLimiter(1, 1.0, clock=time.clock, sleep=sleep, max_in_flight=1)
    with limiter.slot():
        pass
    interrupt.set()
    with pytest.raises(Interrupted):
        limiter.acquire()  # the timer, interrupted in its sleep
    assert limiter.queued == (0, 0)
    with limiter.slot() as waited:  # the in-flight place and the window are still sound
        assert waited == 1.0
    with pytest.raises(RuntimeError):
        limiter.release()
