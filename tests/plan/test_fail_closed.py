"""Fail closed: a subscription status pcr does not know stops everything destructive for
that customer, the removal first; the plan says which value, on which subscription."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import Relationship
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import subscription_from_wire
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.model import to_dict
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import override
from tests.plan.builders import sub

KNOWN = {s.value for s in SubscriptionStatus} - {"none", "unknown"}


def unknown(status: str, kind: SubscriptionKind = SubscriptionKind.LEGACY) -> object:
    """A subscription as the client parses it from Partner Center's answer."""
    wire = {
        "id": "9a1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4",
        "offerId": "CFQ7TTC0LH18:0001:P1M"
        if kind is SubscriptionKind.NCE
        else "91FD106F-4B2C-4938-95AC-F54F74E9A239",
        "offerName": "Transferring offer",
        "status": status,
        "autoRenewEnabled": True,
        "quantity": 3,
    }
    return subscription_from_wire("", wire)


def removes(plan: Plan) -> bool:
    removal = ActionType.REMOVE_RELATIONSHIP
    return any(a.type is removal for a in plan.actions) or any(
        d.type is removal for d in plan.deferred
    )


def test_an_unknown_status_blocks_the_offboarding_and_says_which() -> None:
    leaving = customer()
    odd = unknown("transferring")
    active = sub(SubscriptionKind.LEGACY)
    plan = make_plan(*estate((leaving, detail(odd, active))), NOW)  # type: ignore[arg-type]
    assert not removes(plan)
    assert not [a for a in plan.actions if a.destructive]  # not even the other suspension
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.UNKNOWN_STATE
    assert "status 'transferring'" in blocked.reason
    assert "9a1c0d2e-3f4a-4b5c-8d6e-7f8091a2b3c4" in blocked.reason
    assert any("Held back until then: suspend_subscription" in s for s in blocked.manual_steps)
    assert to_dict(plan)["blocked"][0]["kind"] == "unknown_state"


def test_the_api_initializer_none_blocks_too() -> None:
    plan = make_plan(*estate((customer(), detail(unknown("none")))), NOW)  # type: ignore[arg-type]
    assert not removes(plan)
    assert [b.kind for b in plan.blocked] == [BlockedKind.UNKNOWN_STATE]


def test_an_unknown_status_holds_a_staying_customers_destructive_overrides() -> None:
    odd, paused = unknown("migrating"), sub(SubscriptionKind.LEGACY)
    staying = customer(
        relationship=Relationship.RESELLER,
        overrides=(override(paused.id, DesiredStatus.SUSPENDED),),
    )
    plan = make_plan(*estate((staying, detail(odd, paused))), NOW)  # type: ignore[arg-type]
    assert plan.actions == []
    assert [b.kind for b in plan.blocked] == [BlockedKind.UNKNOWN_STATE]


def test_an_unknown_status_that_stops_nothing_is_no_blocked_item() -> None:
    odd, renewing = unknown("migrating"), sub(SubscriptionKind.NCE)
    staying = customer(
        relationship=Relationship.RESELLER, overrides=(override(renewing.id, auto_renew=False),)
    )
    plan = make_plan(*estate((staying, detail(odd, renewing))), NOW)  # type: ignore[arg-type]
    assert [a.type for a in plan.actions] == [ActionType.DISABLE_AUTO_RENEW]  # reversible
    assert plan.blocked == []


@settings(max_examples=150, deadline=None)
@given(
    status=st.text(min_size=0, max_size=12).filter(lambda s: s.lower() not in KNOWN),
    kind=st.sampled_from(list(SubscriptionKind)),
    others=st.lists(
        st.builds(
            sub,
            kind=st.sampled_from(list(SubscriptionKind)),
            status=st.sampled_from([s for s in SubscriptionStatus if s.value in KNOWN]),
            window_days=st.sampled_from([-40.0, 0.5, 6.0]),
            term_end_days=st.sampled_from([-5.0, 3.0, 400.0]),
        ),
        max_size=4,
    ),
)
def test_no_removal_is_ever_planned_past_a_status_pcr_does_not_know(
    status: str, kind: SubscriptionKind, others: list[object]
) -> None:
    odd = replace(unknown(status, kind), kind=kind)  # type: ignore[type-var]
    leaving = customer()
    plan = make_plan(*estate((leaving, detail(odd, *others))), NOW)  # type: ignore[arg-type]
    assert not removes(plan)
    assert not [a for a in plan.actions if a.destructive]
    assert BlockedKind.UNKNOWN_STATE in {b.kind for b in plan.blocked}


def test_a_product_type_pcr_does_not_know_is_not_taken_for_legacy() -> None:
    wire = {
        "id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "offerId": "hw-offer-contoso-kit",  # neither a GUID nor PRODUCT:SKU:AVAILABILITY
        "offerName": "Contoso devices",
        "productType": {"id": "Hardware", "displayName": "Hardware"},
        "status": "active",
    }
    odd = subscription_from_wire("", wire)
    assert odd.kind is SubscriptionKind.UNKNOWN
    plan = make_plan(*estate((customer(), detail(odd))), NOW)
    assert plan.actions == [] and not removes(plan)  # not suspended "as legacy"
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.UNKNOWN_STATE
    assert "product type 'Hardware'" in blocked.reason


def test_an_offer_id_of_no_known_shape_without_a_product_type_is_unknown() -> None:
    wire = {"id": "5e6f7a8b", "offerId": "saas-offer-contoso-crm", "status": "active"}
    odd = subscription_from_wire("", wire)
    assert odd.kind is SubscriptionKind.UNKNOWN
    plan = make_plan(*estate((customer(), detail(odd))), NOW)
    assert plan.actions == [] and not removes(plan)
    (blocked,) = plan.blocked
    assert "offer id 'saas-offer-contoso-crm' without a product type" in blocked.reason
