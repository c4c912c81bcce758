"""Turning a subscription's auto-renew off (its term ends, and is still billed to its last
day) or on (the term renews)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.live.lifecycle import term_end_day
from reconciler.live.models import Subscription, SubscriptionStatus
from reconciler.plan.actions.base import (
    SUBSCRIPTION_PATCH,
    ActionKind,
    ActionType,
    AlreadyDone,
    Billing,
    LandedCheck,
    Outcome,
    Step,
    Steps,
    WorldMoved,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def _step(wanted: bool) -> Step:
    state = "on" if wanted else "off"

    def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
        def check(sub: Subscription) -> None:
            if sub.auto_renew is wanted:
                raise AlreadyDone(f"auto-renew already {state}")
            if sub.status is not SubscriptionStatus.ACTIVE:
                raise WorldMoved(
                    f"subscription {sub.id} is {sub.status.value}: auto-renew is fixed"
                )

        return steps.set_subscription(
            action,
            request_id,
            check,
            f"auto-renew {state}",
            auto_renew=wanted,
        )

    return step


def _landed(wanted: bool) -> LandedCheck:
    return lambda steps, action: steps.subscription(action).auto_renew is wanted


def billed_to_term_end(sub: Subscription | None, now: datetime) -> Billing:
    if sub is None:
        return Billing(stops_billing=False)
    return Billing(stops_billing=False, billed_until=term_end_day(sub))


OFF = ActionKind(
    type=ActionType.DISABLE_AUTO_RENEW,
    verb="auto-renew off",
    short="auto-renew off",
    symbol="~",
    destructive=False,
    irreversible=False,
    routes=(SUBSCRIPTION_PATCH,),
    after="auto-renew off",
    apply_says="`pcr apply` turns auto-renew off",
    billing=billed_to_term_end,
    step=_step(False),
    landed=_landed(False),
)

ON = ActionKind(
    type=ActionType.ENABLE_AUTO_RENEW,
    verb="auto-renew on",
    short="auto-renew on",
    symbol="+",
    destructive=False,
    irreversible=False,
    routes=(SUBSCRIPTION_PATCH,),
    after="auto-renew on",
    apply_says="`pcr apply` turns auto-renew on",
    goes_on="billing goes on: the term renews",
    step=_step(True),
    landed=_landed(True),
)
