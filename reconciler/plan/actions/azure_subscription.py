"""Cancelling an Azure subscription under an Azure plan (an Azure entitlement): its billing
stops and its resources are disabled; Partner Center shows it inactive within minutes, and
suspends the plan only once none is active."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import Subscription
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Billing
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.live.http import CallId
    from reconciler.live.http import Landed
    from reconciler.plan.model import Action

CONSEQUENCES = (
    "billing for the Azure subscription stops and its resources are disabled",
    "data is kept for 30 to 90 days, then the Azure subscription is deleted",
)
ROUTE = (
    "POST /v1/customers/{customer}/subscriptions/{subscription}/azureEntitlements/{entitlement}"
    "/cancel"
)


def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    current = steps.azure_entitlement(action)
    if current.status is AzureEntitlementStatus.INACTIVE:
        return Outcome.ALREADY, "already cancelled (inactive)"
    if current.status is not AzureEntitlementStatus.ACTIVE:
        raise WorldMoved(
            f"Azure subscription {current.id} has status {current.status_text!r}, "
            "which pcr does not know"
        )
    steps.was(action, current.status_text or current.status.value)

    def send(call: CallId, landed_now: Landed) -> None:
        steps.client.cancel_azure_entitlement(
            action.customer_id,
            action.parent_id,
            action.target_id,
            request_id=call,
            landed=landed_now,
        )

    steps.mutate(action, request_id, send)
    return Outcome.DONE, "cancelled (Partner Center shows it inactive within minutes)"


def landed(steps: Steps, action: Action) -> bool:
    return steps.azure_entitlement(action).status is AzureEntitlementStatus.INACTIVE


def billing(sub: Subscription | None, now: datetime) -> Billing:
    # Usage up to the cancellation is billed; nothing after it.
    return Billing(stops_billing=sub is not None)


KIND = ActionKind(
    type=ActionType.CANCEL_AZURE_ENTITLEMENT,
    verb="cancel Azure subscription",
    consequences=CONSEQUENCES,
    noun="Azure subscription cancellation",
    routes=(ROUTE,),
    after="cancelled",
    apply_says="`pcr apply` cancels the Azure subscription",
    billing=billing,
    step=step,
    landed=landed,
)
