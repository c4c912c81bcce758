"""The fake Partner Center's state, and the service's rules on it: one facade over the parts.

Everything lives in one JSON document (`data`, described in `fake.store`), which each part
keeps its own sections of:

    fake.store          the document and the file it is kept in
    fake.clock          the fake's now, and terms catching up with it (`fake.terms`)
    fake.estate         customers and what they hold, found as the service finds them
    fake.subscriptions  the subscription PATCH and its rules
    fake.software       software order lines, cancelled through the order
    fake.azure          the Azure subscriptions under an Azure plan
    fake.relationships  removing the reseller relationship, and what blocks it
    fake.graph          Microsoft Graph's GDAP relationships (`FakeState.gdap`)
    fake.tenants        Graph in the customers' own tenants: users, contacts, apps
    fake.faults         injected faults and the throttle
    fake.operations     writes answered with 202, polled until done
    fake.mutations      the log of every change the rules made

The HTTP layer (`fake.app`) is a thin shell over these, usable directly from tests.
Not thread-safe on its own: the WSGI app serialises access with a lock.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from reconciler.fake import store
from reconciler.fake.azure import AzureEntitlements
from reconciler.fake.clock import Clock
from reconciler.fake.estate import Estate
from reconciler.fake.faults import Faults
from reconciler.fake.graph import FakeGraph
from reconciler.fake.mutations import DIRECT
from reconciler.fake.mutations import MutationLog
from reconciler.fake.mutations import Origin
from reconciler.fake.operations import Operations
from reconciler.fake.relationships import Relationships
from reconciler.fake.software import SoftwareOrders
from reconciler.fake.subscriptions import SubscriptionUpdates
from reconciler.fake.subscriptions import billing
from reconciler.fake.tenants import FakeTenants
from reconciler.timestamps import format_time


class FakeState:
    """The fake's whole world, as one JSON-serialisable dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data = store.opened(data)
        self.clock = Clock(data)
        self.estate = Estate(data)
        self.mutation_log = MutationLog(data, self.clock)
        self.faults = Faults(data)
        self.operations = Operations(data)
        self.azure = AzureEntitlements(self.estate, self.clock, self.mutation_log, data)
        self.software_orders = SoftwareOrders(self.estate, self.clock, self.mutation_log)
        self.subscription_updates = SubscriptionUpdates(
            self.estate, self.clock, self.mutation_log, self.azure, self.software_orders
        )
        self.relationships = Relationships(self.estate, self.clock, self.mutation_log, self.azure)
        self.gdap = FakeGraph(self)  # Microsoft Graph's side of the fake: GDAP
        self.tenants = FakeTenants(data, self.mutation_log)  # Graph in the customers' tenants

    # -- persistence ---------------------------------------------------------------------

    @classmethod
    def empty(cls, now: datetime | str) -> FakeState:
        clock = now if isinstance(now, str) else format_time(now)
        data = {"format_version": store.FORMAT_VERSION, "now": clock, **store.empty_sections()}
        return cls(data)

    @classmethod
    def load(cls, path: Path) -> FakeState:
        """The state in `path`, compact or pretty-printed."""
        return cls(store.read(path))

    def save(self, path: Path) -> None:
        """Write compactly and atomically, keeping the file's mode (a new file gets 0600)."""
        store.write(self.data, path)

    def to_json(self) -> str:
        """The state file's text: compact JSON, one line."""
        return store.to_json(self.data)

    # -- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now

    def set_now(self, when: datetime | str) -> None:
        """Move the clock (either way); subscription terms catch up on the next read, even
        when the clock lands on the second it already showed."""
        self.clock.set(when)
        self.edited()

    def advance_clock(self, by: timedelta) -> None:
        self.set_now(self.now + by)

    def edited(self) -> None:
        """Say that the state was changed in place, outside the service's rules (a test
        setting a term's end, a status, a customer): what the fake keeps to answer quickly
        is worked out afresh on the next request."""
        self.clock.recheck()
        self.estate.reindex()

    def apply_lifecycle(self) -> bool:
        """Catch subscription terms up with the clock (see `fake.terms`); True if anything
        changed."""
        return self.clock.catch_up()

    # -- building a world ----------------------------------------------------------------

    def add_customer(
        self, tenant_id: str, name: str, domain: str, relationship: str = "reseller"
    ) -> dict[str, Any]:
        return self.estate.add_customer(tenant_id, name, domain, relationship)

    def add_subscription(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        self.clock.recheck()  # its term may have ended already
        return self.estate.add("subscriptions", customer_id, wire)

    def add_entitlement(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        return self.estate.add("entitlements", customer_id, wire)

    def add_order(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        return self.estate.add("orders", customer_id, wire)

    def add_azure_entitlement(
        self, customer_id: str, plan_subscription_id: str, wire: dict[str, Any]
    ) -> dict[str, Any]:
        """An Azure subscription under the Azure plan `plan_subscription_id`."""
        return self.azure.add(customer_id, plan_subscription_id, wire)

    def add_gdap_relationship(self, customer_id: str, **relationship: Any) -> dict[str, Any]:
        """A GDAP relationship with `customer_id` in Microsoft Graph, as
        `FakeGraph.add_relationship` makes it (its status, name, end and auto-extension)."""
        return self.gdap.add_relationship(customer_id, **relationship)

    def set_azure_cancel_reads(self, reads: int) -> None:
        """See `AzureEntitlements.set_cancel_reads`."""
        self.azure.set_cancel_reads(reads)

    def add_fault(self, method: str, path: str, **rule: Any) -> dict[str, Any]:
        """Make matching requests fail, go slow or answer 202: see `Faults.add`."""
        return self.faults.add(method, path, **rule)

    def set_throttle(self, limit: int | None, window_seconds: float = 60.0) -> None:
        """Answer 429 + Retry-After once more than `limit` requests arrive in a window."""
        self.faults.set_throttle(limit, window_seconds)

    # -- reads ---------------------------------------------------------------------------

    @property
    def mutations(self) -> list[dict[str, Any]]:
        return self.mutation_log.entries

    def customers(self) -> list[dict[str, Any]]:
        """Customers still in the partner's list, in a stable order."""
        return self.estate.customers()

    def position(self, customer_id: str) -> int | None:
        """Where a customer stands in the full list (removed ones included), by id."""
        return self.estate.position(customer_id)

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A customer in the list; a removed one is 404, as it is gone from the partner's view."""
        return self.estate.customer(customer_id)

    def relationship_request(self) -> dict[str, Any]:
        return self.estate.relationship_request()

    def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        return self.estate.subscriptions(customer_id)

    def subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        return self.estate.subscription(customer_id, subscription_id)

    def entitlements(
        self, customer_id: str, entitlement_type: str | None = None, *, show_expiry: bool = False
    ) -> list[dict[str, Any]]:
        """Entitlements, with `expiryDate` only when asked for, as the service does."""
        return self.estate.entitlements(customer_id, entitlement_type, show_expiry=show_expiry)

    def order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        return self.estate.order(customer_id, order_id)

    def is_billing(self, customer_id: str, subscription_id: str) -> bool:
        """Whether the partner is being charged for this subscription right now."""
        return billing(self.subscription(customer_id, subscription_id))

    def relationship_blockers(self, customer_id: str) -> list[str]:
        """What stops the relationship from being removed, one phrase per kind of blocker."""
        return self.relationships.blockers(customer_id)

    def azure_entitlements(self, customer_id: str, plan_id: str) -> list[dict[str, Any]]:
        """The plan's Azure subscriptions; the list counts as a read of each one."""
        return self.azure.listing(customer_id, plan_id)

    def azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str
    ) -> dict[str, Any]:
        return self.azure.one(customer_id, plan_id, entitlement_id)

    # -- writes --------------------------------------------------------------------------

    def patch_subscription(
        self, customer_id: str, subscription_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """A full-body subscription PATCH: suspend, reactivate, cancel (`deleted`), auto-renew."""
        return self.subscription_updates.patch(customer_id, subscription_id, body, origin)

    def patch_order(
        self, customer_id: str, order_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Cancel software order lines: inside the window only; the linked subscriptions end too."""
        return self.software_orders.cancel(customer_id, order_id, body, origin)

    def patch_customer(
        self, customer_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Remove the reseller relationship, unless something still blocks it."""
        return self.relationships.remove(customer_id, body, origin)

    def cancel_reserved_instance(self, customer_id: str, reservation_order_id: str) -> None:
        """What an Azure support request does: the reservation ends. There is no API for it."""
        self.relationships.cancel_reserved_instance(customer_id, reservation_order_id)

    def cancel_azure_entitlement(
        self,
        customer_id: str,
        plan_id: str,
        entitlement_id: str,
        body: dict[str, Any] | None,
        origin: Origin = DIRECT,
    ) -> dict[str, Any]:
        """Start cancelling an Azure subscription under an Azure plan (see `fake.azure`)."""
        return self.azure.cancel(customer_id, plan_id, entitlement_id, body, origin)

    def reactivate_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str, origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Active again, a pending cancellation withdrawn; only under an active plan."""
        return self.azure.reactivate(customer_id, plan_id, entitlement_id, origin)
