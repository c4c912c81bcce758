"""Partner Center's lifecycle rules, in one place: statuses, kinds, cancellation windows,
term ends, what blocks removing a relationship, and what "already done" means.

The planner decides actions with these rules, drift compares with them, the
reader decides what to read with them and apply re-checks with them, so the four
never disagree. Pure functions over the typed live model (`partnercenter.models`)
and the desired model; no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from reconciler.desired import Desired, DesiredCustomer, DesiredStatus, UnmanagedCustomers
from reconciler.partnercenter.models import Live, Subscription, SubscriptionKind, SubscriptionStatus

RESELLER = "reseller"
# Statuses in which a subscription still counts against removing the relationship.
LIVE_STATUSES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED})
ENDED_STATUSES = frozenset(
    {SubscriptionStatus.EXPIRED, SubscriptionStatus.DISABLED, SubscriptionStatus.DELETED}
)
# What pcr does not know, it never acts on (fail closed): `none` is the API's
# initializer, and a value outside the documented list may be a state added since.
UNKNOWN_STATUSES = frozenset({SubscriptionStatus.NONE, SubscriptionStatus.UNKNOWN})
# Subscriptions that can be cancelled in a window after purchase or renewal.
WINDOWED_KINDS = frozenset({SubscriptionKind.NCE, SubscriptionKind.SOFTWARE})
# The seed documents' window; the API states each subscription's own end
# (`cancellationAllowedUntilDate`), which wins wherever it is known.
CANCELLATION_WINDOW_DAYS = 7
# Plan order within a customer: NCE first, then software, then legacy and Azure plans.
KIND_ORDER = {
    SubscriptionKind.NCE: 0,
    SubscriptionKind.SOFTWARE: 1,
    SubscriptionKind.LEGACY: 2,
    SubscriptionKind.AZURE: 3,
    SubscriptionKind.UNKNOWN: 4,
}


# --- what a subscription is, and when ------------------------------------------------------


def label(sub: Subscription) -> str:
    return f"{sub.offer_name or sub.offer_id} ({sub.kind.value})"


def in_window(sub: Subscription, now: datetime) -> bool:
    """Whether the subscription may still be cancelled (the window's end is inclusive)."""
    return sub.cancellation_allowed_until is not None and now <= sub.cancellation_allowed_until


def term_over(sub: Subscription) -> datetime | None:
    """When the term is over: `commitmentEndDate` is inclusive, so the start of the next day."""
    if sub.commitment_end is None:
        return None
    end = sub.commitment_end.astimezone(UTC).date()
    return datetime.combine(end, time(0), tzinfo=UTC) + timedelta(days=1)


# The next term starts when the current one is over.
renewal_date = term_over


def window_after(start: datetime) -> datetime:
    """The end of the cancellation window that opens at `start` (purchase or renewal)."""
    last_day = (start.astimezone(UTC) + timedelta(days=CANCELLATION_WINDOW_DAYS)).date()
    return datetime.combine(last_day, time(23, 59), tzinfo=UTC)


def unknown_state(sub: Subscription) -> str | None:
    """What about this subscription pcr does not know, or None when it knows it all."""
    if sub.kind is SubscriptionKind.UNKNOWN:
        return f"product type {sub.product_type or sub.kind.value!r}"
    if sub.status in UNKNOWN_STATUSES:
        return f"status {sub.status_text or sub.status.value!r}"
    return None


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
    """What removing the relationship needs of this subscription, if anything."""
    if sub.status in ENDED_STATUSES:
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


def needs_entitlements(customer: DesiredCustomer) -> bool:
    """Entitlements (reserved instances, software) only matter when offboarding."""
    return customer.offboarding


def unmanaged_ids(desired: Desired, live: Live) -> list[str]:
    """Reseller customers in Partner Center with no file, unless the policy ignores them."""
    if desired.partner.policy.unmanaged_customers is UnmanagedCustomers.IGNORE:
        return []
    return sorted(
        cid
        for cid, customer in live.customers.items()
        if cid not in desired.customers and customer.relationship == RESELLER
    )
