"""Drift and plan never disagree about what apply does: generated estates, checked customer
by customer.

The rule (also in `reconciler/drift/compare.py`'s docstring), for every declared customer:

- drift has a record that is not waiting, other than `name` and `domain` (identity: the
  plan only warns about those, or refuses through an error), exactly when the customer's
  part of the plan has an action, a blocked item, an error, or a deferred item whose date
  has passed (due);
- drift has a waiting record only where the plan has a deferred item that is not due,
  and only waiting records exactly when the plan has only such deferred items;
- drift has no record at all exactly when the plan has nothing for the customer;
- every "`pcr apply` <does X>" in a message is an action of that type in the plan, on the
  record's target (the removal: on the customer).

Estates mix every subscription kind and status (unknown ones too: fail closed), reserved
instances and savings plans (held back), add-ons, trials, Azure plans with Azure
subscriptions, terms already over (due), protected customers, domain and name
mismatches, missing and vanished customers, and indirect resellers; and, in the GDAP
estates, GDAP relationships in every status for every declared customer (as `pcr drift`
reads them), `gdap: terminate` and `keep`, and Graph that could not be read; and, in the
tenant estates, every clean-up choice, with the partner's guests, contacts and apps (pcr's
own app among them) read in the tenants that the offboarding may still enter, or not readable.

Drift explains with the plan that `pcr plan` makes, from GDAP read only where an
offboarding ends it (`diff.as_planned`). The one exception to the rule: GDAP, or a
customer's tenant, that could not be read at all is a blocked item in the plan, and a
warning in drift, where nothing else of the customer is left to show.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from datetime import timedelta

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.desired.model import Cleanup
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import GdapOffboarding
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Relationship
from reconciler.desired.model import TenantCleanup
from reconciler.drift.compare import as_planned
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftRecord
from reconciler.live.lifecycle import needs_gdap
from reconciler.live.lifecycle import needs_tenant_read
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import CustomerDetail
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan import actions
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.planner import CustomerPlan
from reconciler.plan.planner import make_plan
from reconciler.plan.planner import plan_declared
from tests.plan.builders import NOW
from tests.plan.builders import OWN_APP
from tests.plan.builders import azure_subscription
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import footprint
from tests.plan.builders import live_customer
from tests.plan.builders import override
from tests.plan.builders import relationship
from tests.plan.builders import sub

IDENTITY = frozenset({DriftKind.NAME, DriftKind.DOMAIN})
# Weighted to what estates hold, so that most customers get as far as a plan and its
# deferred items; the rarer kinds and statuses (unknown ones: fail closed) still come up.
KINDS = [SubscriptionKind.NCE] * 4 + [SubscriptionKind.LEGACY] * 2 + list(SubscriptionKind)
STATUSES = (
    [SubscriptionStatus.ACTIVE] * 5
    + [SubscriptionStatus.SUSPENDED] * 2
    + [
        SubscriptionStatus.DELETED,
        SubscriptionStatus.EXPIRED,
        SubscriptionStatus.PENDING,
        SubscriptionStatus.NONE,
        SubscriptionStatus.UNKNOWN,
    ]
)
# Terms already over (Partner Center still shows them live: due), ending soon, ending late.
TERM_ENDS = [-3, -1, 5, 200]


@st.composite
def subscriptions(draw: st.DrawFn) -> list[Subscription]:
    subs: list[Subscription] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(KINDS))
        parent = draw(st.sampled_from([None, *subs])) if subs else None
        s = sub(
            kind,
            draw(st.sampled_from(STATUSES)),
            auto_renew=draw(st.booleans()),
            window_days=draw(st.sampled_from([-30, 3])),
            term_end_days=draw(st.sampled_from(TERM_ENDS)),
            is_trial=draw(st.booleans()) and draw(st.booleans()),
            parent_id=parent.id if parent is not None else None,
        )
        if draw(st.integers(0, 19)) == 0:
            s = replace(s, unknowns=("billingCycle 'fortnightly'",))
        subs.append(s)
    return subs


@st.composite
def overrides_for(draw: st.DrawFn, subs: list[Subscription]) -> tuple[object, ...]:
    chosen = []
    for s in subs:
        status = draw(st.sampled_from([None, *DesiredStatus]))
        renew = draw(st.sampled_from([None, True, False]))
        if status is DesiredStatus.CANCELLED and renew:
            renew = None  # the validator refuses it
        if status is not None or renew is not None:
            chosen.append(override(s.id, status, renew))
    return tuple(chosen)


@st.composite
def one_customer(draw: st.DrawFn) -> tuple[DesiredCustomer, CustomerDetail, str]:
    """A declared customer, its live subscriptions, and how Partner Center lists it."""
    subs = draw(subscriptions())
    offboarding = draw(st.booleans())
    c = customer(
        relationship=Relationship.NONE if offboarding else Relationship.RESELLER,
        overrides=() if offboarding else draw(overrides_for(subs)),
        protected=draw(st.integers(0, 7)) == 0,
        nce_outside_window=draw(st.sampled_from(list(NceOutsideWindow))),
    )
    azure = tuple(
        azure_subscription(s, draw(st.sampled_from(list(AzureEntitlementStatus))))
        for s in subs
        if s.kind is SubscriptionKind.AZURE and draw(st.booleans())
    )
    ris = int(draw(st.integers(0, 7)) == 0)
    listed = draw(
        st.sampled_from(["reseller"] * 6 + ["domain", "name", "advisor", "missing", "vanished"])
    )
    return c, detail(*subs, ris=ris, azure=azure), listed


def list_as(live: Live, c: DesiredCustomer, listed: str) -> None:
    """Make Partner Center list the customer as the generator chose."""
    if listed == "domain":
        live.customers[c.tenant_id] = live_customer(c, domain="someone-else.onmicrosoft.com")
    elif listed == "name":
        live.customers[c.tenant_id] = replace(live.customers[c.tenant_id], name="Another Name")
    elif listed == "advisor":
        live.customers[c.tenant_id] = live_customer(c, relationship="advisor")
    elif listed in ("missing", "vanished"):
        del live.customers[c.tenant_id]
        live.details.pop(c.tenant_id, None)
        if listed == "vanished":
            live.vanished[c.tenant_id] = "404 while reading its subscriptions"


@st.composite
def estates(draw: st.DrawFn) -> tuple[Desired, Live]:
    cases = draw(st.lists(one_customer(), min_size=1, max_size=3))
    partner = draw(st.sampled_from([PartnerType.DIRECT] * 4 + [PartnerType.INDIRECT_RESELLER]))
    desired, live = estate(*((c, d) for c, d, _ in cases), partner_type=partner)
    for c, _, listed in cases:
        list_as(live, c, listed)
    return desired, live


# --- GDAP: every declared customer's relationships, as `pcr drift` reads them ------------

# Weighted to what estates hold; every status comes up, unknown ones too (fail closed).
GDAP_STATUSES = [GdapStatus.ACTIVE] * 4 + list(GdapStatus)


@st.composite
def gdap_of(draw: st.DrawFn, customer_id: str) -> tuple[GdapRelationship, ...]:
    relationships = []
    for _ in range(draw(st.integers(0, 2))):
        r = relationship(
            customer_id,
            draw(st.sampled_from(GDAP_STATUSES)),
            ends_in_days=draw(st.sampled_from([-1, 20, 400])),
            auto_extend=draw(st.sampled_from(["PT0S", "P180D"])),
        )
        if draw(st.integers(0, 19)) == 0:
            r = replace(r, unknowns=("endDateTime 'soon'",))
        relationships.append(r)
    return tuple(relationships)


@st.composite
def gdap_estates(draw: st.DrawFn) -> tuple[Desired, Live]:
    desired, live = draw(estates())
    for cid, c in list(desired.customers.items()):
        desired.customers[cid] = replace(c, gdap=draw(st.sampled_from(list(GdapOffboarding))))
        live.gdap[cid] = draw(gdap_of(cid))
    if draw(st.integers(0, 7)) == 0:  # no Graph credentials: nothing read
        live.gdap.clear()
        live.gdap_unreadable = "no Microsoft Graph credentials"
    return desired, live


# --- the tenant's clean-up: the partner's things, read where the offboarding may enter ----


@st.composite
def cleanup_choice(draw: st.DrawFn) -> TenantCleanup:
    choices = [Cleanup.REMOVE, Cleanup.KEEP, None]
    return TenantCleanup(*(draw(st.sampled_from(choices)) for _ in range(3)))


@st.composite
def tenant_estates(draw: st.DrawFn) -> tuple[Desired, Live]:
    desired, live = draw(gdap_estates())
    for cid, c in list(desired.customers.items()):
        desired.customers[cid] = replace(c, tenant_cleanup=draw(cleanup_choice()))
    live.own_app_id = OWN_APP
    for cid, c in desired.customers.items():
        if not needs_tenant_read(desired, c, live):  # as `read_tenants` reads them
            continue
        if draw(st.integers(0, 5)) == 0:
            live.tenants[cid] = replace(footprint(), unreadable="no GDAP role allows it")
            continue
        counts = (draw(st.integers(0, 2)) for _ in range(3))
        live.tenants[cid] = footprint(*counts, own_app=draw(st.booleans()))
    return desired, live


def for_customer(
    plan: Plan, part: CustomerPlan, cid: str, *, warned: frozenset[BlockedKind] = frozenset()
) -> dict[str, bool]:
    """What the plan has for the customer; `warned`: the blocked items that drift says in a
    warning instead (what could not be read: the one exception)."""
    due = [d for d in plan.deferred if d.customer_id == cid and d.due(plan.now)]
    return {
        "acts": any(a.customer_id == cid for a in plan.actions),
        "blocked": any(b.customer_id == cid and b.kind not in warned for b in plan.blocked),
        "errors": bool(part.errors),
        "due": bool(due),
        "waits": any(d.customer_id == cid and not d.due(plan.now) for d in plan.deferred),
    }


def warned(desired: Desired, live: Live, c: DesiredCustomer) -> frozenset[BlockedKind]:
    """What the plan needed and could not read, for a customer whose reseller relationship
    is gone: drift has nothing else of it to show, and says so in a warning (with nothing
    read, the plan's only blocked item of that kind is that one). GDAP that could not be
    read; the tenant, when no GDAP relationship is compared to carry its blocked item."""
    found = live.customers.get(c.tenant_id)
    if found is not None and found.relationship == "reseller":
        return frozenset()
    kinds = set()
    if needs_gdap(c) and c.tenant_id not in live.gdap:
        kinds.add(BlockedKind.GDAP)
    tenant = live.tenants.get(c.tenant_id)
    if tenant is not None and tenant.unreadable is not None and not live.gdap.get(c.tenant_id):
        kinds.add(BlockedKind.TENANT)
    return frozenset(kinds)


def said_by(record: DriftRecord) -> set[ActionType]:
    """The actions a message says apply carries out; no other "`pcr apply`" may be left."""
    said = {
        t
        for t, phrase in ((k.type, k.apply_says) for k in actions.KINDS)
        if phrase in record.message
    }
    rest = record.message
    for phrase in (k.apply_says for k in actions.KINDS):
        rest = rest.replace(phrase, "")
    assert "`pcr apply`" not in rest, record.message
    return said


def assert_agree(desired: Desired, live: Live, now: datetime = NOW) -> None:
    # The plan `pcr plan` makes: it reads GDAP only where an offboarding ends it.
    read_by_plan = as_planned(desired, live)
    plan = make_plan(desired, read_by_plan, now)
    report = drift(desired, live, now)
    for cid, c in desired.customers.items():
        # Drift explains each customer with its part of the plan, the one make_plan merges.
        part = plan_declared(desired, read_by_plan, c, now)
        assert part.actions == [a for a in plan.actions if a.customer_id == cid]
        excused = warned(desired, read_by_plan, c)
        if excused:
            assert report.warnings, "what could not be read is said"
        has = for_customer(plan, part, cid, warned=excused)
        records = [r for r in report.records if r.customer_id == cid]
        context = explain(has, part, records)
        acting = [r for r in records if not r.waiting and r.kind not in IDENTITY]
        changes = has["acts"] or has["blocked"] or has["errors"] or has["due"]
        assert bool(acting) == changes, context
        waiting = [r for r in records if r.waiting]
        if waiting:
            assert has["waits"], context
        only_waiting = bool(waiting) and not acting
        assert only_waiting == (has["waits"] and not changes), context
        identity = any(r.kind in IDENTITY for r in records)
        assert (not records) == (not any(has.values()) and not identity), context
        for record in records:
            assert_said_is_planned(record, plan)


def explain(has: dict[str, bool], part: CustomerPlan, records: list[DriftRecord]) -> str:
    """A failure's story, short enough to read."""
    lines = [str(has)]
    lines += [f"action {a.type} {a.target_id}" for a in part.actions]
    lines += [f"deferred {d.type} {d.not_before} {d.reason}" for d in part.deferred]
    lines += [f"blocked {b.kind}: {b.reason}" for b in part.blocked]
    lines += [f"error {e}" for e in part.errors]
    lines += [f"record {r.kind} {r.target_id} waiting={r.waiting}: {r.message}" for r in records]
    return "\n".join(lines)


def assert_said_is_planned(record: DriftRecord, plan: Plan) -> None:
    target = record.target_id.lower()
    for step in said_by(record):
        assert any(
            a.type is step
            and a.customer_id == record.customer_id
            and (step is ActionType.REMOVE_RELATIONSHIP or a.target_id.lower() == target)
            for a in plan.actions
        ), (record, plan.actions)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(estates())
def test_drift_waits_exactly_where_the_plan_only_waits(case: tuple[Desired, Live]) -> None:
    assert_agree(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates(), st.sampled_from([timedelta(days=2), timedelta(days=10), timedelta(days=400)]))
def test_they_agree_later_too(case: tuple[Desired, Live], later: timedelta) -> None:
    """The same estate, later: deferred dates pass and become due (never actions that
    Partner Center would refuse while it still shows the terms live)."""
    assert_agree(*case, NOW + later)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gdap_estates())
def test_gdap_drift_waits_exactly_where_the_plan_only_waits(case: tuple[Desired, Live]) -> None:
    assert_agree(*case)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gdap_estates(), st.sampled_from([timedelta(days=2), timedelta(days=10), timedelta(days=400)])
)
def test_gdap_drift_and_plan_agree_later_too(case: tuple[Desired, Live], later: timedelta) -> None:
    assert_agree(*case, NOW + later)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenant_estates())
def test_tenant_drift_waits_exactly_where_the_plan_only_waits(case: tuple[Desired, Live]) -> None:
    assert_agree(*case)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tenant_estates(), st.sampled_from([timedelta(days=2), timedelta(days=10), timedelta(days=400)])
)
def test_tenant_drift_and_plan_agree_later_too(
    case: tuple[Desired, Live], later: timedelta
) -> None:
    assert_agree(*case, NOW + later)
