"""The estate's calendar: every dated event of the declared customers that a partner must
act on or know about, from Partner Center's and Graph's own fields (docs/design.md,
"Calendar"). Pure: what was read, the desired state and `now` in, events out.

Each date comes from the rule that the planner uses for it (`live.lifecycle`): the
cancellation window's close (`cancel_deadline`), the inclusive `commitmentEndDate`
(`term_end_day`, `term_over`), a deferred removal's `not_before` (the customer's own plan).
The facts behind them are in docs/partner-center.md: "Cancelling and changing" (windows),
"Refunds and billing" (a renewal starts the next day and may take 24 hours), "Trials"
(a trial converts unless auto-renew is off), "GDAP" (`endDateTime`, `autoExtendDuration`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from reconciler.calendar.model import Calendar
from reconciler.calendar.model import Event
from reconciler.calendar.model import EventKind
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import SubscriptionOverride
from reconciler.live.lifecycle import ENDED_STATUSES
from reconciler.live.lifecycle import cancel_deadline
from reconciler.live.lifecycle import in_window
from reconciler.live.lifecycle import label
from reconciler.live.lifecycle import term_end_day
from reconciler.live.lifecycle import term_over
from reconciler.live.models import CustomerDetail
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import EntitlementType
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import moment
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.plan.model import GDAP_STEPS
from reconciler.plan.model import TENANT_STEPS
from reconciler.plan.model import Deferred
from reconciler.plan.planner import plan_declared
from reconciler.wording import listed
from reconciler.wording import plural

DEFAULT_DAYS = 90
# An event this close that the declared state contradicts is urgent.
URGENT_WITHIN = timedelta(days=7)
# A GDAP relationship ending this soon without auto-extend is a note in drift too.
GDAP_NOTICE = timedelta(days=30)
# Kinds whose term renews or runs out at its end (an Azure plan's has no end).
TERMED_KINDS = frozenset(
    {
        SubscriptionKind.NCE,
        SubscriptionKind.SOFTWARE,
        SubscriptionKind.SAAS,
        SubscriptionKind.LEGACY,
        SubscriptionKind.SAVINGS_PLAN,
    }
)
_TERMS = {"P1M": "a month", "P1Y": "a year", "P3Y": "three years"}


def make_calendar(desired: Desired, live: Live, now: datetime, days: int) -> Calendar:
    """Every event of the declared customers up to `days` from `now`, past-due ones too,
    sorted by date."""
    horizon = now + timedelta(days=days)
    events: list[Event] = []
    for customer in sorted(desired.customers.values(), key=lambda c: c.path):
        events += (e for e in customer_events(desired, live, customer, now) if e.when <= horizon)
    events.sort(key=lambda e: (e.when, e.customer, e.kind, e.target_id))
    unread = sorted(set(live.unreadable) & set(desired.customers))
    return Calendar(now, days, events, unread, warnings=_unknown_dates(desired, live))


def _unknown_dates(desired: Desired, live: Live) -> list[str]:
    """What the calendar cannot date, said rather than left out in silence."""
    warnings = []
    if live.gdap_unreadable is not None:
        warnings.append(
            f"GDAP relationships could not be read ({live.gdap_unreadable}): their end dates "
            "are not in this calendar"
        )
    absent = sorted(
        customer.path
        for cid, customer in desired.customers.items()
        if not customer.offboarding
        and cid not in live.unreadable
        and (
            (found := live.customers.get(cid)) is None
            or found.relationship != CustomerRelationship.RESELLER
        )
    )
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        warnings.append(
            f"no dates for {plural(len(absent), 'declared customer')} that Partner Center "
            f"does not list as the partner's reseller customers: {shown}"
        )
    return warnings


def customer_events(
    desired: Desired, live: Live, customer: DesiredCustomer, now: datetime
) -> Iterator[Event]:
    """One declared customer's events, whatever their date."""
    detail = live.details.get(customer.tenant_id, CustomerDetail())
    found = live.customers.get(customer.tenant_id)
    name = customer.name or (found.name if found else "") or customer.tenant_id
    at = _Customer(customer, name, now)
    for sub in detail.subscriptions:
        if sub.status not in ENDED_STATUSES:
            yield from at.subscription_events(sub)
    yield from at.reservation_events(detail)
    if customer.offboarding:  # only an offboarding defers a removal: no plan for the rest
        yield from at.removal_events(plan_declared(desired, live, customer, now).deferred)
    yield from at.gdap_events(live.gdap.get(customer.tenant_id, ()))


