"""The planner: a pure function from (desired, live, now) to an ordered, guarded plan.

No I/O and no clock of its own: `now` is passed in, so every rule below is
tested with plain data. Per customer it decides what to do with each
subscription, whether the reseller relationship can be removed now, later
(deferred to a date) or only after a person acts (blocked), and then applies
the guardrails (protected customers, two-key identity, indirect resellers,
the removal limit) to the whole plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import NamedTuple

from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import SubscriptionOverride
from reconciler.desired.model import TenantCleanup
from reconciler.live.lifecycle import BILLED_WHILE_SUSPENDED
from reconciler.live.lifecycle import ENDED_STATUSES
from reconciler.live.lifecycle import FINAL_KINDS
from reconciler.live.lifecycle import GDAP_AWAITING_CUSTOMER
from reconciler.live.lifecycle import GDAP_BECOMING_ACTIVE
from reconciler.live.lifecycle import GDAP_DELETED_BY_PCR
from reconciler.live.lifecycle import GDAP_ENDING
from reconciler.live.lifecycle import GDAP_TERMINATED_BY_PCR
from reconciler.live.lifecycle import LIVE_STATUSES
from reconciler.live.lifecycle import SUSPENDABLE_KINDS
from reconciler.live.lifecycle import WINDOWED_KINDS
from reconciler.live.lifecycle import Unknown
from reconciler.live.lifecycle import active_entitlements
from reconciler.live.lifecycle import addons_of
from reconciler.live.lifecycle import cancel_deadline
from reconciler.live.lifecycle import gdap_offboarding_wants
from reconciler.live.lifecycle import gdap_unknown_facts
from reconciler.live.lifecycle import in_window
from reconciler.live.lifecycle import label
from reconciler.live.lifecycle import live_reservations
from reconciler.live.lifecycle import offboarding_wants
from reconciler.live.lifecycle import safe_order
from reconciler.live.lifecycle import satisfies
from reconciler.live.lifecycle import term_end_day
from reconciler.live.lifecycle import term_over
from reconciler.live.lifecycle import unknown_facts
from reconciler.live.lifecycle import unknown_state
from reconciler.live.lifecycle import unmanaged_ids
from reconciler.live.models import AzureEntitlement
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import GdapRelationship
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import moment
from reconciler.live.tenant import Footprint
from reconciler.plan.actions import DESTRUCTIVE
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.plan.actions.tenant import contact_target
from reconciler.plan.guardrails import domains_differ
from reconciler.plan.guardrails import partner_cannot_remove
from reconciler.plan.guardrails import protected_refuses
from reconciler.plan.guardrails import removal_limit
from reconciler.plan.model import GDAP_STEPS
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import CustomerRef
from reconciler.plan.model import Deferred
from reconciler.plan.model import Items
from reconciler.plan.model import Plan
from reconciler.plan.model import Refusal
from reconciler.plan.model import RefusalKind
from reconciler.plan.model import live_fingerprint
from reconciler.wording import plural

UNMANAGED_LISTED = 20


@dataclass
class CustomerPlan(Items):
    """What one customer needs; merged into the Plan once guardrails have run."""

    customer: DesiredCustomer
    now: datetime
    # What an offboarding leaves each subscription (by id: its status, its auto-renew) and
    # each GDAP relationship (by id: its status) as, once it and what it defers are done,
    # and what of the partner's it removes from the customer's tenant (by target): drift
    # compares what was read with this, and with no rule of its own.
    expects: dict[str, dict[str, str | bool]] = field(default_factory=dict)
    expects_gdap: dict[str, str] = field(default_factory=dict)
    expects_gone: dict[str, TenantStep] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.customer.tenant_id

    def refuse(self, kind: RefusalKind, message: str, refused: Iterable[str] = ()) -> None:
        """A guardrail keeps something out of the plan, and the plan fails."""
        self.refusals.append(Refusal(kind, message, self.id, tuple(refused)))

    def act(
        self, kind: ActionType, sub: Subscription, reason: str, *, after: Sequence[Action] = ()
    ) -> Action:
        action = Action(
            self.id,
            kind,
            sub.id,
            reason,
            target_name=label(sub),
            depends_on=tuple(a.id for a in after),
            billing=kind_of(kind).billing(sub, self.now),
            deadline=kind_of(kind).deadline(sub),
        )
        self.actions.append(action)
        return action

    def act_on_entitlement(self, entitlement: AzureEntitlement, plan: Subscription) -> Action:
        kind = ActionType.CANCEL_AZURE_ENTITLEMENT
        action = Action(
            self.id,
            kind,
            entitlement.id,
            f"an Azure subscription under {label(plan)}: Partner Center suspends the plan "
            "only once none is active",
            target_name=entitlement.name or "Azure subscription",
            billing=kind_of(kind).billing(plan, self.now),
            parent_id=plan.id,
        )
        self.actions.append(action)
        return action

    def act_on_gdap(self, kind: ActionType, relationship: GdapRelationship, reason: str) -> Action:
        # After every subscription step: a GDAP step comes after the subscriptions and
        # before the removal (docs/partner-center.md, "GDAP"), and in-tenant work needs GDAP to
        # the end.
        action = Action(
            self.id,
            kind,
            relationship.id,
            reason,
            target_name=relationship.name or relationship.id,
            depends_on=self.not_on_gdap(),
            billing=kind_of(kind).billing(None, self.now),
        )
        self.actions.append(action)
        return action

    def not_on_gdap(self) -> tuple[str, ...]:
        """The steps so far that must go before GDAP's, and before the tenant's clean-up,
        which needs GDAP: every one but GDAP's own."""
        return tuple(a.id for a in self.actions if a.type not in GDAP_STEPS)

    def after(self, subs: list[Subscription]) -> list[Action]:
        """The actions already planned for these subscriptions (a base waits for its add-ons)."""
        ids = {s.id for s in subs}
        return [a for a in self.actions if a.target_id in ids]

    def block(
        self,
        reason: str,
        *steps: str,
        kind: BlockedKind = BlockedKind.OTHER,
        about: Iterable[str] = (),
    ) -> None:
        """A person must act: `reason`, what to do (`steps`), and the ids of what it is
        about (`about`: a subscription, a GDAP relationship, the customer)."""
        ids = frozenset(i.lower() for i in about if i)
        self.blocked.append(Blocked(self.id, reason, steps, kind, ids))


