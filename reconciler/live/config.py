"""The client's limits and defaults: what one server can make it spend, and how it paces.

`Limits` holds the limits of one client, checked when it is built; the constants are
their defaults and the fixed pacing of retries and polls (see `client` for how each
is used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "BUSY_PAUSE_CAP_SECONDS",
    "BUSY_PAUSE_FIRST_SECONDS",
    "CONTAINER_BYTES",
    "DEFAULT_ANSWER_TIMEOUT",
    "DEFAULT_BUSY_WAIT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_GRAPH_PAGE_SIZE",
    "DEFAULT_GRAPH_RATE_PER_MINUTE",
    "DEFAULT_MAX_ANSWER_BYTES",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RATE_PER_MINUTE",
    "DEFAULT_READ_TIMEOUT",
    "MAX_POLLS",
    "MAX_RETRY_AFTER_SECONDS",
    "POLL_BASE_SECONDS",
    "POLL_CAP_SECONDS",
    "VALUE_BYTES",
    "Limits",
]

# The documented budget is 500 requests a minute per partner tenant (docs/partner-center.md,
# "Errors, throttling, sign-in").
DEFAULT_RATE_PER_MINUTE = 500
# Microsoft Graph publishes no GDAP limit (unconfirmed); this stays far below the
# identity-and-access bucket's writes (3,000 per 150 s per app and tenant:
# docs/partner-center.md, "Errors, throttling, sign-in"), and a run sends few GDAP
# calls: one listing per offboarded customer, and its terminations.
DEFAULT_GRAPH_RATE_PER_MINUTE = 600
# The largest `$top` the delegatedAdminRelationships listing takes (docs/partner-center.md,
# "GDAP").
DEFAULT_GRAPH_PAGE_SIZE = 300
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 6
# The largest page size is not documented; a smaller cap on the service's side only
# means shorter pages, and paging follows `links.next` either way.
DEFAULT_PAGE_SIZE = 500
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
POLL_BASE_SECONDS = 1.0
POLL_CAP_SECONDS = 5.0
MAX_POLLS = 30
# A `Retry-After` longer than this is refused rather than slept: a run must not hang for
# an hour because an answer said so.
MAX_RETRY_AFTER_SECONDS = 300.0
# How long a call waits out 409s: Partner Center answers 409 while a subscription renews
# (from 00:01 UTC, up to a day) or another operation runs on it, and asks to retry after
# about two minutes (docs/partner-center.md, "Errors, throttling, sign-in"). These waits
# are not attempts.
DEFAULT_BUSY_WAIT = 300.0
BUSY_PAUSE_FIRST_SECONDS = 5.0
BUSY_PAUSE_CAP_SECONDS = 60.0

# The limits on what one server can make the client spend (see `client`'s docstring).
# The largest answer pcr reads: a page of 500 customers is well under 1 MiB.
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024
# Pages of one listing: 1,000 pages of 500 is half a million customers, and reading them
# takes two minutes of the 500-requests-a-minute budget on paging alone.
DEFAULT_MAX_PAGES = 1_000
DEFAULT_CONNECT_TIMEOUT = 10.0  # TCP connect and TLS handshake
DEFAULT_READ_TIMEOUT = 30.0  # silence: the most the server may send nothing
DEFAULT_ANSWER_TIMEOUT = 60.0  # one attempt, from sending the request to the answer's last byte

# What parsing may cost is bounded too: at most one object or list per this many bytes of
# the cap, and one value (a comma) per this many. Real answers have one object or list per
# 60-100 bytes and a comma per 35-45, so only answers built to blow up when parsed (32 MiB
# of `{},` is 700 MiB of dicts) come near: under these, the worst is some 60 MiB.
CONTAINER_BYTES = 64
VALUE_BYTES = 32


@dataclass(frozen=True)
class Limits:
    """The limits of one client; a value that cannot be one is a `ValueError`.

    `call_timeout` (default: `answer_timeout`) is what one call may spend on its
    attempts and the backoff between them; waits the service asks for are not counted.
    """

    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE  # the service's budget, paced evenly
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT
    call_timeout: float | None = None
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_pages: int = DEFAULT_MAX_PAGES
    busy_wait: float = DEFAULT_BUSY_WAIT  # seconds of 409s a call waits out

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_minute) and self.rate_per_minute > 0):
            raise ValueError("rate_per_minute must be a positive number")
        if self.max_attempts < 1 or self.max_concurrency < 1:
            raise ValueError("max_attempts and max_concurrency must be at least 1")
        timeouts = (self.connect_timeout, self.read_timeout, self.answer_timeout, self.per_call)
        if not all(math.isfinite(t) and t > 0 for t in (*timeouts, self.busy_wait)):
            raise ValueError("timeouts must be positive numbers of seconds")
        if self.max_answer_bytes < 1 or self.max_pages < 1:
            raise ValueError("max_answer_bytes and max_pages must be at least 1")

    @property
    def per_call(self) -> float:
        """Seconds one call may spend on its attempts and the backoff between them."""
        return self.answer_timeout if self.call_timeout is None else self.call_timeout

    def timeouts(self, allowance: float) -> httpx.Timeout:
        """httpx's timeouts for an attempt that has `allowance` seconds in all."""
        return httpx.Timeout(
            connect=min(self.connect_timeout, allowance),
            read=min(self.read_timeout, allowance),
            write=min(self.read_timeout, allowance),
            pool=min(self.connect_timeout, allowance),
        )


# Partner Center's limits, and Microsoft Graph's: the same, with Graph's own budget.
PARTNER_CENTER_LIMITS = Limits()
GRAPH_LIMITS = Limits(rate_per_minute=DEFAULT_GRAPH_RATE_PER_MINUTE)
