"""Cleaning the customer's tenant at offboarding, through GDAP, before GDAP ends: the
partner's guest users deleted, its addresses taken off the notification contacts, its apps'
service principals deleted (docs/design.md, "Tenant clean-up"). Each step reads its target
afresh in the customer's tenant, with that tenant's token, and does nothing when it is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Protocol
from typing import Unpack

from reconciler.live.errors import NotFound
from reconciler.live.tenant import ContactList
from reconciler.live.tenant import TenantApp
from reconciler.live.tenant import TenantUser
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import LandedCheck
from reconciler.plan.actions.base import Outcome
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import WorldMoved

if TYPE_CHECKING:
    from reconciler.live.http import CallId
    from reconciler.live.http import Landed
    from reconciler.live.http import Sending
    from reconciler.plan.model import Action

GUEST_CONSEQUENCES = (
    "the partner's guest loses access to the customer's tenant at once",
    "Microsoft Graph keeps a deleted user 30 days in the tenant's deleted items; only the "
    "customer's admins can restore it",
)
CONTACT_CONSEQUENCES = (
    "the partner's address no longer receives the tenant's notifications; only the "
    "customer's admins can add it back",
)
APP_CONSEQUENCES = (
    "the partner's app loses its access to the customer's tenant at once",
    "only the customer's admins can restore it (30 days) or consent it again",
)


def contact_target(which: ContactList, address: str) -> str:
    """A contact entry as a step's target: its list and its address."""
    return f"{which.value}:{address.lower()}"


def _contact(action: Action) -> tuple[ContactList, str]:
    which, _, address = action.target_id.partition(":")
    return ContactList(which), address


def _user(steps: Steps, action: Action) -> TenantUser | None:
    try:
        return steps.tenant(action.customer_id).get_user(action.target_id)
    except NotFound:
        return None


def _app(steps: Steps, action: Action) -> TenantApp | None:
    try:
        return steps.tenant(action.customer_id).get_app(action.target_id)
    except NotFound:
        return None


def remove_guest(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    user = _user(steps, action)
    if user is None:
        return Outcome.ALREADY, "already deleted"
    if user.label != action.target_name:  # the plan named it by its mail: still the same?
        raise WorldMoved(f"guest user {user.id} is {user.label} now: plan again")
    steps.was(action, f"guest user {user.label}")
    _delete(steps, action, request_id, steps.tenant(action.customer_id).delete_user, _user_gone)
    return Outcome.DONE, "guest user deleted (30 days in the tenant's deleted items)"


def remove_app(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    app = _app(steps, action)
    if app is None:
        return Outcome.ALREADY, "already deleted"
    if app.owner != action.parent_id:
        raise WorldMoved(f"the app of service principal {app.id} is not the partner's now")
    steps.was(action, f"service principal of {app.label}")
    _delete(steps, action, request_id, steps.tenant(action.customer_id).delete_app, _app_gone)
    return Outcome.DONE, "service principal deleted"


class _Delete(Protocol):
    """A tenant client's DELETE of one object (`delete_user`, `delete_app`)."""

    def __call__(self, object_id: str, /, **sending: Unpack[Sending]) -> None: ...


def _delete(
    steps: Steps, action: Action, request_id: str, delete: _Delete, gone: LandedCheck
) -> None:
    """A DELETE whose 404 means done when the target is gone (a retry after a lost answer
    finds it deleted by its first attempt)."""

    def send(call: CallId, landed: Landed) -> None:
        try:
            delete(action.target_id, request_id=call, landed=landed)
        except NotFound:
            if not gone(steps, action):
                raise

    steps.mutate(action, request_id, send)


def remove_contact(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
    which, address = _contact(action)
    tenant = steps.tenant(action.customer_id)
    contacts = tenant.get_contacts()
    if not contacts.holds(which, address):
        return Outcome.ALREADY, f"already off {which.value}"
    steps.was(action, f"{address} in {which.value}")
    body = contacts.without(which, address)
    steps.mutate(
        action,
        request_id,
        lambda call, landed: tenant.set_contacts(
            contacts.organization_id, body, request_id=call, landed=landed
        ),
    )
    return Outcome.DONE, f"taken off {which.value}"


def _contact_gone(steps: Steps, action: Action) -> bool:
    which, address = _contact(action)
    return not steps.tenant(action.customer_id).get_contacts().holds(which, address)


def _user_gone(steps: Steps, action: Action) -> bool:
    return _user(steps, action) is None


def _app_gone(steps: Steps, action: Action) -> bool:
    return _app(steps, action) is None


GUEST = ActionKind(
    type=ActionType.REMOVE_GUEST_USER,
    verb="remove guest user",
    short="remove guest",
    consequences=GUEST_CONSEQUENCES,
    noun="guest user removal",
    routes=("DELETE /v1.0/users/{user}",),
    after="deleted",
    apply_says="`pcr apply` deletes the guest user",
    step=remove_guest,
    landed=_user_gone,
)

CONTACT = ActionKind(
    type=ActionType.REMOVE_TENANT_CONTACT,
    verb="remove notification contact",
    short="remove contact",
    consequences=CONTACT_CONSEQUENCES,
    noun="contact removal",
    routes=("PATCH /v1.0/organization/{organization}",),
    after="removed",
    apply_says="`pcr apply` takes the address off the contacts",
    step=remove_contact,
    landed=_contact_gone,
)

APP = ActionKind(
    type=ActionType.REMOVE_PARTNER_APP,
    verb="remove partner app",
    short="remove app",
    consequences=APP_CONSEQUENCES,
    noun="partner app removal",
    routes=("DELETE /v1.0/servicePrincipals/{servicePrincipal}",),
    after="deleted",
    apply_says="`pcr apply` deletes the app's service principal",
    step=remove_app,
    landed=_app_gone,
)
