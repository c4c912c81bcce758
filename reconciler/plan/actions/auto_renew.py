"""Turning a subscription's auto-renew off (its term ends, and is still billed to its last
day) or on (the term renews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions.base import SUBSCRIPTION_PATCH
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.actions.base import WorldMoved
from reconciler.plan.actions.base import bill_unchanged
from reconciler.plan.actions.base import billed_to_term_end

if TYPE_CHECKING:
    from reconciler.plan.model import Action


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    if sub.status is not SubscriptionStatus.ACTIVE:
        raise WorldMoved(f"subscription {sub.id} is {sub.status.value}: auto-renew is fixed")


def _kind(on: bool) -> ActionKind:
    """Auto-renew on or off: one PATCH of the subscription, mirrored."""
    state = "on" if on else "off"
    patch = SubscriptionPatch(
        wanted=lambda sub: sub.auto_renew is on,
        already=lambda sub: f"auto-renew already {state}",
        allowed=_allowed,
        done=f"auto-renew {state}",
        auto_renew=on,
    )
    return ActionKind(
        type=ActionType.ENABLE_AUTO_RENEW if on else ActionType.DISABLE_AUTO_RENEW,
        verb=f"auto-renew {state}",
        symbol="+" if on else "~",
        routes=(SUBSCRIPTION_PATCH,),
        after=f"auto-renew {state}",
        apply_says=f"`pcr apply` turns auto-renew {state}",
        # Off: this term is the last, billed to its end; on: the term renews.
        billing=bill_unchanged if on else billed_to_term_end,
        goes_on="billing goes on: the term renews" if on else "billing unchanged",
        step=patch.step,
        landed=patch.landed,
    )


OFF, ON = _kind(False), _kind(True)
