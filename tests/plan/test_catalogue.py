"""The product catalogue in the plan: each kind gets its own rules, in the documented order,
with what it does to the partner's bill on the row (docs/partner-center.md: "Cancelling and
changing", "Refunds and billing", "Trials", "Add-ons", "Azure subscriptions")."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from reconciler.desired.model import NceOutsideWindow
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import OrderLineItem
from reconciler.live.models import SubscriptionKind
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Billing
from reconciler.plan.actions import Refund
from reconciler.plan.model import Action
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.model import to_dict
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import azure_subscription
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import guid
from tests.plan.builders import sub

NCE, LEGACY, AZURE = SubscriptionKind.NCE, SubscriptionKind.LEGACY, SubscriptionKind.AZURE
SAAS, PERPETUAL = SubscriptionKind.SAAS, SubscriptionKind.PERPETUAL_SOFTWARE
SAVINGS_PLAN = SubscriptionKind.SAVINGS_PLAN


def plan_of(*subs: object, **details: object) -> Plan:
    leaving = detail(*subs, **details)  # type: ignore[arg-type]
    return make_plan(*estate((customer(), leaving)), NOW)


def steps(plan: Plan) -> list[tuple[ActionType, str]]:
    return [(a.type, a.target_id) for a in plan.actions]


def action(plan: Plan, kind: ActionType, target: str) -> Action:
    return next(a for a in plan.actions if a.type is kind and a.target_id == target)


# --- Azure plan: its Azure subscriptions first ---------------------------------------------


def test_an_azure_plan_converges_in_the_documented_order() -> None:
    plan_sub = sub(AZURE)
    first, second = azure_subscription(plan_sub), azure_subscription(plan_sub)
    gone = azure_subscription(plan_sub, AzureEntitlementStatus.INACTIVE)
    plan = plan_of(plan_sub, azure=(first, second, gone))
    cancel = ActionType.CANCEL_AZURE_ENTITLEMENT
    assert steps(plan)[:3] == [
        (cancel, first.id),
        (cancel, second.id),
        (ActionType.SUSPEND, plan_sub.id),
    ]
    assert steps(plan)[3][0] is ActionType.REMOVE_RELATIONSHIP
    suspend = action(plan, ActionType.SUSPEND, plan_sub.id)
    cancels = [a for a in plan.actions if a.type is cancel]
    assert set(suspend.depends_on) == {a.id for a in cancels}
    assert all(a.parent_id == plan_sub.id and a.irreversible for a in cancels)
    assert all(a.billing == Billing(stops_billing=True) for a in cancels)
    wire = to_dict(plan)["actions"][0]
    assert wire["type"] == "cancel_azure_entitlement" and wire["parent_id"] == plan_sub.id
    assert wire["irreversible"] is True and wire["consequences"]


def test_an_azure_plan_behind_a_reservation_holds_its_cancellations_back() -> None:
    plan_sub = sub(AZURE)
    running = azure_subscription(plan_sub)
    plan = plan_of(plan_sub, azure=(running,), ris=1)
    assert plan.actions == []
    (blocked,) = plan.blocked
    assert f"cancel Azure subscription Microsoft Azure {running.id}" in blocked.manual_steps[-1]


# --- add-ons before their base -------------------------------------------------------------


def test_an_nce_add_on_is_cancelled_before_its_base() -> None:
    base = sub(NCE, window_days=3)
    addon = replace(sub(NCE, window_days=2), offer_name="a" * 3, parent_id=base.id.lower())
    plan = plan_of(base, addon)
    assert steps(plan)[:2] == [(ActionType.CANCEL, addon.id), (ActionType.CANCEL, base.id)]
    base_cancel = action(plan, ActionType.CANCEL, base.id)
    assert action(plan, ActionType.CANCEL, addon.id).id in base_cancel.depends_on


def test_a_base_is_not_cancelled_under_an_add_on_that_stays() -> None:
    base = sub(NCE, window_days=3, term_end_days=200)
    addon = sub(NCE, window_days=-10, term_end_days=60, parent_id=base.id)
    plan = plan_of(base, addon)
    assert ActionType.CANCEL not in {a.type for a in plan.actions}
    assert {
        (ActionType.DISABLE_AUTO_RENEW, addon.id),
        (ActionType.DISABLE_AUTO_RENEW, base.id),
    } <= set(steps(plan))
    (deferred,) = plan.deferred
    assert "add-ons stay" in action(plan, ActionType.DISABLE_AUTO_RENEW, base.id).reason
    assert deferred.type is ActionType.REMOVE_RELATIONSHIP


def test_a_legacy_add_on_is_suspended_before_its_base() -> None:
    base = replace(sub(LEGACY), offer_name="a base")
    addon = replace(sub(LEGACY), offer_name="z add-on", parent_id=base.id.lower())
    plan = plan_of(base, addon)
    assert steps(plan)[:2] == [(ActionType.SUSPEND, addon.id), (ActionType.SUSPEND, base.id)]


# --- trials, SaaS, perpetual software, savings plans ---------------------------------------


def test_a_trial_is_cancelled_whenever_it_is_offboarded() -> None:
    trial = sub(NCE, window_days=-20, is_trial=True)
    plan = plan_of(trial)
    cancel = action(plan, ActionType.CANCEL, trial.id)
    assert "trial" in cancel.reason and cancel.irreversible
    assert cancel.billing == Billing(stops_billing=True, refund=Refund.NONE)
    assert plan.deferred == [] and plan.removals == 1


def test_saas_inside_its_72_hours_is_cancelled_with_a_full_refund() -> None:
    saas = replace(
        sub(SAAS), cancellation_allowed_until=None, effective_start=NOW - timedelta(hours=30)
    )
    cancel = action(plan_of(saas), ActionType.CANCEL, saas.id)
    assert "2026-11-24 03:00 UTC" in cancel.reason  # start + 72 h, with time and zone
    assert cancel.billing == Billing(stops_billing=True, refund=Refund.FULL)


def test_saas_past_its_window_runs_out_with_auto_renew_off() -> None:
    saas = replace(
        sub(SAAS, term_end_days=20),
        cancellation_allowed_until=None,
        effective_start=NOW - timedelta(days=10),
    )
    plan = plan_of(saas)
    assert steps(plan) == [(ActionType.DISABLE_AUTO_RENEW, saas.id)]
    off = plan.actions[0]
    assert off.billing == Billing(
        stops_billing=False, billed_until=(NOW + timedelta(days=20)).date()
    )
    (deferred,) = plan.deferred
    assert deferred.not_before.date() == (NOW + timedelta(days=21)).date()


def test_perpetual_software_has_thirty_days() -> None:
    fresh = replace(
        sub(PERPETUAL), cancellation_allowed_until=None, creation=NOW - timedelta(days=20)
    )
    old = replace(
        sub(PERPETUAL), cancellation_allowed_until=None, creation=NOW - timedelta(days=40)
    )
    assert steps(plan_of(fresh))[0] == (ActionType.CANCEL, fresh.id)
    late = plan_of(old)
    assert ActionType.CANCEL not in {a.type for a in late.actions}
    assert late.removals == 0
    (blocked,) = late.blocked
    assert old.id in blocked.reason and "can no longer be cancelled" in blocked.reason


def test_perpetual_software_with_no_line_in_its_order_is_a_blocked_item() -> None:
    """Cancelling it means its order's line, and only that line: no line, nothing sent."""
    fresh = replace(
        sub(PERPETUAL), cancellation_allowed_until=None, creation=NOW - timedelta(days=20)
    )
    other = OrderLineItem(0, fresh.offer_id, 1, guid())  # the order's other purchase
    read = detail(fresh)
    read = replace(read, orders=(replace(read.orders[0], line_items=(other,)),))
    plan = make_plan(*estate((customer(), read)), NOW)
    assert ActionType.CANCEL not in {a.type for a in plan.actions}
    assert plan.removals == 0
    (blocked,) = plan.blocked
    assert "found no line there for it: nothing is cancelled" in blocked.reason
    assert fresh.order_id and fresh.order_id in blocked.manual_steps[0]


