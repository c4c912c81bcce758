"""Partner Center's lifecycle rules, in one place: statuses, kinds, cancellation windows,
term ends, what blocks removing a relationship, and what "already done" means.

The planner decides actions with these rules, drift compares with them, the
reader decides what to read with them and apply re-checks with them, so the four
never disagree. They speak of Partner Center's own states only: what pcr does about them
(actions, billing) is the plan's. Pure functions over the typed live model (`live.models`)
and the desired model; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import UnmanagedCustomers
from reconciler.live.models import AzureEntitlement
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import CustomerDetail
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import Entitlement
from reconciler.live.models import EntitlementType
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus

# Statuses in which a subscription still counts against removing the relationship.
LIVE_STATUSES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED})
ENDED_STATUSES = frozenset(
    {SubscriptionStatus.EXPIRED, SubscriptionStatus.DISABLED, SubscriptionStatus.DELETED}
)
# What pcr does not know, it never acts on (fail closed): `none` is the API's
# initializer, and a value outside the documented list may be a state added since.
UNKNOWN_STATUSES = frozenset({SubscriptionStatus.NONE, SubscriptionStatus.UNKNOWN})
# Subscriptions that end by cancellation (`deleted`) in a window after purchase or
# renewal; on the way out they are cancelled, never merely suspended.
WINDOWED_KINDS = frozenset(
    {
        SubscriptionKind.NCE,
        SubscriptionKind.SOFTWARE,
        SubscriptionKind.PERPETUAL_SOFTWARE,
        SubscriptionKind.SAAS,
    }
)
# Purchases that are final: nothing pcr can send ends them early (docs/partner-center.md,
# "Cancelling and changing").
FINAL_KINDS = frozenset({SubscriptionKind.SAVINGS_PLAN})
# What Partner Center lets a partner suspend. SaaS, perpetual software and savings
# plans have no suspended state; a trial's status cannot be changed while it runs
# (docs/partner-center.md, "Trials"; pcr only ever cancels one, which is unconfirmed).
SUSPENDABLE_KINDS = frozenset(
    {
        SubscriptionKind.NCE,
        SubscriptionKind.SOFTWARE,
        SubscriptionKind.LEGACY,
        SubscriptionKind.AZURE,
    }
)
# A suspended subscription of these kinds still bills the partner until its term ends.
BILLED_WHILE_SUSPENDED = frozenset({SubscriptionKind.NCE, SubscriptionKind.SOFTWARE})
# Microsoft's window for new commerce and software with a term, from purchase or
# renewal (docs/partner-center.md, "Cancelling and changing"); the API states each
# subscription's own end (`cancellationAllowedUntilDate`), which wins wherever it is known.
CANCELLATION_WINDOW_DAYS = 7
# Where a subscription states no window of its own: marketplace SaaS is refunded in
# full for 72 hours, perpetual software for 30 days (docs/partner-center.md,
# "Cancelling and changing").
SAAS_WINDOW = timedelta(hours=72)
PERPETUAL_SOFTWARE_WINDOW_DAYS = 30
# Plan order within a customer: NCE first, then software and SaaS, then legacy and the
# Azure plan; add-ons always go right before their base (`safe_order`).
KIND_ORDER = {
    SubscriptionKind.NCE: 0,
    SubscriptionKind.SOFTWARE: 1,
    SubscriptionKind.PERPETUAL_SOFTWARE: 1,
    SubscriptionKind.SAAS: 1,
    SubscriptionKind.LEGACY: 2,
    SubscriptionKind.AZURE: 3,
    SubscriptionKind.SAVINGS_PLAN: 3,
    SubscriptionKind.UNKNOWN: 4,
}


# --- what a subscription is, and when ------------------------------------------------------


def label(sub: Subscription) -> str:
    trial = ", trial" if sub.is_trial else ""
    return f"{sub.offer_name or sub.offer_id} ({sub.kind.value}{trial})"


def cancel_deadline(sub: Subscription) -> datetime | None:
    """The end of the subscription's cancellation window, or None when it has none.

    The subscription's own `cancellationAllowedUntilDate` wins; SaaS and perpetual
    software that state none get their documented window from the start of the term.
    """
    if sub.cancellation_allowed_until is not None:
        return sub.cancellation_allowed_until
    start = sub.effective_start or sub.creation
    if start is None:
        return None
    if sub.kind is SubscriptionKind.SAAS:
        return start + SAAS_WINDOW
    if sub.kind is SubscriptionKind.PERPETUAL_SOFTWARE:
        return window_after(start, PERPETUAL_SOFTWARE_WINDOW_DAYS)
    return None


def in_window(sub: Subscription, now: datetime) -> bool:
    """Whether the subscription may be cancelled now (the window's end is inclusive).

    pcr treats a trial as cancellable at any time, and Microsoft does not document that:
    it says a new-commerce trial's status cannot be changed while the trial runs, and
    the documented way out is auto-renew off, so that the trial expires. Whether the API
    takes `deleted` on a trial is unconfirmed; the fake assumes it does
    (docs/partner-center.md, "Trials").
    """
    if sub.is_trial:
        return True
    deadline = cancel_deadline(sub)
    return deadline is not None and now <= deadline


def term_end_day(sub: Subscription) -> date | None:
    """The last day of the term: `commitmentEndDate` is inclusive, and billed."""
    if sub.commitment_end is None:
        return None
    return sub.commitment_end.astimezone(UTC).date()


def term_over(sub: Subscription) -> datetime | None:
    """When the term is over: `commitmentEndDate` is inclusive, so the start of the next day."""
    if sub.commitment_end is None:
        return None
    end = sub.commitment_end.astimezone(UTC).date()
    return datetime.combine(end, time(0), tzinfo=UTC) + timedelta(days=1)


# The next term starts when the current one is over.
renewal_date = term_over


def window_after(start: datetime, days: int = CANCELLATION_WINDOW_DAYS) -> datetime:
    """The end of the cancellation window that opens at `start` (purchase or renewal)."""
    last_day = (start.astimezone(UTC) + timedelta(days=days)).date()
    return datetime.combine(last_day, time(23, 59), tzinfo=UTC)


def unknown_state(sub: Subscription) -> str | None:
    """What about this subscription pcr does not know, or None when it knows it all."""
    unknowns = []
    if sub.status in UNKNOWN_STATUSES:
        unknowns.append(f"status {sub.status_text or sub.status.value!r}")
    if sub.kind is SubscriptionKind.UNKNOWN and sub.product_type:
        unknowns.append(f"product type {sub.product_type!r}")
    elif sub.kind is SubscriptionKind.UNKNOWN:
        unknowns.append(f"offer id {sub.offer_id!r} without a product type")
    unknowns += sub.unknowns
    return ", ".join(unknowns) or None


@dataclass(frozen=True)
class Unknown:
    """One thing in a customer's live state that pcr does not know."""

    what: str  # the resource, for people
    why: str  # the field and its value
    subscription: Subscription | None = None
    steps: tuple[str, ...] = ()  # what a person checks, where it is not Partner Center
    target_id: str = ""  # the resource's id, where it has one


def unknown_facts(detail: CustomerDetail) -> list[Unknown]:
    """Everything in a customer's deep read that pcr does not know.

    Entitlements are only read for an offboarding customer, so for any other
    customer only its subscriptions can appear here.
    """
    facts = [
        Unknown(f"{label(s)} {s.id}", why, s, target_id=s.id)
        for s in detail.subscriptions
        if (why := unknown_state(s))
    ]
    facts += [
        Unknown(f"entitlement {e.product_id or e.type_text or '?'}", ", ".join(e.unknowns))
        for e in detail.entitlements
        if e.unknowns
    ]
    facts += [
        Unknown(f"Azure subscription {e.name} {e.id}", f"status {e.status_text!r}", target_id=e.id)
        for e in detail.azure_entitlements
        if e.status is AzureEntitlementStatus.UNKNOWN
    ]
    return facts


def gdap_unknown_facts(relationships: Iterable[GdapRelationship]) -> list[Unknown]:
    """The GDAP relationships pcr cannot read or does not know the status of."""
    return [
        Unknown(
            r.label,
            ", ".join(r.unknowns),
            steps=(
                f"Check {r.label} in Partner Center > Customers > Admin relationships "
                "(Microsoft Graph): pcr does not know what it shows",
                "Plan again once it is in a state pcr knows (active, created, terminated)",
            ),
            target_id=r.id,
        )
        for r in relationships
        if r.unknowns or r.status is GdapStatus.UNKNOWN
    ]


def safe_order(subscriptions: Iterable[Subscription]) -> list[Subscription]:
    """The order to handle subscriptions in: add-ons right before their base
    (docs/partner-center.md, "Add-ons").

    Bases follow KIND_ORDER, then name. Cancelling a base first could leave its
    add-ons behind, and for legacy ones the base's suspension would take them
    along unplanned, so every add-on is handled (and re-checked) on its own first.
    """
    ordered = sorted(subscriptions, key=lambda s: (KIND_ORDER[s.kind], s.offer_name, s.id))
    ids = {s.id.lower() for s in ordered}
    addons: dict[str, list[Subscription]] = {}
    for sub in ordered:
        if sub.parent_id in ids and sub.parent_id != sub.id.lower():
            addons.setdefault(str(sub.parent_id), []).append(sub)
    result: list[Subscription] = []
    seen: set[str] = set()

    def visit(sub: Subscription) -> None:
        if sub.id.lower() in seen:
            return
        seen.add(sub.id.lower())
        for addon in addons.get(sub.id.lower(), []):
            visit(addon)
        result.append(sub)

    for sub in ordered:
        if sub.parent_id not in ids:
            visit(sub)
    for sub in ordered:  # add-ons whose parents form a loop: still planned, once
        visit(sub)
    return result


def addons_of(base: Subscription, detail: CustomerDetail) -> list[Subscription]:
    return [s for s in detail.subscriptions if s.parent_id == base.id.lower() and s is not base]


def live_reservations(entitlements: Iterable[Entitlement], now: datetime) -> list[Entitlement]:
    """The Azure reserved instances that still block a removal: every one whose term has
    not run out. One whose `expiryDate` has passed blocks nothing any more; one without a
    known expiry still blocks (docs/partner-center.md)."""
    return [
        e
        for e in entitlements
        if e.type is EntitlementType.RESERVED_INSTANCE
        and (e.expires_at is None or e.expires_at > now)
    ]


def active_entitlements(plan: Subscription, detail: CustomerDetail) -> list[AzureEntitlement]:
    """The Azure subscriptions under an Azure plan that stop it from being suspended."""
    return [e for e in detail.under(plan) if e.status is AzureEntitlementStatus.ACTIVE]


# --- removing a relationship ---------------------------------------------------------------


def blocks_removal(sub: Subscription) -> bool:
    """Whether this subscription, as it is, stops the reseller relationship from being removed.

    A suspended NCE or software subscription still bills and still blocks: only
    a cancelled (or ended) one is out of the way. Other kinds block while active
    or still being provisioned. A state pcr does not know blocks (fail closed).
    """
    if unknown_state(sub) is not None:
        return True
    if sub.kind in WINDOWED_KINDS:
        return sub.status in LIVE_STATUSES
    return sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)


