"""Properties of every plan, over generated estates."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import PartnerSettings
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Policy
from reconciler.desired.model import Relationship
from reconciler.desired.model import SubscriptionOverride
from reconciler.live.lifecycle import FINAL_KINDS
from reconciler.live.lifecycle import LIVE_STATUSES
from reconciler.live.lifecycle import WINDOWED_KINDS
from reconciler.live.lifecycle import in_window
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Live
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions import ActionType
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import guid
from tests.plan.builders import live_customer
from tests.plan.builders import override
from tests.plan.builders import sub

subscriptions = st.builds(
    sub,
    kind=st.sampled_from(list(SubscriptionKind)),
    status=st.sampled_from(list(SubscriptionStatus)),
    auto_renew=st.booleans(),
    window_days=st.sampled_from([-40.0, -1.0, 0.0, 0.5, 6.0]),
    term_end_days=st.sampled_from([-5.0, 3.0, 90.0, 400.0]),
)


@st.composite
def customers(draw: st.DrawFn) -> tuple[DesiredCustomer, CustomerDetail, bool]:
    subs = draw(st.lists(subscriptions, max_size=6))
    relationship = draw(st.sampled_from(list(Relationship)))
    protected = relationship is Relationship.RESELLER and draw(st.booleans())
    overrides: tuple[SubscriptionOverride, ...] = ()
    if relationship is Relationship.RESELLER and subs:
        chosen = draw(st.lists(st.sampled_from(subs), max_size=3, unique_by=lambda s: s.id))
        overrides = tuple(
            override(
                s.id,
                draw(st.sampled_from([None, *DesiredStatus])),
                draw(st.sampled_from([None, True, False])),
            )
            for s in chosen
        )
    c = customer(
        guid(),
        relationship,
        protected=protected,
        overrides=overrides,
        nce_outside_window=draw(st.sampled_from(list(NceOutsideWindow))),
    )
    domain_mismatch = draw(st.booleans()) and draw(st.booleans())
    return c, detail(*subs, ris=draw(st.sampled_from([0, 0, 0, 1, 2]))), domain_mismatch


@st.composite
def estates(draw: st.DrawFn) -> tuple[Desired, Live]:
    entries = draw(st.lists(customers(), min_size=1, max_size=6))
    partner = PartnerSettings(
        draw(st.sampled_from(list(PartnerType))), Policy(max_removals_per_run=3)
    )
    desired = Desired(partner, {c.tenant_id: c for c, _, _ in entries})
    live = Live()
    for c, d, mismatch in entries:
        domain = "someone-else.onmicrosoft.com" if mismatch else None
        live.customers[c.tenant_id] = live_customer(c, domain=domain)
        live.details[c.tenant_id] = d
    return desired, live


def removals(result: Plan) -> list[int]:
    return [i for i, a in enumerate(result.actions) if a.type is ActionType.REMOVE_RELATIONSHIP]


@settings(max_examples=300, deadline=None)
@given(estates(), st.sampled_from([timedelta(0), timedelta(days=3), timedelta(days=-2)]))
def test_removal_is_last_and_only_when_nothing_blocks(
    state: tuple[Desired, Live], shift: timedelta
) -> None:
    desired, live = state
    result = make_plan(desired, live, NOW + shift)
    now = NOW + shift
    for index in removals(result):
        remove = result.actions[index]
        cid = remove.customer_id
        earlier = {a.id: a for a in result.actions[:index]}
        # It never precedes an action it depends on, and it depends on all of its customer's.
        assert set(remove.depends_on) <= set(earlier)
        own = [a for a in result.actions if a.customer_id == cid and a is not remove]
        assert set(remove.depends_on) == {a.id for a in own}
        assert result.actions.index(remove) > max(
            (result.actions.index(a) for a in own), default=-1
        )
        # Nothing that would still block it remains after the planned actions.
        d = live.details[cid]
        assert not d.reserved_instances
        cancelled = {a.target_id for a in own if a.type is ActionType.CANCEL}
        suspended = {a.target_id for a in own if a.type is ActionType.SUSPEND}
        for s in d.subscriptions:
            assert s.status is not SubscriptionStatus.PENDING
            assert s.kind is not SubscriptionKind.UNKNOWN
            if s.kind in FINAL_KINDS:
                assert s.status not in LIVE_STATUSES  # a live savings plan always blocks
            elif s.kind in WINDOWED_KINDS:
                if s.status in LIVE_STATUSES:
                    assert s.id in cancelled
                    assert in_window(s, now)
            elif s.status is SubscriptionStatus.ACTIVE:
                assert s.id in suspended
        # Never for protected or domain-mismatched customers, never for indirect resellers.
        c = desired.customers[cid]
        assert not c.protected
        assert live.customers[cid].domain == c.domain
        assert desired.partner.type is not PartnerType.INDIRECT_RESELLER


@settings(max_examples=300, deadline=None)
@given(estates())
def test_guardrails_hold_for_every_action(state: tuple[Desired, Live]) -> None:
    desired, live = state
    result = make_plan(desired, live, NOW)
    for action in result.actions:
        c = desired.customers[action.customer_id]
        if action.destructive:
            assert not c.protected
            assert live.customers[c.tenant_id].domain == c.domain
        if c.relationship is Relationship.RESELLER:
            assert action.type is not ActionType.REMOVE_RELATIONSHIP
        if live.details[c.tenant_id].reserved_instances and c.offboarding:
            assert action.type is ActionType.DISABLE_AUTO_RENEW
    ids = [a.id for a in result.actions]
    assert len(ids) == len(set(ids)), "an action is planned twice"
    if result.removals > 3:
        assert result.exceeds_removal_limit


@settings(max_examples=150, deadline=None)
@given(estates())
def test_cancellations_only_inside_their_window(state: tuple[Desired, Live]) -> None:
    desired, live = state
    result = make_plan(desired, live, NOW)
    subs = {s.id: s for d in live.details.values() for s in d.subscriptions}
    for action in result.actions:
        if action.type is ActionType.CANCEL:
            s = subs[action.target_id]
            assert s.cancellation_allowed_until is not None
            assert s.cancellation_allowed_until >= NOW
            assert (
                result.expires_at is not None and result.expires_at <= s.cancellation_allowed_until
            )
