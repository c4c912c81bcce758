"""A subscription's term, as docs/partner-center.md ("Cancelling and changing") states it:
when it ends, what it becomes then, and the cancellation window a purchase or a renewal
opens.

At the end of a term (the day after the inclusive `commitmentEndDate`) an active NCE,
software or SaaS subscription renews if auto-renew is on and expires if it is off; a
suspended one becomes `disabled`. (The lifecycle page says `expired` in one place and
`disabled` in another for a suspended one; `disabled` is taken here.)
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import FakeApiError
from reconciler.fake.wire import status_of
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import classify
from reconciler.live.models import parse_time
from reconciler.timestamps import format_time

CANCELLATION_WINDOW_DAYS = 7
# Perpetual software: 30 days from purchase; marketplace SaaS: a full refund within 72 hours
# (docs/partner-center.md, "Cancelling and changing", "Refunds and billing").
PERPETUAL_WINDOW_DAYS = 30
SAAS_WINDOW_HOURS = 72
# Kinds whose terms renew or expire with the clock.
TERM_KINDS = (SubscriptionKind.NCE, SubscriptionKind.SOFTWARE, SubscriptionKind.SAAS)

_MONTHS_PER_TERM = {"P1M": 1, "P1Y": 12, "P3Y": 36}


def may_have_ended(sub: dict[str, Any], today: str) -> bool:
    """False when the term plainly runs past `today` (an ISO date, UTC): a cheap look for a
    large estate, where most terms have not ended. ISO-8601 days in UTC sort as text; any
    other spelling is left to `catch_up`, which reads it properly."""
    end = sub.get("commitmentEndDate")
    if not isinstance(end, str) or not end.endswith("Z") or end[4:5] != "-" or end[7:8] != "-":
        return True
    return end[:10] < today


def catch_up(sub: dict[str, Any], now: datetime) -> bool:
    """Take the subscription through every term that ended by `now`; True if it changed."""
    changed = False
    while True:
        end = parse_time(sub.get("commitmentEndDate"))
        months = _MONTHS_PER_TERM.get(str(sub.get("termDuration") or "").upper())
        if end is None:
            return changed
        term_end = _midnight(end) + timedelta(days=1)  # commitmentEndDate is inclusive
        if now < term_end:
            return changed
        current = status_of(sub)
        if current == "active" and sub.get("autoRenewEnabled") and months:
            _renew(sub, term_end, months)
        elif current == "active":
            sub["status"] = "expired"
        elif current == "suspended":
            sub["status"] = "disabled"
        else:
            return changed
        changed = True


def _renew(sub: dict[str, Any], start: datetime, months: int) -> None:
    sub["effectiveStartDate"] = format_time(start)
    sub["commitmentEndDate"] = format_time(add_months(start, months) - timedelta(days=1))
    if classify(sub) is SubscriptionKind.SAAS:  # SaaS: one 72-hour full-refund window
        until = start + timedelta(hours=SAAS_WINDOW_HOURS)
        sub["cancellationAllowedUntilDate"] = format_time(until)
        sub["refundOptions"] = [{"type": "Full", "expiresAt": format_time(until)}]
        return
    sub["cancellationAllowedUntilDate"] = format_time(window_end(start))
    sub["refundOptions"] = [{"type": "Full", "expiresAt": format_time(start + timedelta(days=1))}]


def window_end(start: datetime, days: int = CANCELLATION_WINDOW_DAYS) -> datetime:
    """Purchase or renewal + `days`, at 23:59:00 UTC: how the service states the window."""
    day = (start.astimezone(UTC) + timedelta(days=days)).date()
    return datetime.combine(day, time(23, 59), tzinfo=UTC)


def window_days(sub: dict[str, Any] | None) -> int:
    """How many days a software purchase may be cancelled in."""
    perpetual = sub is not None and classify(sub) is SubscriptionKind.PERPETUAL_SOFTWARE
    return PERPETUAL_WINDOW_DAYS if perpetual else CANCELLATION_WINDOW_DAYS


def software_deadline(sub: dict[str, Any] | None, *dated: dict[str, Any] | None) -> datetime:
    """The subscription's own window if it has one, else the window's days from the purchase
    (the `creationDate` of the first of `dated` that has one), end of day."""
    until = parse_time((sub or {}).get("cancellationAllowedUntilDate"))
    if until is not None:
        return until
    created = next(
        (when for item in dated if (when := parse_time((item or {}).get("creationDate")))),
        None,
    )
    if created is None:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The purchase has no creation date.")
    return window_end(created, window_days(sub))


def saas_deadline(sub: dict[str, Any]) -> datetime:
    """The subscription's own window if it has one, else 72 hours from the term's start."""
    until = parse_time(sub.get("cancellationAllowedUntilDate"))
    if until is not None:
        return until
    start = parse_time(sub.get("effectiveStartDate")) or parse_time(sub.get("creationDate"))
    if start is None:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The subscription has no start date.")
    return start + timedelta(hours=SAAS_WINDOW_HOURS)


def add_months(start: datetime, months: int) -> datetime:
    """Calendar months, the day clamped to the target month's length (Jan 31 + 1 month = Feb 28)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last_day = (next_month - timedelta(days=1)).day
    return start.replace(year=year, month=month, day=min(start.day, last_day))


def _midnight(value: datetime) -> datetime:
    return datetime.combine(value.astimezone(UTC).date(), time(0), tzinfo=UTC)
