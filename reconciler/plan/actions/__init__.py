"""The action types, one module each, and the registry that lists them.

A new action type is a member of `base.ActionType`, a module here with its `ActionKind`,
one line in `KINDS`, the planner rule that emits it and the fake's route that serves its
call (docs/design.md, "Adding an action type"). Nothing else dispatches on the type: the
plan's JSON, the renderers, drift, the guardrails, the journal and the executor take what
they need from the kind.
"""

from __future__ import annotations

from reconciler.plan.actions import auto_renew
from reconciler.plan.actions import azure_subscription
from reconciler.plan.actions import cancel
from reconciler.plan.actions import gdap
from reconciler.plan.actions import reactivate
from reconciler.plan.actions import removal
from reconciler.plan.actions import suspend
from reconciler.plan.actions import tenant
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Billing
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Refund

__all__ = [
    "DESTRUCTIVE",
    "KINDS",
    "REGISTRY",
    "ActionKind",
    "ActionType",
    "Billing",
    "Outcome",
    "Refund",
    "kind_of",
]

# In the order a plan's summary counts them: what takes something away first.
KINDS: tuple[ActionKind, ...] = (
    suspend.KIND,
    cancel.KIND,
    azure_subscription.KIND,
    tenant.GUEST,
    tenant.CONTACT,
    tenant.APP,
    gdap.TERMINATE,
    gdap.DELETE,
    removal.KIND,
    auto_renew.OFF,
    reactivate.KIND,
    auto_renew.ON,
)
REGISTRY: dict[ActionType, ActionKind] = {kind.type: kind for kind in KINDS}

DESTRUCTIVE = frozenset(kind.type for kind in KINDS if kind.destructive)


def kind_of(action_type: ActionType) -> ActionKind:
    return REGISTRY[action_type]
