"""Ending a GDAP relationship in Microsoft Graph, so that the partner's admin roles do not
outlive the reseller relationship: an active one is terminated (and waited for until
Graph shows it terminated), a draft the customer never approved is deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.live.errors import PartnerCenterError
from reconciler.live.lifecycle import GDAP_DELETED_BY_PCR
from reconciler.live.lifecycle import GDAP_ENDING
from reconciler.live.lifecycle import GDAP_TERMINATED_BY_PCR
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapRequest
from reconciler.live.models import GdapStatus
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.live.http import CallId
    from reconciler.live.http import Landed
    from reconciler.plan.model import Action

_RELATIONSHIP = "/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship}"
# Ending GDAP: the partner's access ends now, and only the customer can grant it again
# (docs/partner-center.md, "GDAP").
TERMINATE_CONSEQUENCES = (
    "the partner's security groups lose their admin roles in the customer's tenant at once",
    "a new GDAP relationship needs the customer's approval",
)
DELETE_CONSEQUENCES = (
    "the draft relationship is deleted; a new one must be created and approved by the customer",
)


def terminate(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    graph = steps.graph_client()
    current = steps.gdap(action)
    if current is None or current.status in (GdapStatus.TERMINATED, GdapStatus.EXPIRED):
        return Outcome.ALREADY, "already ended" if current else "no longer exists"
    if current.status in GDAP_ENDING:  # asked already (by a run that was stopped?)
        steps.await_gdap_end(action)
        return Outcome.ALREADY, "already terminating; now terminated"
    _check(current, GDAP_TERMINATED_BY_PCR)
    steps.was(action, current.status_text)
    asked: list[GdapRequest | None] = []

    def send(call: CallId, landed: Landed) -> None:
        asked.append(graph.terminate_relationship(action.target_id, request_id=call, landed=landed))

    steps.mutate(action, request_id, send)
    # The removal that follows must not run while the partner's roles still hold.
    steps.await_gdap_end(action, asked[0] if asked else None)
    return Outcome.DONE, "terminated"


def terminated(steps: Steps, action: Action) -> bool:
    now = steps.gdap(action)
    return now is None or now.status in GDAP_ENDING | {GdapStatus.TERMINATED}


def delete(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    graph = steps.graph_client()
    current = steps.gdap(action)
    if current is None:
        return Outcome.ALREADY, "already deleted"
    _check(current, GDAP_DELETED_BY_PCR)
    steps.was(action, current.status_text)

    def send(call: CallId, landed: Landed) -> None:
        try:
            graph.delete_relationship(
                action.target_id, current.etag, request_id=call, landed=landed
            )
        except PartnerCenterError as exc:
            if exc.status == 412:  # changed since the read above: it is no draft to delete
                raise WorldMoved(f"{current.label} changed since it was read: plan again") from None
            raise

    steps.mutate(action, request_id, send)
    return Outcome.DONE, "deleted"


def deleted(steps: Steps, action: Action) -> bool:
    return steps.gdap(action) is None


def _check(current: GdapRelationship, wanted: frozenset[GdapStatus]) -> None:
    """The planner's rules, again on the read right before the write."""
    if current.unknowns:
        raise WorldMoved(
            f"{current.label} has {', '.join(current.unknowns)}, which pcr does not know"
        )
    if current.status not in wanted:
        raise WorldMoved(f"{current.label} is {current.status_text} now: plan again")


TERMINATE = ActionKind(
    type=ActionType.TERMINATE_GDAP,
    verb="terminate GDAP relationship",
    short="terminate GDAP",
    consequences=TERMINATE_CONSEQUENCES,
    noun="GDAP termination",
    routes=(f"POST {_RELATIONSHIP}/requests",),
    after="terminated",
    apply_says="`pcr apply` terminates it",
    step=terminate,
    landed=terminated,
)

DELETE = ActionKind(
    type=ActionType.DELETE_GDAP,
    verb="delete GDAP relationship",
    short="delete GDAP",
    consequences=DELETE_CONSEQUENCES,
    noun="GDAP deletion",
    routes=(f"DELETE {_RELATIONSHIP}",),
    after="deleted",
    apply_says="`pcr apply` deletes it",
    step=delete,
    landed=deleted,
)
