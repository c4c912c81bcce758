"""The words every format shares for billing and for the irreversible headline."""

from __future__ import annotations

from datetime import date

import pytest

from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Billing
from reconciler.plan.actions import Refund
from reconciler.plan.model import Action
from reconciler.plan.model import Plan
from reconciler.render.common import billing_words
from reconciler.render.common import irreversible_headline
from tests.render.plans import NOW
from tests.render.plans import cancel
from tests.render.plans import cancel_azure
from tests.render.plans import remove
from tests.render.plans import small_plan


@pytest.mark.parametrize(
    ("billing", "words"),
    [
        (Billing(True, refund=Refund.PRORATED), "billing stops now; prorated refund"),
        (Billing(True, refund=Refund.FULL), "billing stops now; full refund"),
        (Billing(True), "billing stops now; no refund"),
        (
            Billing(False, date(2027, 1, 13)),
            "still billed: the partner pays through 2027-01-13, the last day of its term",
        ),
        (Billing(False), "billing unchanged"),
        (None, "billing not stated in this plan"),
    ],
)
def test_billing_words(billing: Billing | None, words: str) -> None:
    assert billing_words(billing) == words


def test_a_reactivation_says_billing_resumes() -> None:
    assert billing_words(Billing(False), ActionType.REACTIVATE) == "billing resumes"
    assert billing_words(Billing(False), ActionType.ENABLE_AUTO_RENEW).startswith("billing goes on")
    assert billing_words(Billing(False), ActionType.REMOVE_RELATIONSHIP) == "billing unchanged"


def test_headline_counts_each_kind_in_action_type_order_and_in_the_plural() -> None:
    actions = [remove("c-1"), cancel("c-1", "s-1"), remove("c-2"), cancel_azure("c-1", "a-1")]
    plan = Plan(now=NOW, actions=actions)
    assert irreversible_headline(plan) == (
        "4 irreversible: 1 cancellation, 1 Azure subscription cancellation, 2 removals"
    )
    plan.actions += [cancel("c-2", "s-2"), cancel_azure("c-2", "a-2")]
    assert irreversible_headline(plan) == (
        "6 irreversible: 2 cancellations, 2 Azure subscription cancellations, 2 removals"
    )


def test_headline_of_the_small_plan() -> None:
    assert irreversible_headline(small_plan()) == (
        "3 irreversible: 1 cancellation, 1 Azure subscription cancellation, 1 removal"
    )


def test_no_headline_without_irreversible_steps() -> None:
    assert irreversible_headline(Plan(now=NOW)) is None
    reversible = Action("c-1", ActionType.SUSPEND, "s-1", "why", billing=Billing(True))
    assert irreversible_headline(Plan(now=NOW, actions=[reversible])) is None


def test_a_step_marked_irreversible_by_hand_is_still_counted() -> None:
    # Only types that are irreversible by nature have a noun; a hand-edited plan may mark others.
    marked = Action("c-1", ActionType.SUSPEND, "s-1", "why", irreversible=True)
    assert irreversible_headline(Plan(now=NOW, actions=[marked])) == (
        "1 irreversible: 1 suspend step"
    )