def test_a_savings_plan_blocks_and_holds_every_irreversible_step_back() -> None:
    savings = sub(SAVINGS_PLAN, term_end_days=300)
    fresh = sub(NCE, window_days=3)
    plan = plan_of(savings, fresh)
    assert ActionType.CANCEL not in {a.type for a in plan.actions}
    assert plan.removals == 0
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.SAVINGS_PLAN
    assert "cannot be cancelled" in blocked.reason
    assert f"cancel nce offer (nce) {fresh.id}" in blocked.manual_steps[-1]
    assert to_dict(plan)["blocked"][0]["kind"] == "savings_plan"


# --- billing and irreversibility on every row -------------------------------------------


def test_every_row_says_what_it_does_to_the_bill() -> None:
    fresh, late, legacy = sub(NCE, window_days=3), sub(NCE, term_end_days=40), sub(LEGACY)
    fresh = replace(fresh, full_refund_until=NOW - timedelta(hours=1))
    suspending = customer(nce_outside_window=NceOutsideWindow.SUSPEND)
    plan = make_plan(*estate((suspending, detail(fresh, late, legacy))), NOW)
    assert action(plan, ActionType.CANCEL, fresh.id).billing == Billing(
        True, refund=Refund.PRORATED
    )
    last_day = (NOW + timedelta(days=40)).date()
    assert action(plan, ActionType.SUSPEND, late.id).billing == Billing(False, last_day)
    assert action(plan, ActionType.DISABLE_AUTO_RENEW, late.id).billing == Billing(False, last_day)
    assert action(plan, ActionType.SUSPEND, legacy.id).billing == Billing(True)
    rows = to_dict(plan)["actions"]
    assert all(row["billing"] is not None for row in rows)
    suspended = next(
        r for r in rows if r["type"] == "suspend_subscription" and r["target_id"] == late.id
    )
    assert suspended["billing"] == {
        "stops_billing": False,
        "billed_until": last_day.isoformat(),
        "refund": "none",
    }


def test_a_full_refund_inside_its_first_day() -> None:
    fresh = replace(sub(NCE, window_days=6), full_refund_until=NOW + timedelta(hours=3))
    assert action(plan_of(fresh), ActionType.CANCEL, fresh.id).billing == Billing(
        True, refund=Refund.FULL
    )


def test_cancellations_and_removals_count_as_irreversible() -> None:
    plan = plan_of(sub(NCE, window_days=3), sub(NCE, window_days=2))
    assert plan.irreversible == {ActionType.CANCEL: 2, ActionType.REMOVE_RELATIONSHIP: 1}
    data = to_dict(plan)
    assert data["summary"]["irreversible"] == 3
    assert all(a["irreversible"] and a["consequences"] for a in data["actions"])
