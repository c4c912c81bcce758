"""Drift: every difference between the desired state and Partner Center, one record each.

Pure: no I/O and no clock of its own (`now` is passed in). Both sides are
first normalized into the same small model, plain dicts of exactly the facts
pcr manages:

    {tenant_id: {"relationship": ..., "name": ..., "domain": ...,
                 "subscriptions": {subscription_id: {"status": ..., "auto_renew": ...}},
                 "gdap": {relationship_id: {"status": ...}},
                 "tenant_guest_user": {user_id: "absent"}, ...}}

and deepdiff compares the two estates; each difference it reports becomes a
`DriftRecord`. What an offboarding wants of each subscription and GDAP relationship is
the customer's plan's own (`CustomerPlan.expects`, `expects_gdap`): drift has no rule of
its own for it, so drift and plan agree on what is converged:

- a fact is compared only when both sides can state it (a name the file does
  not declare, or a subscription nobody overrides, is left alone);
- a live subscription that already satisfies what is wanted shows the wanted
  value (an expired one satisfies `suspended` and `cancelled`; a suspended
  legacy one satisfies `cancelled`, which Partner Center completes at term end);
- an offboarding customer (`relationship: none`) that is gone is converged,
  also one that vanished while pcr read it (`Live.vanished`: no longer in the
  partner's list); a customer that should stay and vanished is missing;
  one that is still there wants every subscription that blocks the removal
  cancelled (NCE, software) or suspended (legacy, Azure), and auto-renew off
  where the cancellation window has closed;
- an offboarding customer whose GDAP relationships end with it (`gdap: terminate`),
  gone or not (but not vanished during this read), wants every one that has not
  ended terminated (a draft: deleted);
  `gdap: keep` leaves them, and a customer that stays is not compared at all:
  for it, a relationship about to end without extension is a note, not drift;
- an offboarding customer whose tenant was read for its clean-up (not vanished) wants
  absent each guest, contact address and app of the partner's that the clean-up removes
  (`CustomerPlan.expects_gone`); a tenant that could not be read is a warning.

Records then get what a person needs to act, from the customer's own part of
the plan (`planner.plan_declared`, guardrails included), so that drift and plan
never disagree about what apply does:

- a record says "`pcr apply` <does X>" (its kind's `apply_says`) only when
  the plan holds that action for its target; a subscription the plan holds
  back (behind a reserved instance or a savings plan, or an unknown state:
  fail closed), or that a guardrail refuses, says so instead;
- a record is *waiting* when a deferred item whose date has not come explains
  it, the plan holds no action for its target and no blocked item names it: the
  relationship of an offboarding customer whose removal is deferred, each
  subscription that such a removal (or a cancellation deferred for that
  subscription) waits for, and each GDAP relationship, which ends with it.
  Waiting records are shown but are not changes (`--detailed-exitcode` 0);
  once the date has passed they are drift again ("due since").

So, per declared customer: drift has a record that is not waiting, other than
`name` and `domain` (which the plan only warns about), exactly when the plan
has for that customer an action, a blocked item, an error, or a deferred item
that is due; and it has only waiting records exactly when the plan has only
deferred items that are not due (tests/drift/test_agreement.py). The one exception:
GDAP relationships that could not be read at all (no Graph credentials), or a tenant to
clean that could not be, are a blocked item in the plan, and a warning in drift, which
cannot compare them.

The plan drift explains with is the one `pcr plan` makes, which reads GDAP only
for the customers whose offboarding ends it (`lifecycle.needs_gdap`); drift reads
every declared customer's, for the notes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from functools import cache
from typing import Any

from reconciler.calendar.events import ends_soon_unextended
from reconciler.calendar.events import gdap_ends
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.drift.model import KIND_ORDER
from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftNote
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.drift.model import Value
from reconciler.live.lifecycle import ENDED_STATUSES
from reconciler.live.lifecycle import GDAP_DELETED_BY_PCR
from reconciler.live.lifecycle import WINDOWED_KINDS
from reconciler.live.lifecycle import cancel_deadline
from reconciler.live.lifecycle import in_window
from reconciler.live.lifecycle import label
from reconciler.live.lifecycle import needs_gdap
from reconciler.live.lifecycle import needs_tenant_read
from reconciler.live.lifecycle import renewal_date
from reconciler.live.lifecycle import satisfies
from reconciler.live.lifecycle import term_end_day
from reconciler.live.lifecycle import unmanaged_ids
from reconciler.live.lifecycle import window_after
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import day
from reconciler.live.models import moment
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.plan.model import GDAP_STEPS
from reconciler.plan.model import TENANT_STEPS
from reconciler.plan.model import Action
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import CustomerRef
from reconciler.plan.model import Deferred
from reconciler.plan.planner import CustomerPlan
from reconciler.plan.planner import TenantStep
from reconciler.plan.planner import past_term
from reconciler.plan.planner import plan_declared
from reconciler.timestamps import format_time
from reconciler.wording import listed
from reconciler.wording import plural

# A declared customer's part of the plan, by its tenant id.
Planned = Callable[[str], CustomerPlan]

# What is left in the customer's tenant, by the clean-up step that removes it.
TENANT_KINDS = {
    ActionType.REMOVE_GUEST_USER: DriftKind.TENANT_GUEST_USER,
    ActionType.REMOVE_TENANT_CONTACT: DriftKind.TENANT_CONTACT,
    ActionType.REMOVE_PARTNER_APP: DriftKind.TENANT_PARTNER_APP,
}


# --- the normalized models ----------------------------------------------------------------


def _observed(wanted: DesiredStatus, sub: Subscription) -> str:
    return str(wanted) if satisfies(wanted, sub) else str(sub.status)


@dataclass
class _Views:
    """The two normalized estates, filled side by side so they always hold the same keys."""

    desired: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pair(self, customer_id: str, key: str, desired: Value, live: Value) -> None:
        self.desired.setdefault(customer_id, {})[key] = desired
        self.live.setdefault(customer_id, {})[key] = live

    def pair_subscription(
        self, customer_id: str, sub_id: str, key: str, desired: Value, live: Value
    ) -> None:
        self.desired[customer_id].setdefault("subscriptions", {}).setdefault(sub_id, {})[key] = (
            desired
        )
        self.live[customer_id].setdefault("subscriptions", {}).setdefault(sub_id, {})[key] = live

    def pair_gdap(self, customer_id: str, relationship_id: str, desired: str, live: str) -> None:
        for view, status in ((self.desired, desired), (self.live, live)):
            view.setdefault(customer_id, {}).setdefault("gdap", {})[relationship_id] = {
                "status": status
            }


def _reseller(live: Customer | None) -> bool:
    return live is not None and live.relationship == CustomerRelationship.RESELLER


def _relationship(live: Customer | None) -> str:
    if live is None:
        return CustomerRelationship.NONE.value
    return str(live.relationship)


def _add_customer(views: _Views, customer: DesiredCustomer, live: Live, planned: Planned) -> None:
    _add_customer_itself(views, customer, live, planned)
    # One that vanished while pcr read it is done for this run, as the plan sees it; the
    # next run, in which it is simply gone, compares what GDAP it left behind.
    if customer.tenant_id in live.vanished:
        return
    if customer.ends_gdap:
        _add_gdap(views, customer.tenant_id, live.gdap.get(customer.tenant_id, ()), planned)
    if customer.tenant_id in live.tenants:  # read: an offboarding that cleans it
        _add_tenant(views, customer.tenant_id, planned)


def _add_customer_itself(
    views: _Views, customer: DesiredCustomer, live: Live, planned: Planned
) -> None:
    cid = customer.tenant_id
    found = live.customers.get(cid)
    if customer.offboarding and not _reseller(found):
        return  # offboarded already: converged
    if found is None:  # absent on the live side: missing
        views.desired[cid] = {"relationship": CustomerRelationship.RESELLER.value}
        return
    views.pair(cid, "relationship", str(customer.relationship), _relationship(found))
    if customer.name and found.name:
        views.pair(cid, "name", customer.name.strip(), found.name.strip())
    if customer.domain and found.domain:
        views.pair(cid, "domain", customer.domain.lower(), found.domain.lower())
    detail = live.details.get(cid)
    if detail is None or not _reseller(found):
        return
    views.desired[cid]["subscriptions"] = {}
    views.live[cid]["subscriptions"] = {}
    if customer.offboarding:
        _add_offboarding_subscriptions(views, cid, detail, planned(cid))
    else:
        _add_overrides(views, customer, detail)


def _add_overrides(views: _Views, customer: DesiredCustomer, detail: CustomerDetail) -> None:
    cid = customer.tenant_id
    by_id = {s.id.lower(): s for s in detail.subscriptions}
    for override in customer.subscriptions:
        sub = by_id.get(override.id)
        if sub is None:
            declared = str(override.status) if override.status else "present"
            views.desired[cid]["subscriptions"][override.id] = {"status": declared}
            continue  # absent on the live side: subscription_missing
        if override.status is not None:
            views.pair_subscription(
                cid, override.id, "status", str(override.status), _observed(override.status, sub)
            )
        # Auto-renew can only be changed on an active subscription that is meant to stay.
        compare_renewal = (
            override.auto_renew is not None
            and override.status in (None, DesiredStatus.ACTIVE)
            and sub.status is SubscriptionStatus.ACTIVE
        )
        if compare_renewal:
            views.pair_subscription(
                cid, override.id, "auto_renew", override.auto_renew, sub.auto_renew
            )


def _add_offboarding_subscriptions(
    views: _Views, cid: str, detail: CustomerDetail, plan: CustomerPlan
) -> None:
    """Each subscription as the offboarding's plan expects it (`CustomerPlan.expects`)."""
    for sub in detail.subscriptions:
        sid = sub.id.lower()
        expected = plan.expects.get(sid, {})
        if "status" in expected:
            wanted = DesiredStatus(str(expected["status"]))
            views.pair_subscription(cid, sid, "status", str(wanted), _observed(wanted, sub))
        if "auto_renew" in expected:
            views.pair_subscription(cid, sid, "auto_renew", expected["auto_renew"], sub.auto_renew)


