"""Software purchases: their order lines are cancelled through the order, inside the window,
and a cancelled purchase takes its subscription and its software entitlements with it
(docs/partner-center.md, "Cancelling and changing")."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from reconciler.fake import terms
from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import CODE_NOT_SOFTWARE
from reconciler.fake.errors import CODE_WINDOW_PASSED
from reconciler.fake.errors import FakeApiError
from reconciler.fake.mutations import Origin
from reconciler.fake.parts import ServicePart
from reconciler.fake.wire import fields
from reconciler.fake.wire import status_of
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import classify
from reconciler.timestamps import format_time

SOFTWARE_KINDS = (SubscriptionKind.SOFTWARE, SubscriptionKind.PERPETUAL_SOFTWARE)

Line = dict[str, Any]


@dataclass(eq=False, repr=False)
class SoftwareOrders(ServicePart):
    """The orders of software purchases, and what cancelling their lines does."""

    def cancel(
        self, customer_id: str, order_id: str, body: dict[str, Any], origin: Origin
    ) -> dict[str, Any]:
        """An order PATCH: cancel software order lines, inside the window only; the linked
        subscriptions end too."""
        customer_id = self._estate.customer(customer_id)["id"]
        order = self._estate.order(customer_id, order_id)
        requested = _requested_lines(body)
        targets = [self._cancellable(customer_id, order, line) for line in requested]
        lines = [line["lineItemNumber"] for line, _ in targets if line.get("quantity")]
        if not lines:  # already cancelled: nothing changes, nothing to log
            return copy.deepcopy(order)
        before = order.get("status")
        for line, sub in targets:
            line["quantity"] = 0
            if sub is not None and status_of(sub) != "deleted":
                sub["status"], sub["autoRenewEnabled"] = "deleted", False
            self._drop_entitlements(customer_id, order["id"], line)
        _settle_status(order)
        self._log.record(
            origin,
            customer_id,
            order["id"],
            "cancel_order",
            {"status": [before, order["status"]]},
            lines=lines,
            billing=False,
        )
        return copy.deepcopy(order)

    def order_of(self, customer_id: str, sub: dict[str, Any]) -> dict[str, Any] | None:
        """The order the subscription was bought with, if the fake holds it."""
        order_id = str(sub.get("orderId") or "").lower()
        for order in self._estate.held("orders", customer_id):
            if order_id and order["id"].lower() == order_id:
                return order
        return None

    def cancel_line_of(self, customer_id: str, sub: dict[str, Any]) -> None:
        """A software subscription cancelled directly: its order line is cancelled with it."""
        for order in self._estate.held("orders", customer_id):
            for line in order.get("lineItems") or []:
                if str(line.get("subscriptionId", "")).lower() == sub["id"].lower():
                    line["quantity"] = 0
                    self._drop_entitlements(customer_id, order["id"], line)
                    _settle_status(order)

    def _cancellable(
        self, customer_id: str, order: dict[str, Any], requested: dict[str, Any]
    ) -> tuple[Line, dict[str, Any] | None]:
        """The order line a cancel request names, with its subscription, if it may be cancelled."""
        number = requested.get("lineitemnumber")
        line = next(
            (item for item in order.get("lineItems") or [] if item.get("lineItemNumber") == number),
            None,
        )
        if line is None:
            raise FakeApiError(400, CODE_INVALID_REQUEST, f"Order has no line item {number}.")
        if str(requested.get("offerid", "")).lower() != str(line.get("offerId", "")).lower():
            raise FakeApiError(400, CODE_INVALID_REQUEST, f"Line item {number}: offer id mismatch.")
        sub = self._subscription_of(customer_id, line)
        if sub is not None and classify(sub) not in SOFTWARE_KINDS:
            raise FakeApiError(
                400,
                CODE_NOT_SOFTWARE,
                f"Line item {number} is not a software purchase; cancel its subscription instead.",
            )
        if not line.get("quantity", 0):
            return line, sub  # already cancelled: no window to check
        deadline = terms.software_deadline(sub, order, sub)
        if self._clock.now > deadline:
            raise FakeApiError(
                400,
                CODE_WINDOW_PASSED,
                f"The {terms.window_days(sub)}-day cancellation window for line item {number} "
                f"passed on {format_time(deadline)}.",
            )
        return line, sub

    def _subscription_of(self, customer_id: str, line: Line) -> dict[str, Any] | None:
        sid = line.get("subscriptionId")
        for sub in self._estate.held("subscriptions", customer_id):
            if sid and sub["id"].lower() == str(sid).lower():
                return sub
        return None

    def _drop_entitlements(self, customer_id: str, order_id: str, line: Line) -> None:
        """A cancelled software purchase grants nothing any more."""

        def granted_by_line(item: dict[str, Any]) -> bool:
            reference = item.get("referenceOrder") or {}
            return bool(
                item.get("entitlementType", "").lower() == "software"
                and reference.get("id") == order_id
                and str(reference.get("lineItemId")) == str(line.get("lineItemNumber"))
            )

        items = self._estate.held("entitlements", customer_id)
        kept = [item for item in items if not granted_by_line(item)]
        self._estate.set_held("entitlements", customer_id, kept)


def _requested_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines an order PATCH asks to cancel, their field names in lower case."""
    asked = fields(body)
    if str(asked.get("status", "")).lower() != "cancelled":
        raise FakeApiError(
            400, CODE_INVALID_REQUEST, "An order update must set status to cancelled."
        )
    requested = [fields(line) for line in asked.get("lineitems") or []]
    if not requested:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "No line items to cancel.")
    return requested


def _settle_status(order: dict[str, Any]) -> None:
    lines = order.get("lineItems") or []
    order["status"] = (
        "cancelled" if all(not line.get("quantity") for line in lines) else "completed"
    )
