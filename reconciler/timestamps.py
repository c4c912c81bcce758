"""The one way pcr writes a moment: ISO 8601 in UTC, to the second, as Partner Center does.

Its own module, with nothing heavier than `datetime` behind it: the state backend's lock
holder needs it, and so does `pcr validate`, which must start quickly.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