def offboarding_wants(sub: Subscription) -> DesiredStatus | None:
    """What removing the relationship needs of this subscription, if anything.

    A final purchase (a savings plan) can only run out: nothing is asked of it.
    """
    if sub.status in ENDED_STATUSES or sub.kind in FINAL_KINDS:
        return None
    if sub.kind in WINDOWED_KINDS:
        return DesiredStatus.CANCELLED  # suspended NCE keeps billing and blocks removal
    return DesiredStatus.SUSPENDED


def satisfies(wanted: DesiredStatus, sub: Subscription) -> bool:
    """Whether the live subscription already is what `wanted` asks for."""
    if wanted is DesiredStatus.ACTIVE:
        return sub.status is SubscriptionStatus.ACTIVE
    if sub.status in ENDED_STATUSES:
        return True
    if wanted is DesiredStatus.SUSPENDED:
        return sub.status is SubscriptionStatus.SUSPENDED
    # Cancelling a legacy or Azure subscription is suspending it; Partner Center
    # deletes it at the end of its term.
    return sub.kind not in WINDOWED_KINDS and sub.status is SubscriptionStatus.SUSPENDED


# --- what pcr reads and manages -------------------------------------------------------------


def needs_detail(customer: DesiredCustomer) -> bool:
    """Whether planning this customer needs its subscriptions (a deep read)."""
    return customer.offboarding or bool(customer.subscriptions)


