"""Suspending a subscription: its users lose access, and a new-commerce one is still billed
to the end of its term (docs/partner-center.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.desired.model import DesiredStatus
from reconciler.live.lifecycle import BILLED_WHILE_SUSPENDED
from reconciler.live.lifecycle import satisfies
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions.base import SUBSCRIPTION_PATCH
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Billing
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.actions.base import billed_to_term_end

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def suspended(sub: Subscription) -> bool:
    return satisfies(DesiredStatus.SUSPENDED, sub)


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    if sub.kind is SubscriptionKind.AZURE:
        steps.await_azure_cancellations(action)


PATCH = SubscriptionPatch(
    wanted=suspended,
    allowed=_allowed,
    done="suspended",
    status=SubscriptionStatus.SUSPENDED,
)


def billing(sub: Subscription | None, now: datetime) -> Billing:
    if sub is not None and sub.kind not in BILLED_WHILE_SUSPENDED:
        return Billing(stops_billing=True)
    return billed_to_term_end(sub, now)


KIND = ActionKind(
    type=ActionType.SUSPEND,
    verb="suspend",
    destructive=True,
    routes=(SUBSCRIPTION_PATCH,),
    after="suspended",
    apply_says="`pcr apply` suspends it",
    billing=billing,
    step=PATCH.step,
    landed=PATCH.landed,
)
