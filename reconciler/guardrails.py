"""Guardrails apply enforces on any plan, wherever it came from (saved, fresh or hand-edited).

The planner already refuses these cases; apply checks them again against the
current desired state and live state, because a plan file is only JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from reconciler.desired import Desired, PartnerType, Relationship
from reconciler.journal import Journal
from reconciler.partnercenter.models import Live, format_time
from reconciler.plan import ActionType, Plan


def refusals(plan: Plan, desired: Desired, live: Live) -> list[str]:
    """Why this plan must not be applied now; empty when it may."""
    found = [f"the plan has errors: {e}" for e in plan.errors]
    limit = desired.partner.policy.max_removals_per_run
    if plan.removals > limit:
        found.append(
            f"the plan removes {plan.removals} reseller relationships, more than "
            f"max_removals_per_run ({limit}): offboard fewer customers per change"
        )
    found += _action_refusals(plan, desired, live)
    return found


def _action_refusals(plan: Plan, desired: Desired, live: Live) -> Iterator[str]:
    for action in plan.actions:
        customer = desired.customers.get(action.customer_id)
        if customer is None:
            yield f"{action.id}: customer {action.customer_id} has no file in the desired state"
            continue
        if action.destructive and customer.protected:
            yield f"{action.id}: {customer.path} is protected (protected: true)"
        is_removal = action.type is ActionType.REMOVE_RELATIONSHIP
        if is_removal and customer.relationship is not Relationship.NONE:
            yield f"{action.id}: {customer.path} declares relationship: reseller"
        if is_removal and desired.partner.type is PartnerType.INDIRECT_RESELLER:
            yield (
                f"{action.id}: indirect resellers cannot remove a reseller relationship; "
                "ask your indirect provider"
            )
        found = live.customers.get(action.customer_id)
        mismatch = bool(customer.domain and found and found.domain) and (
            str(customer.domain).lower() != (found.domain.lower() if found else "")
        )
        if action.destructive and mismatch and found:
            yield (
                f"{action.id}: {customer.path} says domain {customer.domain!r}, Partner "
                f"Center says {found.domain!r}: check the tenant_id"
            )


def staleness(saved: Plan, fresh: Plan, journal: Journal, now: datetime) -> list[str]:
    """Why a saved plan no longer describes what would happen; empty when it still does.

    A run that was interrupted part-way resumes the same plan: live state has
    then moved by the plan's own steps, so instead of the fingerprint it checks
    that what is left to do is still a part of the saved plan. The plan's
    deadline holds either way.
    """
    reasons = []
    if saved.expires_at is not None and now > saved.expires_at:
        reasons.append(
            f"the plan relied on a cancellation window that closed at "
            f"{format_time(saved.expires_at)}"
        )
    saved_ids = [a.id for a in saved.actions]
    if any(journal.steps.get(i) for i in saved_ids):
        extra = [a.id for a in fresh.actions if a.id not in set(saved_ids)]
        if extra:
            changed = ", ".join(extra)
            reasons.append(f"live or desired state changed while resuming (new: {changed})")
        return reasons
    if saved.live_fingerprint != fresh.live_fingerprint:
        reasons.append("live state in Partner Center changed since the plan was made")
    if saved_ids != [a.id for a in fresh.actions]:
        reasons.append("the desired state no longer yields the same actions")
    return reasons
