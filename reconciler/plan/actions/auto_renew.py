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
    Billing,
    Steps,
    SubscriptionPatch,
    WorldMoved,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    if sub.status is not SubscriptionStatus.ACTIVE:
        raise WorldMoved(f"subscription {sub.id} is {sub.status.value}: auto-renew is fixed")


def _patch(wanted: bool) -> SubscriptionPatch:
    state = "on" if wanted else "off"
    return SubscriptionPatch(
        wanted=lambda sub: sub.auto_renew is wanted,
        already=lambda sub: f"auto-renew already {state}",
        allowed=_allowed,
        done=f"auto-renew {state}",
        auto_renew=wanted,
    )


_OFF, _ON = _patch(False), _patch(True)


def billed_to_term_end(sub: Subscription | None, now: datetime) -> Billing:
    if sub is None:
        return Billing(stops_billing=False)
    return Billing(stops_billing=False, billed_until=term_end_day(sub))


OFF = ActionKind(
    type=ActionType.DISABLE_AUTO_RENEW,
    verb="auto-renew off",
    symbol="~",
    routes=(SUBSCRIPTION_PATCH,),
    after="auto-renew off",
    apply_says="`pcr apply` turns auto-renew off",
    billing=billed_to_term_end,
    step=_OFF.step,
    landed=_OFF.landed,
)

ON = ActionKind(
    type=ActionType.ENABLE_AUTO_RENEW,
    verb="auto-renew on",
    symbol="+",
    routes=(SUBSCRIPTION_PATCH,),
    after="auto-renew on",
    apply_says="`pcr apply` turns auto-renew on",
    goes_on="billing goes on: the term renews",
    step=_ON.step,
    landed=_ON.landed,
)