# --- the whole plan ---------------------------------------------------------------------


def make_plan(desired: Desired, live: Live, now: datetime) -> Plan:
    result = Plan(now=now, max_removals=desired.partner.policy.max_removals_per_run)
    for customer in sorted(desired.customers.values(), key=lambda c: c.path):
        live_customer = live.customers.get(customer.tenant_id)
        result.customers[customer.tenant_id] = CustomerRef(
            customer.name or (live_customer.name if live_customer else ""), customer.path
        )
        result.add(plan_declared(desired, live, customer, now))
    limit = desired.partner.policy.max_removals_per_run
    if (too_many := removal_limit(result.removals, limit)) is not None:
        result.refusals.append(too_many)  # refused at plan time, so the pull request shows it
    _report_unmanaged(result, desired, live)
    # The plan relies on every step's window staying open until it is applied.
    result.expires_at = min((a.deadline for a in result.actions if a.deadline), default=None)
    result.live_fingerprint = live_fingerprint(live, desired.customers)
    result.api_calls = live.api_calls
    return result


def plan_declared(
    desired: Desired, live: Live, customer: DesiredCustomer, now: datetime
) -> CustomerPlan:
    """One declared customer's part of the plan, its guardrails applied.

    `make_plan` merges these; drift explains its records with the same ones, so
    that the two never disagree about what apply does for a customer.
    """
    if (vanished := live.vanished.get(customer.tenant_id)) is not None:
        return plan_vanished(customer, vanished, now)
    if (failure := live.unreadable.get(customer.tenant_id)) is not None:
        return plan_unreadable(customer, failure, now)
    live_customer = live.customers.get(customer.tenant_id)
    detail = live.details.get(customer.tenant_id, CustomerDetail())
    result = plan_customer(
        customer,
        live_customer,
        detail,
        now,
        request_url=live.relationship_request_url,
        gdap=Gdap(live.gdap.get(customer.tenant_id), live.gdap_unreadable),
        tenant=Tenant(
            desired.cleanup_of(customer), live.tenants.get(customer.tenant_id), live.own_app_id
        ),
    )
    _guard_customer(result, desired, live_customer)
    return result


def _report_unmanaged(result: Plan, desired: Desired, live: Live) -> None:
    result.unmanaged = unmanaged_ids(desired, live)
    # Named where the plan lists them: an id alone tells a reviewer little.
    for cid in result.unmanaged[:UNMANAGED_LISTED]:
        result.customers.setdefault(cid, CustomerRef(live.customers[cid].name, ""))


# --- one customer -----------------------------------------------------------------------


def plan_vanished(customer: DesiredCustomer, what: str, now: datetime) -> CustomerPlan:
    """A customer listed, then gone (404) while pcr read it: its relationship was removed.

    Nothing can be done for it any more from the partner's side. For an
    offboarding customer that is the goal; for one that should stay, a person
    has to find out what happened.
    """
    result = CustomerPlan(customer, now)
    if customer.offboarding:
        result.warnings.append(
            f"{customer.path}: its reseller relationship was removed while pcr was reading it, "
            f"so its offboarding is done ({what})"
        )
        return result
    result.block(
        f"{customer.path} declares a reseller relationship, but the customer vanished from "
        f"Partner Center's list while pcr read it ({what})",
        "In Partner Center, check whether the reseller relationship with this customer was removed",
        "If it was and the customer should stay, re-establish it: Customers > Request a "
        "reseller relationship, and a Global admin of the customer's tenant accepts it",
        "Then plan again",
        kind=BlockedKind.MISSING_CUSTOMER,
    )
    return result


def plan_unreadable(customer: DesiredCustomer, what: str, now: datetime) -> CustomerPlan:
    """A customer Partner Center still has, whose answers could not be read: not a removal,
    not a success; nothing is planned for it, and the run fails until a read succeeds."""
    result = CustomerPlan(customer, now)
    result.block(
        f"{customer.path}: pcr could not read this customer from Partner Center ({what}), "
        "though Partner Center still has it: nothing is planned for it",
        "Run again; if it keeps failing, check the customer in Partner Center and the "
        "roles of the user pcr signs in as",
        kind=BlockedKind.READ_FAILED,
    )
    return result


def _block_unknown_relationship(result: CustomerPlan, live: Customer) -> None:
    shown = repr(live.relationship_text) if live.relationship_text else "none at all"
    result.block(
        f"Partner Center gives this customer a relationshipToPartner pcr does not know "
        f"({shown}): nothing is done to it, and it is not taken as removed",
        "Check the customer in Partner Center; plan again once it shows reseller or none",
        kind=BlockedKind.UNKNOWN_STATE,
    )


def plan_customer(
    customer: DesiredCustomer,
    live: Customer | None,
    detail: CustomerDetail,
    now: datetime,
    *,
    request_url: str | None = None,
    gdap: Gdap | None = None,
    tenant: Tenant | None = None,
) -> CustomerPlan:
    """The actions one customer needs, before partner-wide guardrails."""
    result = CustomerPlan(customer, now)
    gdap = gdap or Gdap()
    tenant = tenant or Tenant()
    if customer.offboarding:
        _expect_offboarded(result, live, detail, gdap)
        result.expects_gone = {step.target: step for step in _tenant_steps(tenant)}
    if live is not None:
        _check_identity(result, live)
        if live.relationship == CustomerRelationship.UNKNOWN:
            _block_unknown_relationship(result, live)
            return result
    has_relationship = live is not None and live.relationship == CustomerRelationship.RESELLER
    if customer.offboarding:
        _keep_gdap_said(result)
        if has_relationship:
            _offboard(result, detail, gdap, tenant)
        elif _gdap_is_theirs(result, live, gdap):
            # The removal is done (or was never needed): GDAP may still be left behind.
            _end_gdap(result, _Removal(done=True), gdap, tenant)
    elif not has_relationship:
        _block_missing(result, live, request_url)
    else:
        _apply_overrides(result, detail)
    if has_relationship or customer.offboarding:
        # Only what this plan acts on counts: subscriptions while the relationship lasts,
        # GDAP relationships when the offboarding ends them.
        _fail_closed(
            result,
            detail if has_relationship else CustomerDetail(),
            (gdap.relationships or ()) if customer.ends_gdap else (),
        )
    return result


