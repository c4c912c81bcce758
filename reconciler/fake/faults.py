"""Injected faults and the throttle: how a test makes the fake fail, go slow or answer later.

The rules live in the document (`faults`, `throttle`), so that a fake served from a file
keeps them across requests and processes; the app applies them (`fake.app`).
"""

from __future__ import annotations

import re
from typing import Any


class Faults:
    """The fault rules and the throttle of the document."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        count: int | None = 1,
        retry_after: float | None = None,
        latency: float = 0.0,
        code: int | str | None = None,
        description: str | None = None,
        polls: int = 1,
        applied: bool = False,
    ) -> dict[str, Any]:
        """Make matching requests fail (or go slow, or answer 202) `count` times (None: always).

        `applied`: the request is carried out first, and then answered with the error (the
        service took a change, then failed to say so).

        `path` is a regular expression searched in the request path
        (e.g. `/subscriptions/`); `method` is an HTTP method or `*`. On a Graph path
        (`/v1.0/…`) the error is in Graph's body, `code` its `error.code`. Status
        202 on a write applies it and answers 202 + Location, to be polled
        `polls` times before it reports done. `status=None` only adds latency.
        """
        re.compile(path)
        rule = {
            "method": method.upper(),
            "path": path,
            "status": status,
            "count": count,
            "retry_after": retry_after,
            "latency": latency,
            "code": code,
            "description": description,
            "polls": polls,
            "applied": applied,
        }
        self._data["faults"].append(rule)
        return rule

    def take(self, method: str, path: str) -> dict[str, Any] | None:
        """The first rule matching this request, with one use of it spent."""
        for rule in self._data["faults"]:
            if rule["method"] not in ("*", method.upper()) or not re.search(rule["path"], path):
                continue
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self._data["faults"].remove(rule)
            return dict(rule)
        return None

    def set_throttle(self, limit: int | None, window_seconds: float = 60.0) -> None:
        """Answer 429 + Retry-After once more than `limit` requests arrive in a window."""
        self._data["throttle"] = (
            None if limit is None else {"limit": limit, "window_seconds": window_seconds}
        )
