"""Every planning rule on plain data: no I/O, `now` fixed."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta

from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Relationship
from reconciler.desired.model import UnmanagedCustomers
from reconciler.live.lifecycle import term_over
from reconciler.live.models import Customer
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.model import RefusalKind
from reconciler.plan.planner import make_plan
from reconciler.render import render
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
ACTIVE, SUSPENDED = SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED


def types(result: Plan) -> list[tuple[ActionType, str]]:
    return [(a.type, a.target_id) for a in result.actions]


# --- offboarding --------------------------------------------------------------------------


def test_legacy_subscriptions_are_suspended_then_relationship_removed() -> None:
    c = customer()
    a, b = sub(LEGACY), sub(LEGACY)
    done = sub(LEGACY, SUSPENDED)
    result = make_plan(*estate((c, detail(a, b, done))), NOW)
    assert types(result)[:2] == sorted(
        [(ActionType.SUSPEND, a.id), (ActionType.SUSPEND, b.id)], key=lambda t: t[1]
    )
    remove = result.actions[-1]
    assert remove.type is ActionType.REMOVE_RELATIONSHIP
    assert remove.irreversible
    assert set(remove.depends_on) == {x.id for x in result.actions[:-1]}
    assert len(result.actions) == 3
    assert not result.errors and not result.deferred and not result.blocked


def test_nothing_left_means_just_the_removal() -> None:
    c = customer()
    result = make_plan(*estate((c, detail(sub(LEGACY, SubscriptionStatus.DELETED)))), NOW)
    assert types(result) == [(ActionType.REMOVE_RELATIONSHIP, c.tenant_id)]
    assert result.actions[0].depends_on == ()


def test_nce_inside_window_is_cancelled() -> None:
    c = customer()
    s = sub(NCE, window_days=3)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result) == [
        (ActionType.CANCEL, s.id),
        (ActionType.REMOVE_RELATIONSHIP, c.tenant_id),
    ]
    assert result.expires_at == s.cancellation_allowed_until
    # The deadline is the step's own fact; the plan's expiry is the earliest of them.
    assert [a.deadline for a in result.actions] == [s.cancellation_allowed_until, None]


def test_the_plan_expires_with_its_earliest_window_and_a_trial_has_none() -> None:
    c = customer()
    soon, later = sub(NCE, window_days=1), sub(NCE, window_days=5)
    trial = sub(NCE, window_days=2, is_trial=True)
    result = make_plan(*estate((c, detail(later, trial, soon))), NOW)
    deadlines = {a.target_id: a.deadline for a in result.actions}
    assert deadlines[later.id] == later.cancellation_allowed_until
    assert deadlines[soon.id] == soon.cancellation_allowed_until
    assert deadlines[trial.id] is None and deadlines[c.tenant_id] is None
    assert result.expires_at == soon.cancellation_allowed_until


def test_window_boundary_is_inclusive() -> None:
    c = customer()
    s = sub(NCE, window_days=0)  # closes exactly now
    assert types(make_plan(*estate((c, detail(s))), NOW))[0] == (ActionType.CANCEL, s.id)
    later = make_plan(*estate((c, detail(s))), NOW + timedelta(seconds=1))
    assert (ActionType.CANCEL, s.id) not in types(later)


def test_suspended_nce_inside_window_is_cancelled_too() -> None:
    c = customer()
    s = sub(NCE, SUSPENDED, auto_renew=False, window_days=2)
    assert types(make_plan(*estate((c, detail(s))), NOW))[0] == (ActionType.CANCEL, s.id)


def test_nce_outside_window_waits_for_term_end() -> None:
    c = customer()
    s = sub(NCE, window_days=-10, term_end_days=40)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result) == [(ActionType.DISABLE_AUTO_RENEW, s.id)]
    [deferred] = result.deferred
    assert deferred.type is ActionType.REMOVE_RELATIONSHIP
    assert s.commitment_end is not None
    # commitmentEndDate is an inclusive date: the relationship can go the next day.
    assert deferred.not_before == datetime.combine(
        s.commitment_end.date() + timedelta(days=1), time(0), tzinfo=UTC
    )
    assert result.expires_at is None
    assert not result.warnings


def test_deferred_removal_waits_for_the_latest_term() -> None:
    c = customer()
    early, late = sub(NCE, term_end_days=10), sub(NCE, term_end_days=200)
    result = make_plan(*estate((c, detail(early, late))), NOW)
    assert late.commitment_end is not None
    assert result.deferred[0].not_before == term_over(late)
    assert term_over(late) > term_over(early)  # type: ignore[operator]


def test_nce_outside_window_with_auto_renew_already_off_plans_nothing_now() -> None:
    c = customer()
    s = sub(NCE, auto_renew=False)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert result.actions == []
    assert len(result.deferred) == 1


def test_suspend_policy_suspends_and_warns_about_billing() -> None:
    c = customer(nce_outside_window=NceOutsideWindow.SUSPEND)
    s = sub(NCE)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result) == [(ActionType.DISABLE_AUTO_RENEW, s.id), (ActionType.SUSPEND, s.id)]
    assert any("does not stop billing" in w for w in result.warnings)
    assert result.deferred[0].type is ActionType.REMOVE_RELATIONSHIP


def test_nce_window_mix_cancels_some_and_defers_removal() -> None:
    c = customer()
    fresh, old, legacy = sub(NCE, window_days=5), sub(NCE), sub(LEGACY)
    result = make_plan(*estate((c, detail(legacy, old, fresh))), NOW)
    kinds = [a.type for a in result.actions]
    assert ActionType.CANCEL in kinds and ActionType.SUSPEND in kinds
    assert ActionType.REMOVE_RELATIONSHIP not in kinds
    assert [d.type for d in result.deferred] == [ActionType.REMOVE_RELATIONSHIP]


def test_order_is_nce_then_software_then_legacy() -> None:
    c = customer()
    legacy, software, nce = sub(LEGACY), sub(SOFTWARE, window_days=2), sub(NCE, window_days=2)
    result = make_plan(*estate((c, detail(legacy, software, nce))), NOW)
    assert [t for t, _ in types(result)] == [
        ActionType.CANCEL,
        ActionType.CANCEL,
        ActionType.SUSPEND,
        ActionType.REMOVE_RELATIONSHIP,
    ]
    assert [a.target_id for a in result.actions[:3]] == [nce.id, software.id, legacy.id]


def test_software_inside_window_is_cancelled() -> None:
    c = customer()
    s = sub(SOFTWARE, window_days=4)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result) == [
        (ActionType.CANCEL, s.id),
        (ActionType.REMOVE_RELATIONSHIP, c.tenant_id),
    ]


def test_software_outside_window_blocks() -> None:
    c = customer()
    s = sub(SOFTWARE, window_days=-3)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert ActionType.REMOVE_RELATIONSHIP not in [a.type for a in result.actions]
    assert not result.deferred
    [blocked] = result.blocked
    assert "can no longer be cancelled" in blocked.reason
    assert blocked.manual_steps


def test_azure_plan_is_suspended() -> None:
    c = customer()
    s = sub(AZURE)
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result)[0] == (ActionType.SUSPEND, s.id)
    assert "Azure plan" in result.actions[0].reason


def test_reserved_instance_blocks_with_order_ids_and_nothing_irreversible() -> None:
    c = customer()
    fresh, old, legacy = sub(NCE, window_days=5), sub(NCE), sub(LEGACY)
    result = make_plan(*estate((c, detail(fresh, old, legacy, ris=2))), NOW)
    assert {a.type for a in result.actions} == {ActionType.DISABLE_AUTO_RENEW}
    assert all("preparatory" in a.reason or "renewing" in a.reason for a in result.actions)
    assert not result.deferred
    [blocked] = result.blocked
    assert "Azure reserved instance" in blocked.reason
    assert "ro-0, ro-1" in blocked.manual_steps[0]
    assert "Azure support" in blocked.manual_steps[0]
    held = blocked.manual_steps[-1]
    assert fresh.id in held and legacy.id in held and "refund" in held


def test_pending_subscription_blocks_removal() -> None:
    c = customer()
    result = make_plan(*estate((c, detail(sub(LEGACY, SubscriptionStatus.PENDING)))), NOW)
    assert result.actions == []
    assert "pending" in result.blocked[0].reason


def test_already_removed_customer_is_converged() -> None:
    c = customer()
    desired, live = estate((c, None))
    del live.customers[c.tenant_id]
    result = make_plan(desired, live, NOW)
    assert result.is_empty and not result.errors


# --- customers that stay -----------------------------------------------------------------


def test_steady_customer_has_no_changes() -> None:
    c = customer(relationship=Relationship.RESELLER)
    result = make_plan(*estate((c, None)), NOW)
    assert result.is_empty
    assert result.customer_ids() == []


def test_overrides_suspend_reactivate_and_auto_renew() -> None:
    to_suspend, to_wake, renew_off, renew_on = (
        sub(LEGACY),
        sub(LEGACY, SUSPENDED),
        sub(NCE, auto_renew=True),
        sub(NCE, auto_renew=False),
    )
    untouched = sub(NCE)
    c = customer(
        relationship=Relationship.RESELLER,
        overrides=(
            override(to_suspend.id, DesiredStatus.SUSPENDED),
            override(to_wake.id, DesiredStatus.ACTIVE),
            override(renew_off.id, auto_renew=False),
            override(renew_on.id, auto_renew=True),
        ),
    )
    result = make_plan(
        *estate((c, detail(to_suspend, to_wake, renew_off, renew_on, untouched))), NOW
    )
    assert types(result) == [
        (ActionType.SUSPEND, to_suspend.id),
        (ActionType.REACTIVATE, to_wake.id),
        (ActionType.DISABLE_AUTO_RENEW, renew_off.id),
        (ActionType.ENABLE_AUTO_RENEW, renew_on.id),
    ]


def test_override_already_converged_plans_nothing() -> None:
    s = sub(LEGACY, SUSPENDED)
    c = customer(
        relationship=Relationship.RESELLER, overrides=(override(s.id, DesiredStatus.SUSPENDED),)
    )
    assert make_plan(*estate((c, detail(s))), NOW).is_empty


def test_suspending_nce_override_warns_about_billing() -> None:
    s = sub(NCE)
    c = customer(
        relationship=Relationship.RESELLER, overrides=(override(s.id, DesiredStatus.SUSPENDED),)
    )
    result = make_plan(*estate((c, detail(s))), NOW)
    assert types(result) == [(ActionType.SUSPEND, s.id)]
    assert "still billed" in result.warnings[0]


def test_cancel_override_follows_window_rules() -> None:
    inside, outside, legacy = sub(NCE, window_days=1), sub(NCE, term_end_days=20), sub(LEGACY)
    c = customer(
        relationship=Relationship.RESELLER,
        overrides=tuple(override(s.id, DesiredStatus.CANCELLED) for s in (inside, outside, legacy)),
    )
    result = make_plan(*estate((c, detail(inside, outside, legacy))), NOW)
    assert types(result) == [
        (ActionType.CANCEL, inside.id),
        (ActionType.DISABLE_AUTO_RENEW, outside.id),
        (ActionType.SUSPEND, legacy.id),
    ]
    [deferred] = result.deferred
    assert deferred.type is ActionType.CANCEL and deferred.target_id == outside.id
    assert result.expires_at == inside.cancellation_allowed_until


def test_reactivating_a_deleted_subscription_is_blocked() -> None:
    s = sub(LEGACY, SubscriptionStatus.DELETED)
    c = customer(
        relationship=Relationship.RESELLER, overrides=(override(s.id, DesiredStatus.ACTIVE),)
    )
    result = make_plan(*estate((c, detail(s))), NOW)
    assert result.actions == []
    assert "cannot be reactivated" in result.blocked[0].reason


def test_unknown_subscription_override_is_an_error() -> None:
    c = customer(
        relationship=Relationship.RESELLER, overrides=(override(guid(), DesiredStatus.SUSPENDED),)
    )
    result = make_plan(*estate((c, detail(sub(LEGACY)))), NOW)
    assert "is not one of this customer's subscriptions" in result.errors[0]
    assert result.errors[0].startswith("customers/x.yaml:7:5")


def test_reseller_declared_but_relationship_gone_is_blocked() -> None:
    c = customer(relationship=Relationship.RESELLER)
    desired, live = estate((c, None))
    live.customers[c.tenant_id] = live_customer(c, relationship="none")
    result = make_plan(desired, live, NOW)
    [blocked] = result.blocked
    assert "only the customer can accept" in blocked.reason
    assert any("Request a reseller relationship" in s for s in blocked.manual_steps)


def test_declared_customers_missing_from_live_are_each_a_blocked_item() -> None:
    a, b = (
        customer(relationship=Relationship.RESELLER),
        customer(relationship=Relationship.RESELLER),
    )
    desired, live = estate((a, None), (b, None))
    live.customers.clear()
    live.relationship_request_url = "https://admin.microsoft.com/invite"
    result = make_plan(desired, live, NOW)
    assert result.errors == []  # one customer's typo never fails everyone's plan
    assert [(x.customer_id, x.kind) for x in result.blocked] == [
        (c.tenant_id, BlockedKind.MISSING_CUSTOMER) for c in sorted((a, b), key=lambda c: c.path)
    ]
    for item in result.blocked:
        assert "typo" in item.reason
        assert "https://admin.microsoft.com/invite" in item.manual_steps[0]


def test_unmanaged_customers_are_reported_never_changed() -> None:
    stranger = Customer(guid(), "Alpine Ski House", "alpine.onmicrosoft.com", "reseller")
    c = customer(relationship=Relationship.RESELLER)
    desired, live = estate((c, None), extra_live=(stranger,))
    result = make_plan(desired, live, NOW)
    assert result.unmanaged == [stranger.id]
    assert stranger.id not in result.customer_ids()
    ignoring = desired.partner.__class__(
        desired.partner.type,
        desired.partner.policy.__class__(unmanaged_customers=UnmanagedCustomers.IGNORE),
    )
    quiet = make_plan(desired.__class__(ignoring, desired.customers), live, NOW)
    assert quiet.unmanaged == []


# --- guardrails ----------------------------------------------------------------------------


def test_name_mismatch_is_a_warning() -> None:
    c = customer(relationship=Relationship.RESELLER, name="Contoso Ltd")
    desired, live = estate((c, None))
    live.customers[c.tenant_id] = Customer(c.tenant_id, "Contoso GmbH", c.domain or "", "reseller")
    result = make_plan(desired, live, NOW)
    assert "differs from Partner Center's 'Contoso GmbH'" in result.warnings[0]
    assert not result.errors


def test_domain_mismatch_refuses_destructive_actions() -> None:
    c = customer(domain="contoso.onmicrosoft.com")
    desired, live = estate((c, detail(sub(LEGACY), sub(NCE))))
    live.customers[c.tenant_id] = live_customer(c, domain="fabrikam.onmicrosoft.com")
    result = make_plan(desired, live, NOW)
    assert all(not a.destructive for a in result.actions)
    assert not result.deferred
    assert "does not match Partner Center's 'fabrikam.onmicrosoft.com'" in result.errors[0]
    assert c.path in result.errors[0]


def test_domain_mismatch_without_destructive_work_is_a_warning() -> None:
    c = customer(relationship=Relationship.RESELLER)
    desired, live = estate((c, None))
    live.customers[c.tenant_id] = live_customer(c, domain="other.onmicrosoft.com")
    result = make_plan(desired, live, NOW)
    assert not result.errors
    assert "does not match" in result.warnings[0]


def test_domain_compare_ignores_case() -> None:
    c = customer(domain="Contoso.OnMicrosoft.com")
    desired, live = estate((c, detail()))
    live.customers[c.tenant_id] = live_customer(c, domain="contoso.onmicrosoft.com")
    assert not make_plan(desired, live, NOW).errors


def test_protected_customer_refuses_destructive_overrides() -> None:
    s, renew = sub(NCE, window_days=2), sub(NCE)
    c = customer(
        relationship=Relationship.RESELLER,
        protected=True,
        overrides=(override(s.id, DesiredStatus.CANCELLED), override(renew.id, auto_renew=False)),
    )
    result = make_plan(*estate((c, detail(s, renew))), NOW)
    assert types(result) == [(ActionType.DISABLE_AUTO_RENEW, renew.id)]
    assert "protected" in result.errors[0] and c.path in result.errors[0]
    assert "cancel_subscription" in result.errors[0]
    [refusal] = result.refusals
    assert (refusal.kind, refusal.customer_id, refusal.refused) == (
        RefusalKind.PROTECTED,
        c.tenant_id,
        ("cancel_subscription",),
    )


def test_indirect_reseller_cannot_remove() -> None:
    c = customer()
    result = make_plan(
        *estate((c, detail(sub(LEGACY))), partner_type=PartnerType.INDIRECT_RESELLER), NOW
    )
    assert ActionType.REMOVE_RELATIONSHIP not in [a.type for a in result.actions]
    assert "ask your indirect provider" in result.errors[0]


def test_indirect_reseller_deferred_removal_is_refused_too() -> None:
    c = customer()
    result = make_plan(
        *estate((c, detail(sub(NCE))), partner_type=PartnerType.INDIRECT_RESELLER), NOW
    )
    assert not result.deferred
    assert result.errors


def test_removal_limit_is_said_prominently() -> None:
    pairs = [(customer(), detail()) for _ in range(3)]
    result = make_plan(*estate(*pairs, max_removals=2), NOW)
    assert result.removals == 3 and result.exceeds_removal_limit
    assert result.max_removals == 2
    text = render(result, "text")
    assert "max_removals_per_run" in text.split("Contoso")[0], "said before the customers"


def test_fingerprint_changes_with_the_facts_it_depends_on() -> None:
    c = customer()
    s = sub(LEGACY)
    desired, live = estate((c, detail(s)))
    first = make_plan(desired, live, NOW).live_fingerprint
    assert first == make_plan(desired, live, NOW + timedelta(hours=1)).live_fingerprint
    live.details[c.tenant_id] = detail(sub(LEGACY, SUSPENDED, id=s.id))
    assert make_plan(desired, live, NOW).live_fingerprint != first


def test_fingerprint_ignores_unmanaged_customers() -> None:
    c = customer()
    desired, live = estate((c, detail()))
    first = make_plan(desired, live, NOW).live_fingerprint
    live.customers[guid()] = Customer(guid(), "New", "new.onmicrosoft.com", "reseller")
    assert make_plan(desired, live, NOW).live_fingerprint == first


def test_api_calls_are_carried_into_the_plan() -> None:
    desired, live = estate((customer(), detail()))
    live.api_calls = 7
    assert make_plan(desired, live, NOW).api_calls == 7


def test_removal_limit_refuses_the_plan_itself() -> None:
    pairs = [(customer(), detail()) for _ in range(3)]
    result = make_plan(*estate(*pairs, max_removals=2), NOW)
    assert result.errors == [
        "the plan removes 3 reseller relationships, more than max_removals_per_run (2): "
        "offboard fewer customers per change"
    ]
    [refusal] = result.refusals
    assert (refusal.kind, refusal.customer_id, refusal.refused) == (
        RefusalKind.REMOVAL_LIMIT,
        "",
        ("remove_relationship",),
    )
    assert result.exceeds_removal_limit
    within = make_plan(*estate(*pairs, max_removals=3), NOW)
    assert within.errors == []
