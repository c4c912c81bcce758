"""The guardrails: each rule once, as a predicate the planner and apply both call.

The planner refuses what a rule forbids while it plans (and says so in the plan);
apply checks any plan again, wherever it came from (saved, fresh or hand-edited),
against the current desired and live state, because a plan file is only JSON; its
executor asks the domain rule once more on the fresh read right before a removal.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterator
from datetime import datetime

from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import PartnerSettings
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Relationship
from reconciler.live.models import Live
from reconciler.plan.actions import DESTRUCTIVE
from reconciler.plan.actions import ActionType
from reconciler.plan.model import Plan
from reconciler.plan.model import Refusal
from reconciler.plan.model import RefusalKind
from reconciler.plan.model import too_many_removals
from reconciler.timestamps import format_time

# --- the rules ------------------------------------------------------------------------------


def domains_differ(declared: str | None, live: str | None) -> bool:
    """Two-key identity: a declared domain that Partner Center contradicts.

    Only a contradiction counts: a domain missing on either side is no evidence
    that the tenant id points at someone else.
    """
    return bool(declared and live) and str(declared).lower() != str(live).lower()


def protected_refuses(customer: DesiredCustomer, action_type: ActionType) -> bool:
    """A protected customer never loses anything: no suspension, cancellation or removal."""
    return customer.protected and action_type in DESTRUCTIVE


def partner_cannot_remove(partner: PartnerSettings, action_type: ActionType) -> bool:
    """Indirect resellers cannot remove a reseller relationship: their provider must."""
    return (
        partner.type is PartnerType.INDIRECT_RESELLER
        and action_type is ActionType.REMOVE_RELATIONSHIP
    )


def removal_limit(removals: int, limit: int) -> Refusal | None:
    """Too many removals in one run (`too_many_removals`), as the plan's refusal."""
    if not too_many_removals(removals, limit):
        return None
    return Refusal(
        RefusalKind.REMOVAL_LIMIT,
        f"the plan removes {removals} reseller relationships, more than "
        f"max_removals_per_run ({limit}): offboard fewer customers per change",
        refused=(str(ActionType.REMOVE_RELATIONSHIP),),
    )


# --- a whole plan, before apply ---------------------------------------------------------------


def refusals(plan: Plan, desired: Desired, live: Live) -> list[str]:
    """Why this plan must not be applied now; empty when it may."""
    found = [_refused(r) for r in plan.refusals]
    # A plan file that says it has none is checked against the removal limit again: a
    # hand-edited one may add removals. (One that has any is refused for those already.)
    limit = removal_limit(plan.removals, desired.partner.policy.max_removals_per_run)
    if limit is not None and not plan.refusals:
        found.append(limit.message)
    found += _action_refusals(plan, desired, live)
    return found


def _refused(refusal: Refusal) -> str:
    if refusal.kind is RefusalKind.REMOVAL_LIMIT:
        return refusal.message
    return f"the plan has errors: {refusal.message}"


def _action_refusals(plan: Plan, desired: Desired, live: Live) -> Iterator[str]:
    for action in plan.actions:
        customer = desired.customers.get(action.customer_id)
        if customer is None:
            yield f"{action.id}: customer {action.customer_id} has no file in the desired state"
            continue
        if protected_refuses(customer, action.type):
            yield f"{action.id}: {customer.path} is protected (protected: true)"
        is_removal = action.type is ActionType.REMOVE_RELATIONSHIP
        if is_removal and customer.relationship is not Relationship.NONE:
            yield f"{action.id}: {customer.path} declares relationship: reseller"
        if partner_cannot_remove(desired.partner, action.type):
            yield (
                f"{action.id}: indirect resellers cannot remove a reseller relationship; "
                "ask your indirect provider"
            )
        found = live.customers.get(action.customer_id)
        if action.destructive and found and domains_differ(customer.domain, found.domain):
            yield (
                f"{action.id}: {customer.path} says domain {customer.domain!r}, Partner "
                f"Center says {found.domain!r}: check the tenant_id"
            )


def staleness(saved: Plan, fresh: Plan, started: Collection[str], now: datetime) -> list[str]:
    """Why a saved plan no longer describes what would happen; empty when it still does.

    A run that was interrupted part-way resumes the same plan (`started`: the ids of the
    steps its journal holds): live state has then moved by the plan's own steps, so
    instead of the fingerprint it checks that what is left to do is still a part of the
    saved plan. The plan's deadline holds either way.
    """
    reasons = []
    if saved.expires_at is not None and now > saved.expires_at:
        reasons.append(
            f"the plan relied on a cancellation window that closed at "
            f"{format_time(saved.expires_at)}"
        )
    saved_ids = [a.id for a in saved.actions]
    if any(i in started for i in saved_ids):
        known = set(saved_ids)
        extra = [a.id for a in fresh.actions if a.id not in known]
        if extra:
            changed = ", ".join(extra)
            reasons.append(f"live or desired state changed while resuming (new: {changed})")
        return reasons
    if saved.live_fingerprint != fresh.live_fingerprint:
        reasons.append("live state in Partner Center changed since the plan was made")
    if saved_ids != [a.id for a in fresh.actions]:
        reasons.append("the desired state no longer yields the same actions")
    return reasons
