"""Words a reviewer reads: counts in the singular when there is one, Partner Center's
"no end" date never shown as a date, pcr's own `code spans` kept as code in Markdown, and
unmanaged customers named."""

from __future__ import annotations

import json

from reconciler.drift.compare import drift
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import subscription_from_wire
from reconciler.plan.planner import make_plan
from reconciler.render import render
from reconciler.render import render_drift
from reconciler.render.common import prose
from reconciler.scaffold.imported import customer_yaml
from reconciler.wording import in_words
from reconciler.wording import plural
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import sub

STRANGER = Customer(
    id="ae43c559-1885-44c2-ad5f-68ff5454b9da",
    name="Alpine Ski House",
    domain="alpineskihouse.onmicrosoft.com",
    relationship="reseller",
)

AZURE_PLAN = {
    "id": "c9d1f3a5-8b0d-4fc0-9be2-6d7e8f9a0b12",
    "offerId": "DZH318Z0BPS6:0001:DZH318Z0BPS6",
    "offerName": "Azure plan",
    "productType": {"id": "Azure", "displayName": "Azure"},
    "quantity": 1,
    "status": "active",
    "autoRenewEnabled": False,
    "billingCycle": "monthly",
    "commitmentEndDate": "9999-12-14T00:00:00Z",
}


def test_plural_says_one_and_many() -> None:
    assert plural(1, "customer") == "1 customer"
    assert plural(0, "customer") == "0 customers"
    assert plural(12_345, "change") == "12345 changes"
    assert plural(2, "entry", "entries") == "2 entries"


def test_one_reservation_is_one_reservation() -> None:
    offboarded = customer()
    desired, live = estate((offboarded, detail(sub(), ris=1)))
    plan = make_plan(desired, live, NOW)
    (blocked,) = plan.blocked
    assert blocked.reason.startswith("1 Azure reserved instance must be cancelled")
    assert "(s)" not in render(plan, "text")


def test_partner_centers_no_end_date_is_no_date() -> None:
    plan_wire = subscription_from_wire("c", AZURE_PLAN)
    assert plan_wire.kind is SubscriptionKind.AZURE
    assert plan_wire.commitment_end is None and plan_wire.open_ended
    dated = subscription_from_wire("c", {**AZURE_PLAN, "commitmentEndDate": "2027-01-31T00:00:00Z"})
    assert dated.commitment_end is not None and not dated.open_ended

    text = customer_yaml(STRANGER, CustomerDetail((plan_wire,), (), (), ()))
    assert "# Azure plan (azure), quantity 1, no end date" in text
    assert "9999" not in text

    offboarded = customer()
    desired, live = estate((offboarded, detail(plan_wire)))
    plan = make_plan(desired, live, NOW)
    for fmt in ("text", "markdown", "json"):
        assert "9999" not in render(plan, fmt)


def test_unmanaged_customers_are_named_with_their_ids() -> None:
    desired, live = estate((customer(), detail()), extra_live=(STRANGER,))
    plan = make_plan(desired, live, NOW)
    assert plan.unmanaged == [STRANGER.id]
    assert f"Alpine Ski House ({STRANGER.id})" in render(plan, "text")
    assert f"Alpine Ski House (<code>{STRANGER.id}</code>)" in render(plan, "markdown")
    assert json.loads(render(plan, "json"))["unmanaged"] == [STRANGER.id]


def test_drift_markdown_keeps_pcrs_code_spans() -> None:
    desired, live = estate((customer(), detail()), extra_live=(STRANGER,))
    shown = render_drift(drift(desired, live, NOW), "markdown")
    assert "(<code>pcr import</code> writes one)" in shown
    assert "`" not in shown


def test_prose_escapes_what_it_quotes_and_keeps_code() -> None:
    assert prose("run `pcr validate` *now*") == "run <code>pcr validate</code> \\*now\\*"
    assert prose("an odd ` backtick") == "an odd \\` backtick"
    assert "<b>" not in prose("`<b>` and <b>")


def test_a_length_of_time_is_said_in_seconds_then_in_minutes() -> None:
    assert [in_words(s) for s in (0, 1, 90, 119, 120, 900, 1230)] == [
        "0 seconds",
        "1 second",
        "90 seconds",
        "119 seconds",
        "2 minutes",
        "15 minutes",
        "20 minutes",
    ]
