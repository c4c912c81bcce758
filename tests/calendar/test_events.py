"""The calendar's events, each on the date Partner Center's and Graph's fields give: the
window's close as `cancellationAllowedUntilDate` says, a term's end on its inclusive
`commitmentEndDate`, a deferred removal on the plan's own `not_before`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import timezone

from reconciler.calendar.events import make_calendar
from reconciler.calendar.model import Event
from reconciler.calendar.model import EventKind
from reconciler.desired.model import Cleanup
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import Relationship
from reconciler.desired.model import TenantCleanup
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.lifecycle import term_over
from reconciler.live.models import Live
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.read import read_partner_gdap
from tests.conftest import EXAMPLE
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import footprint
from tests.plan.builders import override
from tests.plan.builders import relationship
from tests.plan.builders import reserved_instance
from tests.plan.builders import sub
from tests.reading import clients_on
from tests.vanishing import example_desired

NCE, LEGACY = SubscriptionKind.NCE, SubscriptionKind.LEGACY


def on_day(moment: datetime | None) -> datetime:
    assert moment is not None
    return datetime.combine(moment.astimezone(UTC).date(), time(0), tzinfo=UTC)


def kinds_of(events: list[Event], target_id: str) -> dict[EventKind, Event]:
    return {e.kind: e for e in events if e.target_id == target_id}


def test_each_event_is_on_the_date_partner_center_gives() -> None:
    in_window = sub(NCE, window_days=3, term_end_days=365)
    renewing = sub(NCE, window_days=-30, term_end_days=20)
    lapsing = sub(NCE, window_days=-30, term_end_days=25, auto_renew=False)
    trial = sub(NCE, window_days=5, term_end_days=30, is_trial=True)
    stays = customer(relationship=Relationship.RESELLER)
    gdap_on = relationship(stays.tenant_id, ends_in_days=40, auto_extend="P180D")
    gdap_off = relationship(stays.tenant_id, ends_in_days=10)
    reservation = replace(reserved_instance("ro-7"), expires_at=NOW + timedelta(days=50))
    desired, live = estate(
        (stays, replace(detail(in_window, renewing, lapsing, trial), entitlements=(reservation,)))
    )
    live.gdap[stays.tenant_id] = (gdap_on, gdap_off)

    events = make_calendar(desired, live, NOW, days=400).events
    assert events == sorted(events, key=lambda e: e.when)

    window = kinds_of(events, in_window.id)
    assert window[EventKind.CANCELLATION_WINDOW_CLOSES].when == in_window.cancellation_allowed_until
    # commitmentEndDate is inclusive: the term's last day is its own date, and the renewal
    # starts the next day at 00:00 UTC.
    ends = kinds_of(events, renewing.id)
    assert ends[EventKind.TERM_ENDS].when == on_day(renewing.commitment_end)
    assert ends[EventKind.TERM_ENDS].renews is True
    assert ends[EventKind.RENEWAL_LOCK].when == on_day(renewing.commitment_end)
    assert str(term_over(renewing).date()) in ends[EventKind.RENEWAL_LOCK].action
    assert EventKind.CANCELLATION_WINDOW_CLOSES not in ends  # its window closed already

    lapses = kinds_of(events, lapsing.id)
    assert set(lapses) == {EventKind.TERM_ENDS}  # no renewal: nothing locks
    assert lapses[EventKind.TERM_ENDS].renews is False

    converts = kinds_of(events, trial.id)
    assert set(converts) == {EventKind.TRIAL_CONVERTS}  # a trial has no refund window
    assert converts[EventKind.TRIAL_CONVERTS].when == on_day(trial.commitment_end)
    assert "5 paid seats" in converts[EventKind.TRIAL_CONVERTS].action

    assert kinds_of(events, gdap_on.id)[EventKind.GDAP_ENDS].renews is True
    ending = kinds_of(events, gdap_off.id)[EventKind.GDAP_ENDS]
    assert (ending.when, ending.renews) == (gdap_off.ends, False)
    assert kinds_of(events, "ro-7")[EventKind.RESERVATION_ENDS].when == reservation.expires_at


def test_a_deferred_removal_is_due_on_the_plans_own_date() -> None:
    leaving = customer()  # relationship: none
    waiting = sub(NCE, window_days=-30, term_end_days=40, auto_renew=False)
    desired, live = estate((leaving, detail(waiting)))
    [due] = [
        e for e in make_calendar(desired, live, NOW, 90).events if e.kind is EventKind.REMOVAL_DUE
    ]
    assert due.when == term_over(waiting)  # the day after the inclusive end date
    assert due.target_id == leaving.tenant_id
    assert due.action.endswith("removes the reseller relationship")  # nothing goes before it


def test_a_deferred_removal_names_the_steps_deferred_with_it() -> None:
    everything = TenantCleanup(Cleanup.REMOVE, Cleanup.REMOVE, Cleanup.REMOVE)
    leaving = customer(tenant_cleanup=everything)
    waiting = sub(NCE, window_days=-30, term_end_days=40, auto_renew=False)
    desired, live = estate((leaving, detail(waiting)))
    live.gdap[leaving.tenant_id] = (relationship(leaving.tenant_id),)
    live.tenants[leaving.tenant_id] = footprint(guests=2, contacts=1, apps=1)
    [due] = [
        e for e in make_calendar(desired, live, NOW, 90).events if e.kind is EventKind.REMOVAL_DUE
    ]
    assert due.action == (
        "the removal becomes possible: the next `pcr apply` removes the reseller relationship, "
        "after 2 guest user removals, 1 contact removal, 1 partner app removal and 1 GDAP "
        "termination"
    )


def test_an_event_within_a_week_that_the_declared_state_contradicts_is_urgent() -> None:
    closing = sub(NCE, window_days=2, term_end_days=365)
    renews_soon = sub(NCE, window_days=-30, term_end_days=5)
    renews_later = sub(NCE, window_days=-30, term_end_days=20)
    wants_off = customer(
        relationship=Relationship.RESELLER,
        overrides=(
            override(closing.id, DesiredStatus.CANCELLED),
            override(renews_soon.id, auto_renew=False),
            override(renews_later.id, auto_renew=False),
        ),
    )
    content = sub(NCE, window_days=2, term_end_days=6)  # nothing declared: nothing contradicts
    steady = customer(relationship=Relationship.RESELLER)
    desired, live = estate(
        (wants_off, detail(closing, renews_soon, renews_later)), (steady, detail(content))
    )
    calendar = make_calendar(desired, live, NOW, 90)
    urgent = {(e.target_id, e.kind) for e in calendar.urgent}
    assert urgent == {
        (closing.id, EventKind.CANCELLATION_WINDOW_CLOSES),
        (renews_soon.id, EventKind.TERM_ENDS),
        (renews_soon.id, EventKind.RENEWAL_LOCK),
    }


def test_an_offboarding_whose_window_closes_this_week_is_urgent() -> None:
    closing = sub(NCE, window_days=3, term_end_days=365)
    leaving = customer()
    desired, live = estate((leaving, detail(closing)))
    [window] = [
        e
        for e in make_calendar(desired, live, NOW, 90).events
        if e.target_id == closing.id and e.kind is EventKind.CANCELLATION_WINDOW_CLOSES
    ]
    assert window.urgent


def test_the_window_is_the_days_asked_for_and_past_due_events_stay() -> None:
    soon = sub(LEGACY, term_end_days=10)
    far = sub(LEGACY, term_end_days=200)
    stays = customer(relationship=Relationship.RESELLER)
    overdue = relationship(stays.tenant_id, ends_in_days=-2)
    desired, live = estate((stays, detail(soon, far)))
    live.gdap[stays.tenant_id] = (overdue,)
    targets = {e.target_id for e in make_calendar(desired, live, NOW, 30).events}
    assert targets == {soon.id, overdue.id}
    assert far.id in {e.target_id for e in make_calendar(desired, live, NOW, 365).events}


def test_uids_are_the_same_for_the_same_event_and_new_when_its_date_moves() -> None:
    renewing = sub(NCE, window_days=-30, term_end_days=20)
    stays = customer(relationship=Relationship.RESELLER)
    desired, live = estate((stays, detail(renewing)))
    first = [e.uid for e in make_calendar(desired, live, NOW, 90).events]
    again = [e.uid for e in make_calendar(desired, live, NOW + timedelta(hours=5), 90).events]
    assert first == again and len(set(first)) == len(first)
    assert renewing.commitment_end is not None
    moved = replace(renewing, commitment_end=renewing.commitment_end + timedelta(days=365))
    desired, live = estate((stays, detail(moved)))
    assert not set(first) & {e.uid for e in make_calendar(desired, live, NOW, 400).events}


def test_ended_subscriptions_and_an_azure_plan_have_no_dates() -> None:
    # An Azure plan's term has no end: Partner Center's year 9999, not a date; and an
    # Azure plan is no termed kind even with a date.
    plan = replace(sub(SubscriptionKind.AZURE, term_end_days=3000), open_ended=True)
    dated_plan = sub(SubscriptionKind.AZURE, term_end_days=30)
    ended = sub(NCE, SubscriptionStatus.EXPIRED, window_days=2, term_end_days=30)
    stays = customer(relationship=Relationship.RESELLER)
    desired, live = estate((stays, detail(plan, dated_plan, ended)))
    assert make_calendar(desired, live, NOW, 4000).events == []


def test_urgency_keeps_to_its_week() -> None:
    eight = sub(NCE, window_days=-30, term_end_days=8)
    stops = customer(
        relationship=Relationship.RESELLER, overrides=(override(eight.id, auto_renew=False),)
    )
    desired, live = estate((stops, detail(eight)))
    assert not make_calendar(desired, live, NOW, 90).urgent  # its last day is 8 days off


def test_a_gdap_relationship_that_ends_unextended_is_urgent_only_where_the_file_keeps_it() -> None:
    stays = customer(relationship=Relationship.RESELLER)
    leaving = customer()  # relationship: none, gdap: terminate (the default)
    soon, extends = (
        relationship(stays.tenant_id, ends_in_days=3),
        relationship(stays.tenant_id, ends_in_days=3, auto_extend="P180D"),
    )
    ended_by_pcr = relationship(leaving.tenant_id, ends_in_days=3)
    desired, live = estate((stays, detail()), (leaving, detail()))
    live.gdap[stays.tenant_id] = (soon, extends)
    live.gdap[leaving.tenant_id] = (ended_by_pcr,)
    urgent = {e.target_id for e in make_calendar(desired, live, NOW, 90).urgent}
    assert urgent == {soon.id}


def test_a_term_that_runs_out_though_the_file_keeps_it_renewing_is_urgent() -> None:
    lapsing = sub(NCE, window_days=-30, term_end_days=4, auto_renew=False)
    keeps = customer(
        relationship=Relationship.RESELLER, overrides=(override(lapsing.id, auto_renew=True),)
    )
    desired, live = estate((keeps, detail(lapsing)))
    [ends] = make_calendar(desired, live, NOW, 90).events
    assert (ends.kind, ends.renews, ends.urgent) == (EventKind.TERM_ENDS, False, True)


def test_the_same_target_of_two_customers_gets_two_uids() -> None:
    first, second = customer(), customer()
    event = Event(NOW, EventKind.REMOVAL_DUE, first.tenant_id, "a", "same", "t", "x")
    other = Event(NOW, EventKind.REMOVAL_DUE, second.tenant_id, "b", "same", "t", "x")
    assert event.uid != other.uid
    east = Event(
        NOW.astimezone(timezone(timedelta(hours=14))),
        EventKind.REMOVAL_DUE,
        "c",
        "c",
        "t",
        "t",
        "x",
    )
    assert (
        east.when.tzinfo is UTC
        and east.uid == Event(NOW, EventKind.REMOVAL_DUE, "c", "c", "t", "t", "x").uid
    )


def test_what_cannot_be_dated_is_said() -> None:
    stays, gone = (
        customer(relationship=Relationship.RESELLER),
        customer(relationship=Relationship.RESELLER),
    )
    desired, live = estate((stays, detail()), (gone, None))
    del live.customers[gone.tenant_id]
    live.gdap_unreadable = "no Microsoft Graph client"
    warnings = make_calendar(desired, live, NOW, 90).warnings
    assert any("GDAP relationships could not be read" in w for w in warnings)
    assert any(gone.path in w and "1 declared customer" in w for w in warnings)
    assert not any(stays.path in w for w in warnings)


def test_a_scoped_read_asks_graph_for_its_own_customers_only() -> None:
    """A partner-wide listing pages through every customer's relationships; a scoped run
    (a pull request's one customer) asks for its customers' own."""
    state = FakeState(json.loads((EXAMPLE / "fake-state.json").read_text()))
    contoso, northwind = (
        "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b",
        "f86270b9-6fdb-4baa-965b-bffb2f7a52ec",
    )
    for name, cid in (("a", contoso), ("b", contoso), ("c", northwind), ("d", northwind)):
        state.add_gdap_relationship(cid, display_name=f"helpdesk {name}")
    state.gdap.set_page_size(1)
    desired = example_desired()
    scoped = Desired(desired.partner, {contoso: desired.customers[contoso]})
    with clients_on(FakePartnerCenter(state)) as clients:
        calls = {}
        for name, is_scoped in (("partner-wide", False), ("scoped", True)):
            live = Live()
            calls[name] = read_partner_gdap(clients, scoped, live, scoped=is_scoped)
            assert len(live.gdap[contoso]) == 2
    # A page a relationship, and the last page's link to an empty one.
    assert calls == {"partner-wide": 4 + 1, "scoped": 2 + 1}