@dataclass(frozen=True)
class _Customer:
    customer: DesiredCustomer
    name: str
    now: datetime

    def event(
        self, when: datetime, kind: EventKind, target_id: str, target: str, action: str, **kw: bool
    ) -> Event:
        urgent = bool(kw.pop("contradicted", False)) and when - self.now <= URGENT_WITHIN
        return Event(
            when, kind, self.customer.tenant_id, self.name, target_id, target, action, urgent, **kw
        )

    # -- subscriptions ------------------------------------------------------------------

    def subscription_events(self, sub: Subscription) -> Iterator[Event]:
        deadline = cancel_deadline(sub)
        if deadline is not None and not sub.is_trial and in_window(sub, self.now):
            yield self.event(
                deadline,
                EventKind.CANCELLATION_WINDOW_CLOSES,
                sub.id,
                label(sub),
                f"cancel before {moment(deadline)} for a refund; after it, the term is paid "
                "to its end",
                contradicted=self.wants_cancelled(sub),
            )
        last_day, over = term_end_day(sub), term_over(sub)
        if last_day is None or over is None or sub.open_ended or sub.kind not in TERMED_KINDS:
            return
        if sub.kind is SubscriptionKind.SAVINGS_PLAN:
            yield self.event(
                _day(last_day),
                EventKind.SAVINGS_PLAN_ENDS,
                sub.id,
                label(sub),
                f"the savings plan runs out on {last_day}; it cannot be cancelled, and the "
                "customer's reseller relationship cannot be removed until then",
                all_day=True,
            )
            return
        yield from self.term_events(sub, last_day, over)

    def term_events(self, sub: Subscription, last_day: date, over: datetime) -> Iterator[Event]:
        renews = sub.auto_renew
        # Either way round: a term that renews though the file says stop, or one that
        # runs out though the file says keep it renewing.
        contradicted = self.wants_stopped(sub) if renews else self.wants_renewal(sub)
        # The term runs through its last day; the renewal begins at 00:00 UTC the next.
        by = f"by the end of {last_day} (UTC)"
        if sub.is_trial:
            action = (
                f"turn auto-renew off {by} or the trial converts into "
                f"{sub.quantity} paid {'seat' if sub.quantity == 1 else 'seats'}"
                if renews
                else f"the trial ends on {last_day} and is not converted"
            )
            yield self.event(
                _day(last_day),
                EventKind.TRIAL_CONVERTS if renews else EventKind.TERM_ENDS,
                sub.id,
                label(sub),
                action,
                renews=renews,
                all_day=True,
                contradicted=contradicted,
            )
            return
        term = _TERMS.get((sub.term_duration or "").upper(), "another term")
        yield self.event(
            _day(last_day),
            EventKind.TERM_ENDS,
            sub.id,
            label(sub),
            f"turn auto-renew off {by} or it renews for {term}"
            if renews
            else f"the term ends on {last_day} and does not renew",
            renews=renews,
            all_day=True,
            contradicted=contradicted,
        )
        if renews:
            yield self.event(
                _day(last_day),
                EventKind.RENEWAL_LOCK,
                sub.id,
                label(sub),
                f"make any change {by}: Partner Center renews from 00:00 UTC on "
                f"{over.date()}, for up to 24 hours, and may refuse changes meanwhile",
                all_day=True,
                contradicted=contradicted,
            )

    def wants_cancelled(self, sub: Subscription) -> bool:
        """The declared state wants this subscription gone: an offboarding, or declared
        cancelled."""
        declared = self.override(sub)
        return self.customer.offboarding or (
            declared is not None and declared.status is DesiredStatus.CANCELLED
        )

    def wants_stopped(self, sub: Subscription) -> bool:
        """The declared state does not want this subscription to renew."""
        declared = self.override(sub)
        return self.wants_cancelled(sub) or (
            declared is not None
            and (declared.auto_renew is False or declared.status is DesiredStatus.SUSPENDED)
        )

    def wants_renewal(self, sub: Subscription) -> bool:
        """The declared state wants this subscription to go on renewing."""
        declared = self.override(sub)
        return (
            not self.customer.offboarding and declared is not None and declared.auto_renew is True
        )

    def override(self, sub: Subscription) -> SubscriptionOverride | None:
        return next((o for o in self.customer.subscriptions if o.id == sub.id.lower()), None)

    # -- the rest -------------------------------------------------------------------------

    def reservation_events(self, detail: CustomerDetail) -> Iterator[Event]:
        for entitlement in detail.entitlements:
            if entitlement.type is not EntitlementType.RESERVED_INSTANCE:
                continue
            if entitlement.expires_at is None or entitlement.expires_at < self.now:
                continue
            orders = ", ".join(entitlement.artifact_ids) or entitlement.product_id
            yield self.event(
                entitlement.expires_at,
                EventKind.RESERVATION_ENDS,
                entitlement.artifact_ids[0] if entitlement.artifact_ids else entitlement.sku_id,
                f"Azure reservation {orders}",
                "the reservation runs out; until then it blocks removing the reseller "
                "relationship, and only Azure support can cancel it earlier",
            )

    def removal_events(self, deferred: list[Deferred]) -> Iterator[Event]:
        for item in deferred:
            if item.type is ActionType.REMOVE_RELATIONSHIP:
                yield self.event(
                    item.not_before,
                    EventKind.REMOVAL_DUE,
                    self.customer.tenant_id,
                    "reseller relationship",
                    "the removal becomes possible: the next `pcr apply` removes the reseller "
                    f"relationship{_before_removal(deferred)}",
                )

    def gdap_events(self, relationships: tuple[GdapRelationship, ...]) -> Iterator[Event]:
        for relationship in relationships:
            if relationship.status is not GdapStatus.ACTIVE or relationship.ends is None:
                continue
            extends = relationship.auto_extends
            yield self.event(
                relationship.ends,
                EventKind.GDAP_ENDS,
                relationship.id,
                f"GDAP relationship {relationship.name or relationship.id}",
                f"it auto-extends ({relationship.auto_extend}): nothing to do"
                if extends
                else "it ends without auto-extend and the partner's admin roles with it: "
                "extend it, or have the customer approve a new one, before then",
                renews=extends,
                contradicted=not extends and not self.customer.ends_gdap,
            )


def _before_removal(deferred: list[Deferred]) -> str:
    """The steps deferred with the removal, which go before it: in the customer's tenant,
    then on GDAP (", after 2 guest user removals and 1 GDAP termination")."""
    counts = Counter(d.type for d in deferred if d.type in TENANT_STEPS | GDAP_STEPS)
    steps = [plural(n, kind_of(kind).noun) for kind, n in counts.items()]
    return f", after {listed(steps)}" if steps else ""


def gdap_ends(
    customer: DesiredCustomer, relationships: Iterable[GdapRelationship], now: datetime
) -> list[Event]:
    """The `gdap_ends` events of a customer's GDAP relationships: drift's notes are these."""
    at = _Customer(customer, customer.name or customer.tenant_id, now)
    return list(at.gdap_events(tuple(relationships)))


def ends_soon_unextended(event: Event, now: datetime) -> bool:
    """A GDAP relationship that ends within GDAP_NOTICE (or should have ended already)
    without auto-extend: the partner's admin roles end with it."""
    return (
        event.kind is EventKind.GDAP_ENDS and not event.renews and event.when - now <= GDAP_NOTICE
    )


def _day(value: date) -> datetime:
    return datetime.combine(value, time(0), tzinfo=UTC)
