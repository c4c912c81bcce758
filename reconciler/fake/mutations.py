"""The mutation log: every change the service's rules made, when, and where it came from.

Tests read it to see what an apply did to the world; it is part of the document, so a
fake served from a file keeps it across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.fake.clock import Clock


@dataclass(frozen=True)
class Origin:
    """Where a mutation came from, for the mutation log."""

    method: str = "PYTHON"
    path: str = ""
    request_id: str | None = None
    correlation_id: str | None = None


DIRECT = Origin()


@dataclass(eq=False, repr=False)
class MutationLog:
    """The document's `mutations`, one entry a change."""

    _data: dict[str, Any]
    _clock: Clock

    def record(
        self,
        origin: Origin,
        customer_id: str,
        target: str,
        action: str,
        changes: dict[str, list[Any]],
        **facts: Any,
    ) -> None:
        """`action` done to `target` of `customer_id`, at the fake's clock; `changes` maps
        each field changed to [old, new], and `facts` say more (whether it bills, …)."""
        self.entries.append(
            {
                "time": self._clock.stamp,
                "method": origin.method,
                "path": origin.path,
                "request_id": origin.request_id,
                "correlation_id": origin.correlation_id,
                "customer_id": customer_id,
                "target": target,
                "action": action,
                "changes": changes,
                **facts,
            }
        )

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self._data["mutations"]  # type: ignore[no-any-return]
