"""Reading an estate in process, and what a read reports as its progress."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.desired.model import Desired
from reconciler.fake import FakePartnerCenter
from reconciler.live.clients import Clients
from reconciler.live.lifecycle import needs_detail
from reconciler.live.lifecycle import needs_gdap
from tests.graphs import graph_beside
from tests.vanishing import in_process_client

SAFETY_SECONDS = 30  # only a bound for waits that end on events


@contextmanager
def clients_on(fake: FakePartnerCenter) -> Iterator[Clients]:
    with in_process_client(fake) as client:
        yield Clients(client, graph_beside(client))


class Recorder:
    """Progress that keeps what it is told, and lets a test wait for a count."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0
        self.totals: list[int] = []
        self.statuses: list[str] = []
        self.ahead_of_total = False  # a step came before the read it counts
        self._changed = threading.Condition()

    def expect(self, total: int) -> None:
        with self._changed:
            self.total = total
            self.totals.append(total)
            self._changed.notify_all()

    def advance(self, steps: int = 1) -> None:
        with self._changed:
            self.done += steps
            self.ahead_of_total |= self.total is None or self.done > self.total
            self._changed.notify_all()

    def status(self, text: str) -> None:
        with self._changed:
            self.statuses.append(text)
            self._changed.notify_all()

    def wait_for(self, done: int) -> None:
        with self._changed:
            reached = self._changed.wait_for(lambda: self.done >= done, SAFETY_SECONDS)
        assert reached, f"{self.done} reads done, never {done}"

    def wait_for_status(self, text: str) -> None:
        """Until `text` is said, and the total with it."""
        with self._changed:
            said = self._changed.wait_for(
                lambda: text in self.statuses and self.total is not None, SAFETY_SECONDS
            )
        assert said, f"never {text!r} with a total: {self.statuses[-3:]}, {self.total}"


def needing_reads(desired: Desired) -> list[str]:
    """The declared customers with reads to do once listed: a deep read, a GDAP listing."""
    return [c.tenant_id for c in desired.customers.values() if needs_detail(c) or needs_gdap(c)]