def _expect_offboarded(
    result: CustomerPlan, live: Customer | None, detail: CustomerDetail, gdap: Gdap
) -> None:
    """What the offboarding leaves behind: every subscription that would block the removal
    ended (cancelled, or suspended where it cannot be cancelled), and not renewing past its
    window; every GDAP relationship that grants roles ended, when the offboarding ends GDAP."""
    if live is not None and live.relationship == CustomerRelationship.RESELLER:
        for sub in detail.subscriptions:
            if (wanted := offboarding_wants(sub)) is None:
                continue
            expected: dict[str, str | bool] = {"status": str(wanted)}
            # Past its window it can only be left to end: it must not renew.
            if (
                sub.kind in WINDOWED_KINDS
                and sub.status is SubscriptionStatus.ACTIVE
                and not in_window(sub, result.now)
            ):
                expected["auto_renew"] = False
            result.expects[sub.id.lower()] = expected
    if result.customer.ends_gdap:
        for relationship in gdap.relationships or ():
            if (status := gdap_offboarding_wants(relationship)) is not None:
                result.expects_gdap[relationship.id] = status


def _block_missing(result: CustomerPlan, live: Customer | None, request_url: str | None) -> None:
    """A customer that should stay has no reseller relationship: this customer's blocked
    item, never the whole plan's failure (a typo, or a customer yet to accept)."""
    customer = result.customer
    if live is None:
        why = (
            f"{customer.path} declares a reseller relationship, but tenant "
            f"{customer.tenant_id} is not one of this partner's customers in Partner Center: "
            "check the tenant_id for a typo; if it is right, only the customer can accept one"
        )
    else:
        why = (
            f"{customer.path} declares a reseller relationship, but Partner Center has none "
            "for this customer: only the customer can accept a new one"
        )
    invite = (
        f"Send the customer this invitation to a reseller relationship: {request_url}"
        if request_url
        else "In Partner Center, open Customers > Request a reseller relationship, and send "
        "the invitation link to the customer"
    )
    result.block(
        why,
        invite,
        "A Global admin of the customer's tenant accepts it in the Microsoft 365 admin "
        "center; then plan again",
        kind=BlockedKind.MISSING_CUSTOMER,
        about=[customer.tenant_id],
    )


def _fail_closed(
    result: CustomerPlan, detail: CustomerDetail, relationships: Sequence[GdapRelationship]
) -> None:
    """Something in the customer's live state pcr does not know: nothing destructive for it.

    What pcr does not understand may be exactly what makes a removal or a
    cancellation wrong (a subscription being transferred, a state added since),
    so every destructive step of the customer becomes a blocked item instead.
    """
    held = [f"{a.type} {a.target_name or a.target_id}" for a in result.actions if a.destructive]
    held += [f"{d.type} (deferred)" for d in result.deferred]
    facts = unknown_facts(detail) + gdap_unknown_facts(relationships)
    unknown = [fact for fact in facts if _matters(result, fact, held)]
    if not unknown:
        return
    result.actions = [a for a in result.actions if not a.destructive]
    result.deferred = []
    for fact in unknown:
        what, why = fact.what, fact.why
        steps = list(fact.steps) or [
            f"Check {what} in Partner Center: it has {why}, which pcr does not know",
            "Plan again once it is in a state pcr knows (active, suspended or cancelled)",
        ]
        if held:
            steps.append("Held back until then: " + "; ".join(held))
        result.block(
            f"{what} has {why}, which pcr does not know: nothing destructive is done to "
            "this customer",
            *steps,
            kind=BlockedKind.UNKNOWN_STATE,
            about=[fact.target_id],
        )


def _matters(result: CustomerPlan, fact: Unknown, held: list[str]) -> bool:
    """An unknown is worth a person's look when it stops something, when the customer is
    offboarding, or when the file asks for a status the subscription does not have yet."""
    if result.customer.offboarding or held:
        return True
    sub = fact.subscription
    return sub is not None and any(
        o.id == sub.id.lower() and o.status is not None and not satisfies(o.status, sub)
        for o in result.customer.subscriptions
    )


def _check_identity(result: CustomerPlan, live: Customer) -> None:
    customer = result.customer
    if customer.name and live.name and customer.name.strip() != live.name.strip():
        result.warnings.append(
            f"{customer.path}: name {customer.name!r} differs from Partner Center's "
            f"{live.name!r} for tenant {customer.tenant_id}"
        )


def _domain_mismatch(customer: DesiredCustomer, live: Customer | None) -> str | None:
    if live is None or not domains_differ(customer.domain, live.domain):
        return None
    return (
        f"{customer.path}: domain {customer.domain!r} does not match Partner Center's "
        f"{live.domain!r} for tenant {customer.tenant_id}"
    )


# --- offboarding ------------------------------------------------------------------------


@dataclass
class _Removal:
    """What stands between an offboarding customer and removing the relationship."""

    wait_until: datetime | None = None  # terms that must run out
    waiting_for: list[str] = field(default_factory=list)
    blocked: bool = False
    held_back: list[str] = field(default_factory=list)  # steps not taken while blocked
    overdue: list[Subscription] = field(default_factory=list)  # still live past their term
    done: bool = False  # the reseller relationship is gone already

    def wait(self, until: datetime, what: str) -> None:
        self.wait_until = max(self.wait_until or until, until)
        self.waiting_for.append(what)

    def along(self, customer_id: str, kind: ActionType, reason: str, target_id: str) -> Deferred:
        """A step deferred with the removal (GDAP, the tenant's clean-up)."""
        assert self.wait_until is not None
        return Deferred(
            customer_id,
            kind,
            self.wait_until,
            f"{reason}, together with the removal: the partner still serves the customer "
            "until then",
            target_id=target_id,
        )


@dataclass(frozen=True)
class _Offboarding:
    """One customer's offboarding as its subscriptions are planned, one by one."""

    result: CustomerPlan
    detail: CustomerDetail
    removal: _Removal
    # A reservation or a final purchase holds back every irreversible step (`_offboard`).
    held: bool


