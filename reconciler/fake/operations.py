"""Long-running operations: a write the service accepted with 202, done after some polls.

The real service points `Location` at the resource itself; the fake keeps its own
operations (`/operations/{id}`), so that a test sees the polling.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from reconciler.fake.errors import CODE_NOT_FOUND
from reconciler.fake.errors import FakeApiError


class Operations:
    """The document's operations under way, each with the answer it ends with."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def start(self, result: dict[str, Any], polls: int) -> str:
        """An operation that reports `result` once polled `polls` times; its id."""
        operation_id = uuid.uuid4().hex
        self._data["operations"][operation_id] = {
            "pending_polls": max(0, polls),
            "result": result,
        }
        return operation_id

    def poll(self, operation_id: str) -> dict[str, Any] | None:
        """The operation's result once done, None while it still runs."""
        operation = self._data["operations"].get(operation_id)
        if operation is None:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Operation {operation_id} not found.")
        if operation["pending_polls"] > 0:
            operation["pending_polls"] -= 1
            return None
        return copy.deepcopy(operation["result"])  # type: ignore[no-any-return]
