"""Drift: every difference between the desired state and Partner Center, one record each.

Pure: no I/O and no clock of its own (`now` is passed in). Both sides are
first normalized into the same small model, plain dicts of exactly the facts
pcr manages:

    {tenant_id: {"relationship": ..., "name": ..., "domain": ...,
                 "subscriptions": {subscription_id: {"status": ..., "auto_renew": ...}}}}

and deepdiff compares the two estates; each difference it reports becomes a
`DriftRecord`. Normalizing is where the rules live, the same ones the planner
follows, so that drift and plan agree on what is converged:

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
  where the cancellation window has closed.

Records then get what a person needs to act, from the customer's own part of
the plan (`planner.plan_declared`, guardrails included), so that drift and plan
never disagree about what apply does:

- a record says "`pcr apply` <does X>" (the phrases in APPLY_SAYS) only when
  the plan holds that action for its target; a subscription the plan holds
  back (behind a reserved instance or a savings plan, or an unknown state:
  fail closed), or that a guardrail refuses, says so instead;
- a record is *waiting* when a deferred item whose date has not come explains
  it and the plan holds no action for its target: the relationship of an
  offboarding customer whose removal is deferred, and each subscription that
  such a removal (or a cancellation deferred for that subscription) waits for.
  Waiting records are shown but are not changes (`--detailed-exitcode` 0);
  once the date has passed they are drift again ("due since").

So, per declared customer: drift has a record that is not waiting, other than
`name` and `domain` (which the plan only warns about), exactly when the plan
has for that customer an action, a blocked item, an error, or a deferred item
that is due; and it has only waiting records exactly when the plan has only
deferred items that are not due (tests/drift/test_agreement.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from reconciler.desired import Desired, DesiredCustomer, DesiredStatus
from reconciler.drift import KIND_ORDER, DriftKind, DriftRecord, DriftReport, Value
from reconciler.lifecycle import (
    ENDED_STATUSES,
    RESELLER,
    WINDOWED_KINDS,
    cancel_deadline,
    in_window,
    label,
    offboarding_wants,
    renewal_date,
    satisfies,
    term_end_day,
    unmanaged_ids,
    window_after,
)
from reconciler.partnercenter.models import (
    Customer,
    CustomerDetail,
    Live,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    day,
    format_time,
    moment,
)
from reconciler.plan import Action, ActionType, BlockedKind, CustomerRef, Deferred
from reconciler.planner import CustomerPlan, past_term, plan_declared

NONE = "none"


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


def _relationship(live: Customer | None) -> str:
    if live is None:
        return NONE
    return RESELLER if live.relationship == RESELLER else (live.relationship or NONE)


def _add_customer(views: _Views, customer: DesiredCustomer, live: Live, now: datetime) -> None:
    cid = customer.tenant_id
    found = live.customers.get(cid)
    if customer.offboarding and (found is None or found.relationship != RESELLER):
        return  # offboarded already: converged
    if found is None:
        views.desired[cid] = {"relationship": RESELLER}  # absent on the live side: missing
        return
    views.pair(cid, "relationship", str(customer.relationship), _relationship(found))
    if customer.name and found.name:
        views.pair(cid, "name", customer.name.strip(), found.name.strip())
    if customer.domain and found.domain:
        views.pair(cid, "domain", customer.domain.lower(), found.domain.lower())
    detail = live.details.get(cid)
    if detail is None or found.relationship != RESELLER:
        return
    views.desired[cid]["subscriptions"] = {}
    views.live[cid]["subscriptions"] = {}
    if customer.offboarding:
        _add_offboarding_subscriptions(views, cid, detail, now)
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
    views: _Views, cid: str, detail: CustomerDetail, now: datetime
) -> None:
    for sub in detail.subscriptions:
        wanted = offboarding_wants(sub)
        if wanted is None:
            continue
        sid = sub.id.lower()
        views.pair_subscription(cid, sid, "status", str(wanted), _observed(wanted, sub))
        # Past its window the subscription can only be left to end: it must not renew.
        if (
            sub.kind in WINDOWED_KINDS
            and sub.status is SubscriptionStatus.ACTIVE
            and not in_window(sub, now)
        ):
            views.pair_subscription(cid, sid, "auto_renew", False, sub.auto_renew)


def normalized(
    desired: Desired, live: Live, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The desired and the live estate in the one model that deepdiff compares."""
    views = _Views()
    for customer in desired.customers.values():
        _add_customer(views, customer, live, now)
    for cid in unmanaged_ids(desired, live):
        views.live[cid] = {"relationship": RESELLER}  # absent on the desired side: unmanaged
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
    explain = _Explainer(desired, live, now)
    records = [
        explain(path, want, have)
        for path, want, have in differences(*normalized(desired, live, now))
    ]
    report.records = sorted(records, key=lambda r: _order(report, r))
    return report


def _order(report: DriftReport, record: DriftRecord) -> tuple[bool, str, int, str]:
    ref = report.customers.get(record.customer_id)
    where = (ref.file if ref and ref.file else "") or report.name_of(record.customer_id).lower()
    unmanaged = record.kind is DriftKind.UNMANAGED_CUSTOMER
    return unmanaged, where, KIND_ORDER[record.kind], record.target_id


