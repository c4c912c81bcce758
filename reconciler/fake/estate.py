"""The partner's customers and what each of them holds, found as the service finds them.

A customer whose relationship was removed stays in the document but is gone from the
partner's view: listed nowhere, and 404 by id. Sections keyed by customer (subscriptions,
entitlements, orders, Azure entitlements) are keyed by the customer's id as it was added.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from reconciler.fake.errors import CODE_NO_RELATIONSHIP
from reconciler.fake.errors import CODE_NOT_FOUND
from reconciler.fake.errors import FakeApiError

# The partner a state without `partner_id` invites customers to.
DEFAULT_PARTNER_ID = "3b33e682-00c3-41ee-9dd2-a548adf56438"


def in_partner_list(customer: dict[str, Any]) -> bool:
    """A customer whose relationship was removed is gone from the partner's view."""
    return str(customer.get("relationshipToPartner") or "none").lower() != "none"


class Estate:
    """The document's customers and their sections, with an index of customers by id."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        # Rebuilt whenever the customer count changes (customers are only ever appended),
        # and after edits from outside the service's rules (`reindex`).
        self._index: dict[str, tuple[int, dict[str, Any]]] = {}

    def reindex(self) -> None:
        self._index = {}

    # -- building a world ----------------------------------------------------------------

    def add_customer(
        self, tenant_id: str, name: str, domain: str, relationship: str = "reseller"
    ) -> dict[str, Any]:
        customer = {
            "id": tenant_id,
            "commerceId": str(uuid.uuid5(uuid.NAMESPACE_URL, tenant_id)),
            "companyProfile": {
                "tenantId": tenant_id,
                "domain": domain,
                "companyName": name,
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "relationshipToPartner": relationship,
            "allowDelegatedAccess": True,
            "attributes": {"objectType": "Customer"},
        }
        self._data["customers"].append(customer)
        return customer

    def add(self, section: str, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        """`wire` added to what `customer_id` holds in `section` (subscriptions, …)."""
        self._data[section].setdefault(customer_id, []).append(wire)
        return wire

    # -- reads ---------------------------------------------------------------------------

    def held(self, section: str, customer_id: str) -> list[dict[str, Any]]:
        """What the customer holds in `section`, by its id as added; no check of the customer."""
        return self._data[section].get(customer_id, [])  # type: ignore[no-any-return]

    def set_held(self, section: str, customer_id: str, items: list[dict[str, Any]]) -> None:
        """What the customer holds in `section` from now on."""
        self._data[section][customer_id] = items

    def customers(self) -> list[dict[str, Any]]:
        """Customers still in the partner's list, in a stable order."""
        return [c for c in self._data["customers"] if in_partner_list(c)]

    def position(self, customer_id: str) -> int | None:
        """Where a customer stands in the full list (removed ones included), by id."""
        found = self._indexed().get(customer_id.lower())
        return found[0] if found else None

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A customer in the list; a removed one is 404, as it is gone from the partner's view."""
        found = self._indexed().get(customer_id.lower())
        if found is None:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Customer {customer_id} not found.")
        customer = found[1]
        if not in_partner_list(customer):
            raise FakeApiError(
                404, CODE_NO_RELATIONSHIP, f"No relationship with customer {customer_id}."
            )
        return customer

    def relationship_request(self) -> dict[str, Any]:
        """The reseller relationship invitation: one link, naming only the partner."""
        partner = self._data.get("partner_id") or DEFAULT_PARTNER_ID
        return {
            "url": "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship"
            f"&partnerId={partner}&msppId=0&DAP=false#/BillingAccounts/partner-invitation",
            "attributes": {"objectType": "RelationshipRequest"},
        }

    def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        return self.held("subscriptions", self.customer(customer_id)["id"])

    def subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        for subscription in self.subscriptions(customer_id):
            if subscription["id"].lower() == subscription_id.lower():
                return subscription
        raise FakeApiError(404, CODE_NOT_FOUND, f"Subscription {subscription_id} not found.")

    def entitlements(
        self, customer_id: str, entitlement_type: str | None = None, *, show_expiry: bool = False
    ) -> list[dict[str, Any]]:
        """Entitlements, with `expiryDate` only when asked for, as the service does. One
        past its expiry is still listed (blocking nothing: see `fake.relationships`)."""
        items = []
        for item in self.held("entitlements", self.customer(customer_id)["id"]):
            if (
                entitlement_type
                and item.get("entitlementType", "").lower() != entitlement_type.lower()
            ):
                continue
            shown = copy.deepcopy(item)
            if not show_expiry:
                shown.pop("expiryDate", None)
            items.append(shown)
        return items

    def order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        for order in self.held("orders", self.customer(customer_id)["id"]):
            if order["id"].lower() == order_id.lower():
                return order
        raise FakeApiError(404, CODE_NOT_FOUND, f"Order {order_id} not found.")

    def _indexed(self) -> dict[str, tuple[int, dict[str, Any]]]:
        customers = self._data["customers"]
        if len(self._index) != len(customers):
            self._index = {c["id"].lower(): (i, c) for i, c in enumerate(customers)}
        return self._index