def _gdap_status(relationship: GdapRelationship) -> str:
    """The status as read; with what pcr could not read of the relationship, which the plan
    holds for a person whatever the status (a terminated one with an unreadable end too)."""
    status = relationship.status_text or str(relationship.status)
    if relationship.status is GdapStatus.UNKNOWN or not relationship.unknowns:
        return status  # a status pcr does not know already differs from any it wants
    return f"{status}, with {', '.join(relationship.unknowns)}"


def _add_gdap(
    views: _Views, cid: str, relationships: Iterable[GdapRelationship], planned: Planned
) -> None:
    """Each GDAP relationship as the offboarding's plan expects it (`expects_gdap`)."""
    expected = planned(cid).expects_gdap
    for relationship in relationships:
        if (wanted := expected.get(relationship.id)) is not None:
            views.pair_gdap(cid, relationship.id, wanted, _gdap_status(relationship))


def _add_tenant(views: _Views, cid: str, planned: Planned) -> None:
    """What of the partner's the offboarding removes from the customer's tenant, as read
    there (`expects_gone`): all of it is still present, or it would not have been read."""
    for target, step in planned(cid).expects_gone.items():
        part = TENANT_KINDS[step.kind].value
        views.desired.setdefault(cid, {}).setdefault(part, {})[target] = "absent"
        views.live.setdefault(cid, {}).setdefault(part, {})[target] = "present"


