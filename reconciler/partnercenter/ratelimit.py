"""Pacing under Partner Center's request budget (about 500 requests a minute per tenant)."""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most `limit` requests in any `window` seconds, thread-safe.

    Each caller reserves its slot under the lock and sleeps outside it.
    Priority callers — the sequential chain of a paged listing, which every
    other read waits on — get a share of each window of their own (`headroom`),
    so they never queue behind a backlog of parallel reads. Ordinary callers
    leave that share free only while priority traffic is flowing.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.headroom = max(1, limit // 10) if limit > 1 else 0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: list[float] = []  # ordinary send times, past and reserved, sorted
        self._priority_slots: list[float] = []

    @classmethod
    def per_minute(cls, rate: float, *, sleep: Callable[[float], None] = time.sleep) -> RateLimiter:
        """`rate` requests a minute, paced over windows of about a second.

        A whole-minute window would let a large run send its first minute's
        worth in one burst; the service's own accounting is not documented
        and a burst is what draws 429s, so the pace is kept even instead:
        ceil(rate/60) requests per window of the matching length.
        """
        if rate <= 0:
            raise ValueError("a rate limit needs a positive rate")
        limit = math.ceil(rate / 60)
        return cls(limit, window=limit * 60 / rate, sleep=sleep)

    def acquire(self, *, priority: bool = False) -> float:
        """Wait for a slot; return how long this caller waited."""
        with self._lock:
            now = self._clock()
            for slots in (self._slots, self._priority_slots):
                while slots and slots[0] <= now - self.window:
                    slots.pop(0)
            if priority and self.headroom:
                slots, share = self._priority_slots, self.headroom
            else:
                slots = self._slots
                share = self.limit - (self.headroom if self._priority_slots else 0)
            slot = now if len(slots) < share else max(now, slots[-share] + self.window)
            if priority and self.headroom and len(self._priority_slots) == 0:
                # Priority traffic starting: ordinary callers may have filled whole
                # windows ahead, so this first slot respects the overall limit too.
                everything = self._slots
                if len(everything) >= self.limit:
                    slot = max(slot, everything[-self.limit] + self.window)
            bisect.insort(slots, slot)
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)
