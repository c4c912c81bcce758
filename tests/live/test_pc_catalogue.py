"""The fake's rules per kind of product: Azure plans and the Azure subscriptions under them,
savings plans, trials, SaaS, perpetual software, add-ons, and the full-body PATCH quirk.

Each world is built from scratch, so the rule under test is the only thing in it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.app import serves
from reconciler.fake.errors import CODE_ADDONS_LIVE
from reconciler.fake.errors import FakeApiError
from reconciler.fake.state import FakeState
from reconciler.fake.store import FORMAT_VERSION
from tests.live.pc_support import FAKE_TOKEN

NOW = "2026-11-22T09:00:00Z"
CUSTOMER = "5b1f0c2e-8d7a-4e3b-9c6f-1a2b3c4d5e6f"
PLAN = "7c2e4a6b-1d3f-4a5b-8c7d-9e0f1a2b3c4d"
OTHER_PLAN = "8d3f5b7c-2e4a-4b6c-9d8e-0f1a2b3c4d5e"
AZURE_SUB = "899ae6f1-8a74-4d5e-b6c6-e6b5019bbff8"
OTHER_AZURE_SUB = "9a0bf7e2-9b85-4e6f-a7d7-f7c6e20acc09"
NCE = "a1b2c3d4-0000-4000-8000-000000000001"
BASE = "a1b2c3d4-0000-4000-8000-000000000002"
ADDON = "a1b2c3d4-0000-4000-8000-000000000003"
SECOND_ADDON = "a1b2c3d4-0000-4000-8000-000000000004"
LEGACY_OFFER = "91FD106F-4B2C-4938-95AC-F54F74E9A239"
NCE_OFFER = "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
SCHEDULED = {"product": {"productId": "CFQ7TTC0LDPB", "skuId": "0001"}, "quantity": 10}
NEXT_CHARGE = {"billingCycle": "annual"}

ENTITLEMENTS = f"/v1/customers/{CUSTOMER}/subscriptions/{PLAN}/azureEntitlements"
ONE = f"{ENTITLEMENTS}/{AZURE_SUB}"
COMPROMISE = {"cancellationReason": "compromise"}


# -- building worlds --------------------------------------------------------------------------


def world() -> FakeState:
    state = FakeState.empty(NOW)
    state.add_customer(CUSTOMER, "Litware", "litware.example")
    return state


def subscription(sid: str, **fields: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": sid,
        "offerId": NCE_OFFER,
        "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        "quantity": 5,
        "status": "active",
        "autoRenewEnabled": True,
        "isTrial": False,
        "termDuration": "P1Y",
        "creationDate": "2026-01-10T10:00:00Z",
        "effectiveStartDate": "2026-01-10T00:00:00Z",
        "commitmentEndDate": "2027-01-09T00:00:00Z",
        "cancellationAllowedUntilDate": "2026-01-17T23:59:00Z",
        "attributes": {"objectType": "Subscription"},
    }
    wire.update(fields)
    return {key: value for key, value in wire.items() if value is not None}


def legacy(sid: str, **fields: Any) -> dict[str, Any]:
    return subscription(
        sid,
        offerId=LEGACY_OFFER,
        productType=None,
        termDuration=None,
        cancellationAllowedUntilDate=None,
        **fields,
    )


def azure_plan(sid: str = PLAN, **fields: Any) -> dict[str, Any]:
    return subscription(
        sid,
        offerId="DZH318Z0BPS6:0001:DZH318Z0BML6",
        productType={"id": "Azure", "subType": {"id": "Azure"}},
        autoRenewEnabled=False,
        termDuration=None,
        commitmentEndDate="9999-12-14T00:00:00Z",
        cancellationAllowedUntilDate=None,
        **fields,
    )


def with_plan(state: FakeState, *entitlements: str) -> FakeState:
    state.add_subscription(CUSTOMER, azure_plan())
    for eid in entitlements:
        state.add_azure_entitlement(
            CUSTOMER, PLAN, {"id": eid, "friendlyName": "Microsoft Azure", "status": "active"}
        )
    return state


def call(
    app: FakePartnerCenter, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> httpx.Response:
    """A request straight at the fake, with exactly the body given (none when None)."""
    headers = {"Authorization": f"Bearer {FAKE_TOKEN}"}
    content = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if content is not None:
        headers["Content-Type"] = "application/json"
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://fake") as http:
        return http.request(method, path, content=content, headers=headers)


def refused(response: httpx.Response, status: int, code: int) -> str:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["source"] == "PartnerFD"
    return str(response.json()["description"])


def patch(state: FakeState, sid: str, body: dict[str, Any]) -> httpx.Response:
    return call(
        FakePartnerCenter(state), "PATCH", f"/v1/customers/{CUSTOMER}/subscriptions/{sid}", body
    )


def full(state: FakeState, sid: str, **changes: Any) -> dict[str, Any]:
    """The full-body discipline: GET, edit, send all back."""
    body = dict(state.subscription(CUSTOMER, sid))
    body.update(changes)
    return body


# -- Azure entitlements: the state section and the routes -------------------------------------


def test_an_older_state_file_loads_and_saves_unchanged() -> None:
    older = {"format_version": FORMAT_VERSION, "now": NOW, "customers": []}
    state = FakeState(dict(older))
    assert state.data["azureEntitlements"] == {} and state.data["azureCancellations"] == {}
    assert state.data["azureCancelReads"] == 1
    saved = json.loads(state.to_json())
    assert not {"azureEntitlements", "azureCancellations", "azureCancelReads"} & set(saved)


def test_azure_entitlements_are_saved_once_there_are_some() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(4)
    saved = json.loads(state.to_json())
    assert saved["azureEntitlements"][CUSTOMER][0]["subscriptionId"] == PLAN  # the builder's
    assert saved["azureCancelReads"] == 4
    assert FakeState(saved).data["azureEntitlements"] == state.data["azureEntitlements"]


def test_the_fake_serves_the_azure_entitlement_routes() -> None:
    assert serves("GET", ENTITLEMENTS)
    assert serves("GET", ONE)
    assert serves("POST", f"{ONE}/cancel")
    assert serves("POST", f"{ONE}/reactivate")
    assert not serves("DELETE", ONE)
    assert not serves("POST", f"{ONE}/suspend")


def test_list_azure_entitlements_in_the_documented_shape() -> None:
    app = FakePartnerCenter(with_plan(world(), AZURE_SUB, OTHER_AZURE_SUB))
    response = call(app, "GET", ENTITLEMENTS)
    assert response.status_code == 200
    assert response.json() == {
        "totalCount": 2,
        "items": [
            {
                "id": AZURE_SUB,
                "friendlyName": "Microsoft Azure",
                "status": "active",
                "subscriptionId": PLAN,
            },
            {
                "id": OTHER_AZURE_SUB,
                "friendlyName": "Microsoft Azure",
                "status": "active",
                "subscriptionId": PLAN,
            },
        ],
        "attributes": {"objectType": "Collection"},
    }


def test_azure_entitlements_of_something_that_is_not_an_azure_plan_are_404() -> None:
    state = with_plan(world())
    state.add_subscription(CUSTOMER, subscription(NCE))
    app = FakePartnerCenter(state)
    refused(
        call(app, "GET", f"/v1/customers/{CUSTOMER}/subscriptions/{NCE}/azureEntitlements"),
        404,
        600008,
    )
    refused(
        call(app, "GET", f"/v1/customers/{CUSTOMER}/subscriptions/nope/azureEntitlements"),
        404,
        600008,
    )


def test_get_one_azure_entitlement_and_an_unknown_one_is_800111() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.add_subscription(CUSTOMER, azure_plan(OTHER_PLAN))
    state.add_azure_entitlement(CUSTOMER, OTHER_PLAN, {"id": OTHER_AZURE_SUB, "status": "active"})
    app = FakePartnerCenter(state)
    upper = f"/v1/customers/{CUSTOMER.upper()}/subscriptions/{PLAN.upper()}/azureEntitlements"
    response = call(app, "GET", f"{upper}/{AZURE_SUB.upper()}")  # ids compare in any case
    assert response.status_code == 200 and response.json()["id"] == AZURE_SUB
    refused(call(app, "GET", f"{ENTITLEMENTS}/unknown"), 404, 800111)
    # One under another plan of the same customer is not this plan's.
    refused(call(app, "GET", f"{ENTITLEMENTS}/{OTHER_AZURE_SUB}"), 404, 800111)


# -- cancelling an Azure entitlement ---------------------------------------------------------


def test_cancel_answers_active_and_settles_on_the_next_read() -> None:
    state = with_plan(world(), AZURE_SUB)
    app = FakePartnerCenter(state)
    response = call(app, "POST", f"{ONE}/cancel", COMPROMISE)
    assert response.status_code == 200
    assert response.json() == {
        "id": AZURE_SUB,
        "friendlyName": "Microsoft Azure",
        "status": "active",  # the real one takes about 10 minutes
        "subscriptionId": PLAN,
    }
    (mutation,) = state.mutations
    assert mutation["action"] == "cancel_azure_entitlement"
    assert mutation["target"] == AZURE_SUB and mutation["billing"] is False
    assert mutation["changes"] == {"status": ["active", "cancelling"]}
    assert call(app, "GET", ONE).json()["status"] == "inactive"
    assert state.data["azureCancellations"] == {}


def test_the_pending_cancellation_never_shows_in_an_answer() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(3)
    app = FakePartnerCenter(state)
    shown = call(app, "POST", f"{ONE}/cancel", COMPROMISE).json()
    assert set(shown) == {"id", "friendlyName", "status", "subscriptionId"}
    assert set(call(app, "GET", ONE).json()) == set(shown)
    assert set(call(app, "GET", ENTITLEMENTS).json()["items"][0]) == set(shown)
    assert AZURE_SUB in state.data["azureCancellations"]


def test_the_cancellation_settles_after_the_configured_number_of_reads() -> None:
    state = with_plan(world(), AZURE_SUB, OTHER_AZURE_SUB)
    state.set_azure_cancel_reads(3)
    app = FakePartnerCenter(state)
    call(app, "POST", f"{ONE}/cancel", COMPROMISE)
    assert call(app, "GET", ONE).json()["status"] == "active"  # read 1
    listed = call(app, "GET", ENTITLEMENTS).json()["items"]  # read 2: the list counts too
    assert [item["status"] for item in listed] == ["active", "active"]
    assert call(app, "GET", ONE).json()["status"] == "inactive"  # read 3
    assert state.azure_entitlement(CUSTOMER, PLAN, OTHER_AZURE_SUB)["status"] == "active"


def test_with_no_reads_configured_the_cancel_is_inactive_at_once() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(0)
    answer = state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    assert answer["status"] == "inactive"
    with pytest.raises(ValueError):
        state.set_azure_cancel_reads(-1)


def test_the_clock_settles_a_cancellation_after_ten_minutes() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(100)
    state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    state.advance_clock(timedelta(minutes=9, seconds=59))
    assert state.azure_entitlement(CUSTOMER, PLAN, AZURE_SUB)["status"] == "active"
    state.advance_clock(timedelta(seconds=1))
    assert state.azure_entitlement(CUSTOMER, PLAN, AZURE_SUB)["status"] == "inactive"


@pytest.mark.parametrize(
    ("body", "raw", "code"),
    [
        (None, None, 800002),  # no body at all
        ({}, None, 800002),
        ({"cancellationReason": ""}, None, 800002),
        ({"cancellationReason": "no longer needed"}, None, 900307),
        (None, b"[1]", 800061),  # a body, but not an object
    ],
)
def test_cancel_needs_the_compromise_reason(
    body: dict[str, Any] | None, raw: bytes | None, code: int
) -> None:
    state = with_plan(world(), AZURE_SUB)
    refused(call(FakePartnerCenter(state), "POST", f"{ONE}/cancel", body, raw), 400, code)
    assert state.mutations == [] and state.data["azureCancellations"] == {}


def test_cancel_reason_and_field_name_compare_case_insensitively() -> None:
    state = with_plan(world(), AZURE_SUB)
    response = call(
        FakePartnerCenter(state), "POST", f"{ONE}/cancel", {"CancellationReason": "Compromise"}
    )
    assert response.status_code == 200


def test_cancel_an_unknown_azure_entitlement_is_800111() -> None:
    app = FakePartnerCenter(with_plan(world(), AZURE_SUB))
    refused(call(app, "POST", f"{ENTITLEMENTS}/unknown/cancel", COMPROMISE), 404, 800111)


def test_cancelling_again_answers_200_and_changes_nothing() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(2)
    app = FakePartnerCenter(state)
    call(app, "POST", f"{ONE}/cancel", COMPROMISE)
    pending = dict(state.data["azureCancellations"][AZURE_SUB])
    again = call(app, "POST", f"{ONE}/cancel", COMPROMISE)  # still being cancelled
    assert again.status_code == 200 and again.json()["status"] == "active"
    assert state.data["azureCancellations"][AZURE_SUB] == pending  # not restarted
    call(app, "GET", ONE)
    call(app, "GET", ONE)
    settled = call(app, "POST", f"{ONE}/cancel", COMPROMISE)  # already inactive
    assert settled.status_code == 200 and settled.json()["status"] == "inactive"
    assert [m["action"] for m in state.mutations] == ["cancel_azure_entitlement"]


# -- reactivating an Azure entitlement -------------------------------------------------------


def test_reactivate_answers_202_and_makes_it_active_again() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(0)
    app = FakePartnerCenter(state)
    call(app, "POST", f"{ONE}/cancel", COMPROMISE)
    response = call(app, "POST", f"{ONE}/reactivate")
    assert response.status_code == 202
    assert call(app, "GET", ONE).json()["status"] == "active"
    assert state.mutations[-1]["action"] == "reactivate_azure_entitlement"
    assert state.mutations[-1]["changes"] == {"status": ["inactive", "active"]}


def test_reactivating_withdraws_a_pending_cancellation() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    state.reactivate_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB)
    assert state.data["azureCancellations"] == {}
    state.advance_clock(timedelta(hours=1))
    assert state.azure_entitlement(CUSTOMER, PLAN, AZURE_SUB)["status"] == "active"
    assert state.mutations[-1]["changes"] == {"status": ["cancelling", "active"]}


def test_reactivating_an_active_one_changes_nothing() -> None:
    state = with_plan(world(), AZURE_SUB)
    assert call(FakePartnerCenter(state), "POST", f"{ONE}/reactivate").status_code == 202
    assert state.mutations == []


def test_reactivate_under_a_plan_that_is_not_active_is_900337() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(0)
    state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    state.patch_subscription(CUSTOMER, PLAN, {"status": "suspended"})
    refused(call(FakePartnerCenter(state), "POST", f"{ONE}/reactivate"), 400, 900337)
    assert state.azure_entitlement(CUSTOMER, PLAN, AZURE_SUB)["status"] == "inactive"


# -- suspending the Azure plan ---------------------------------------------------------------


def test_a_plan_with_an_active_azure_subscription_cannot_be_suspended_900115() -> None:
    state = with_plan(world(), AZURE_SUB)
    description = refused(patch(state, PLAN, {"status": "suspended"}), 403, 900115)
    assert AZURE_SUB in description
    assert state.subscription(CUSTOMER, PLAN)["status"] == "active"


def test_an_unsettled_cancellation_still_blocks_the_plan() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(2)
    app = FakePartnerCenter(state)
    call(app, "POST", f"{ONE}/cancel", COMPROMISE)
    plan = f"/v1/customers/{CUSTOMER}/subscriptions/{PLAN}"
    refused(call(app, "PATCH", plan, {"status": "suspended"}), 403, 900115)
    call(app, "GET", ENTITLEMENTS)
    call(app, "GET", ENTITLEMENTS)  # settled now
    assert call(app, "PATCH", plan, {"status": "suspended"}).json()["status"] == "suspended"


def test_the_clock_alone_unblocks_the_plan() -> None:
    state = with_plan(world(), AZURE_SUB)
    state.set_azure_cancel_reads(50)
    state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    state.advance_clock(timedelta(minutes=10))
    assert (
        state.patch_subscription(CUSTOMER, PLAN, {"status": "suspended"})["status"] == "suspended"
    )


def test_relationship_blockers_name_active_azure_subscriptions() -> None:
    state = with_plan(world(), AZURE_SUB, OTHER_AZURE_SUB)
    state.set_azure_cancel_reads(0)
    state.cancel_azure_entitlement(CUSTOMER, PLAN, OTHER_AZURE_SUB, COMPROMISE)
    (azure,) = [b for b in state.relationship_blockers(CUSTOMER) if "Azure subscriptions" in b]
    assert AZURE_SUB in azure and OTHER_AZURE_SUB not in azure
    state.cancel_azure_entitlement(CUSTOMER, PLAN, AZURE_SUB, COMPROMISE)
    state.patch_subscription(CUSTOMER, PLAN, {"status": "suspended"})
    assert state.relationship_blockers(CUSTOMER) == []


# -- savings plans ---------------------------------------------------------------------------


def savings_plan_world() -> FakeState:
    state = world()
    state.add_subscription(
        CUSTOMER,
        subscription(
            NCE,
            offerId="DZH318Z09V6F:0001:DZH318Z0BLD3",
            productType={"id": "Azure", "subType": {"id": "SavingsPlan"}},
            billingCycle="one_time",
            cancellationAllowedUntilDate=None,
        ),
    )
    return state


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "deleted"},
        {"status": "suspended"},
        {"autoRenewEnabled": False},
    ],
)
def test_a_savings_plan_is_final_900321(changes: dict[str, Any]) -> None:
    state = savings_plan_world()
    description = refused(patch(state, NCE, full(state, NCE, **changes)), 400, 900321)
    assert "Azure portal" in description
    assert state.subscription(CUSTOMER, NCE)["status"] == "active" and state.mutations == []


def test_a_minimal_body_to_a_savings_plan_is_refused_too() -> None:
    state = savings_plan_world()  # it would turn auto-renew off
    refused(patch(state, NCE, {"status": "active"}), 400, 900321)


def test_a_savings_plan_patch_that_changes_nothing_passes() -> None:
    state = savings_plan_world()
    assert patch(state, NCE, full(state, NCE)).status_code == 200
    assert state.mutations == []


# -- trials ----------------------------------------------------------------------------------


def trial_world() -> FakeState:
    state = world()
    state.add_subscription(
        CUSTOMER,
        subscription(NCE, isTrial=True, scheduledNextTermInstructions=SCHEDULED),
    )
    return state


def test_a_trial_can_be_cancelled_long_after_any_window() -> None:
    state = trial_world()
    state.advance_clock(timedelta(days=300))
    response = patch(state, NCE, full(state, NCE, status="deleted"))
    assert response.status_code == 200 and response.json()["status"] == "deleted"


def test_a_trial_cannot_be_suspended_800096() -> None:
    state = trial_world()
    description = refused(patch(state, NCE, full(state, NCE, status="suspended")), 400, 800096)
    assert "trial" in description and "auto-renew" in description


def test_a_trials_auto_renew_can_be_turned_off() -> None:
    state = trial_world()
    response = patch(state, NCE, full(state, NCE, autoRenewEnabled=False))
    assert response.status_code == 200 and response.json()["autoRenewEnabled"] is False
    assert response.json()["scheduledNextTermInstructions"] == SCHEDULED


# -- SaaS ------------------------------------------------------------------------------------


def saas(**fields: Any) -> FakeState:
    state = world()
    # As Microsoft's examples show one (docs/partner-center.md): no productType, not a
    # Microsoft product, another company's publisher, an offer id shaped like NCE's.
    wire = subscription(
        NCE,
        offerId="DZH318Z0BXWC:0001:DZH318Z0BMJX",
        productType=None,
        isMicrosoftProduct=False,
        publisherName="Contoso Software Inc",
        termDuration="P1M",
        creationDate="2026-11-20T08:00:00Z",
        effectiveStartDate="2026-11-20T09:00:00Z",
        commitmentEndDate="2026-12-19T00:00:00Z",
        cancellationAllowedUntilDate=None,
    )
    wire.update(fields)
    state.add_subscription(CUSTOMER, {k: v for k, v in wire.items() if v is not None})
    return state


def test_saas_can_be_cancelled_for_72_hours_from_its_start() -> None:
    state = saas()
    state.set_now("2026-11-23T09:00:00Z")  # exactly 72 hours
    assert patch(state, NCE, full(state, NCE, status="deleted")).status_code == 200


def test_saas_after_72_hours_is_refused_900213() -> None:
    state = saas()
    state.set_now("2026-11-23T09:00:01Z")
    description = refused(patch(state, NCE, full(state, NCE, status="deleted")), 400, 900213)
    assert "72-hour" in description and "2026-11-23T09:00:00Z" in description


def test_saas_window_falls_back_to_the_creation_date() -> None:
    state = saas(effectiveStartDate=None)
    state.set_now("2026-11-23T08:00:01Z")
    refused(patch(state, NCE, full(state, NCE, status="deleted")), 400, 900213)


def test_saas_own_cancellation_date_wins() -> None:
    state = saas(cancellationAllowedUntilDate="2026-12-01T23:59:00Z")
    state.set_now("2026-12-01T23:00:00Z")
    assert patch(state, NCE, full(state, NCE, status="deleted")).status_code == 200
    late = saas(cancellationAllowedUntilDate="2026-11-20T10:00:00Z")
    refused(patch(late, NCE, full(late, NCE, status="deleted")), 400, 900213)


def test_saas_cannot_be_suspended_800077() -> None:
    state = saas()
    refused(patch(state, NCE, full(state, NCE, status="suspended")), 403, 800077)


def test_saas_renews_at_term_end_with_a_new_72_hour_window() -> None:
    state = saas()
    state.set_now("2026-12-21T00:00:00Z")
    assert state.apply_lifecycle()
    renewed = state.subscription(CUSTOMER, NCE)
    assert renewed["status"] == "active"
    assert renewed["effectiveStartDate"] == "2026-12-20T00:00:00Z"
    assert renewed["commitmentEndDate"] == "2027-01-19T00:00:00Z"
    assert renewed["cancellationAllowedUntilDate"] == "2026-12-23T00:00:00Z"
    assert patch(state, NCE, full(state, NCE, status="deleted")).status_code == 200


def test_saas_with_auto_renew_off_expires_at_term_end() -> None:
    state = saas(autoRenewEnabled=False)
    state.set_now("2026-12-20T00:00:00Z")
    state.apply_lifecycle()
    assert state.subscription(CUSTOMER, NCE)["status"] == "expired"


# -- perpetual software ----------------------------------------------------------------------

ORDER = "9e8d7c6b5a4f"
PERPETUAL_OFFER = "DG7GMGF0DVT6:0002:DG7GMGF0DK1G"


def perpetual(**fields: Any) -> FakeState:
    state = world()
    wire = subscription(
        NCE,
        offerId=PERPETUAL_OFFER,
        productType={"id": "Software", "displayName": "Software"},
        termDuration=None,
        autoRenewEnabled=False,
        creationDate="2026-11-01T10:00:00Z",
        effectiveStartDate=None,
        commitmentEndDate="2026-11-02T00:00:00Z",  # a term would have ended: no catch-up
        cancellationAllowedUntilDate=None,
        orderId=ORDER,
    )
    wire.update(fields)
    state.add_subscription(CUSTOMER, {k: v for k, v in wire.items() if v is not None})
    state.add_order(
        CUSTOMER,
        {
            "id": ORDER,
            "creationDate": "2026-11-01T10:00:00Z",
            "status": "completed",
            "lineItems": [
                {
                    "lineItemNumber": 0,
                    "offerId": PERPETUAL_OFFER,
                    "subscriptionId": NCE,
                    "quantity": 2,
                }
            ],
        },
    )
    return state


ORDER_CANCEL = {
    "status": "cancelled",
    "lineItems": [{"lineItemNumber": 0, "offerId": PERPETUAL_OFFER}],
}


def test_perpetual_software_is_cancellable_for_30_days() -> None:
    state = perpetual()
    state.set_now("2026-12-01T23:59:00Z")  # bought 1 Nov: the window ends 1 Dec 23:59
    response = patch(state, NCE, full(state, NCE, status="deleted"))
    assert response.status_code == 200 and response.json()["status"] == "deleted"
    assert state.order(CUSTOMER, ORDER)["status"] == "cancelled"  # its order line goes too


def test_perpetual_software_after_30_days_is_refused_900117() -> None:
    state = perpetual()
    state.set_now("2026-12-02T00:00:00Z")
    description = refused(patch(state, NCE, full(state, NCE, status="deleted")), 400, 900117)
    assert "30-day" in description and "2026-12-01T23:59:00Z" in description


def test_perpetual_software_order_is_cancellable_for_30_days() -> None:
    state = perpetual()
    state.set_now("2026-11-25T00:00:00Z")  # past 7 days, inside 30
    app = FakePartnerCenter(state)
    response = call(app, "PATCH", f"/v1/customers/{CUSTOMER}/orders/{ORDER}", ORDER_CANCEL)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert state.subscription(CUSTOMER, NCE)["status"] == "deleted"


def test_perpetual_software_order_after_30_days_is_refused_900117() -> None:
    state = perpetual()
    state.set_now("2026-12-02T00:00:00Z")
    app = FakePartnerCenter(state)
    response = call(app, "PATCH", f"/v1/customers/{CUSTOMER}/orders/{ORDER}", ORDER_CANCEL)
    assert "30-day" in refused(response, 400, 900117)


def test_perpetual_software_own_cancellation_date_wins() -> None:
    state = perpetual(cancellationAllowedUntilDate="2026-11-05T23:59:00Z")
    state.set_now("2026-11-06T00:00:00Z")
    with pytest.raises(FakeApiError) as caught:
        state.patch_order(CUSTOMER, ORDER, ORDER_CANCEL)
    assert caught.value.code == 900117
    refused(patch(state, NCE, full(state, NCE, status="deleted")), 400, 900117)


def test_perpetual_software_has_no_term_to_catch_up() -> None:
    state = perpetual()
    state.advance_clock(timedelta(days=400))
    state.apply_lifecycle()
    assert state.subscription(CUSTOMER, NCE)["status"] == "active"


def test_term_software_keeps_its_7_days() -> None:
    state = perpetual(termDuration="P1Y")  # the same purchase, with a term
    state.set_now("2026-11-09T00:00:00Z")
    with pytest.raises(FakeApiError) as caught:
        state.patch_order(CUSTOMER, ORDER, ORDER_CANCEL)
    assert caught.value.code == 900117 and "7-day" in caught.value.description


# -- add-ons ---------------------------------------------------------------------------------


def test_suspending_a_legacy_base_suspends_its_active_add_ons() -> None:
    state = world()
    state.add_subscription(CUSTOMER, legacy(BASE))
    state.add_subscription(CUSTOMER, legacy(ADDON, parentSubscriptionId=BASE.upper()))
    state.add_subscription(
        CUSTOMER, legacy(SECOND_ADDON, parentSubscriptionId=BASE, status="suspended")
    )
    state.add_subscription(CUSTOMER, legacy(NCE))  # not an add-on: left alone
    response = patch(state, BASE, full(state, BASE, status="suspended"))
    assert response.status_code == 200
    assert state.subscription(CUSTOMER, ADDON)["status"] == "suspended"
    assert state.subscription(CUSTOMER, ADDON)["suspensionReasons"] == ["ResellerInitiated"]
    assert state.subscription(CUSTOMER, NCE)["status"] == "active"
    base, addon = state.mutations
    assert (base["target"], base["action"]) == (BASE, "suspend")
    assert (addon["target"], addon["action"], addon["parent"]) == (ADDON, "suspend", BASE)
    assert addon["changes"] == {"status": ["active", "suspended"]}
    assert addon["billing"] is False


@pytest.mark.parametrize("status", ["deleted", "suspended"])
def test_a_non_legacy_base_with_live_add_ons_is_refused(status: str) -> None:
    state = world()
    state.add_subscription(CUSTOMER, subscription(BASE, cancellationAllowedUntilDate=None))
    state.add_subscription(CUSTOMER, subscription(ADDON, parentSubscriptionId=BASE))
    description = refused(
        patch(state, BASE, full(state, BASE, status=status)), 400, CODE_ADDONS_LIVE
    )
    assert ADDON in description and "add-ons first" in description
    assert state.subscription(CUSTOMER, BASE)["status"] == "active"
    assert state.mutations == []


def test_a_non_legacy_base_goes_once_its_add_ons_are_gone() -> None:
    state = world()
    state.add_subscription(CUSTOMER, subscription(BASE, cancellationAllowedUntilDate=None))
    state.add_subscription(
        CUSTOMER, subscription(ADDON, parentSubscriptionId=BASE, cancellationAllowedUntilDate=None)
    )
    assert patch(state, ADDON, full(state, ADDON, status="deleted")).status_code == 200
    assert patch(state, BASE, full(state, BASE, status="deleted")).status_code == 200


def test_a_base_add_on_check_also_guards_software() -> None:
    state = perpetual()
    state.add_subscription(CUSTOMER, subscription(ADDON, parentSubscriptionId=NCE))
    refused(patch(state, NCE, full(state, NCE, status="deleted")), 400, CODE_ADDONS_LIVE)


# -- the full-body PATCH quirk ---------------------------------------------------------------


def quirk_world() -> FakeState:
    state = world()
    state.add_subscription(
        CUSTOMER,
        subscription(
            NCE, scheduledNextTermInstructions=SCHEDULED, nextChargeInstructions=NEXT_CHARGE
        ),
    )
    return state


def test_a_body_without_the_instructions_drops_them() -> None:
    state = quirk_world()
    body = {"status": "active", "autoRenewEnabled": True}
    response = patch(state, NCE, body)
    assert response.status_code == 200
    assert "scheduledNextTermInstructions" not in response.json()
    assert "nextChargeInstructions" not in state.subscription(CUSTOMER, NCE)
    (mutation,) = state.mutations
    assert mutation["action"] == "update"
    assert mutation["changes"] == {
        "scheduledNextTermInstructions": [SCHEDULED, None],
        "nextChargeInstructions": [NEXT_CHARGE, None],
    }


def test_a_full_body_keeps_the_instructions() -> None:
    state = quirk_world()
    response = patch(state, NCE, full(state, NCE, autoRenewEnabled=False))
    assert response.json()["scheduledNextTermInstructions"] == SCHEDULED
    assert response.json()["nextChargeInstructions"] == NEXT_CHARGE
    (mutation,) = state.mutations
    assert mutation["action"] == "update_auto_renew"
    assert mutation["changes"] == {"autoRenewEnabled": [True, False]}


def test_instruction_names_compare_case_insensitively() -> None:
    state = quirk_world()
    body = {
        "Status": "active",
        "AutoRenewEnabled": True,
        "ScheduledNextTermInstructions": SCHEDULED,
        "NEXTCHARGEINSTRUCTIONS": NEXT_CHARGE,
    }
    assert patch(state, NCE, body).status_code == 200
    stored = state.subscription(CUSTOMER, NCE)
    assert stored["scheduledNextTermInstructions"] == SCHEDULED
    assert stored["nextChargeInstructions"] == NEXT_CHARGE
    assert state.mutations == []


def test_suspension_still_drops_the_scheduled_changes_only() -> None:
    state = quirk_world()
    response = patch(state, NCE, full(state, NCE, status="suspended"))
    assert "scheduledNextTermInstructions" not in response.json()
    assert response.json()["nextChargeInstructions"] == NEXT_CHARGE


def test_a_body_without_auto_renew_still_turns_it_off() -> None:
    state = quirk_world()
    body = full(state, NCE)
    del body["autoRenewEnabled"]
    assert patch(state, NCE, body).json()["autoRenewEnabled"] is False
