"""The Azure subscriptions under an Azure plan (docs/partner-center.md, "Azure
subscriptions"): listed, cancelled and reactivated.

A cancel answers `active` still, as the real one takes about 10 minutes to show `inactive`:
the cancellation settles at the `azureCancelReads`-th later read of the entitlement, or once
the fake's clock is 10 minutes on, whichever comes first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reconciler.fake.clock import parse_now
from reconciler.fake.errors import CODE_AZURE_ENTITLEMENT_NOT_FOUND
from reconciler.fake.errors import CODE_BAD_CANCEL_REASON
from reconciler.fake.errors import CODE_CANNOT_REACTIVATE
from reconciler.fake.errors import CODE_MISSING_BODY
from reconciler.fake.errors import CODE_NOT_FOUND
from reconciler.fake.errors import FakeApiError
from reconciler.fake.mutations import Origin
from reconciler.fake.parts import ServicePart
from reconciler.fake.wire import fields
from reconciler.fake.wire import status_of
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import classify

SETTLES_AFTER = timedelta(minutes=10)


@dataclass(eq=False, repr=False)
class AzureEntitlements(ServicePart):
    """The document's `azureEntitlements`, and the cancellations under way on them."""

    _data: dict[str, Any]

    def add(self, customer_id: str, plan_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        """An Azure subscription under the Azure plan `plan_id`."""
        wire["subscriptionId"] = plan_id
        return self._estate.add("azureEntitlements", customer_id, wire)

    def set_cancel_reads(self, reads: int) -> None:
        """The `reads`-th later read of a cancelled Azure entitlement is the first to show it
        inactive; 0 makes the cancel itself answer inactive. (The clock settles it too.)"""
        if reads < 0:
            raise ValueError("reads must be 0 or more")
        self._data["azureCancelReads"] = reads

    # -- reads ---------------------------------------------------------------------------

    def listing(self, customer_id: str, plan_id: str) -> list[dict[str, Any]]:
        """The plan's Azure subscriptions; the list counts as a read of each one."""
        customer_id, plan = self._plan(customer_id, plan_id)
        items = self._of_plan(customer_id, plan["id"])
        for item in items:
            self._count_read(item)
        return copy.deepcopy(items)

    def one(self, customer_id: str, plan_id: str, entitlement_id: str) -> dict[str, Any]:
        item = self._find(customer_id, plan_id, entitlement_id)
        self._count_read(item)
        return copy.deepcopy(item)

    def live(self, customer_id: str, plan_id: str | None = None) -> list[dict[str, Any]]:
        """Active Azure subscriptions (an unsettled cancellation still is one), of one plan
        or of all the customer's plans."""
        if plan_id is None:
            items = list(self._estate.held("azureEntitlements", customer_id))
            self._settle_by_clock(items)
        else:
            items = self._of_plan(customer_id, plan_id)
        return [item for item in items if status_of(item) == "active"]

    # -- writes --------------------------------------------------------------------------

    def cancel(
        self,
        customer_id: str,
        plan_id: str,
        entitlement_id: str,
        body: dict[str, Any] | None,
        origin: Origin,
    ) -> dict[str, Any]:
        """Start cancelling: the answer still says `active`; later reads (or 10 minutes on
        the clock) turn it `inactive`."""
        customer_id = self._estate.customer(customer_id)["id"]
        item = self._find(customer_id, plan_id, entitlement_id)
        _check_cancellation_reason(body)
        key = item["id"].lower()
        cancellations = self._data["azureCancellations"]
        if status_of(item) != "active" or key in cancellations:
            return copy.deepcopy(item)  # Unconfirmed: a repeated cancel taken as a no-op.
        reads = int(self._data["azureCancelReads"])
        cancellations[key] = {"reads_left": reads, "cancelled_at": self._clock.stamp}
        self._log.record(
            origin,
            customer_id,
            item["id"],
            "cancel_azure_entitlement",
            {"status": ["active", "cancelling"]},
            plan=item.get("subscriptionId"),
            billing=False,
        )
        if reads == 0:
            self._settle(item)
        return copy.deepcopy(item)

    def reactivate(
        self, customer_id: str, plan_id: str, entitlement_id: str, origin: Origin
    ) -> dict[str, Any]:
        """Active again, a pending cancellation withdrawn; only under an active plan."""
        customer_id, plan = self._plan(customer_id, plan_id)
        item = self._find(customer_id, plan_id, entitlement_id)
        if status_of(plan) != "active":
            raise FakeApiError(
                400,
                CODE_CANNOT_REACTIVATE,
                f"Azure plan {plan['id']} is {status_of(plan)}; its Azure subscriptions "
                "can't be reactivated.",
            )
        pending = self._data["azureCancellations"].pop(item["id"].lower(), None)
        before = "cancelling" if pending is not None else status_of(item)
        if before == "active":
            return copy.deepcopy(item)
        item["status"] = "active"
        self._log.record(
            origin,
            customer_id,
            item["id"],
            "reactivate_azure_entitlement",
            {"status": [before, "active"]},
            plan=item.get("subscriptionId"),
            billing=True,
        )
        return copy.deepcopy(item)

    # -- lookups -------------------------------------------------------------------------

    def _plan(self, customer_id: str, plan_id: str) -> tuple[str, dict[str, Any]]:
        """The customer's canonical id and its Azure plan `plan_id` (404 for anything else)."""
        customer_id = self._estate.customer(customer_id)["id"]
        plan = self._estate.subscription(customer_id, plan_id)
        if classify(plan) is not SubscriptionKind.AZURE:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Subscription {plan_id} is not an Azure plan.")
        return customer_id, plan

    def _of_plan(self, customer_id: str, plan_id: str) -> list[dict[str, Any]]:
        items = [
            item
            for item in self._estate.held("azureEntitlements", customer_id)
            if str(item.get("subscriptionId") or "").lower() == plan_id.lower()
        ]
        self._settle_by_clock(items)
        return items

    def _find(self, customer_id: str, plan_id: str, entitlement_id: str) -> dict[str, Any]:
        customer_id, plan = self._plan(customer_id, plan_id)
        for item in self._of_plan(customer_id, plan["id"]):
            if item["id"].lower() == entitlement_id.lower():
                return item
        raise FakeApiError(
            404, CODE_AZURE_ENTITLEMENT_NOT_FOUND, f"Azure entitlement {entitlement_id} not found."
        )

    # -- cancellations under way ---------------------------------------------------------

    def _count_read(self, item: dict[str, Any]) -> None:
        pending = self._data["azureCancellations"].get(item["id"].lower())
        if pending is None:
            return
        pending["reads_left"] -= 1
        if pending["reads_left"] <= 0:
            self._settle(item)

    def _settle_by_clock(self, items: list[dict[str, Any]]) -> None:
        """However few reads there were, the real cancellation is done after 10 minutes."""
        cancellations = self._data["azureCancellations"]
        for item in items:
            pending = cancellations.get(item["id"].lower())
            if pending is None:
                continue
            if self._clock.now >= parse_now(pending["cancelled_at"]) + SETTLES_AFTER:
                self._settle(item)

    def _settle(self, item: dict[str, Any]) -> None:
        """The cancellation is done: billing stopped, the Azure subscription disabled."""
        self._data["azureCancellations"].pop(item["id"].lower(), None)
        item["status"] = "inactive"


def _check_cancellation_reason(body: dict[str, Any] | None) -> None:
    reason = (fields(body) if body is not None else {}).get("cancellationreason")
    if not reason:
        raise FakeApiError(
            400, CODE_MISSING_BODY, "The request body with a cancellationReason is required."
        )
    # "compromise" is the only documented reason; whether others exist is unconfirmed.
    if str(reason).lower() != "compromise":
        raise FakeApiError(400, CODE_BAD_CANCEL_REASON, f"Invalid cancellationReason {reason!r}.")
