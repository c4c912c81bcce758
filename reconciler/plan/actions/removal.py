"""Removing the reseller relationship: the end of an offboarding, after every subscription
step and GDAP's end, and refused while anything still blocks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.live.errors import NotFound
from reconciler.live.models import CustomerRelationship
from reconciler.plan.actions.base import GONE
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.plan.model import Action

# What removing a reseller relationship does (Partner Center documentation).
CONSEQUENCES = (
    "removes the customer from the partner's customer list in Partner Center",
    "removes the partner from the customer's support contacts",
    "ends the partner's delegated admin privileges for the customer",
    "prevents any future purchases by the partner for the customer",
)


def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    cid = action.customer_id
    try:
        customer = steps.client.get_customer(cid)
    except NotFound:
        if not steps.relationship_gone(cid):  # one 404 proves nothing
            raise WorldMoved("Partner Center answered 404, then had it again: plan again") from None
        return Outcome.ALREADY, GONE
    if customer.relationship == CustomerRelationship.NONE:
        return Outcome.ALREADY, "relationship already none"
    if customer.relationship != CustomerRelationship.RESELLER:
        shown = customer.relationship_text or "missing"
        raise WorldMoved(f"relationship is {shown!r}, not reseller: refusing to remove")
    if (expected := steps.contradicted_domain(cid, customer.domain)) is not None:
        raise WorldMoved(f"domain is now {customer.domain!r}, not {expected!r}: refusing to remove")
    try:
        blockers = steps.removal_blockers(cid)
    except NotFound:
        if not steps.relationship_gone(cid):
            raise
        # Removed between the read above and this one (someone in the portal): what this
        # step wants is done, and nothing was sent.
        return Outcome.ALREADY, GONE
    if blockers:
        raise WorldMoved("removal still blocked: " + "; ".join(blockers))
    steps.was(action, f"relationship {customer.relationship}")
    steps.mutate(
        action,
        request_id,
        lambda call, landed: steps.client.remove_relationship(cid, request_id=call, landed=landed),
    )
    return Outcome.DONE, "reseller relationship removed"


def landed(steps: Steps, action: Action) -> bool:
    return steps.relationship_gone(action.customer_id)


KIND = ActionKind(
    type=ActionType.REMOVE_RELATIONSHIP,
    verb="remove relationship",
    short="remove",
    symbol="!!",
    consequences=CONSEQUENCES,
    noun="removal",
    routes=("PATCH /v1/customers/{customer}",),
    after="relationship none",
    apply_says="`pcr apply` removes the relationship",
    step=step,
    landed=landed,
)
