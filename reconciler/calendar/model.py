"""The calendar's model, and the calendar-JSON contract (docs/design.md, "Calendar JSON"):
`to_dict` and `from_dict` are the only code that knows its layout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from enum import StrEnum
from typing import Any

from reconciler.errors import PcrError
from reconciler.live.models import parse_time
from reconciler.timestamps import format_time

FORMAT_VERSION = 1
MAX_DAYS = 3660  # ten years: what `pcr calendar --days` accepts


class EventKind(StrEnum):
    CANCELLATION_WINDOW_CLOSES = "cancellation_window_closes"
    TERM_ENDS = "term_ends"
    RENEWAL_LOCK = "renewal_lock"
    REMOVAL_DUE = "removal_due"
    TRIAL_CONVERTS = "trial_converts"
    GDAP_ENDS = "gdap_ends"
    RESERVATION_ENDS = "reservation_ends"
    SAVINGS_PLAN_ENDS = "savings_plan_ends"


@dataclass(frozen=True)
class Event:
    """One dated event: when (UTC), what, whose, and what to do by then."""

    when: datetime
    kind: EventKind
    customer_id: str
    customer: str
    target_id: str
    target: str
    action: str
    urgent: bool = False
    # term_ends and trial_converts: whether the term renews; gdap_ends: whether it extends.
    renews: bool | None = None
    all_day: bool = False  # a day's event (a term's last day), not a moment

    def __post_init__(self) -> None:
        # One zone for every date, whatever offset Partner Center or Graph wrote.
        object.__setattr__(self, "when", self.when.astimezone(UTC))

    @property
    def uid(self) -> str:
        """The same event gets the same id in every run, so that a subscribed calendar
        updates it instead of adding it again; a date that moves makes a new event."""
        return f"{self.kind}-{self.customer_id}-{self.target_id}-{self.when:%Y%m%d}@pcr"


@dataclass
class Calendar:
    now: datetime
    days: int
    events: list[Event] = field(default_factory=list)
    # Customers whose subscriptions could not be read: their events are not known.
    unread: list[str] = field(default_factory=list)
    # The customers a scoped run covered (None: every declared customer).
    scope: list[str] | None = None
    # What the calendar could not know: dates it would have listed and does not.
    warnings: list[str] = field(default_factory=list)

    @property
    def urgent(self) -> list[Event]:
        return [e for e in self.events if e.urgent]


def to_dict(calendar: Calendar) -> dict[str, Any]:
    """The calendar-JSON contract (docs/design.md, "Calendar JSON"); `uid`, `all_day` and
    `renews` / `auto_extends` are additive."""
    return {
        "format_version": FORMAT_VERSION,
        "now": format_time(calendar.now),
        "days": calendar.days,
        "events": [
            {
                "date": format_time(e.when),
                "kind": str(e.kind),
                "customer_id": e.customer_id,
                "customer": e.customer,
                "target_id": e.target_id,
                "target": e.target,
                "action": e.action,
                "urgent": e.urgent,
                **({} if e.renews is None else {_renews_key(e): e.renews}),
                "all_day": e.all_day,
                "uid": e.uid,
            }
            for e in calendar.events
        ],
        "unread": list(calendar.unread),
        "scope": None if calendar.scope is None else list(calendar.scope),
        "warnings": list(calendar.warnings),
    }


def _renews_key(event: Event) -> str:
    return "auto_extends" if event.kind is EventKind.GDAP_ENDS else "renews"


class CalendarFormatError(PcrError, ValueError):
    """A saved calendar that this pcr cannot read."""


def from_dict(data: Mapping[str, Any]) -> Calendar:
    """A saved calendar (`pcr calendar --format json`); raises CalendarFormatError."""
    if data.get("format_version") != FORMAT_VERSION:
        raise CalendarFormatError(f"calendar format_version is not {FORMAT_VERSION}")
    try:
        now = parse_time(data["now"])
        if now is None:
            raise CalendarFormatError("calendar has no 'now'")
        events = [_event(e) for e in data["events"]]
        unread = [str(c) for c in data.get("unread", [])]
        scope = data.get("scope")
        scope = None if scope is None else [str(c) for c in scope]
        days = int(data["days"])
        if not 0 < days <= MAX_DAYS:
            raise CalendarFormatError(f"days {days} is not 1 to {MAX_DAYS}")
        warnings = [str(w) for w in data.get("warnings", [])]
        return Calendar(now, days, events, unread, scope, warnings)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CalendarFormatError):
            raise
        raise CalendarFormatError(
            f"calendar file is malformed ({type(exc).__name__}: {exc})"
        ) from None


def _event(data: Mapping[str, Any]) -> Event:
    when = parse_time(data["date"])
    if when is None:
        raise CalendarFormatError("an event without a date")
    kind = EventKind(data["kind"])
    renews = data.get("auto_extends" if kind is EventKind.GDAP_ENDS else "renews")
    return Event(
        when,
        kind,
        str(data["customer_id"]),
        str(data["customer"]),
        str(data["target_id"]),
        str(data["target"]),
        str(data["action"]),
        _flag(data["urgent"]),
        None if renews is None else _flag(renews),
        _flag(data.get("all_day", False)),
    )


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise CalendarFormatError(f"{value!r} is not true or false")
    return value