def _offboard(result: CustomerPlan, detail: CustomerDetail, gdap: Gdap, tenant: Tenant) -> None:
    removal = _Removal()
    # A live reserved instance or savings plan needs a person (Azure support, or its
    # term): nothing irreversible happens until it is gone, so cancellation windows
    # are not spent on a customer that may stay. Turning auto-renew off is still
    # safe: it is reversible and only stops a new term from starting.
    final = [s for s in detail.subscriptions if s.kind in FINAL_KINDS and _live(s)]
    held = bool(live_reservations(detail.entitlements, result.now) or final)
    off = _Offboarding(result, detail, removal, held)
    for sub in safe_order(detail.subscriptions):
        if unknown_state(sub) is not None:
            continue  # never acted on: `_fail_closed` makes it this customer's blocked item
        if sub.status is SubscriptionStatus.PENDING:
            removal.blocked = True
            result.block(
                f"{label(sub)} {sub.id} is still pending in Partner Center",
                "Wait until Partner Center finishes provisioning it, then plan again",
                kind=BlockedKind.PENDING,
                about=[sub.id],
            )
        elif sub.kind in FINAL_KINDS:
            continue  # a blocked item of its own, below
        elif sub.kind in WINDOWED_KINDS and sub.status in LIVE_STATUSES:
            _offboard_windowed(off, sub)
        elif sub.kind is SubscriptionKind.AZURE and sub.status is SubscriptionStatus.ACTIVE:
            _offboard_azure_plan(off, sub)
        elif sub.status is SubscriptionStatus.ACTIVE:
            _offboard_legacy(off, sub)
    if held:
        _hold_tenant(removal, tenant)
        _hold_gdap(result, removal, gdap)
        _block_for_reservations(result, detail, removal)
        _block_for_final(result, final, removal)
        return
    _end_gdap(result, removal, gdap, tenant)
    if not removal.blocked:
        _remove_or_defer(result, removal)


def _live(sub: Subscription) -> bool:
    return sub.status in LIVE_STATUSES or sub.status is SubscriptionStatus.PENDING


# --- terms that are over, but not yet in Partner Center ---------------------------------


def past_term(sub: Subscription, now: datetime) -> bool:
    """Partner Center still shows the subscription live although its term is over.

    Partner Center can take a day to end a term, so what waited for that term
    is due but not possible yet: it stays deferred (never an action that would
    fail), and says so, until Partner Center shows the term ended.
    """
    ends = term_over(sub)
    return ends is not None and now >= ends and sub.status in LIVE_STATUSES


def still_shown(subs: Sequence[Subscription]) -> str:
    """What a due deferred item waits for: Partner Center to show these terms ended."""
    shown = ", ".join(f"{label(s)} {s.id} {s.status.value}" for s in subs) or "these terms live"
    return (
        f"Partner Center still shows {shown}; plan again later (Partner Center can take a day "
        "to end a term)"
    )


def _offboard_windowed(off: _Offboarding, sub: Subscription) -> None:
    result, removal, detail, held = off.result, off.removal, off.detail, off.held
    deadline = cancel_deadline(sub)
    kept = [a for a in addons_of(sub, detail) if _outlives_plan(result, a)]
    if in_window(sub, result.now) and (held or not kept):
        when = "a trial can be cancelled at any time"
        if deadline is not None and not sub.is_trial:
            when = f"inside the cancellation window (closes {moment(deadline)})"
        if held:
            _disable_auto_renew(result, sub, "preparatory: safe while the customer is blocked")
            refund = "" if sub.is_trial else " for a refund"
            removal.held_back.append(
                f"cancel {label(sub)} {sub.id} ({when}: act before then{refund})"
            )
            return
        if _no_order_line(result, sub, detail):
            removal.blocked = True
            return
        result.act(ActionType.CANCEL, sub, when, after=result.after(addons_of(sub, detail)))
        return
    closed = _closed(sub, deadline, kept)
    _disable_auto_renew(result, sub, f"{closed}: stop the term from renewing")
    ends, last_day = term_over(sub), term_end_day(sub)
    if sub.kind not in (SubscriptionKind.NCE, SubscriptionKind.SAAS) or ends is None:
        removal.blocked = True
        until = f" until its term ends {last_day}" if last_day else ""
        result.block(
            f"{label(sub)} {sub.id} can no longer be cancelled ({closed}) and blocks "
            f"removing the relationship{until}",
            "Plan again after the term has ended, or ask Microsoft support about an exception",
            about=[sub.id],
        )
        return
    if held:
        return
    wants_suspend = result.customer.nce_outside_window is NceOutsideWindow.SUSPEND
    if wants_suspend and sub.status is SubscriptionStatus.ACTIVE and _suspendable(sub):
        result.act(ActionType.SUSPEND, sub, f"{closed}; users lose access now")
        if sub.kind in BILLED_WHILE_SUSPENDED:
            result.warnings.append(
                f"{result.customer.path}: suspending {label(sub)} {sub.id} does not stop "
                f"billing: the partner pays for it until its term ends {last_day}"
            )
    if past_term(sub, result.now):
        removal.overdue.append(sub)
        removal.wait(ends, f"{label(sub)}: its term ended {last_day}")
    else:
        removal.wait(ends, f"{label(sub)}: its term ends {last_day}")


def _closed(sub: Subscription, deadline: datetime | None, kept: list[Subscription]) -> str:
    if kept:
        names = ", ".join(f"{label(a)} {a.id}" for a in kept)
        return (
            f"its add-ons stay until their terms end ({names}), and a base is not cancelled "
            "under live add-ons"
        )
    if deadline is None:
        return "no cancellation window"
    return f"cancellation window closed {moment(deadline)}"


def _outlives_plan(result: CustomerPlan, addon: Subscription) -> bool:
    """An add-on that this plan leaves live (it cannot be cancelled or suspended now)."""
    if not _live(addon) or addon.kind not in WINDOWED_KINDS:
        return False
    return not any(
        a.target_id == addon.id and a.type in (ActionType.CANCEL, ActionType.SUSPEND)
        for a in result.actions
    )


def _suspendable(sub: Subscription) -> bool:
    return sub.kind in SUSPENDABLE_KINDS and not sub.is_trial


