"""Reactivating a suspended subscription: its users have access again, and it is billed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.desired.model import DesiredStatus
from reconciler.live.lifecycle import satisfies
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions.base import SUBSCRIPTION_PATCH
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def active(sub: Subscription) -> bool:
    return satisfies(DesiredStatus.ACTIVE, sub)


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    if sub.status is not SubscriptionStatus.SUSPENDED:
        raise WorldMoved(f"subscription {sub.id} is {sub.status.value}: cannot reactivate")


PATCH = SubscriptionPatch(
    wanted=active,
    already=lambda sub: "already active",
    allowed=_allowed,
    done="reactivated",
    status=SubscriptionStatus.ACTIVE,
)


KIND = ActionKind(
    type=ActionType.REACTIVATE,
    verb="reactivate",
    symbol="+",
    routes=(SUBSCRIPTION_PATCH,),
    after="active",
    apply_says="`pcr apply` reactivates it",
    goes_on="billing resumes",
    step=PATCH.step,
    landed=PATCH.landed,
)
