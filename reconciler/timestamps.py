"""The one way pcr writes a moment: ISO 8601 in UTC, to the second, as Partner Center does.

Its own module, with nothing heavier than `datetime` behind it: the state backend's lock
holder needs it, and so does `pcr validate`, which must start quickly.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_time(text: str) -> datetime:
    """An ISO-8601 date or time as pcr's options and records give it ("2026-11-22",
    "2026-11-22T09:00:00Z"); without a zone it is UTC. ValueError when it is none."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