def _offboard_azure_plan(off: _Offboarding, plan: Subscription) -> None:
    """Cancel each active Azure subscription under the plan, then suspend the plan
    (docs/partner-center.md, "Azure subscriptions").

    Partner Center refuses to suspend a plan with an active Azure subscription
    under it (900115), and the removal stays blocked until the plan is suspended.
    """
    result, removal, detail, held = off.result, off.removal, off.detail, off.held
    active = active_entitlements(plan, detail)
    if held:
        removal.held_back += [f"cancel Azure subscription {e.name} {e.id}" for e in active]
        removal.held_back.append(f"suspend {label(plan)} {plan.id}")
        return
    cancels = [result.act_on_entitlement(e, plan) for e in active]
    cancels += result.after(addons_of(plan, detail))
    reason = "suspending an Azure plan stops new usage charges"
    if cancels:
        reason += ", once the Azure subscriptions under it are cancelled"
    result.act(ActionType.SUSPEND, plan, reason, after=cancels)


def _offboard_legacy(off: _Offboarding, sub: Subscription) -> None:
    result, removal, detail, held = off.result, off.removal, off.detail, off.held
    if held:
        removal.held_back.append(f"suspend {label(sub)} {sub.id}")
        return
    if not _suspendable(sub):
        removal.blocked = True
        result.block(
            f"{label(sub)} {sub.id} is active and can be neither suspended nor cancelled by pcr",
            "Turn auto-renew off or end it in Partner Center, then plan again",
            about=[sub.id],
        )
        return
    reason = "a suspended legacy subscription is not billed"
    if sub.parent_id:
        reason += "; an add-on, handled before its base"
    result.act(ActionType.SUSPEND, sub, reason, after=result.after(addons_of(sub, detail)))


def _no_order_line(result: CustomerPlan, sub: Subscription, detail: CustomerDetail) -> bool:
    """A perpetual software purchase is cancelled through its order's line, and that line
    alone (an order PATCH cancels every line it lists). Without one, nothing is planned for
    it: a blocked item that says so. True when that is the case."""
    if sub.kind is not SubscriptionKind.PERPETUAL_SOFTWARE or detail.order_line(sub):
        return False
    order = sub.order_id or "(none named)"
    result.block(
        f"{label(sub)} {sub.id} is cancelled only through its line of order {order}, and "
        "pcr found no line there for it: nothing is cancelled (pcr never cancels a whole "
        "order, which would cancel the order's other purchases too)",
        f"In Partner Center, cancel this purchase alone from order {order}, inside its "
        "30-day window; then plan again",
        kind=BlockedKind.OTHER,
        about=[sub.id],
    )
    return True


def _disable_auto_renew(result: CustomerPlan, sub: Subscription, reason: str) -> None:
    if sub.auto_renew and sub.status is SubscriptionStatus.ACTIVE:
        result.act(ActionType.DISABLE_AUTO_RENEW, sub, reason)


def _block_for_reservations(
    result: CustomerPlan, detail: CustomerDetail, removal: _Removal
) -> None:
    reservations = live_reservations(detail.entitlements, result.now)
    if not reservations:
        return
    orders = sorted({a for ri in reservations for a in ri.artifact_ids})
    listed = ", ".join(orders) or "(no reservation order id reported)"
    result.block(
        f"{plural(len(reservations), 'Azure reserved instance')} must be cancelled through "
        "Azure support before the relationship can be removed",
        "Open an Azure support request to cancel (refund or exchange) the reserved "
        f"instances; reservation orders: {listed}",
        "When Partner Center no longer lists them, plan again",
        *_held_back(removal),
        kind=BlockedKind.RESERVED_INSTANCE,
    )


def _block_for_final(result: CustomerPlan, final: list[Subscription], removal: _Removal) -> None:
    """A savings plan cannot be cancelled or exchanged: it blocks until its term ends."""
    for sub in final:
        ends = term_end_day(sub)
        until = f" until its term ends {ends}" if ends else ""
        renew = (
            " Turn its auto-renew off in the Azure portal, or it renews." if sub.auto_renew else ""
        )
        result.block(
            f"{label(sub)} {sub.id} cannot be cancelled (savings plan purchases are final) "
            f"and blocks removing the relationship{until}",
            f"Let it run out: it is billed to the end of its term.{renew}",
            "Plan again after its term has ended",
            *_held_back(removal),
            kind=BlockedKind.SAVINGS_PLAN,
            about=[sub.id],
        )


def _held_back(removal: _Removal) -> tuple[str, ...]:
    return ("Held back until then: " + "; ".join(removal.held_back),) if removal.held_back else ()


def _deferral_reason(removal: _Removal, due: bool) -> str:
    """What a deferred removal waits for; once due (every term it waited for is over), for
    Partner Center to show those terms ended."""
    if due:
        return still_shown(removal.overdue)
    return "remove the reseller relationship once these terms have ended: " + "; ".join(
        removal.waiting_for
    )


def _remove_or_defer(result: CustomerPlan, removal: _Removal) -> None:
    customer = result.customer
    if removal.wait_until is not None:
        result.deferred.append(
            Deferred(
                customer.tenant_id,
                ActionType.REMOVE_RELATIONSHIP,
                removal.wait_until,
                _deferral_reason(removal, removal.wait_until <= result.now),
                target_id=customer.tenant_id,
            )
        )
        return
    kind = ActionType.REMOVE_RELATIONSHIP
    result.actions.append(
        Action(
            customer.tenant_id,
            kind,
            customer.tenant_id,
            "relationship: none, and nothing left blocks the removal",
            target_name=customer.name or customer.tenant_id,
            depends_on=tuple(a.id for a in result.actions),
            billing=kind_of(kind).billing(None, result.now),
        )
    )


# --- the customer's tenant: cleaned through GDAP, before GDAP ends -------------------------


@dataclass(frozen=True)
class Tenant:
    """What an offboarding removes inside the customer's tenant, and what of the partner's
    was read there (None: not read, as the partner can no longer be in it)."""

    cleanup: TenantCleanup = field(default_factory=TenantCleanup)
    footprint: Footprint | None = None
    own_app_id: str | None = None  # the app pcr signs in with: never removed by pcr


class TenantStep(NamedTuple):
    """One thing of the partner's that the clean-up removes from the customer's tenant."""

    kind: ActionType
    target: str
    name: str
    parent: str
    reason: str