def cancels_through_order(customer: DesiredCustomer, sub: Subscription) -> bool:
    """A live perpetual software purchase this customer's plan may cancel: only through
    its order's line, so the plan reads the order to know there is one."""
    cancelled = any(
        o.id == sub.id.lower() and o.status is DesiredStatus.CANCELLED
        for o in customer.subscriptions
    )
    return (
        sub.kind is SubscriptionKind.PERPETUAL_SOFTWARE
        and sub.status is SubscriptionStatus.ACTIVE
        and bool(sub.order_id)
        and (customer.offboarding or cancelled)
    )


def needs_entitlements(customer: DesiredCustomer) -> bool:
    """Entitlements (reserved instances, software) only matter when offboarding."""
    return customer.offboarding


# --- GDAP relationships (docs/partner-center.md, "GDAP"): what offboarding does in each status

GDAP_TERMINATED_BY_PCR = frozenset({GdapStatus.ACTIVE})  # terminate
GDAP_DELETED_BY_PCR = frozenset({GdapStatus.CREATED})  # a draft: delete (If-Match)
# Approved by the customer and being provisioned: active in minutes, so terminated then.
GDAP_BECOMING_ACTIVE = frozenset({GdapStatus.APPROVED, GdapStatus.ACTIVATING})
# A terminate already asked for: Graph finishes it by itself.
GDAP_ENDING = frozenset({GdapStatus.TERMINATION_REQUESTED, GdapStatus.TERMINATING})
# Waiting for the customer's approval: terminate is for active, delete for created, so
# nothing is documented that the partner can do but wait (it lapses after 90 days).
GDAP_AWAITING_CUSTOMER = frozenset({GdapStatus.APPROVAL_PENDING})
# The partner's roles hold (or are about to): a removal must not leave these behind.
GDAP_HOLDS_ROLES = GDAP_TERMINATED_BY_PCR | GDAP_BECOMING_ACTIVE
# A removal also waits for a termination to finish: until Graph shows it terminated, the
# partner's roles may still hold (deprovisioning takes minutes).
GDAP_HOLDS_REMOVAL = GDAP_HOLDS_ROLES | GDAP_ENDING


