"""Reactivating a suspended subscription: its users have access again, and it is billed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.desired.model import DesiredStatus
from reconciler.live.lifecycle import satisfies
from reconciler.live.models import Subscription, SubscriptionStatus
from reconciler.plan.actions.base import (
    SUBSCRIPTION_PATCH,
    ActionKind,
    ActionType,
    AlreadyDone,
    Outcome,
    Steps,
    WorldMoved,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def active(sub: Subscription) -> bool:
    return satisfies(DesiredStatus.ACTIVE, sub)


def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    def check(sub: Subscription) -> None:
        if active(sub):
            raise AlreadyDone("already active")
        if sub.status is not SubscriptionStatus.SUSPENDED:
            raise WorldMoved(f"subscription {sub.id} is {sub.status.value}: cannot reactivate")

    return steps.set_subscription(
        action, request_id, check, "reactivated", status=SubscriptionStatus.ACTIVE
    )


def landed(steps: Steps, action: Action) -> bool:
    return active(steps.subscription(action))


KIND = ActionKind(
    type=ActionType.REACTIVATE,
    verb="reactivate",
    short="reactivate",
    symbol="+",
    destructive=False,
    irreversible=False,
    routes=(SUBSCRIPTION_PATCH,),
    after="active",
    apply_says="`pcr apply` reactivates it",
    goes_on="billing resumes",
    step=step,
    landed=landed,
)
