"""Removing the reseller relationship (docs/partner-center.md, "Cancelling and changing"),
refused while anything the partner sells the customer still runs; and the reservation an
Azure support request ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.fake.azure import AzureEntitlements
from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import CODE_NOT_FOUND
from reconciler.fake.errors import CODE_RELATIONSHIP_BLOCKED
from reconciler.fake.errors import FakeApiError
from reconciler.fake.mutations import Origin
from reconciler.fake.parts import ServicePart
from reconciler.fake.wire import fields
from reconciler.fake.wire import status_of
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import classify
from reconciler.live.models import parse_time

# Statuses in which a subscription no longer stands in the way of anything.
FINISHED_STATUSES = ("expired", "disabled", "deleted")


@dataclass(eq=False, repr=False)
class Relationships(ServicePart):
    """The reseller relationship with each customer, and what stands in its removal's way."""

    _azure: AzureEntitlements

    def remove(self, customer_id: str, body: dict[str, Any], origin: Origin) -> dict[str, Any]:
        """A customer PATCH: remove the reseller relationship, unless something blocks it."""
        customer = self._estate.customer(customer_id)
        customer_id = customer["id"]
        asked = fields(body)
        if str(asked.get("relationshiptopartner", "")).lower() != "none":
            raise FakeApiError(
                400, CODE_INVALID_REQUEST, "Only relationshipToPartner: none can be set here."
            )
        blockers = self.blockers(customer_id)
        if blockers:
            raise FakeApiError(
                400,
                CODE_RELATIONSHIP_BLOCKED,
                "The reseller relationship cannot be removed: " + "; ".join(blockers) + ".",
            )
        before = customer["relationshipToPartner"]
        customer["relationshipToPartner"] = "none"
        customer["allowDelegatedAccess"] = False  # removal takes delegated admin with it
        self._log.record(
            origin,
            customer_id,
            customer_id,
            "remove_relationship",
            {"relationshipToPartner": [before, "none"]},
        )
        return _removed_customer()

    def blockers(self, customer_id: str) -> list[str]:
        """What stops the relationship from being removed, one phrase per kind of blocker."""
        active, suspended_nce, unsettled = self._subscriptions_in_the_way(customer_id)
        reservations = self._reservations_in_the_way(customer_id)
        azure = [item["id"] for item in self._azure.live(customer_id)]
        blockers = []
        if unsettled:
            blockers.append(f"subscriptions not yet settled: {', '.join(unsettled)}")
        if active:
            blockers.append(f"active subscriptions: {', '.join(active)}")
        if suspended_nce:
            blockers.append(
                "suspended new-commerce subscriptions (still billed; cancel them): "
                + ", ".join(suspended_nce)
            )
        if reservations:
            blockers.append(
                "active Azure reserved instances (cancel through Azure support), "
                f"reservation order ids: {', '.join(reservations)}"
            )
        if azure:
            blockers.append(
                "active Azure subscriptions under an Azure plan (cancel them, then suspend "
                f"the plan): {', '.join(azure)}"
            )
        return blockers

    def cancel_reserved_instance(self, customer_id: str, reservation_order_id: str) -> None:
        """What an Azure support request does: the reservation ends. There is no API for it."""
        customer_id = self._estate.customer(customer_id)["id"]
        items = self._estate.held("entitlements", customer_id)
        kept = [
            item
            for item in items
            if reservation_order_id
            not in [a.get("resourceId") for a in item.get("entitledArtifacts") or []]
        ]
        if len(kept) == len(items):
            raise FakeApiError(
                404, CODE_NOT_FOUND, f"Reservation order {reservation_order_id} not found."
            )
        self._estate.set_held("entitlements", customer_id, kept)
        self._log.record(
            Origin("SUPPORT"),
            customer_id,
            reservation_order_id,
            "cancel_reserved_instance",
            {"entitlement": ["live", "cancelled"]},
        )

    def _subscriptions_in_the_way(self, customer_id: str) -> tuple[list[str], list[str], list[str]]:
        """The ids of the customer's active subscriptions, of its suspended new-commerce
        ones (still billed), and of those in a state not yet settled."""
        active, suspended_nce, unsettled = [], [], []
        for sub in self._estate.subscriptions(customer_id):
            status = status_of(sub)
            if status == "active":
                active.append(sub["id"])
            elif status == "suspended" and classify(sub) is SubscriptionKind.NCE:
                suspended_nce.append(sub["id"])
            elif status not in ("suspended", *FINISHED_STATUSES):
                # Unconfirmed: the service's answer for a subscription in any other state
                # (pending, or one pcr has never seen) is assumed to be a refusal.
                unsettled.append(f"{sub['id']} ({status})")
        return active, suspended_nce, unsettled

    def _reservations_in_the_way(self, customer_id: str) -> list[str]:
        """The reservation order ids of the customer's Azure reserved instances."""
        return [
            artifact["resourceId"]
            for item in self._estate.entitlements(customer_id, "reservedinstance", show_expiry=True)
            if self._entitlement_live(item)  # one past its expiry blocks nothing
            for artifact in item.get("entitledArtifacts") or []
            if artifact.get("resourceId")
        ]

    def _entitlement_live(self, item: dict[str, Any]) -> bool:
        expiry = parse_time(item.get("expiryDate"))
        return expiry is None or expiry > self._clock.now


def _removed_customer() -> dict[str, Any]:
    """The service answers a removal with a mostly-null Customer (docs/partner-center.md,
    "Cancelling and changing")."""
    return {
        "id": None,
        "commerceId": None,
        "companyProfile": None,
        "billingProfile": None,
        "relationshipToPartner": "none",
        "allowDelegatedAccess": None,
        "userCredentials": None,
        "customDomains": None,
        "attributes": {"objectType": "Customer"},
    }
