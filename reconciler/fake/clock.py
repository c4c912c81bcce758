"""The fake's clock: it moves only when set, and subscription terms catch up with it."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from reconciler.fake import terms
from reconciler.live.models import classify
from reconciler.live.models import parse_time
from reconciler.timestamps import format_time


def parse_now(value: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    return parsed


class Clock:
    """The document's `now`, and which reading of it the terms last caught up to."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        parse_now(data["now"])  # fail early on a bad clock
        # Terms only move with the clock, new subscriptions or edits from outside the
        # service's rules (each calls `recheck`): a catch-up at the same reading of the
        # clock walks over no subscription.
        self._caught_up_at: str | None = None

    @property
    def now(self) -> datetime:
        return parse_now(self._data["now"])

    @property
    def stamp(self) -> str:
        """The clock as the document holds it, for what the fake records of a change."""
        return str(self._data["now"])

    def set(self, when: datetime | str) -> None:
        """Move the clock, either way, to the second."""
        self._data["now"] = format_time(parse_now(when) if isinstance(when, str) else when)

    def recheck(self) -> None:
        """The next catch-up walks every term, even at the same reading of the clock: the
        clock is kept to the second, so a term's end moved and then the clock set within
        one second would otherwise look like nothing happened, and the term would never end."""
        self._caught_up_at = None

    def catch_up(self) -> bool:
        """Take every subscription through the terms that ended by now; True if any changed."""
        stamp = self.stamp
        if stamp == self._caught_up_at:
            return False
        self._caught_up_at = stamp
        changed = False
        now = self.now
        today = now.astimezone(UTC).date().isoformat()
        for subscriptions in self._data["subscriptions"].values():
            for sub in subscriptions:
                if terms.may_have_ended(sub, today) and classify(sub) in terms.TERM_KINDS:
                    changed |= terms.catch_up(sub, now)
        return changed
