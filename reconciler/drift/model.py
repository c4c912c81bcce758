"""Drift: the report model and the drift-JSON contract (docs/design.md, "Drift JSON").

`diff` computes a `DriftReport` from the desired and live state; `render` turns
one into text, JSON or Markdown; `to_dict` is the only code that knows the
drift-JSON layout, as `plan.to_dict` is for plans.

Besides its records (differences), a report carries notes and warnings, which are
not drift and never make `--detailed-exitcode` return 2: a note is something about
to happen that a person may want to prevent (a GDAP relationship of a customer
that stays, about to end without extension); a warning says what drift could not
compare (GDAP relationships that Microsoft Graph could not be asked about).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any

from reconciler.plan.model import CustomerRef
from reconciler.timestamps import format_time

FORMAT_VERSION = 1
Value = str | bool | None


class DriftKind(StrEnum):
    MISSING_CUSTOMER = "missing_customer"
    UNMANAGED_CUSTOMER = "unmanaged_customer"
    RELATIONSHIP = "relationship"
    NAME = "name"
    DOMAIN = "domain"
    SUBSCRIPTION_MISSING = "subscription_missing"
    SUBSCRIPTION_STATUS = "subscription_status"
    AUTO_RENEW = "auto_renew"
    # What of the partner's an offboarding's tenant clean-up removes, still in the customer's
    # tenant (docs/design.md, "Tenant clean-up"): before GDAP, as in the plan's order.
    TENANT_GUEST_USER = "tenant_guest_user"
    TENANT_CONTACT = "tenant_contact"
    TENANT_PARTNER_APP = "tenant_partner_app"
    # An active GDAP relationship (or one on its way to active, or a draft) with a customer
    # whose offboarding ends them: after the subscriptions, as in the plan's order.
    GDAP_RELATIONSHIP = "gdap_relationship"


# Within a customer, records are listed in this order: who, then what they have.
KIND_ORDER = {kind: index for index, kind in enumerate(DriftKind)}


@dataclass(frozen=True)
class DriftRecord:
    customer_id: str
    kind: DriftKind
    target_id: str
    desired: Value
    live: Value
    message: str  # what the difference means and what happens next, for people
    target_name: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)  # dates and facts, for machines
    # A deferred item of the plan explains it, and its date has not come: a removal (or a
    # cancellation) waiting for a term to end. Shown, but not a change (exit 0).
    waiting: bool = False


@dataclass(frozen=True)
class DriftNote:
    """Not a difference: something about to happen that a person may want to act on first
    (a GDAP relationship of a customer that stays, ending soon without extension)."""

    customer_id: str
    target_id: str
    message: str
    ends: datetime | None = None
    target_name: str = ""


@dataclass
class DriftReport:
    now: datetime
    records: list[DriftRecord] = field(default_factory=list)
    customers: dict[str, CustomerRef] = field(default_factory=dict)
    checked: int = 0  # declared customers compared with Partner Center
    api_calls: int = 0
    notes: list[DriftNote] = field(default_factory=list)  # never drift: exit 0
    warnings: list[str] = field(default_factory=list)  # what could not be compared: exit 0

    @property
    def has_drift(self) -> bool:
        """Any difference at all, waiting ones included: what the report shows."""
        return bool(self.records)

    @property
    def changes(self) -> list[DriftRecord]:
        """The differences that no deferred item explains: apply or a person acts on them."""
        return [r for r in self.records if not r.waiting]

    @property
    def has_changes(self) -> bool:
        """What `--detailed-exitcode` reports with 2: a difference that is not waiting."""
        return bool(self.changes)

    @property
    def waiting(self) -> int:
        return sum(r.waiting for r in self.records)

    @property
    def drifted(self) -> int:
        """Declared customers with at least one difference."""
        return len(
            {r.customer_id for r in self.records if r.kind is not DriftKind.UNMANAGED_CUSTOMER}
        )

    @property
    def unmanaged(self) -> int:
        return sum(r.kind is DriftKind.UNMANAGED_CUSTOMER for r in self.records)

    def name_of(self, customer_id: str) -> str:
        ref = self.customers.get(customer_id)
        return ref.name if ref and ref.name else customer_id


# --- JSON contract -----------------------------------------------------------------------


def to_dict(report: DriftReport) -> dict[str, Any]:
    """The drift-JSON contract (docs/design.md, "Drift JSON"), key order stable."""
    return {
        "format_version": FORMAT_VERSION,
        "now": format_time(report.now),
        "drift": [
            {
                "customer_id": r.customer_id,
                "kind": str(r.kind),
                "target_id": r.target_id,
                "target_name": r.target_name,
                "desired": r.desired,
                "live": r.live,
                "message": r.message,
                "detail": dict(r.detail),
                "waiting": r.waiting,
            }
            for r in report.records
        ],
        "customers": {
            cid: {"name": ref.name, "file": ref.file} for cid, ref in report.customers.items()
        },
        # Additive: neither is drift (a consumer that does not know them loses nothing).
        "notes": [
            {
                "customer_id": n.customer_id,
                "target_id": n.target_id,
                "target_name": n.target_name,
                "message": n.message,
                "ends": format_time(n.ends) if n.ends else None,
            }
            for n in report.notes
        ],
        "warnings": list(report.warnings),
        "summary": {
            "customers_checked": report.checked,
            "drifted": report.drifted,
            "unmanaged": report.unmanaged,
            "differences": len(report.records),
            "waiting": report.waiting,
            "api_calls": report.api_calls,
        },
    }
