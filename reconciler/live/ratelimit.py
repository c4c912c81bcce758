"""Pacing under Partner Center's request budget (about 500 requests a minute per tenant)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

# While both kinds of caller wait, an ordinary caller that has waited longer than every
# waiting priority caller gets one slot in this many: pages go first, deep reads still move.
ORDINARY_EVERY = 10


@dataclass(eq=False)
class _Waiter:
    priority: bool
    ticket: int  # arrival order, across both kinds
    arrived: float
    wake: threading.Condition
    granted: float | None = field(default=None)


class RateLimiter:
    """At most `limit` requests in any `window` seconds, one every `interval` (window ÷
    limit), and with `max_in_flight` at most that many at once; thread-safe.

    Callers queue, and a slot goes to a waiting caller only when it is free: nothing
    is booked ahead, so a caller that arrives later can still go first. That is what
    `priority` is for — the sequential chain of a paged listing, which every other read
    waits on. The next free slot (of the rate, and of the in-flight cap) goes to the
    longest-waiting priority caller whenever one waits, so a page waits at most one
    interval for the rate; ordinary callers take every slot priority callers leave, and
    while both wait an ordinary caller that arrived before every waiting priority caller
    gets one slot in `ORDINARY_EVERY`, so a stream of priority calls cannot starve them.
    A priority caller never waits behind an ordinary caller that arrived after it.

    Slots are spread evenly (one an interval) rather than let go in bursts: a burst of
    requests reaches the service unevenly, and the sliding window is its, not ours — a
    burst at the edge of the window is what draws 429s. A request sent while nothing is
    in flight (known only under `max_in_flight`) cannot bunch up with another and waits
    only for the window. The window (`limit` in any `window` seconds) is the hard bound
    either way.

    While no slot is free one waiter (the "timer") sleeps, on the injected `sleep`,
    until the next one is; the others wait on a condition, woken when granted or when
    they must take over as the timer. After sleeping until a time the limiter counts
    that time as reached even if `clock` says otherwise, so a `sleep` that does not pass
    time (a test's) still moves the schedule on.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_in_flight: int | None = None,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("a concurrency cap needs max_in_flight >= 1")
        self.limit = limit
        self.window = window
        self.max_in_flight = max_in_flight
        self.interval = window / limit  # one slot of the rate
        self._next_slot = -math.inf  # the pace allows the next grant from then on
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # grant times within the last window, oldest first
        self._priority: deque[_Waiter] = deque()
        self._ordinary: deque[_Waiter] = deque()
        self._tickets = itertools.count()
        self._timer = False  # a waiter is sleeping until the next slot is free
        self._in_flight = 0
        self._passed = 0  # priority grants in a row while an ordinary caller waited
        self._reached = -math.inf  # the latest time the limiter knows has come

    @classmethod
    def per_minute(
        cls,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_in_flight: int | None = None,
    ) -> RateLimiter:
        """`rate` requests a minute: one every 60/rate seconds, and never more than
        ceil(rate/60) in any window of the matching length (about a second).

        A whole-minute window would let a large run send its first minute's
        worth in one burst; the service's own accounting is not documented
        and a burst is what draws 429s, so the pace is kept even instead.
        """
        if rate <= 0:
            raise ValueError("a rate limit needs a positive rate")
        limit = math.ceil(rate / 60)
        return cls(limit, window=limit * 60 / rate, sleep=sleep, max_in_flight=max_in_flight)

    @property
    def queued(self) -> tuple[int, int]:
        """Callers waiting now: (priority, ordinary)."""
        with self._lock:
            return len(self._priority), len(self._ordinary)

    def acquire(self, *, priority: bool = False) -> float:
        """Wait for a slot; return how long this caller waited. With `max_in_flight`, the
        slot is also a place among the requests in flight: give it back with `release`."""
        with self._lock:
            now = self._now()
            waiter = _Waiter(priority, next(self._tickets), now, threading.Condition(self._lock))
            (self._priority if priority else self._ordinary).append(waiter)
            try:
                self._wait_for_grant(waiter)
            except BaseException:
                self._leave(waiter)
                raise
            assert waiter.granted is not None
            return max(waiter.granted - waiter.arrived, 0.0)

    def release(self) -> None:
        """A request granted under `max_in_flight` has finished."""
        if self.max_in_flight is None:
            return
        with self._lock:
            if self._in_flight < 1:
                raise RuntimeError("release() without a slot acquired")
            self._in_flight -= 1
            self._dispatch(self._now())

    @contextmanager
    def slot(self, *, priority: bool = False) -> Iterator[float]:
        """`acquire` … `release` around one request; yields the wait."""
        waited = self.acquire(priority=priority)
        try:
            yield waited
        finally:
            self.release()

    # -- under the lock ------------------------------------------------------------------

    def _now(self) -> float:
        self._reached = max(self._reached, self._clock())
        return self._reached

    def _wait_for_grant(self, waiter: _Waiter) -> None:
        while True:
            self._dispatch(self._now(), waiter)
            if waiter.granted is not None:
                return
            due = self._rate_frees()
            if due is None or self._timer:
                waiter.wake.wait()  # granted, or asked to take over as the timer
                continue
            self._timer = True
            try:
                self._lock.release()
                try:
                    self._sleep(due - self._reached)
                finally:
                    self._lock.acquire()
            finally:
                self._timer = False
            self._reached = max(self._reached, due)
            # Loops: dispatches at `due`; if another caller got the slot, the next
            # round sleeps again or hands the timer on (`_dispatch` wakes a successor).

    def _idle(self) -> bool:
        """Nothing in flight (known only under a cap): a lone request cannot bunch up with
        another, so it need not wait for its place in the pace, only for the window."""
        return self.max_in_flight is not None and self._in_flight == 0

    def _rate_frees(self) -> float | None:
        """When the rate next allows a grant, if it does not now; None if it does."""
        paced = -math.inf if self._idle() else self._next_slot
        if len(self._sent) >= self.limit:
            return max(self._sent[0] + self.window, paced)
        return paced if paced > self._reached else None

    def _dispatch(self, now: float, caller: _Waiter | None = None) -> None:
        """Grant every free slot, best waiter first; make sure that, while no slot of the
        rate is free, some waiter sleeps until one is (`caller`, if still waiting, will)."""
        sent = self._sent
        while sent and sent[0] + self.window <= now:
            sent.popleft()
        cap = self.max_in_flight
        while (
            (self._priority or self._ordinary)
            and len(sent) < self.limit
            and (now >= self._next_slot or self._idle())
        ):
            if cap is not None and self._in_flight >= cap:
                return  # a `release` dispatches again; no timer needed until then
            self._grant(self._next(), now)
        if self._timer or not (self._priority or self._ordinary):
            return
        if caller is not None and caller.granted is None:
            return  # the caller checks on return, and sleeps until the slot itself
        # No slot is free and nobody sleeps until one is: the longest waiter takes over.
        self._first_waiting().wake.notify()

    def _next(self) -> _Waiter:
        priority, ordinary = self._priority, self._ordinary
        if not priority:
            self._passed = 0
            return ordinary.popleft()
        if not ordinary:
            self._passed = 0
            return priority.popleft()
        if self._passed >= ORDINARY_EVERY - 1 and ordinary[0].ticket < priority[0].ticket:
            self._passed = 0
            return ordinary.popleft()
        self._passed += 1
        return priority.popleft()

    def _grant(self, waiter: _Waiter, now: float) -> None:
        waiter.granted = now
        self._sent.append(now)
        # Paced from the slot this grant was due in, not from when it came: a grant a
        # little late (a thread waking after its sleep, the GIL busy) would otherwise
        # push back every grant after it, and the pace would fall short of the rate.
        # Lateness of less than one interval is made up; beyond that the limiter was
        # idle, and the pace starts afresh from now.
        paced_from = self._next_slot if now - self._next_slot < self.interval else now
        self._next_slot = paced_from + self.interval
        if self.max_in_flight is not None:
            self._in_flight += 1
        waiter.wake.notify()

    def _first_waiting(self) -> _Waiter:
        if not self._priority:
            return self._ordinary[0]
        if not self._ordinary:
            return self._priority[0]
        return min(self._priority[0], self._ordinary[0], key=lambda w: w.ticket)

    def _leave(self, waiter: _Waiter) -> None:
        """A caller interrupted while waiting (KeyboardInterrupt, say) gives its place up."""
        if waiter.granted is None:
            (self._priority if waiter.priority else self._ordinary).remove(waiter)
        elif self.max_in_flight is not None:
            self._in_flight -= 1
        self._dispatch(self._now())
