"""What a step does to the partner's bill (`actions[].billing`): the rules of billing that
Partner Center's lifecycle implies, per action type."""

from __future__ import annotations

from datetime import datetime

from reconciler.live.lifecycle import (
    BILLED_WHILE_SUSPENDED,
    term_end_day,
)
from reconciler.live.models import Subscription, SubscriptionKind
from reconciler.plan.model import ActionType, Billing, Refund


def billing(step: ActionType, sub: Subscription | None, now: datetime) -> Billing:
    """What one planned step does to the partner's bill (reference §17).

    Cancelling inside the window stops billing with a refund (in full during its
    first part, prorated after); suspending an NCE subscription, or turning
    auto-renew off, leaves the partner paying to the end of the term.
    """
    if sub is None or step is ActionType.REMOVE_RELATIONSHIP:
        return Billing(stops_billing=False)  # nothing billed is left by then
    if step is ActionType.CANCEL_AZURE_ENTITLEMENT:
        return Billing(stops_billing=True)  # usage up to the cancellation is billed
    if step is ActionType.CANCEL:
        return Billing(stops_billing=True, refund=_refund(sub, now))
    if step is ActionType.SUSPEND and sub.kind not in BILLED_WHILE_SUSPENDED:
        return Billing(stops_billing=True)
    if step in (ActionType.SUSPEND, ActionType.DISABLE_AUTO_RENEW):
        return Billing(stops_billing=False, billed_until=term_end_day(sub))
    return Billing(stops_billing=False)  # reactivating or renewing: billing goes on


def _refund(sub: Subscription, now: datetime) -> Refund:
    if sub.is_trial:
        return Refund.NONE  # nothing was charged
    if sub.kind in (SubscriptionKind.SAAS, SubscriptionKind.PERPETUAL_SOFTWARE):
        return Refund.FULL
    if sub.full_refund_until is not None and now <= sub.full_refund_until:
        return Refund.FULL
    return Refund.PRORATED


# --- removing a relationship ---------------------------------------------------------------