_GUEST_REASON = "offboarding: a guest user on the partner's domains"
_APP_REASON = "offboarding: an app that the partner's tenant owns"


def _tenant_steps(tenant: Tenant) -> list[TenantStep]:
    """Each removal in the tenant: guests, then contact addresses, then apps (by name);
    none where the tenant was not read, or could not be."""
    footprint, cleanup = tenant.footprint or Footprint(), tenant.cleanup
    steps = []
    if cleanup.removes("guest_users"):
        steps += [
            TenantStep(ActionType.REMOVE_GUEST_USER, u.id, u.label, "", _GUEST_REASON)
            for u in sorted(footprint.guests, key=lambda u: (u.label.lower(), u.id))
        ]
    if cleanup.removes("contacts"):
        steps += [
            TenantStep(
                ActionType.REMOVE_TENANT_CONTACT,
                contact_target(which, address),
                address,
                footprint.organization_id,
                f"offboarding: the partner's address among the tenant's {which.value}",
            )
            for which, address in footprint.contacts
        ]
    if cleanup.removes("partner_apps"):
        steps += [
            TenantStep(ActionType.REMOVE_PARTNER_APP, a.id, a.label, a.owner, _APP_REASON)
            for a in sorted(footprint.apps, key=lambda a: (a.name.lower(), a.id))
            if a.app_id != tenant.own_app_id
        ]
    return steps


def _clean_tenant(
    result: CustomerPlan, removal: _Removal, tenant: Tenant, gdap_ids: Sequence[str]
) -> None:
    """The clean-up steps, timed with the GDAP steps: now when the removal goes now, deferred
    with it while the partner still serves the customer. A tenant that cannot be read holds
    the offboarding, and the GDAP relationships (`gdap_ids`) that must not end before it:
    the partner chose to leave it clean."""
    if not tenant.cleanup.any or tenant.footprint is None:
        return
    if tenant.footprint.unreadable is not None:
        removal.blocked = True
        result.block(
            f"the customer's tenant cannot be read for its clean-up: {tenant.footprint.unreadable}",
            "Give the partner's GDAP relationship with this customer those roles (or consent "
            "pcr's app in the tenant), then plan again",
            "Or set offboarding.tenant_cleanup to keep: the rest of the offboarding then goes "
            "on without it",
            kind=BlockedKind.TENANT,
            about=gdap_ids,
        )
        return
    _keep_own_app_said(result, tenant)
    for kind, target, name, parent, reason in _tenant_steps(tenant):
        if removal.wait_until is not None:
            result.deferred.append(removal.along(result.id, kind, reason, target))
            continue
        result.actions.append(
            Action(
                result.id,
                kind,
                target,
                reason,
                target_name=name,
                parent_id=parent,
                depends_on=result.not_on_gdap(),
                billing=kind_of(kind).billing(None, result.now),
            )
        )


def _keep_own_app_said(result: CustomerPlan, tenant: Tenant) -> None:
    footprint = tenant.footprint or Footprint()
    own = [a for a in footprint.apps if a.app_id == tenant.own_app_id]
    if own and tenant.cleanup.removes("partner_apps"):
        result.warnings.append(
            f"{result.customer.path}: pcr signs in with app {own[0].app_id} "
            f"({own[0].name or 'its own'}): its service principal stays in the customer's "
            "tenant, as removing it would cut pcr off mid-run; it grants nothing once GDAP "
            "ends, and the customer's admins can delete it"
        )


def _hold_tenant(removal: _Removal, tenant: Tenant) -> None:
    """Blocked before the removal (a reservation): the clean-up waits with it, and is named."""
    if tenant.footprint is not None and tenant.footprint.unreadable is None:
        removal.held_back += [
            f"{kind_of(step.kind).verb} {step.name}" for step in _tenant_steps(tenant)
        ]


# --- GDAP relationships: ended together with the removal -----------------------------------


@dataclass(frozen=True)
class Gdap:
    """A customer's GDAP relationships as read (None: not read), and why none could be."""

    relationships: tuple[GdapRelationship, ...] | None = None
    unreadable: str | None = None


def _gdap_steps(gdap: Gdap) -> list[tuple[ActionType, GdapRelationship]]:
    """What ending this customer's GDAP takes: terminate the active, delete the drafts."""
    steps = []
    for relationship in gdap.relationships or ():
        if relationship.unknowns:
            continue  # never acted on: `_fail_closed` makes it a blocked item
        if relationship.status in GDAP_TERMINATED_BY_PCR:
            steps.append((ActionType.TERMINATE_GDAP, relationship))
        elif relationship.status in GDAP_DELETED_BY_PCR:
            steps.append((ActionType.DELETE_GDAP, relationship))
    # The roles that hold go first; then by name, so that a plan reads the same every time.
    return sorted(steps, key=lambda s: (s[0] is ActionType.DELETE_GDAP, s[1].name, s[1].id))


def _end_gdap(result: CustomerPlan, removal: _Removal, gdap: Gdap, tenant: Tenant) -> None:
    """The GDAP steps of an offboarding, timed with its removal: now when the removal goes
    now (or is done already), deferred with it while the partner still serves the customer
    until a term ends. What pcr cannot end, or cannot read, is a person's to see."""
    if result.customer.ends_gdap:
        if gdap.relationships is None:
            _block_unreadable_gdap(result, removal, gdap.unreadable)
            return
        for relationship in gdap.relationships:
            _block_gdap_in_passing(result, removal, relationship)
    if removal.blocked:
        return
    # Inside the tenant while GDAP still lets pcr in: before the GDAP steps, which wait for it.
    ending = [r.id for _, r in _gdap_steps(gdap)] if result.customer.ends_gdap else []
    _clean_tenant(result, removal, tenant, ending)
    if removal.blocked or not result.customer.ends_gdap:
        return
    for kind, relationship in _gdap_steps(gdap):
        reason = _gdap_reason(kind, relationship)
        if removal.wait_until is None:
            result.act_on_gdap(kind, relationship, reason)
        else:
            result.deferred.append(removal.along(result.id, kind, reason, relationship.id))


def _gdap_reason(kind: ActionType, relationship: GdapRelationship) -> str:
    if kind is ActionType.DELETE_GDAP:
        return "offboarding: a GDAP relationship the customer never approved (a draft)"
    return "offboarding: the partner's admin roles must not outlive the reseller relationship"