# What drift says apply does, one phrase per action type. A record says one only when
# the customer's plan holds that action for the record's target (a test checks every
# message against the plan).
APPLY_SAYS: dict[ActionType, str] = {
    ActionType.SUSPEND: "`pcr apply` suspends it",
    ActionType.CANCEL: "`pcr apply` cancels it",
    ActionType.REACTIVATE: "`pcr apply` reactivates it",
    ActionType.DISABLE_AUTO_RENEW: "`pcr apply` turns auto-renew off",
    ActionType.ENABLE_AUTO_RENEW: "`pcr apply` turns auto-renew on",
    ActionType.REMOVE_RELATIONSHIP: "`pcr apply` removes the relationship",
}
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
            return f"it can be cancelled {until}: {APPLY_SAYS[ActionType.CANCEL]}", facts
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
        turns_off = APPLY_SAYS[ActionType.DISABLE_AUTO_RENEW]
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


def _targets(action: Action, sub: Subscription) -> bool:
    """The action is on this subscription, or on an Azure subscription under it."""
    sid = sub.id.lower()
    return action.target_id.lower() == sid or action.parent_id.lower() == sid


def _explained(planned: CustomerPlan, sub: Subscription, now: datetime) -> bool:
    """A deferred item whose date has not come covers this subscription: the cancellation
    deferred for it, or the removal of its offboarding customer, which waits for its terms."""
    return any(
        not d.due(now)
        and (d.type is ActionType.REMOVE_RELATIONSHIP or d.target_id.lower() == sub.id.lower())
        for d in planned.deferred
    )


def _held_back(planned: CustomerPlan, sub: Subscription) -> Note | None:
    """Why the plan leaves this subscription as it is, when a guardrail or a person is why."""
    if planned.errors:
        return "refused by a guardrail: " + "; ".join(planned.errors), {
            "refused": list(planned.errors)
        }
    holding = [b.reason for b in planned.blocked if b.kind in HOLDING_KINDS]
    if holding:
        return (
            "held back: nothing is suspended or cancelled for this customer while a person "
            "must act: " + "; ".join(holding),
            {"blocked": holding},
        )
    naming = [b.reason for b in planned.blocked if sub.id.lower() in b.reason.lower()]
    if naming:
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
        message, detail = self._customer_note(kind, customer, have)
        found = self._found(cid)
        name = customer.name or (found.name if found else "")
        waiting = kind is DriftKind.RELATIONSHIP and self._removal_waits(customer)
        return DriftRecord(cid, kind, cid, want, have, message, name, detail, waiting)

    def _plan(self, customer: DesiredCustomer) -> CustomerPlan:
        cid = customer.tenant_id
        if cid not in self.plans:
            self.plans[cid] = plan_declared(self.desired, self.live, customer, self.now)
        return self.plans[cid]

    def _removal_waits(self, customer: DesiredCustomer) -> bool:
        return any(
            d.type is ActionType.REMOVE_RELATIONSHIP and not d.due(self.now)
            for d in self._plan(customer).deferred
        )

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
            cid, DriftKind.UNMANAGED_CUSTOMER, cid, None, RESELLER, message, found.name, detail
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
            steps = len(planned.actions) - 1
            before = (
                f", after {steps} step{'s' * (steps != 1)} on its subscriptions" if steps else ""
            )
            removes = APPLY_SAYS[ActionType.REMOVE_RELATIONSHIP]
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
        acted = frozenset(a.type for a in planned.actions if _targets(a, sub))
        if kind is DriftKind.AUTO_RENEW:
            message, detail = self._renewal_note(customer, sub, bool(want), acted)
        else:
            message, detail = self._status_note(customer, sub, DesiredStatus(str(want)), acted)
        waiting = not acted and _explained(planned, sub, self.now)
        return DriftRecord(cid, kind, sub_id, want, have, message, label(sub), detail, waiting)

    def _renewal_note(
        self,
        customer: DesiredCustomer,
        sub: Subscription,
        want: bool,
        acted: frozenset[ActionType],
    ) -> Note:
        step = ActionType.ENABLE_AUTO_RENEW if want else ActionType.DISABLE_AUTO_RENEW
        if step not in acted:
            return _held_back(self._plan(customer), sub) or (NOT_NOW, {})
        renews = renewal_date(sub)
        detail = {"renews_on": format_time(renews)} if renews else {}
        if customer.offboarding:
            when = f" on {day(renews)}" if renews else ""
            return (
                f"offboarding, past its cancellation window: it renews{when} unless "
                f"{APPLY_SAYS[step]}",
                detail,
            )
        return APPLY_SAYS[step], detail

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
        if (held := _held_back(self._plan(customer), sub)) is not None:
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
            return APPLY_SAYS[ActionType.REACTIVATE], {}
        if ActionType.CANCEL in acted:
            return cancellation_outlook(sub, self.now, acted)
        says = APPLY_SAYS[ActionType.SUSPEND]
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
