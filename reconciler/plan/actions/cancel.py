"""Cancelling a subscription (status `deleted`), final and only inside its cancellation
window: new commerce, software with a term and marketplace SaaS by the subscription's own
PATCH, which cancels it alone; a perpetual software purchase only through its line of its
order (docs/partner-center.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.desired.model import DesiredStatus
from reconciler.live.errors import LineNotFound
from reconciler.live.errors import NotFound
from reconciler.live.lifecycle import cancel_deadline
from reconciler.live.lifecycle import in_window
from reconciler.live.lifecycle import satisfies
from reconciler.live.models import Order
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import moment
from reconciler.plan.actions.base import SUBSCRIPTION_PATCH
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Billing
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Refund
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.actions.base import Unsent
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.live.http import CallId
    from reconciler.live.http import Landed
    from reconciler.plan.model import Action

# Cancelling is final: `deleted` cannot be reactivated (docs/partner-center.md,
# "Refunds and billing").
CONSEQUENCES = (
    "the customer's users lose access at once; the subscription cannot be restored",
    "admins have 7 days to back up data",
)


class _ThroughOrder(Unsent):
    """A perpetual software purchase: it is cancelled through its order's line."""

    def __init__(self, subscription: Subscription) -> None:
        super().__init__(subscription.id)
        self.subscription = subscription


def cancelled(sub: Subscription) -> bool:
    return satisfies(DesiredStatus.CANCELLED, sub)


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    if not in_window(sub, steps.now):
        deadline = cancel_deadline(sub)
        closed = f"closed {moment(deadline)}" if deadline else "is gone"
        raise WorldMoved(f"the cancellation window of {sub.id} {closed}: plan again")
    # The read the PATCH needs anyway tells which way this subscription is cancelled.
    if sub.kind is SubscriptionKind.PERPETUAL_SOFTWARE:
        raise _ThroughOrder(sub)


PATCH = SubscriptionPatch(
    wanted=cancelled,
    allowed=_allowed,
    done="cancelled",
    status=SubscriptionStatus.DELETED,
)


def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    try:
        return PATCH.step(steps, action, request_id)
    except _ThroughOrder as through:
        return _cancel_order_line(steps, action, request_id, through.subscription)


def _cancel_order_line(
    steps: Steps, action: Action, request_id: str, sub: Subscription
) -> tuple[Outcome, str]:
    """A perpetual software purchase: its one line of its order, and nothing else. The
    order is read again afterwards: anything else in it that changed is reported."""
    if not sub.order_id:
        raise WorldMoved(f"subscription {sub.id} names no order to cancel it through")
    order_id = sub.order_id
    before: list[Order] = []

    def send(call: CallId, landed: Landed) -> object:
        try:
            return steps.client.cancel_order_line(
                action.customer_id,
                order_id,
                action.target_id,
                request_id=call,
                landed=landed,
                precondition=before.append,
            )
        except NotFound:
            raise steps.not_found(action, f"order {order_id}") from None
        except LineNotFound as missing:
            raise WorldMoved(str(missing.description)) from None

    steps.was(action, sub.status_text or sub.status.value)
    steps.mutate(action, request_id, send)
    if before and (changed := _others_changed(steps, action, before[0])):
        raise WorldMoved(
            f"cancelled, but Partner Center changed more of order {order_id} than its "
            f"line for {sub.id}: {changed}; check the order in Partner Center"
        )
    return Outcome.DONE, "cancelled (its order line)"


def _others_changed(steps: Steps, action: Action, before: Order) -> str:
    """What of an order's other lines differs from `before`: empty when nothing does."""
    after = steps.client.get_order(action.customer_id, before.id)
    wanted = action.target_id.lower()
    was = {line.number: line.quantity for line in before.line_items}
    return ", ".join(
        f"line {line.number} ({line.offer_id}) quantity {was.get(line.number)} -> {line.quantity}"
        for line in after.line_items
        if (line.subscription_id or "").lower() != wanted and was.get(line.number) != line.quantity
    )


def billing(sub: Subscription | None, now: datetime) -> Billing:
    """Cancelling inside the window stops billing, with a refund: in full during its first
    part (or for a purchase refunded whole), prorated after; a trial was never charged."""
    if sub is None:
        return Billing(stops_billing=False)
    return Billing(stops_billing=True, refund=_refund(sub, now))


def _refund(sub: Subscription, now: datetime) -> Refund:
    if sub.is_trial:
        return Refund.NONE  # nothing was charged
    if sub.kind in (SubscriptionKind.SAAS, SubscriptionKind.PERPETUAL_SOFTWARE):
        return Refund.FULL
    if sub.full_refund_until is not None and now <= sub.full_refund_until:
        return Refund.FULL
    return Refund.PRORATED


def deadline(sub: Subscription) -> datetime | None:
    """The cancellation window's close; a trial has no window: it is cancelled at any time."""
    return None if sub.is_trial else cancel_deadline(sub)


KIND = ActionKind(
    type=ActionType.CANCEL,
    verb="cancel",
    consequences=CONSEQUENCES,
    noun="cancellation",
    # Software purchases are cancelled through their order.
    routes=(SUBSCRIPTION_PATCH, "PATCH /v1/customers/{customer}/orders/{order}"),
    after="deleted",
    apply_says="`pcr apply` cancels it",
    billing=billing,
    deadline=deadline,
    step=step,
    landed=PATCH.landed,
)