def normalized(
    desired: Desired, live: Live, planned: Planned
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The desired and the live estate in the one model that deepdiff compares; what an
    offboarding wants comes from the customer's plan (`planned`)."""
    views = _Views()
    for customer in desired.customers.values():
        _add_customer(views, customer, live, planned)
    for cid in unmanaged_ids(desired, live):  # absent on the desired side: unmanaged
        views.live[cid] = {"relationship": CustomerRelationship.RESELLER.value}
    return views.desired, views.live


# --- comparing ---------------------------------------------------------------------------

Difference = tuple[list[str], Value, Value]
_REPORTS = ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed")


@cache
def _deepdiff_options() -> dict[str, Any]:
    """From deepdiff 8.1 on, two dicts that share few keys are reported as one changed value
    (`threshold_to_diff_deeper`); drift needs a record per key, as older versions give."""
    from deepdiff import DeepDiff

    if "threshold_to_diff_deeper" in inspect.signature(DeepDiff.__init__).parameters:
        return {"threshold_to_diff_deeper": 0}
    return {}


def _plain(value: Any) -> Value:
    """deepdiff's "not present" marker, and whole entries, become None/their status."""
    if isinstance(value, dict):
        status = value.get("status", value.get("relationship"))
        return status if isinstance(status, str) else None
    return value if isinstance(value, str | bool) else None


def differences(desired_view: dict[str, Any], live_view: dict[str, Any]) -> Iterator[Difference]:
    """(path, desired, live) for every difference between the normalized estates."""
    # Imported here: deepdiff takes a tenth of a second to import, and only drift needs it.
    from deepdiff import DeepDiff

    # Plain equality first: in a large estate most customers are converged, and
    # deepdiff costs far more per customer than `==` does.
    changed = {
        cid
        for cid in desired_view.keys() | live_view.keys()
        if desired_view.get(cid) != live_view.get(cid)
    }
    tree = DeepDiff(
        {cid: model for cid, model in desired_view.items() if cid in changed},
        {cid: model for cid, model in live_view.items() if cid in changed},
        view="tree",
        **_deepdiff_options(),
    )
    for report in _REPORTS:
        for level in tree.get(report, ()):
            yield (
                [str(step) for step in level.path(output_format="list")],
                _plain(level.t1),
                _plain(level.t2),
            )


_TENANT_PARTS = frozenset(kind.value for kind in TENANT_KINDS.values())


def _kind_of(path: list[str], desired: Value) -> DriftKind:
    match path:
        case [_]:
            return (
                DriftKind.MISSING_CUSTOMER if desired is not None else DriftKind.UNMANAGED_CUSTOMER
            )
        case [_, "relationship"]:
            return DriftKind.RELATIONSHIP
        case [_, "name"]:
            return DriftKind.NAME
        case [_, "domain"]:
            return DriftKind.DOMAIN
        case [_, "subscriptions", _]:
            return DriftKind.SUBSCRIPTION_MISSING
        case [_, "subscriptions", _, "status"]:
            return DriftKind.SUBSCRIPTION_STATUS
        case [_, "subscriptions", _, "auto_renew"]:
            return DriftKind.AUTO_RENEW
        case [_, "gdap", _, "status"]:
            return DriftKind.GDAP_RELATIONSHIP
        case [_, part, _] if part in _TENANT_PARTS:
            return DriftKind(part)
    raise ValueError(f"drift at an unexpected place in the model: {path}")


# --- the report --------------------------------------------------------------------------


def drift(desired: Desired, live: Live, now: datetime) -> DriftReport:
    """Every difference between `desired` and `live`, explained, in a stable order."""
    report = DriftReport(now=now, checked=len(desired.customers), api_calls=live.api_calls)
    for customer in desired.customers.values():
        found = live.customers.get(customer.tenant_id)
        report.customers[customer.tenant_id] = CustomerRef(
            customer.name or (found.name if found else ""), customer.path
        )
    for cid in unmanaged_ids(desired, live):
        report.customers[cid] = CustomerRef(live.customers[cid].name, "")
    explain = _Explainer(desired, as_planned(desired, live), now)
    records = [
        explain(path, want, have)
        for path, want, have in differences(*normalized(desired, live, explain.plan_of))
    ]
    report.records = sorted(records, key=lambda r: _order(report, r))
    report.notes = sorted(
        gdap_notes(desired, live, now),
        key=lambda n: (_where(report, n.customer_id), n.ends or now, n.target_id),
    )
    report.warnings = gdap_warnings(desired, live) + tenant_warnings(desired, explain.live)
    return report


def as_planned(desired: Desired, live: Live) -> Live:
    """The live state as `pcr plan` reads it: GDAP relationships only for the customers
    whose offboarding ends them (drift reads every declared customer's, for the notes),
    and the tenants that GDAP, as the plan reads it, lets it clean."""
    kept = {
        cid: relationships
        for cid, relationships in live.gdap.items()
        if (customer := desired.customers.get(cid)) is not None and needs_gdap(customer)
    }
    if len(kept) == len(live.gdap):
        return live
    planned = replace(live, gdap=kept)
    planned.tenants = {
        cid: footprint
        for cid, footprint in live.tenants.items()
        if (customer := desired.customers.get(cid)) is not None
        and needs_tenant_read(desired, customer, planned)
    }
    return planned


def _where(report: DriftReport, customer_id: str) -> str:
    ref = report.customers.get(customer_id)
    return (ref.file if ref and ref.file else "") or report.name_of(customer_id).lower()


def _order(report: DriftReport, record: DriftRecord) -> tuple[bool, str, int, str]:
    unmanaged = record.kind is DriftKind.UNMANAGED_CUSTOMER
    return unmanaged, _where(report, record.customer_id), KIND_ORDER[record.kind], record.target_id


# --- GDAP: notes for the customers that stay, and what could not be read ------------------


def gdap_notes(desired: Desired, live: Live, now: datetime) -> Iterator[DriftNote]:
    """A note for each GDAP relationship of a customer that stays that is about to end
    without extension: the partner's admin roles would end with it. Not drift. The
    calendar's own `gdap_ends` events, so that the two never disagree."""
    for customer in desired.customers.values():
        if customer.offboarding:
            continue  # `terminate`: drift; `keep`: the plan says it leaves them
        relationships = {r.id: r for r in live.gdap.get(customer.tenant_id, ())}
        for event in gdap_ends(customer, relationships.values(), now):
            if ends_soon_unextended(event, now):
                relationship = relationships[event.target_id]
                yield DriftNote(
                    customer.tenant_id,
                    relationship.id,
                    _expiry_message(relationship, event.when, now),
                    event.when,
                    relationship.name,
                )


def _expiry_message(relationship: GdapRelationship, ends: datetime, now: datetime) -> str:
    left = ends - now
    if left <= timedelta(0):
        when = f"its end date {moment(ends)} has passed, and Graph still shows it active"
    elif left < timedelta(days=1):
        when = f"it ends {moment(ends)}, in less than a day,"
    else:
        when = f"it ends {moment(ends)}, in {plural(left.days, 'day')},"
    extend = relationship.auto_extend or "PT0S"
    return (
        f"GDAP relationship: {when} and it does not auto-extend (autoExtendDuration "
        f"{extend}): the partner's admin roles in this customer's tenant end with it. To keep "
        "them, turn auto-extend on in the Partner Center portal (Customers > the customer > "
        "Admin relationships), or set autoExtendDuration to P180D through Microsoft Graph "
        "(PATCH the relationship, its ETag in If-Match); a relationship that includes the "
        "Global Administrator role cannot auto-extend: the customer must approve a new one "
        "before it ends"
    )


def gdap_warnings(desired: Desired, live: Live) -> list[str]:
    """One line when the GDAP relationships of customers whose offboarding ends them could
    not be read: drift cannot compare them, and says so rather than stay silent."""
    unread = sorted(
        (c for c in desired.customers.values() if needs_gdap(c) and c.tenant_id not in live.gdap),
        key=lambda c: c.path,
    )
    if not unread:
        return []
    return [
        f"GDAP relationships not compared for {_count(unread)} with `gdap: terminate` "
        f"({_names(unread)}): "
        f"Microsoft Graph was not read ({live.gdap_unreadable or 'not read'}); the plan holds "
        "their GDAP steps and removals for a person until it can be"
    ]


def tenant_warnings(desired: Desired, live: Live) -> list[str]:
    """One line when tenants that offboardings clean could not be read: drift cannot say
    what of the partner's is left in them, and says so rather than stay silent."""
    unread = sorted(
        (
            c
            for c in desired.customers.values()
            if (footprint := live.tenants.get(c.tenant_id)) is not None
            and footprint.unreadable is not None
        ),
        key=lambda c: c.path,
    )
    if not unread:
        return []
    return [
        f"The partner's guests, contacts and apps not compared for {_count(unread)} with "
        f"`tenant_cleanup` ({_names(unread)}): the tenant could not be read; the plan holds each "
        "clean-up, and what waits for it, for a person (`pcr plan` says what to do)"
    ]


def _count(customers: list[DesiredCustomer]) -> str:
    return plural(len(customers), "offboarding customer")


def _names(customers: list[DesiredCustomer]) -> str:
    """The first three named, and how many more."""
    names = ", ".join(c.name or c.tenant_id for c in customers[:3])
    more = len(customers) - 3
    return f"{names} and {more} more" if more > 0 else names


# Blocked items that hold a whole customer back: nothing destructive is done to it.
HOLDING_KINDS = frozenset(
    {BlockedKind.RESERVED_INSTANCE, BlockedKind.SAVINGS_PLAN, BlockedKind.UNKNOWN_STATE}
)
STATUS_STEPS = frozenset({ActionType.SUSPEND, ActionType.CANCEL, ActionType.REACTIVATE})
NOT_NOW = "this plan does not change it now: see `pcr plan`"
Note = tuple[str, dict[str, Any]]


def cancellation_outlook(
    sub: Subscription, now: datetime, planned: Collection[ActionType] = ()
) -> Note:
    """When this subscription can be cancelled (now, at renewal, or never), and what the
    plan (the action types it holds for this subscription) does about it."""
    window = cancel_deadline(sub)
    if in_window(sub, now):
        until = f"until {moment(window)}" if window and not sub.is_trial else "at any time"
        facts: dict[str, Any] = {"cancellable_until": format_time(window)} if window else {}
        if ActionType.CANCEL in planned:
            return f"it can be cancelled {until}: {kind_of(ActionType.CANCEL).apply_says}", facts
        return f"it can be cancelled {until}, but {NOT_NOW}", facts
    closed = (
        f"its cancellation window closed {moment(window)}"
        if window
        else "it has no cancellation window"
    )
    renews, last_day = renewal_date(sub), term_end_day(sub)
    if renews is None or last_day is None:
        return f"it cannot be cancelled: {closed}, and Partner Center reports no term end", {}
    if not sub.auto_renew or sub.status is not SubscriptionStatus.ACTIVE:
        return (
            f"it cannot be cancelled now ({closed}); with auto-renew off its term ends {last_day}",
            {"term_ends": last_day.isoformat()},
        )
    closes = window_after(renews)
    facts = {"next_window_opens": format_time(renews), "next_window_closes": format_time(closes)}
    then = (
        f"it renews on {day(renews)}, and the next cancellation window opens then and closes "
        f"{moment(closes)}"
    )
    if ActionType.DISABLE_AUTO_RENEW in planned:
        turns_off = kind_of(ActionType.DISABLE_AUTO_RENEW).apply_says
        return (
            f"it cannot be cancelled now ({closed}); its term ends {last_day}: {turns_off}, "
            f"so that this term is its last (otherwise {then})",
            facts,
        )
    return (
        f"it cannot be cancelled now ({closed}); its term ends {last_day}: {then}: cancel "
        "inside it, or turn auto-renew off so that this term is its last",
        facts,
    )


def _targets(action: Action, target_id: str) -> bool:
    """The action is on this target, or on an Azure subscription under it."""
    target = target_id.lower()
    return action.target_id.lower() == target or action.parent_id.lower() == target


def _naming(planned: CustomerPlan, target_id: str) -> list[str]:
    """The blocked items about this target: a person's to act on."""
    return [b.reason for b in planned.blocked if target_id.lower() in b.about]


def waits(planned: CustomerPlan, target_id: str, now: datetime) -> bool:
    """The one rule for a waiting record: a deferred item whose date has not come explains
    it (one deferred for its target, or the removal of its offboarding customer, which waits
    for its terms and takes the GDAP steps with it), the plan holds no action for its target,
    and no blocked item names it."""
    target = target_id.lower()
    # A blocked item is about something the customer has: the customer's own record (its
    # relationship) waits with its removal, whatever else a person must see to.
    named = target != planned.id.lower() and _naming(planned, target)
    if named or any(_targets(a, target) for a in planned.actions):
        return False
    return any(
        not d.due(now)
        and (d.type is ActionType.REMOVE_RELATIONSHIP or d.target_id.lower() == target)
        for d in planned.deferred
    )


def _held_back(
    planned: CustomerPlan, target_id: str, nothing: str = "nothing is suspended or cancelled"
) -> Note | None:
    """Why the plan leaves this target as it is, when a guardrail or a person is why."""
    if planned.errors:
        return "refused by a guardrail: " + "; ".join(planned.errors), {
            "refused": list(planned.errors)
        }
    holding = [b.reason for b in planned.blocked if b.kind in HOLDING_KINDS]
    if holding:
        return (
            f"held back: {nothing} for this customer while a person must act: "
            + "; ".join(holding),
            {"blocked": holding},
        )
    if naming := _naming(planned, target_id):
        return "blocked, a person must act: " + "; ".join(naming), {"blocked": naming}
    return None


@dataclass(frozen=True)
class _Explainer:
    """Turns a (path, desired, live) difference into a record a person can act on.

    Every record is explained by the customer's own part of the plan (guardrails
    included), so that drift says `pcr apply` does something only where the plan
    holds that action, and marks as waiting what a deferred item explains.
    """

    desired: Desired
    live: Live
    now: datetime
    plans: dict[str, CustomerPlan] = field(default_factory=dict)  # each customer's, once

    def __call__(self, path: list[str], want: Value, have: Value) -> DriftRecord:
        kind, cid = _kind_of(path, want), path[0]
        if kind is DriftKind.UNMANAGED_CUSTOMER:
            return self._unmanaged(cid)
        customer = self.desired.customers[cid]
        if kind in (
            DriftKind.SUBSCRIPTION_STATUS,
            DriftKind.AUTO_RENEW,
            DriftKind.SUBSCRIPTION_MISSING,
        ):
            return self._subscription(kind, customer, path[2], want, have)
        if kind is DriftKind.GDAP_RELATIONSHIP:
            return self._gdap(customer, path[2], want, have)
        if kind.value in _TENANT_PARTS:
            return self._tenant(customer, kind, path[2], want, have)
        message, detail = self._customer_note(kind, customer, have)
        found = self._found(cid)
        name = customer.name or (found.name if found else "")
        waiting = kind is DriftKind.RELATIONSHIP and waits(self._plan(customer), cid, self.now)
        return DriftRecord(cid, kind, cid, want, have, message, name, detail, waiting)

    def plan_of(self, customer_id: str) -> CustomerPlan:
        """A declared customer's part of the plan (made once)."""
        return self._plan(self.desired.customers[customer_id])

    def _plan(self, customer: DesiredCustomer) -> CustomerPlan:
        cid = customer.tenant_id
        if cid not in self.plans:
            self.plans[cid] = plan_declared(self.desired, self.live, customer, self.now)
        return self.plans[cid]

    def _found(self, cid: str) -> Customer | None:
        return self.live.customers.get(cid)

    def _detail(self, cid: str) -> CustomerDetail:
        return self.live.details.get(cid, CustomerDetail())

    def _unmanaged(self, cid: str) -> DriftRecord:
        found = self.live.customers[cid]
        detail: dict[str, Any] = {"name": found.name, "domain": found.domain}
        if cid in self.live.details:
            detail["subscriptions"] = [
                _subscription_facts(s) for s in self._detail(cid).subscriptions
            ]
        message = (
            "a reseller customer in Partner Center with no file in the desired state: declare it "
            "(`pcr import` writes one), or set the policy unmanaged_customers: ignore"
        )
        return DriftRecord(
            cid,
            DriftKind.UNMANAGED_CUSTOMER,
            cid,
            None,
            CustomerRelationship.RESELLER,
            message,
            found.name,
            detail,
        )

    def _customer_note(self, kind: DriftKind, customer: DesiredCustomer, have: Value) -> Note:
        if kind is DriftKind.MISSING_CUSTOMER:
            if (vanished := self.live.vanished.get(customer.tenant_id)) is not None:
                return (
                    "vanished from Partner Center's list while pcr read it: check in Partner "
                    "Center whether the relationship was removed; only the customer can accept "
                    "a new one",
                    {"vanished": vanished},
                )
            return (
                "not one of this partner's customers in Partner Center: check the tenant_id for a "
                "typo; if the relationship was removed outside pcr, only the customer can accept a "
                "new one",
                {},
            )
        if kind is DriftKind.NAME:
            return "a different name is only a warning: update the file, or check the tenant_id", {}
        if kind is DriftKind.DOMAIN:
            return (
                "the domain is pcr's second key: nothing destructive is done to this customer "
                "until the tenant_id or the domain in the file is fixed",
                {},
            )
        if customer.offboarding:
            return self._removal_outlook(customer)
        return (
            f"declared reseller, but Partner Center has no reseller relationship ({have}): only "
            "the customer can accept a new one (Customers > Request a reseller relationship)",
            {},
        )

    def _removal_outlook(self, customer: DesiredCustomer) -> Note:
        """When the relationship can go, as the planner sees it."""
        planned = self._plan(customer)
        if any(a.type is ActionType.REMOVE_RELATIONSHIP for a in planned.actions):
            gdap = sum(a.type in GDAP_STEPS for a in planned.actions)
            tenant = sum(a.type in TENANT_STEPS for a in planned.actions)
            steps = len(planned.actions) - 1 - gdap - tenant
            # The first part counted says "steps": "2 steps on its subscriptions, 3 in its tenant".
            on = [f"{plural(steps, 'step')} on its subscriptions"] if steps else []
            if tenant:
                on.append(f"{tenant if on else plural(tenant, 'step')} in its tenant")
            if gdap:
                on.append(f"{gdap if on else plural(gdap, 'step')} on its GDAP relationships")
            before = f", after {listed(on)}" if on else ""
            removes = kind_of(ActionType.REMOVE_RELATIONSHIP).apply_says
            return f"offboarding: {removes} now{before}", {"removal": "now"}
        for item in planned.deferred:
            if item.type is ActionType.REMOVE_RELATIONSHIP:
                return _deferred_removal(item, self.now)
        if planned.errors:
            return (
                "offboarding refused by a guardrail: " + "; ".join(planned.errors),
                {"removal": "refused", "refused": list(planned.errors)},
            )
        reasons = [b.reason for b in planned.blocked]
        if reasons:
            return (
                "offboarding blocked, a person must act: " + "; ".join(reasons),
                {"removal": "blocked", "blocked": reasons},
            )
        return "offboarding: see `pcr plan`", {}

    def _subscription(
        self, kind: DriftKind, customer: DesiredCustomer, sub_id: str, want: Value, have: Value
    ) -> DriftRecord:
        cid = customer.tenant_id
        sub = next((s for s in self._detail(cid).subscriptions if s.id.lower() == sub_id), None)
        if sub is None:
            message = "not one of this customer's subscriptions in Partner Center: check the id"
            return DriftRecord(cid, kind, sub_id, want, None, message)
        planned = self._plan(customer)
        acted = frozenset(a.type for a in planned.actions if _targets(a, sub.id))
        if kind is DriftKind.AUTO_RENEW:
            message, detail = self._renewal_note(customer, sub, bool(want), acted)
        else:
            message, detail = self._status_note(customer, sub, DesiredStatus(str(want)), acted)
        waiting = waits(planned, sub.id, self.now)
        return DriftRecord(cid, kind, sub_id, want, have, message, label(sub), detail, waiting)

    def _gdap(
        self, customer: DesiredCustomer, relationship_id: str, want: Value, have: Value
    ) -> DriftRecord:
        cid = customer.tenant_id
        relationship = next(r for r in self.live.gdap[cid] if r.id == relationship_id)
        planned = self._plan(customer)
        message, detail = self._gdap_note(customer, relationship)
        facts = {
            "status": _gdap_status(relationship),
            "ends": format_time(relationship.ends) if relationship.ends else None,
            "auto_extend": relationship.auto_extend,
        }
        return DriftRecord(
            cid,
            DriftKind.GDAP_RELATIONSHIP,
            relationship.id,
            want,
            have,
            message,
            relationship.name,
            facts | detail,
            waits(planned, relationship.id, self.now),
        )

    def _with_removal(self, planned: CustomerPlan) -> str:
        """When an offboarding's GDAP or clean-up step goes, said of the removal."""
        if any(a.type is ActionType.REMOVE_RELATIONSHIP for a in planned.actions):
            return " with the removal"
        if not _reseller(self._found(planned.id)):
            return ", left behind by the removal of the reseller relationship"
        return ""

    def _tenant(
        self, customer: DesiredCustomer, kind: DriftKind, target: str, want: Value, have: Value
    ) -> DriftRecord:
        planned = self._plan(customer)
        step = planned.expects_gone[target]
        message, detail = self._tenant_note(planned, step)
        waiting = waits(planned, target, self.now)
        return DriftRecord(
            customer.tenant_id, kind, target, want, have, message, step.name, detail, waiting
        )

    def _tenant_note(self, planned: CustomerPlan, step: TenantStep) -> Note:
        """What the plan does about something of the partner's left in the customer's tenant."""
        if any(a.type is step.kind and _targets(a, step.target) for a in planned.actions):
            ends = ", before the partner's GDAP access ends" if planned.customer.ends_gdap else ""
            return (
                f"offboarding: {kind_of(step.kind).apply_says}{self._with_removal(planned)}{ends}",
                {},
            )
        held = _held_back(planned, step.target, "nothing is removed from the customer's tenant")
        if held is not None:
            return held
        if (deferred := self._along(planned, step.target, "removed")) is not None:
            return deferred
        if reasons := [b.reason for b in planned.blocked]:
            return (
                "offboarding: removed once the rest of the offboarding can go on; a person "
                "must act first: " + "; ".join(reasons),
                {"blocked": reasons},
            )
        return NOT_NOW, {}

    def _gdap_note(self, customer: DesiredCustomer, relationship: GdapRelationship) -> Note:
        """What the plan does about a GDAP relationship that outlives an offboarding."""
        planned = self._plan(customer)
        acted = [a.type for a in planned.actions if _targets(a, relationship.id)]
        when = self._with_removal(planned)
        if ActionType.TERMINATE_GDAP in acted:
            return (
                f"offboarding: {kind_of(ActionType.TERMINATE_GDAP).apply_says}{when}; the "
                "partner's admin roles in the customer's tenant end at once",
                {},
            )
        if ActionType.DELETE_GDAP in acted:
            return (
                "offboarding: a draft the customer never approved: "
                f"{kind_of(ActionType.DELETE_GDAP).apply_says}{when}",
                {},
            )
        held = _held_back(planned, relationship.id, "no GDAP relationship is ended")
        if held is not None:
            return held
        ends = "deleted" if relationship.status in GDAP_DELETED_BY_PCR else "terminated"
        return self._along(planned, relationship.id, ends) or (NOT_NOW, {})

    def _along(self, planned: CustomerPlan, target_id: str, done: str) -> Note | None:
        """A step deferred with the removal, said of its target (`done`: what it will be)."""
        for item in planned.deferred:
            if item.target_id.lower() == target_id.lower():
                when_due = "due since" if item.due(self.now) else "deferred until"
                return (
                    f"offboarding: {done} together with the removal, {when_due} "
                    f"{moment(item.not_before)}",
                    {"not_before": format_time(item.not_before)},
                )
        return None

    def _renewal_note(
        self,
        customer: DesiredCustomer,
        sub: Subscription,
        want: bool,
        acted: frozenset[ActionType],
    ) -> Note:
        step = ActionType.ENABLE_AUTO_RENEW if want else ActionType.DISABLE_AUTO_RENEW
        if step not in acted:
            return _held_back(self._plan(customer), sub.id) or (NOT_NOW, {})
        renews = renewal_date(sub)
        detail = {"renews_on": format_time(renews)} if renews else {}
        if customer.offboarding:
            when = f" on {day(renews)}" if renews else ""
            return (
                f"offboarding, past its cancellation window: it renews{when} unless "
                f"{kind_of(step).apply_says}",
                detail,
            )
        return kind_of(step).apply_says, detail

    def _status_note(
        self,
        customer: DesiredCustomer,
        sub: Subscription,
        want: DesiredStatus,
        acted: frozenset[ActionType],
    ) -> Note:
        if acted & STATUS_STEPS:
            return self._status_step(sub, want, acted)
        if sub.status is SubscriptionStatus.PENDING:
            return "still pending in Partner Center: plan again once it is provisioned", {}
        if want is DesiredStatus.ACTIVE and sub.status in ENDED_STATUSES:
            return (
                f"{sub.status.value} subscriptions cannot be reactivated: buy a new one and "
                "declare its id instead",
                {},
            )
        if (held := _held_back(self._plan(customer), sub.id)) is not None:
            return held
        if past_term(sub, self.now):
            ended = term_end_day(sub)
            return (
                f"its term ended {ended}, but Partner Center still shows it {sub.status.value}: "
                "plan again later (Partner Center can take a day to end a term)",
                {"term_ended": str(ended)},
            )
        if want is DesiredStatus.CANCELLED and sub.kind in WINDOWED_KINDS:
            return cancellation_outlook(sub, self.now, acted)
        return NOT_NOW, {}

    def _status_step(
        self, sub: Subscription, want: DesiredStatus, acted: frozenset[ActionType]
    ) -> Note:
        """What apply does to the subscription's status now."""
        if ActionType.REACTIVATE in acted:
            return kind_of(ActionType.REACTIVATE).apply_says, {}
        if ActionType.CANCEL in acted:
            return cancellation_outlook(sub, self.now, acted)
        says = kind_of(ActionType.SUSPEND).apply_says
        if ActionType.CANCEL_AZURE_ENTITLEMENT in acted:
            says += ", once the Azure subscriptions under it are cancelled"
        if want is DesiredStatus.CANCELLED and sub.kind in WINDOWED_KINDS:
            last_day = term_end_day(sub)
            return (
                f"{says} (offboarding.nce_outside_window: suspend): past its cancellation "
                f"window it cannot be cancelled, and the partner pays for it until its term "
                f"ends {last_day}",
                {"term_ends": str(last_day)} if last_day else {},
            )
        if want is DesiredStatus.CANCELLED:
            return (
                f"{says}: a legacy subscription is cancelled by suspending it, and Partner "
                "Center deletes it at the end of its term",
                {},
            )
        if sub.kind is SubscriptionKind.NCE:
            return f"{says}; a suspended NCE subscription is still billed until its term ends", {}
        return says, {}


def _deferred_removal(item: Deferred, now: datetime) -> Note:
    """A removal waiting for its date, or due since then and waiting for Partner Center."""
    when = {"not_before": format_time(item.not_before)}
    if item.due(now):
        return (
            f"offboarding: removal due since {moment(item.not_before)}; {item.reason}",
            {"removal": "due", **when},
        )
    return (
        f"offboarding: removal deferred until {moment(item.not_before)} ({item.reason})",
        {"removal": "deferred", **when},
    )


def _subscription_facts(sub: Subscription) -> dict[str, Any]:
    last_day = term_end_day(sub)
    return {
        "id": sub.id,
        "offer": sub.offer_name or sub.offer_id,
        "kind": sub.kind.value,
        "status": sub.status.value,
        "auto_renew": sub.auto_renew,
        "term_ends": last_day.isoformat() if last_day else None,
    }
