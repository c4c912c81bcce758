"""Fail closed, at the wire: any value pcr cannot parse or does not know, in any field the
planner reads, turns the customer's destructive steps into one blocked item that names the
field and the value. Generated over every field, every kind, with healthy neighbours."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.live.models import CustomerDetail
from reconciler.live.models import azure_entitlement_from_wire
from reconciler.live.models import entitlement_from_wire
from reconciler.live.models import subscription_from_wire
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from tests.live.pc_support import marketplace_subscription
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import estate

NCE = {
    "id": "a4c1e2f3-0000-4000-8000-000000000001",
    "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
    "offerName": "Microsoft 365 Business Basic",
    "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
    "quantity": 15,
    "status": "active",
    "autoRenewEnabled": True,
    "isTrial": False,
    "billingCycle": "monthly",
    "termDuration": "P1Y",
    "creationDate": "2026-11-20T16:57:15Z",
    "effectiveStartDate": "2026-11-20T00:00:00Z",
    "commitmentEndDate": "2027-11-19T00:00:00Z",
    "cancellationAllowedUntilDate": "2026-11-27T23:59:00Z",
    "refundOptions": [{"type": "Full", "expiresAt": "2026-11-21T00:00:00Z"}],
}
LEGACY = {
    "id": "f3ea7643-0000-4000-8000-000000000002",
    "offerId": "796B6B5F-613C-4E24-A17C-EBA730D49C02",
    "offerName": "Office 365 E3",
    "quantity": 40,
    "status": "active",
    "autoRenewEnabled": True,
    "billingCycle": "monthly",
    "commitmentEndDate": "2027-03-31T00:00:00Z",
}
AZURE_PLAN = {
    "id": "4e7a9b21-0000-4000-8000-000000000003",
    "offerId": "DZH318Z0BPS6:0001:DZH318Z0BML6",
    "offerName": "Azure plan",
    "productType": {"id": "Azure", "subType": {"id": "Azure"}},
    "quantity": 1,
    "status": "active",
    "billingCycle": "one_time",
}
SAAS = marketplace_subscription("2026-11-21T00:00:00Z")
SUBSCRIPTIONS = [NCE, LEGACY, AZURE_PLAN, SAAS]
RESERVED_INSTANCE = {
    "entitlementType": "reservedInstance",
    "productId": "DZH318Z0BQ3Q",
    "quantity": 1,
    "referenceOrder": {"id": "o1"},
}
AZURE_SUBSCRIPTION = {"id": "899ae6f1-0000-4000-8000-000000000005", "status": "active"}

KNOWN_STATUSES = {"active", "suspended", "pending", "expired", "disabled", "deleted"}
KNOWN_PRODUCT_TYPES = {"onlineservicesnce", "software", "saas", "azure"}
KNOWN_CYCLES = {"", "none", "monthly", "annual", "triennial", "one_time"}

not_a_date = st.one_of(
    st.sampled_from(["tomorrow", "2026-13-45T00:00:00Z", "31/12/2026", "2026-11-31", "Z"]),
    st.integers(),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=1),
)
unknown_word = st.text(min_size=1, max_size=14)
# field -> (where in the wire it goes, a strategy of values pcr must not take for known)
SUBSCRIPTION_FIELDS: dict[str, Any] = {
    "status": unknown_word.filter(lambda s: s.strip().lower() not in KNOWN_STATUSES),
    "productType": unknown_word.filter(lambda s: s.lower() not in KNOWN_PRODUCT_TYPES),
    "billingCycle": st.one_of(
        unknown_word.filter(lambda s: s.lower() not in KNOWN_CYCLES), st.integers()
    ),
    "commitmentEndDate": not_a_date,
    "cancellationAllowedUntilDate": not_a_date,
    "effectiveStartDate": not_a_date,
    "creationDate": not_a_date,
    "isTrial": st.one_of(st.sampled_from(["yes", "true", "no"]), st.integers(min_value=2)),
    "autoRenewEnabled": st.one_of(st.sampled_from(["on", "false"]), st.integers(min_value=2)),
    "refundOptions": st.one_of(st.integers(), st.text(min_size=1, max_size=5)),
}


def _with(wire: dict[str, Any], field: str, value: object) -> dict[str, Any]:
    changed = copy.deepcopy(wire)
    if field == "productType":
        changed["productType"] = {"id": value}
    else:
        changed[field] = value
    return changed


def _removes(plan: Plan) -> bool:
    removal = ActionType.REMOVE_RELATIONSHIP
    return any(a.type is removal for a in plan.actions) or any(
        d.type is removal for d in plan.deferred
    )


def _assert_fails_closed(plan: Plan, value: object) -> None:
    assert not _removes(plan)
    assert not [a for a in plan.actions if a.destructive], plan.actions
    unknown = [b for b in plan.blocked if b.kind is BlockedKind.UNKNOWN_STATE]
    assert unknown, plan.blocked
    assert any(repr(value)[:20] in b.reason or str(value)[:20] in b.reason for b in unknown)


@settings(max_examples=300, deadline=None)
@given(
    target=st.sampled_from(SUBSCRIPTIONS),
    field=st.sampled_from(sorted(SUBSCRIPTION_FIELDS)),
    data=st.data(),
    neighbours=st.lists(st.sampled_from(SUBSCRIPTIONS), max_size=3, unique_by=id),
)
def test_no_removal_past_a_subscription_field_pcr_does_not_know(
    target: dict[str, Any], field: str, data: st.DataObject, neighbours: list[dict[str, Any]]
) -> None:
    value = data.draw(SUBSCRIPTION_FIELDS[field], label=field)
    odd = subscription_from_wire("", _with(target, field, value))
    healthy = [subscription_from_wire("", w) for w in neighbours if w is not target]
    leaving = customer()
    detail = CustomerDetail((odd, *healthy))
    plan = make_plan(*estate((leaving, detail)), NOW)
    _assert_fails_closed(plan, value)


@settings(max_examples=100, deadline=None)
@given(
    field=st.sampled_from(["entitlementType", "expiryDate"]),
    data=st.data(),
)
def test_no_removal_past_an_entitlement_pcr_does_not_know(field: str, data: st.DataObject) -> None:
    strategy = not_a_date if field == "expiryDate" else unknown_word
    value = data.draw(
        strategy.filter(lambda v: str(v).lower() not in {"reservedinstance", "software"}),
        label=field,
    )
    wire = {**RESERVED_INSTANCE, "entitlementType": "software", field: value}
    entitlement = entitlement_from_wire("", wire)
    legacy = subscription_from_wire("", LEGACY)
    plan = make_plan(*estate((customer(), CustomerDetail((legacy,), (entitlement,)))), NOW)
    _assert_fails_closed(plan, value)


@settings(max_examples=100, deadline=None)
@given(status=unknown_word.filter(lambda s: s.lower() not in {"active", "inactive"}))
def test_no_removal_past_an_azure_subscription_status_pcr_does_not_know(status: str) -> None:
    plan_sub = subscription_from_wire("", AZURE_PLAN)
    azure = azure_entitlement_from_wire("", plan_sub.id, {**AZURE_SUBSCRIPTION, "status": status})
    detail = CustomerDetail((plan_sub,), (), (azure,))
    plan = make_plan(*estate((customer(), detail)), NOW)
    _assert_fails_closed(plan, status)


def test_the_healthy_estate_does_offboard() -> None:
    """The same estate with nothing unknown: the property above is not vacuous."""
    subs = tuple(subscription_from_wire("", w) for w in SUBSCRIPTIONS)
    azure = azure_entitlement_from_wire("", AZURE_PLAN["id"], AZURE_SUBSCRIPTION)
    plan = make_plan(*estate((customer(), CustomerDetail(subs, (), (azure,)))), NOW)
    assert plan.blocked == []
    assert _removes(plan)
