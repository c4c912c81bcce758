"""Suspending a subscription: its users lose access, and a new-commerce one is still billed
to the end of its term (docs/partner-center.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.desired.model import DesiredStatus
from reconciler.live.lifecycle import BILLED_WHILE_SUSPENDED, satisfies, term_end_day
from reconciler.live.models import Subscription, SubscriptionKind, SubscriptionStatus
from reconciler.plan.actions.base import (
    SUBSCRIPTION_PATCH,
    ActionKind,
    ActionType,
    AlreadyDone,
    Billing,
    Outcome,
    Steps,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def suspended(sub: Subscription) -> bool:
    return satisfies(DesiredStatus.SUSPENDED, sub)


def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    def check(sub: Subscription) -> None:
        if suspended(sub):
            raise AlreadyDone(f"already {sub.status.value}")
        if sub.kind is SubscriptionKind.AZURE:
            steps.await_azure_cancellations(action)

    return steps.set_subscription(
        action, request_id, check, "suspended", status=SubscriptionStatus.SUSPENDED
    )


def landed(steps: Steps, action: Action) -> bool:
    return suspended(steps.subscription(action))


def billing(sub: Subscription | None, now: datetime) -> Billing:
    if sub is None:
        return Billing(stops_billing=False)
    if sub.kind not in BILLED_WHILE_SUSPENDED:
        return Billing(stops_billing=True)
    return Billing(stops_billing=False, billed_until=term_end_day(sub))


KIND = ActionKind(
    type=ActionType.SUSPEND,
    verb="suspend",
    short="suspend",
    symbol="~",
    destructive=True,
    irreversible=False,
    routes=(SUBSCRIPTION_PATCH,),
    after="suspended",
    apply_says="`pcr apply` suspends it",
    billing=billing,
    step=step,
    landed=landed,
)