def _block_gdap_in_passing(
    result: CustomerPlan, removal: _Removal, relationship: GdapRelationship
) -> None:
    """A relationship on its way to active holds the removal; one waiting for the
    customer's approval is only a person's to see (it grants no roles yet)."""
    what = relationship.label
    if relationship.status in GDAP_BECOMING_ACTIVE:
        removal.blocked = True
        result.block(
            f"{what} is {relationship.status_text}: Microsoft Graph is making it active, and "
            "the removal waits so that it does not outlive the reseller relationship",
            "Plan again in a few minutes: pcr then terminates it, and removes the relationship",
            kind=BlockedKind.GDAP,
            about=[relationship.id],
        )
    elif relationship.status in GDAP_ENDING and not removal.done:  # nothing waits otherwise
        removal.blocked = True
        result.block(
            f"{what} is {relationship.status_text}: Microsoft Graph is ending it, and the "
            "partner's roles may hold until it is terminated, so the removal waits",
            "Plan again in a few minutes: once Graph shows it terminated, pcr removes the "
            "relationship",
            kind=BlockedKind.GDAP,
            about=[relationship.id],
        )
    elif relationship.status in GDAP_AWAITING_CUSTOMER:
        result.block(
            f"{what} is waiting for the customer's approval (approvalPending): Graph lets the "
            "partner neither terminate nor delete it",
            "Ask the customer's Global administrator not to approve it, or wait until it "
            "lapses (90 days after it was sent); if it is approved, the next plan terminates it",
            kind=BlockedKind.GDAP,
            about=[relationship.id],
        )


def _block_unreadable_gdap(result: CustomerPlan, removal: _Removal, why: str | None) -> None:
    removal.blocked = True
    waits = (
        "whatever is left of them stays until pcr can read them"
        if removal.done
        else "the removal waits, so that no admin role outlives it"
    )
    result.block(
        f"pcr could not read this customer's GDAP relationships in Microsoft Graph "
        f"({why or 'not read'}): {waits}",
        "Give pcr Microsoft Graph credentials: PCR_GRAPH_TOKEN, or the Secure Application "
        "Model variables PCR_TENANT_ID, PCR_CLIENT_ID, PCR_CLIENT_SECRET and PCR_REFRESH_TOKEN",
        f"Or declare `offboarding: {{gdap: keep}}` in {result.customer.path} to leave them",
        kind=BlockedKind.GDAP,
    )


def _gdap_is_theirs(result: CustomerPlan, live: Customer | None, gdap: Gdap) -> bool:
    """Whether GDAP left behind may be ended for a customer Partner Center no longer lists.

    Without a listed customer there is no domain to check (the second key), and GDAP
    also exists without a reseller relationship: a mistyped tenant id must not end
    another customer's admin relationships. So Graph's name of the customer must be
    the declared `name`; otherwise a person checks.
    """
    customer = result.customer
    steps = _gdap_steps(gdap)
    if live is not None or not steps:
        return True
    wanted = (customer.name or "").strip().casefold()
    named = {r.customer_name.strip() for _, r in steps}
    if wanted and {n.casefold() for n in named} == {wanted}:
        return True
    shown = ", ".join(repr(n) for n in sorted(named)) or "no name"
    result.block(
        f"Partner Center does not list tenant {customer.tenant_id}, so pcr cannot check its "
        f"domain; its GDAP relationships name the customer {shown}, and {customer.path} "
        f"declares {customer.name!r}: nothing is ended",
        f"Check the tenant id in {customer.path}",
        "If it is this customer, declare `name` as Microsoft Graph has it, then plan again",
        kind=BlockedKind.GDAP,
        about=[customer.tenant_id],
    )
    return False


def _hold_gdap(result: CustomerPlan, removal: _Removal, gdap: Gdap) -> None:
    """Blocked before the removal (a reservation): GDAP waits with it, and is named."""
    if result.customer.ends_gdap:
        removal.held_back += [
            f"{kind_of(kind).verb} {r.name or r.id}" for kind, r in _gdap_steps(gdap)
        ]


def _keep_gdap_said(result: CustomerPlan) -> None:
    if result.customer.offboarding and not result.customer.ends_gdap:
        result.warnings.append(
            f"{result.customer.path}: offboarding.gdap: keep, so pcr leaves this customer's "
            "GDAP relationships as they are: the partner's admin roles stay until they expire"
        )


# --- customers that stay: per-subscription overrides -------------------------------------


def _apply_overrides(result: CustomerPlan, detail: CustomerDetail) -> None:
    if not result.customer.subscriptions:  # most customers: nothing declared, nothing to do
        return
    by_id = {s.id.lower(): s for s in detail.subscriptions}
    for override in result.customer.subscriptions:
        sub = by_id.get(override.id)
        if sub is None:
            result.refuse(
                RefusalKind.UNKNOWN_SUBSCRIPTION,
                f"{override.mark}: subscription {override.id} is not one of this customer's "
                "subscriptions in Partner Center: check the id",
            )
            continue
        _override_status(result, override, sub, detail)
        _override_auto_renew(result, override, sub)


def _override_status(
    result: CustomerPlan, override: SubscriptionOverride, sub: Subscription, detail: CustomerDetail
) -> None:
    wanted, status = override.status, sub.status
    if wanted is None or satisfies(wanted, sub):
        return
    if status is SubscriptionStatus.PENDING:
        result.block(
            f"{override.mark}: {label(sub)} {sub.id} is declared {wanted.value}, but it is "
            "still pending in Partner Center",
            "Wait until Partner Center finishes provisioning it, then plan again",
            kind=BlockedKind.PENDING,
            about=[sub.id],
        )
    elif wanted is DesiredStatus.SUSPENDED and status is SubscriptionStatus.ACTIVE:
        _override_suspend(result, override, sub)
    elif wanted is DesiredStatus.ACTIVE and status is SubscriptionStatus.SUSPENDED:
        result.act(ActionType.REACTIVATE, sub, "declared active")
    elif wanted is DesiredStatus.ACTIVE and status in ENDED_STATUSES:
        result.block(
            f"{override.mark}: {label(sub)} {sub.id} is {status.value} and cannot be reactivated",
            "Buy a new subscription for the customer, then declare its id instead",
            about=[sub.id],
        )
    elif wanted is DesiredStatus.CANCELLED and status in LIVE_STATUSES:
        _override_cancel(result, override, sub, detail)