def gdap_offboarding_wants(relationship: GdapRelationship) -> str | None:
    """What an offboarding that ends GDAP wants of this relationship: `terminated` (a draft:
    `deleted`), or None when it has ended or is ending by itself. One pcr cannot read, or
    whose status it does not know, is wanted terminated too: the plan holds it for a person."""
    if relationship.status in GDAP_DELETED_BY_PCR:
        return "deleted"
    if (
        relationship.status in GDAP_HOLDS_ROLES | GDAP_AWAITING_CUSTOMER
        or relationship.status is GdapStatus.UNKNOWN
        or relationship.unknowns
    ):
        return "terminated"
    return None


def needs_gdap(customer: DesiredCustomer) -> bool:
    """GDAP relationships are read only for a customer whose offboarding ends them."""
    return customer.ends_gdap


def needs_tenant_read(desired: Desired, customer: DesiredCustomer, live: Live) -> bool:
    """An offboarding that cleans the tenant, while the partner may still be in it: the
    reseller relationship stands, or a GDAP relationship that the offboarding ends (and so
    reads: `needs_gdap`) still grants roles. Under `gdap: keep` the clean-up goes with the
    removal only: every command then decides alike, whatever GDAP it read."""
    if not desired.cleanup_of(customer).any:
        return False
    found = live.customers.get(customer.tenant_id)
    if found is not None and found.relationship == CustomerRelationship.RESELLER:
        return True
    relationships = live.gdap.get(customer.tenant_id, ()) if needs_gdap(customer) else ()
    return any(r.status in GDAP_HOLDS_ROLES for r in relationships)


def needs_azure_entitlements(sub: Subscription) -> bool:
    """An Azure plan that is not over yet: its Azure subscriptions must be cancelled first."""
    return sub.kind is SubscriptionKind.AZURE and sub.status not in ENDED_STATUSES


def unmanaged_ids(desired: Desired, live: Live) -> list[str]:
    """Reseller customers in Partner Center with no file, unless the policy ignores them."""
    if desired.partner.policy.unmanaged_customers is UnmanagedCustomers.IGNORE:
        return []
    return sorted(
        cid
        for cid, customer in live.customers.items()
        if cid not in desired.customers and customer.relationship == CustomerRelationship.RESELLER
    )
