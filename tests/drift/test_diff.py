"""Every drift rule on plain data: no I/O, `now` fixed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import Policy
from reconciler.desired.model import Relationship
from reconciler.desired.model import UnmanagedCustomers
from reconciler.drift.compare import cancellation_outlook
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.drift.model import to_dict
from reconciler.live.lifecycle import renewal_date
from reconciler.live.lifecycle import window_after
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import guid
from tests.plan.builders import live_customer
from tests.plan.builders import override
from tests.plan.builders import sub

NCE, LEGACY, SOFTWARE, AZURE = (
    SubscriptionKind.NCE,
    SubscriptionKind.LEGACY,
    SubscriptionKind.SOFTWARE,
    SubscriptionKind.AZURE,
)
ACTIVE, SUSPENDED, DELETED, EXPIRED = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.SUSPENDED,
    SubscriptionStatus.DELETED,
    SubscriptionStatus.EXPIRED,
)
RESELLER = Relationship.RESELLER


def kinds(report: DriftReport) -> list[tuple[DriftKind, str]]:
    return [(r.kind, r.target_id) for r in report.records]


def only(report: DriftReport) -> DriftRecord:
    assert len(report.records) == 1, report.records
    return report.records[0]


# --- customers ---------------------------------------------------------------------------


def test_a_converged_estate_has_no_drift() -> None:
    c = customer(relationship=RESELLER)
    desired, live = estate((c, None))
    report = drift(desired, live, NOW)
    assert report.records == []
    assert (report.checked, report.drifted, report.unmanaged) == (1, 0, 0)


def test_declared_customer_missing_from_partner_center() -> None:
    c = customer(relationship=RESELLER)
    desired, live = estate((c, None))
    del live.customers[c.tenant_id]
    record = only(drift(desired, live, NOW))
    assert (record.kind, record.target_id, record.desired, record.live) == (
        DriftKind.MISSING_CUSTOMER,
        c.tenant_id,
        "reseller",
        None,
    )
    assert "tenant_id" in record.message


def test_an_offboarded_customer_that_is_gone_is_converged() -> None:
    gone, advisor = customer(), customer()
    desired, live = estate((gone, None), (advisor, None))
    del live.customers[gone.tenant_id]
    live.customers[advisor.tenant_id] = live_customer(advisor, relationship="advisor")
    assert drift(desired, live, NOW).records == []


def test_undeclared_reseller_customers_are_unmanaged_unless_ignored() -> None:
    c = customer(relationship=RESELLER)
    stranger = Customer(guid(), "Stranger", "stranger.onmicrosoft.com", "reseller")
    advisor_only = Customer(guid(), "Advised", "advised.onmicrosoft.com", "advisor")
    desired, live = estate((c, None), extra_live=(stranger, advisor_only))
    record = only(drift(desired, live, NOW))
    assert (record.kind, record.target_id, record.desired, record.live) == (
        DriftKind.UNMANAGED_CUSTOMER,
        stranger.id,
        None,
        "reseller",
    )
    assert record.detail == {"name": "Stranger", "domain": "stranger.onmicrosoft.com"}

    ignoring = replace(
        desired,
        partner=replace(
            desired.partner, policy=Policy(unmanaged_customers=UnmanagedCustomers.IGNORE)
        ),
    )
    assert drift(ignoring, live, NOW).records == []


def test_unmanaged_customer_lists_its_subscriptions_when_they_were_read() -> None:
    stranger = Customer(guid(), "Stranger", "stranger.onmicrosoft.com", "reseller")
    desired, live = estate(extra_live=(stranger,))
    nce = sub(NCE, id=guid())
    live.details[stranger.id] = detail(nce)
    (subscription,) = only(drift(desired, live, NOW)).detail["subscriptions"]
    assert subscription["id"] == nce.id
    assert (subscription["kind"], subscription["status"], subscription["auto_renew"]) == (
        "nce",
        "active",
        True,
    )


def test_a_reseller_customer_without_the_relationship() -> None:
    c = customer(relationship=RESELLER)
    desired, live = estate((c, None))
    live.customers[c.tenant_id] = live_customer(c, relationship="advisor")
    record = only(drift(desired, live, NOW))
    assert (record.kind, record.desired, record.live) == (
        DriftKind.RELATIONSHIP,
        "reseller",
        "advisor",
    )
    assert "only the customer can accept" in record.message


def test_name_is_compared_without_surrounding_spaces_and_domain_without_case() -> None:
    same = customer(relationship=RESELLER, name="Contoso", domain="Contoso.onmicrosoft.com")
    other = customer(relationship=RESELLER, name="Contoso", domain="contoso.onmicrosoft.com")
    desired, live = estate((same, None), (other, None))
    live.customers[same.tenant_id] = Customer(
        same.tenant_id, "  Contoso ", "contoso.ONMICROSOFT.com", "reseller"
    )
    live.customers[other.tenant_id] = Customer(
        other.tenant_id, "Contoso Ltd", "fabrikam.onmicrosoft.com", "reseller"
    )
    report = drift(desired, live, NOW)
    assert [(r.customer_id, r.kind, r.desired, r.live) for r in report.records] == [
        (other.tenant_id, DriftKind.NAME, "Contoso", "Contoso Ltd"),
        (other.tenant_id, DriftKind.DOMAIN, "contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"),
    ]
    assert report.drifted == 1


def test_undeclared_name_and_domain_are_not_compared() -> None:
    c = customer(relationship=RESELLER, name=None, domain=None)
    desired, live = estate((c, None))
    live.customers[c.tenant_id] = Customer(c.tenant_id, "Anything", "any.example.com", "reseller")
    assert drift(desired, live, NOW).records == []


# --- subscription overrides ------------------------------------------------------------


def overrides_estate(
    *pairs: tuple[DesiredStatus | None, bool | None, Subscription],
) -> tuple[DriftReport, list[str]]:
    """One reseller customer with these (status, auto_renew, live subscription) overrides."""
    subs = [s for _, _, s in pairs]
    c = customer(
        relationship=RESELLER,
        overrides=tuple(override(s.id, status, renew) for status, renew, s in pairs),
    )
    desired, live = estate((c, detail(*subs)))
    return drift(desired, live, NOW), [s.id for s in subs]


def test_declared_status_differs() -> None:
    report, (i,) = overrides_estate((DesiredStatus.SUSPENDED, None, sub(LEGACY, ACTIVE)))
    record = only(report)
    assert (record.kind, record.target_id, record.desired, record.live) == (
        DriftKind.SUBSCRIPTION_STATUS,
        i,
        "suspended",
        "active",
    )
    assert record.target_name == "legacy offer (legacy)"


def test_ended_subscriptions_satisfy_suspended_and_cancelled() -> None:
    report, _ = overrides_estate(
        (DesiredStatus.SUSPENDED, None, sub(LEGACY, EXPIRED)),
        (DesiredStatus.CANCELLED, None, sub(NCE, DELETED)),
        (DesiredStatus.CANCELLED, None, sub(LEGACY, SUSPENDED)),  # deleted at term end
        (DesiredStatus.SUSPENDED, None, sub(NCE, SUSPENDED)),
        (DesiredStatus.ACTIVE, None, sub(NCE, ACTIVE)),
    )
    assert report.records == []


def test_a_suspended_nce_subscription_is_not_cancelled() -> None:
    report, (i,) = overrides_estate((DesiredStatus.CANCELLED, None, sub(NCE, SUSPENDED)))
    assert (only(report).desired, only(report).live) == ("cancelled", "suspended")


def test_an_ended_subscription_cannot_be_declared_active() -> None:
    report, _ = overrides_estate((DesiredStatus.ACTIVE, None, sub(NCE, DELETED)))
    record = only(report)
    assert (record.desired, record.live) == ("active", "deleted")
    assert "cannot be reactivated" in record.message


def test_declared_subscription_missing_from_partner_center() -> None:
    missing = guid()
    c = customer(relationship=RESELLER, overrides=(override(missing, DesiredStatus.SUSPENDED),))
    desired, live = estate((c, detail(sub(NCE))))
    record = only(drift(desired, live, NOW))
    assert (record.kind, record.target_id, record.desired, record.live) == (
        DriftKind.SUBSCRIPTION_MISSING,
        missing,
        "suspended",
        None,
    )


def test_auto_renew_is_compared_only_where_it_can_change() -> None:
    report, ids = overrides_estate(
        (None, False, sub(NCE, ACTIVE, auto_renew=True)),
        (None, False, sub(NCE, SUSPENDED, auto_renew=True)),  # a suspended one cannot be updated
        (DesiredStatus.SUSPENDED, False, sub(NCE, SUSPENDED, auto_renew=True)),
        (DesiredStatus.ACTIVE, True, sub(NCE, ACTIVE, auto_renew=True)),
    )
    record = only(report)
    assert (record.kind, record.target_id, record.desired, record.live) == (
        DriftKind.AUTO_RENEW,
        ids[0],
        False,
        True,
    )
    assert record.message == "`pcr apply` turns auto-renew off"


# --- renewal awareness -----------------------------------------------------------------------


def test_renewal_is_the_day_after_the_inclusive_commitment_end() -> None:
    s = replace(sub(NCE), commitment_end=datetime(2027, 2, 28, tzinfo=UTC))
    assert renewal_date(s) == datetime(2027, 3, 1, tzinfo=UTC)
    assert window_after(datetime(2027, 3, 1, tzinfo=UTC)) == datetime(
        2027, 3, 8, 23, 59, tzinfo=UTC
    )


def test_cancelled_outside_the_window_says_when_the_next_window_opens_and_closes() -> None:
    s = replace(
        sub(NCE, ACTIVE, auto_renew=True, window_days=-30),
        commitment_end=datetime(2027, 2, 28, tzinfo=UTC),
    )
    report, _ = overrides_estate((DesiredStatus.CANCELLED, None, s))
    record = only(report)
    assert record.detail == {
        "next_window_opens": "2027-03-01T00:00:00Z",
        "next_window_closes": "2027-03-08T23:59:00Z",
    }
    assert "renews on 2027-03-01" in record.message
    assert "closes 2027-03-08 23:59 UTC" in record.message


def test_without_auto_renew_it_just_ends() -> None:
    s = replace(
        sub(SOFTWARE, ACTIVE, auto_renew=False, window_days=-30),
        commitment_end=datetime(2027, 11, 18, tzinfo=UTC),
    )
    message, facts = cancellation_outlook(s, NOW)
    # commitmentEndDate is inclusive: the term's last day is the date Partner Center gives.
    assert facts == {"term_ends": "2027-11-18"}
    assert "its term ends 2027-11-18" in message


def test_inside_the_window_it_can_be_cancelled_now() -> None:
    s = sub(NCE, ACTIVE, window_days=2)
    message, facts = cancellation_outlook(s, NOW, {ActionType.CANCEL})
    assert facts == {"cancellable_until": "2026-11-24T09:00:00Z"}
    assert "`pcr apply` cancels it" in message
    # Without the plan's cancellation, drift never says that apply cancels it.
    message, _ = cancellation_outlook(s, NOW)
    assert "`pcr apply`" not in message
    assert message.startswith("it can be cancelled until 2026-11-24 09:00 UTC, but ")


# --- offboarding ------------------------------------------------------------------------------


def test_offboarding_customer_still_there_and_what_blocks_it() -> None:
    c = customer()
    nce_open = sub(NCE, ACTIVE, window_days=3)
    nce_closed = sub(NCE, ACTIVE, window_days=-30, term_end_days=40)
    legacy = sub(LEGACY, ACTIVE)
    legacy_done = sub(LEGACY, SUSPENDED)
    desired, live = estate((c, detail(nce_open, nce_closed, legacy, legacy_done)))
    report = drift(desired, live, NOW)
    by_kind = {(r.kind, r.target_id): r for r in report.records}
    assert set(by_kind) == {
        (DriftKind.RELATIONSHIP, c.tenant_id),
        (DriftKind.SUBSCRIPTION_STATUS, nce_open.id),
        (DriftKind.SUBSCRIPTION_STATUS, nce_closed.id),
        (DriftKind.SUBSCRIPTION_STATUS, legacy.id),
        (DriftKind.AUTO_RENEW, nce_closed.id),
    }
    relationship = by_kind[DriftKind.RELATIONSHIP, c.tenant_id]
    assert (relationship.desired, relationship.live) == ("none", "reseller")
    # The planner's own date: the NCE term that cannot be cancelled must run out first.
    # The term is over at the start of the day after the inclusive commitment end.
    term_over = (NOW + timedelta(days=41)).strftime("%Y-%m-%dT00:00:00Z")
    assert relationship.detail == {"removal": "deferred", "not_before": term_over}
    assert by_kind[DriftKind.SUBSCRIPTION_STATUS, nce_open.id].desired == "cancelled"
    assert by_kind[DriftKind.SUBSCRIPTION_STATUS, legacy.id].desired == "suspended"
    renewal = by_kind[DriftKind.AUTO_RENEW, nce_closed.id]
    assert (renewal.desired, renewal.live) == (False, True)
    assert report.records[0].kind is DriftKind.RELATIONSHIP  # the customer first


def test_a_suspended_nce_subscription_does_not_renew_so_auto_renew_is_not_compared() -> None:
    c = customer()
    suspended = sub(NCE, SUSPENDED, auto_renew=True, window_days=-30)
    desired, live = estate((c, detail(suspended)))
    assert kinds(drift(desired, live, NOW)) == [
        (DriftKind.RELATIONSHIP, c.tenant_id),
        (DriftKind.SUBSCRIPTION_STATUS, suspended.id),
    ]


def test_offboarding_blocked_by_a_reservation_says_so() -> None:
    c = customer()
    desired, live = estate((c, detail(ris=1)))
    record = only(drift(desired, live, NOW))
    assert record.detail["removal"] == "blocked"
    assert "reserved instance" in record.message


def test_offboarding_ready_to_remove_now() -> None:
    c = customer()
    desired, live = estate((c, detail(sub(LEGACY, SUSPENDED))))
    record = only(drift(desired, live, NOW))
    assert record.detail == {"removal": "now"}


# --- held back: what the plan does not do, drift does not promise -----------------------------


def by_target(report: DriftReport) -> dict[tuple[DriftKind, str], DriftRecord]:
    return {(r.kind, r.target_id): r for r in report.records}


def test_subscriptions_held_back_by_a_reserved_instance_say_so() -> None:
    c = customer()
    legacy, azure, nce = sub(LEGACY), sub(AZURE), sub(NCE, window_days=3)
    desired, live = estate((c, detail(legacy, azure, nce, ris=1)))
    records = by_target(drift(desired, live, NOW))
    for held in (legacy, azure, nce):
        record = records[DriftKind.SUBSCRIPTION_STATUS, held.id]
        assert "`pcr apply`" not in record.message
        assert record.message.startswith(
            "held back: nothing is suspended or cancelled for this customer while a person must "
            "act: 1 Azure reserved instance must be cancelled through Azure support"
        )
        assert not record.waiting


def test_subscriptions_held_back_by_a_savings_plan_say_so() -> None:
    c = customer()
    legacy = sub(LEGACY)
    desired, live = estate((c, detail(legacy, sub(SubscriptionKind.SAVINGS_PLAN))))
    record = by_target(drift(desired, live, NOW))[DriftKind.SUBSCRIPTION_STATUS, legacy.id]
    assert record.message.startswith("held back: ")
    assert "savings plan purchases are final" in record.message


def test_subscriptions_held_back_by_an_unknown_state_say_so() -> None:
    c = customer()
    legacy, odd = sub(LEGACY), sub(NCE, SubscriptionStatus.UNKNOWN)
    desired, live = estate((c, detail(legacy, odd)))
    records = by_target(drift(desired, live, NOW))
    for target in (legacy, odd):
        message = records[DriftKind.SUBSCRIPTION_STATUS, target.id].message
        assert message.startswith("held back: ")
        assert "which pcr does not know" in message
        assert "`pcr apply`" not in message


def test_a_guardrail_refusal_is_said_instead_of_what_apply_would_do() -> None:
    legacy = sub(LEGACY, id=guid())
    c = customer(
        relationship=RESELLER,
        protected=True,
        overrides=(override(legacy.id, DesiredStatus.SUSPENDED),),
    )
    desired, live = estate((c, detail(legacy)))
    record = only(drift(desired, live, NOW))
    assert record.message.startswith("refused by a guardrail: ")
    assert "protected: true" in record.message


def test_a_pending_subscription_is_blocked_in_the_plan_as_in_drift() -> None:
    pending = sub(NCE, SubscriptionStatus.PENDING, id=guid())
    c = customer(relationship=RESELLER, overrides=(override(pending.id, DesiredStatus.ACTIVE),))
    desired, live = estate((c, detail(pending)))
    assert "still pending" in only(drift(desired, live, NOW)).message
    (blocked,) = make_plan(desired, live, NOW).blocked
    assert blocked.kind is BlockedKind.PENDING


def test_a_blocked_item_about_one_subscription_leaves_the_others_records_alone() -> None:
    """Drift ties a blocked item to the records of what it is about (`Blocked.about`): the
    pending subscription's record is blocked; the other one, whose cancellation waits for
    its term, still waits."""
    pending = sub(NCE, SubscriptionStatus.PENDING, id=guid())
    later = sub(NCE, auto_renew=False, window_days=-30, term_end_days=40, id=guid())
    c = customer(
        relationship=RESELLER,
        overrides=(
            override(pending.id, DesiredStatus.ACTIVE),
            override(later.id, DesiredStatus.CANCELLED),
        ),
    )
    desired, live = estate((c, detail(pending, later)))
    by_target = {r.target_id: r for r in drift(desired, live, NOW).records}
    assert "still pending" in by_target[pending.id].message
    assert not by_target[pending.id].waiting
    assert by_target[later.id].waiting, by_target[later.id].message
    assert "pending" not in by_target[later.id].message


# --- waiting for a date, then due ----------------------------------------------------------------


def test_a_removal_waiting_for_its_term_is_waiting_drift() -> None:
    c = customer()
    nce = sub(NCE, auto_renew=False, window_days=-30, term_end_days=40)
    desired, live = estate((c, detail(nce)))
    report = drift(desired, live, NOW)
    assert [(r.kind, r.waiting) for r in report.records] == [
        (DriftKind.RELATIONSHIP, True),
        (DriftKind.SUBSCRIPTION_STATUS, True),
    ]
    assert not report.has_changes and report.has_drift
    assert to_dict(report)["summary"]["waiting"] == 2


def test_what_apply_still_does_is_not_waiting() -> None:
    c = customer()
    nce = sub(NCE, auto_renew=True, window_days=-30, term_end_days=40)
    desired, live = estate((c, detail(nce)))
    records = by_target(drift(desired, live, NOW))
    assert records[DriftKind.RELATIONSHIP, c.tenant_id].waiting
    status = records[DriftKind.SUBSCRIPTION_STATUS, nce.id]
    assert not status.waiting
    assert "`pcr apply` turns auto-renew off, so that this term is its last" in status.message
    assert not records[DriftKind.AUTO_RENEW, nce.id].waiting


def test_a_removal_past_its_date_is_due_drift() -> None:
    c = customer()
    nce = sub(NCE, auto_renew=False, window_days=-30, term_end_days=-1)
    desired, live = estate((c, detail(nce)))
    report = drift(desired, live, NOW)
    relationship, status = report.records
    assert not relationship.waiting and not status.waiting
    assert relationship.message.startswith("offboarding: removal due since ")
    assert f"Partner Center still shows nce offer (nce) {nce.id} active; plan again later" in (
        relationship.message
    )
    assert relationship.detail["removal"] == "due"
    assert status.message.startswith("its term ended ")
    assert report.has_changes


def test_a_cancellation_deferred_for_a_declared_subscription_waits_then_is_due() -> None:
    nce = sub(NCE, auto_renew=False, window_days=-30, term_end_days=40, id=guid())
    c = customer(relationship=RESELLER, overrides=(override(nce.id, DesiredStatus.CANCELLED),))
    desired, live = estate((c, detail(nce)))
    assert only(drift(desired, live, NOW)).waiting
    later = drift(desired, live, NOW + timedelta(days=42))
    assert not only(later).waiting
    assert "Partner Center still shows it active" in only(later).message


# --- the JSON contract ---------------------------------------------------------------------


def test_json_contract() -> None:
    c = customer(relationship=RESELLER, overrides=(override(guid(7), DesiredStatus.SUSPENDED),))
    stranger = Customer(guid(), "Stranger", "s.onmicrosoft.com", "reseller")
    desired, live = estate((c, detail(sub(LEGACY, ACTIVE, id=guid(7)))), extra_live=(stranger,))
    data = to_dict(drift(desired, live, NOW))
    assert data["format_version"] == 1
    assert data["summary"] == {
        "customers_checked": 1,
        "drifted": 1,
        "unmanaged": 1,
        "differences": 2,
        "waiting": 0,
        "api_calls": 0,
    }
    first = data["drift"][0]
    assert {k: first[k] for k in ("customer_id", "kind", "target_id", "desired", "live")} == {
        "customer_id": c.tenant_id,
        "kind": "subscription_status",
        "target_id": guid(7),
        "desired": "suspended",
        "live": "active",
    }
    assert first["waiting"] is False
    assert data["drift"][1]["kind"] == "unmanaged_customer"  # unmanaged customers last
    assert data["customers"][stranger.id] == {"name": "Stranger", "file": ""}


# --- drift and plan agree -------------------------------------------------------------------

statuses = st.sampled_from([ACTIVE, SUSPENDED, DELETED, EXPIRED])
wanted = st.sampled_from([None, *DesiredStatus])
subscription_kinds = st.sampled_from(list(SubscriptionKind))


@st.composite
def one_customer(draw: st.DrawFn) -> tuple[DesiredCustomer, CustomerDetail]:
    count = draw(st.integers(0, 4))
    subs = [
        sub(
            draw(subscription_kinds),
            draw(statuses),
            auto_renew=draw(st.booleans()),
            window_days=draw(st.sampled_from([-30, 3])),
            term_end_days=draw(st.sampled_from([5, 200])),
        )
        for _ in range(count)
    ]
    offboarding = draw(st.booleans())
    overrides = []
    if not offboarding:
        for s in subs:
            status, renew = draw(wanted), draw(st.sampled_from([None, True, False]))
            if status is DesiredStatus.CANCELLED and renew:
                renew = None  # the validator refuses it
            if status is not None or renew is not None:
                overrides.append(override(s.id, status, renew))
    c = customer(
        relationship=Relationship.NONE if offboarding else RESELLER, overrides=tuple(overrides)
    )
    return c, detail(*subs)


@settings(max_examples=300, deadline=None)
@given(one_customer())
def test_no_drift_exactly_when_the_plan_has_nothing_to_do(
    case: tuple[DesiredCustomer, CustomerDetail],
) -> None:
    desired, live = estate(case)
    planned = make_plan(desired, live, NOW)
    report = drift(desired, live, NOW)
    # Deferred and blocked items are not changes, but drift shows what they are about.
    nothing_at_all = planned.is_empty and not planned.errors
    assert nothing_at_all == (not report.has_drift), (planned, report.records)