def _override_suspend(
    result: CustomerPlan, override: SubscriptionOverride, sub: Subscription
) -> None:
    if not _suspendable(sub) or sub.kind is SubscriptionKind.AZURE:
        _refuse_override(result, override, sub, "suspended")
        return
    result.act(ActionType.SUSPEND, sub, "declared suspended")
    if sub.kind in BILLED_WHILE_SUSPENDED:
        result.warnings.append(
            f"{override.mark}: a suspended {sub.kind.value} subscription is still billed until "
            f"its term ends {term_end_day(sub)}; cancel it inside its window to stop paying"
        )


def _refuse_override(
    result: CustomerPlan, override: SubscriptionOverride, sub: Subscription, wanted: str
) -> None:
    """A status this kind cannot be put in by a partner, or not by pcr for a staying customer."""
    if sub.kind is SubscriptionKind.AZURE:
        why = (
            "an Azure plan is suspended only after every Azure subscription under it is "
            "cancelled, which pcr does only when offboarding the customer"
        )
    elif sub.kind in FINAL_KINDS:
        why = "a savings plan purchase is final: it cannot be suspended or cancelled"
    else:
        why = f"Partner Center does not let a partner suspend a {label(sub)} subscription"
    result.block(
        f"{override.mark}: {label(sub)} {sub.id} is declared {wanted}, but {why}",
        "Change the declared status, or handle it in Partner Center or the Azure portal",
        about=[sub.id],
    )


def _override_cancel(
    result: CustomerPlan, override: SubscriptionOverride, sub: Subscription, detail: CustomerDetail
) -> None:
    now = result.now
    if sub.kind is SubscriptionKind.AZURE or sub.kind in FINAL_KINDS:
        _refuse_override(result, override, sub, "cancelled")
        return
    if sub.kind not in WINDOWED_KINDS:
        if sub.status is SubscriptionStatus.ACTIVE:
            result.act(
                ActionType.SUSPEND,
                sub,
                "declared cancelled: a legacy subscription is cancelled by suspending it; "
                "Partner Center deletes it at the end of its term",
            )
        return
    deadline = cancel_deadline(sub)
    if in_window(sub, now):
        when = "a trial, cancelled at any time"
        if deadline is not None and not sub.is_trial:
            when = f"window open until {moment(deadline)}"
        if not _no_order_line(result, sub, detail):
            result.act(ActionType.CANCEL, sub, f"declared cancelled; {when}")
        return
    _disable_auto_renew(result, sub, "declared cancelled, but its cancellation window has closed")
    ends = term_over(sub)
    if ends is not None:
        reason = (
            still_shown([sub])
            if past_term(sub, now)
            else f"{label(sub)} cannot be cancelled any more; with auto-renew off its term "
            f"ends {term_end_day(sub)}"
        )
        result.deferred.append(Deferred(result.id, ActionType.CANCEL, ends, reason, sub.id))


def _override_auto_renew(
    result: CustomerPlan, override: SubscriptionOverride, sub: Subscription
) -> None:
    if override.auto_renew is None or override.status is DesiredStatus.CANCELLED:
        return
    if sub.status is not SubscriptionStatus.ACTIVE or override.status is DesiredStatus.SUSPENDED:
        return
    if override.auto_renew and not sub.auto_renew:
        result.act(ActionType.ENABLE_AUTO_RENEW, sub, "declared auto_renew: true")
    elif not override.auto_renew and sub.auto_renew:
        result.act(ActionType.DISABLE_AUTO_RENEW, sub, "declared auto_renew: false")


# --- guardrails -------------------------------------------------------------------------


def _guard_customer(result: CustomerPlan, desired: Desired, live: Customer | None) -> None:
    """Refuse what must not happen for this customer; a refusal fails the plan."""
    customer = result.customer
    if any(protected_refuses(customer, t) for t in DESTRUCTIVE):
        _refuse_destructive(
            result,
            RefusalKind.PROTECTED,
            f"{customer.path}: customer is protected (protected: true)",
            "remove the overrides that suspend or cancel, or set protected: false",
        )
    if (mismatch := _domain_mismatch(customer, live)) is not None:
        refused = _refuse_destructive(
            result,
            RefusalKind.DOMAIN_MISMATCH,
            mismatch,
            "a wrong tenant_id must not act on someone else's customer: fix the tenant_id "
            "or the domain",
        )
        if not refused:
            result.warnings.append(mismatch)
    if partner_cannot_remove(desired.partner, ActionType.REMOVE_RELATIONSHIP):
        _refuse_removal_by_reseller(result, desired)


def _refuse_destructive(result: CustomerPlan, kind: RefusalKind, why: str, fix: str) -> bool:
    """Drop destructive actions (and deferred ones) with an error; True if any were dropped."""
    refused = [str(a.type) for a in result.actions if a.destructive]
    refused += [f"{d.type} (deferred)" for d in result.deferred]
    if not refused:
        return False
    result.actions = [a for a in result.actions if not a.destructive]
    result.deferred = []
    types = sorted(set(refused))
    result.refuse(kind, f"{why}: refusing {', '.join(types)}; {fix}", types)
    return True


def _refuse_removal_by_reseller(result: CustomerPlan, desired: Desired) -> None:
    removes = any(a.type is ActionType.REMOVE_RELATIONSHIP for a in result.actions) or any(
        d.type is ActionType.REMOVE_RELATIONSHIP for d in result.deferred
    )
    if not removes:
        return
    result.actions = [a for a in result.actions if a.type is not ActionType.REMOVE_RELATIONSHIP]
    result.deferred = [d for d in result.deferred if d.type is not ActionType.REMOVE_RELATIONSHIP]
    source = desired.partner.source or "partner.yaml"
    result.refuse(
        RefusalKind.INDIRECT_RESELLER,
        f"{result.customer.path}: {source} says partner.type is indirect_reseller, and indirect "
        "resellers cannot remove a reseller relationship: ask your indirect provider to remove it",
        [str(ActionType.REMOVE_RELATIONSHIP)],
    )
