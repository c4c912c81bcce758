"""Deferred items once their date has come: due, waiting for Partner Center, never an action
that would fail; and what a plan of only deferred and blocked items is (no changes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import Relationship
from reconciler.live.lifecycle import term_over
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.plan.actions import ActionType
from reconciler.plan.model import Blocked
from reconciler.plan.model import Plan
from reconciler.plan.model import to_dict
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import guid
from tests.plan.builders import override
from tests.plan.builders import sub

NCE = SubscriptionKind.NCE
STILL_SHOWN = "; plan again later (Partner Center can take a day to end a term)"


def test_a_plan_of_only_deferred_and_blocked_items_has_no_changes() -> None:
    c = customer()
    waiting = make_plan(*estate((c, detail(sub(NCE, auto_renew=False)))), NOW)
    assert waiting.actions == [] and len(waiting.deferred) == 1
    assert not waiting.has_changes and not waiting.is_empty
    blocked = Plan(now=NOW, blocked=[Blocked(c.tenant_id, "a person must act")])
    assert not blocked.has_changes and not blocked.is_empty
    assert Plan(now=NOW).is_empty


def test_past_its_date_a_deferred_removal_is_due_while_partner_center_shows_the_term() -> None:
    c = customer()
    nce = sub(NCE, auto_renew=False, term_end_days=40)
    desired, live = estate((c, detail(nce)))
    ends = term_over(nce)
    assert ends is not None
    before = make_plan(desired, live, ends - timedelta(seconds=1))
    assert before.due == [] and before.deferred[0].reason.startswith("remove the reseller")
    on_the_day = make_plan(desired, live, ends)
    assert on_the_day.actions == []  # Partner Center would refuse the removal
    (item,) = on_the_day.due
    assert (item.type, item.not_before) == (ActionType.REMOVE_RELATIONSHIP, ends)
    assert item.reason == f"Partner Center still shows nce offer (nce) {nce.id} active" + (
        STILL_SHOWN
    )
    assert to_dict(on_the_day)["deferred"][0]["due"] is True
    assert to_dict(before)["deferred"][0]["due"] is False


def test_once_partner_center_shows_the_term_ended_the_removal_is_planned() -> None:
    c = customer()
    nce = sub(NCE, auto_renew=False, term_end_days=40)
    desired, live = estate((c, detail(replace(nce, status=SubscriptionStatus.EXPIRED))))
    ends = term_over(nce)
    assert ends is not None
    result = make_plan(desired, live, ends)
    assert [a.type for a in result.actions] == [ActionType.REMOVE_RELATIONSHIP]
    assert result.deferred == []


def test_a_suspended_term_past_its_end_is_named_as_partner_center_shows_it() -> None:
    c = customer(nce_outside_window=NceOutsideWindow.SUSPEND)
    nce = sub(NCE, SubscriptionStatus.SUSPENDED, auto_renew=False, term_end_days=-1)
    (item,) = make_plan(*estate((c, detail(nce))), NOW).due
    assert f"{nce.id} suspended; plan again later" in item.reason


def test_a_term_past_its_end_is_said_while_the_removal_still_waits_for_another() -> None:
    c = customer()
    over = sub(NCE, auto_renew=False, term_end_days=-1)
    later = sub(NCE, auto_renew=False, term_end_days=40)
    result = make_plan(*estate((c, detail(over, later))), NOW)
    (item,) = result.deferred
    assert not item.due(NOW)
    assert "nce offer (nce): its term ended " in item.reason
    assert "nce offer (nce): its term ends " in item.reason


def test_a_cancellation_deferred_for_a_declared_subscription_becomes_due() -> None:
    nce = sub(NCE, auto_renew=False, term_end_days=-1, id=guid())
    c = customer(
        relationship=Relationship.RESELLER, overrides=(override(nce.id, DesiredStatus.CANCELLED),)
    )
    result = make_plan(*estate((c, detail(nce))), NOW)
    assert result.actions == []
    (item,) = result.due
    assert (item.type, item.target_id) == (ActionType.CANCEL, nce.id)
    assert item.reason == f"Partner Center still shows nce offer (nce) {nce.id} active" + (
        STILL_SHOWN
    )
