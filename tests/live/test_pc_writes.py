"""Writes through the client, and the service rules the fake enforces on them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.errors import FakeApiError
from reconciler.fake.state import FakeState
from reconciler.live.errors import LineNotFound
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.models import SubscriptionStatus
from tests.live.pc_support import ADVENTURE_WORKS
from tests.live.pc_support import ADVENTURE_WORKS_NCE
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_BASIC_NCE
from tests.live.pc_support import FABRIKAM_E3_LEGACY
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import NORTHWIND
from tests.live.pc_support import PROSEWARE
from tests.live.pc_support import PROSEWARE_LEGACY
from tests.live.pc_support import PROSEWARE_NCE
from tests.live.pc_support import TAILSPIN
from tests.live.pc_support import TAILSPIN_NCE
from tests.live.pc_support import WIDE_WORLD
from tests.live.pc_support import WIDE_WORLD_ORDER
from tests.live.pc_support import WIDE_WORLD_PERPETUAL
from tests.live.pc_support import WIDE_WORLD_SOFTWARE
from tests.live.pc_support import WOODGROVE
from tests.live.pc_support import WOODGROVE_RESERVATION
from tests.live.pc_support import Live
from tests.live.pc_support import add_perpetual_purchase
from tests.live.pc_support import make_client


def raw_patch(app: FakePartnerCenter, path: str, body: dict[str, object]) -> httpx.Response:
    """A PATCH straight at the fake, bypassing the client's full-body discipline."""
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://fake") as http:
        return http.patch(path, json=body, headers={"Authorization": f"Bearer {FAKE_TOKEN}"})


# -- subscriptions ---------------------------------------------------------------------------


def test_suspend_and_reactivate_a_legacy_subscription(live: Live) -> None:
    suspended = live.client.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="suspended")
    assert suspended.status is SubscriptionStatus.SUSPENDED
    assert suspended.auto_renew  # legacy suspension leaves auto-renew alone
    assert not live.state.is_billing(FABRIKAM, FABRIKAM_E3_LEGACY)  # legacy: not billed

    active = live.client.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="active")
    assert active.status is SubscriptionStatus.ACTIVE
    assert [m["action"] for m in live.app.mutations] == ["suspend", "reactivate"]
    assert live.app.mutations[0]["billing"] is False


def test_suspending_nce_turns_auto_renew_off_and_keeps_billing(live: Live) -> None:
    result = live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="suspended")
    assert result.status is SubscriptionStatus.SUSPENDED and not result.auto_renew
    (mutation,) = live.app.mutations
    assert mutation["billing"] is True
    assert mutation["changes"] == {
        "status": ["active", "suspended"],
        "autoRenewEnabled": [True, False],
    }
    assert live.state.is_billing(FABRIKAM, FABRIKAM_BASIC_NCE)


def test_disable_auto_renew_keeps_everything_else(live: Live) -> None:
    before = live.state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE).copy()
    result = live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False)
    after = live.state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE)
    assert not result.auto_renew and result.status is SubscriptionStatus.ACTIVE
    assert {k: v for k, v in after.items() if k != "autoRenewEnabled"} == {
        k: v for k, v in before.items() if k != "autoRenewEnabled"
    }


def test_the_write_carries_the_callers_request_id(live: Live) -> None:
    live.client.update_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False, request_id="journal-0001"
    )
    assert live.app.mutations[-1]["request_id"] == "journal-0001"
    assert live.app.mutations[-1]["correlation_id"] == live.client.correlation_id
    patch = [r for r in live.app.requests if r.method == "PATCH"]
    assert [r.request_id for r in patch] == ["journal-0001"]


def test_nothing_is_sent_when_the_subscription_already_is_as_asked(live: Live) -> None:
    live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="active", auto_renew=True)
    assert [r.method for r in live.app.requests] == ["GET"]
    assert live.app.mutations == []


def test_a_minimal_body_silently_turns_auto_renew_off(state: FakeState) -> None:
    app = FakePartnerCenter(state)
    path = f"/v1/customers/{FABRIKAM}/subscriptions/{FABRIKAM_BASIC_NCE}"
    response = raw_patch(app, path, {"status": "active"})
    assert response.status_code == 200
    assert response.json()["autoRenewEnabled"] is False
    assert state.mutations[-1]["action"] == "update_auto_renew"


def test_the_client_always_sends_the_full_resource(state: FakeState) -> None:
    bodies: list[bytes] = []
    app = FakePartnerCenter(state)
    inner = httpx.WSGITransport(app=app)

    def spy(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            bodies.append(request.content)
        return inner.handle_request(request)

    with make_client(app) as client:
        client._http._transport = httpx.MockTransport(spy)
        client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="suspended")
    sent = httpx.Response(200, content=bodies[0]).json()
    assert sent["offerId"] == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert sent["status"] == "suspended" and "autoRenewEnabled" in sent
    assert sent["commitmentEndDate"] == "2027-04-14T00:00:00Z"


def test_a_write_keeps_scheduled_changes_and_fields_pcr_does_not_manage(live: Live) -> None:
    """A body without `scheduledNextTermInstructions` or `nextChargeInstructions` deletes
    them (docs/partner-center.md, "Cancelling and changing"), and the fake does as the service
    does; pcr sends back what it read."""
    scheduled = {
        "product": {"productId": "CFQ7TTC0LH18", "skuId": "0002", "termDuration": "P1Y"},
        "quantity": 30,
    }
    charge = {"billingCycle": "annual"}
    with live.app.edit():
        stored = live.state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE)
        stored["autoRenewEnabled"] = False
        stored |= {
            "scheduledNextTermInstructions": scheduled,
            "nextChargeInstructions": charge,
            "partnerNotes": {"ticket": "CSP-4711"},  # a field pcr has never heard of
        }
    live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=True)
    after = live.state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE)
    assert after["autoRenewEnabled"] is True
    assert after["scheduledNextTermInstructions"] == scheduled
    assert after["nextChargeInstructions"] == charge
    assert after["partnerNotes"] == {"ticket": "CSP-4711"}


def test_a_minimal_body_drops_the_scheduled_changes(state: FakeState) -> None:
    """The other half: the fake really drops them, so the test above can fail."""
    app = FakePartnerCenter(state)
    state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE)["scheduledNextTermInstructions"] = {"q": 1}
    path = f"/v1/customers/{FABRIKAM}/subscriptions/{FABRIKAM_BASIC_NCE}"
    raw_patch(app, path, {"status": "active", "autoRenewEnabled": True})
    assert "scheduledNextTermInstructions" not in state.subscription(FABRIKAM, FABRIKAM_BASIC_NCE)


def test_cancel_nce_inside_the_window(live: Live) -> None:
    result = live.client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="deleted")
    assert result.status is SubscriptionStatus.DELETED
    assert live.app.mutations[-1]["action"] == "cancel"
    assert not live.state.is_billing(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE)


def test_cancel_nce_after_the_window_is_refused_with_900117(live: Live) -> None:
    with pytest.raises(PartnerCenterError) as caught:
        live.client.update_subscription(TAILSPIN, TAILSPIN_NCE, status="deleted")
    assert (caught.value.status, caught.value.code) == (400, "900117")
    assert "2026-03-08T23:59:00Z" in caught.value.description
    assert live.app.mutations == []


def test_the_window_closes_at_its_last_minute(state: FakeState) -> None:
    state.set_now("2026-11-26T23:59:00Z")  # the last allowed moment
    state.patch_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, {"status": "deleted"})
    state.set_now("2026-11-27T00:00:00Z")
    other = dict(state.subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE))
    other.update(id="x", status="active")
    state.add_subscription(ADVENTURE_WORKS, other)
    with pytest.raises(FakeApiError) as caught:
        state.patch_subscription(ADVENTURE_WORKS, "x", {"status": "deleted"})
    assert caught.value.code == 900117


def test_a_deleted_subscription_cannot_change_2011(live: Live) -> None:
    live.client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="deleted")
    with pytest.raises(PartnerCenterError) as caught:
        live.client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="active")
    assert (caught.value.status, caught.value.code) == (400, "2011")


def test_legacy_cannot_be_cancelled_only_suspended(state: FakeState) -> None:
    with pytest.raises(FakeApiError) as caught:
        state.patch_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, {"status": "deleted"})
    assert caught.value.code == 800096 and "suspend" in caught.value.description


def test_a_suspended_subscription_cannot_turn_auto_renew_on(state: FakeState) -> None:
    state.patch_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, {"status": "suspended"})
    with pytest.raises(FakeApiError) as caught:
        state.patch_subscription(
            FABRIKAM, FABRIKAM_BASIC_NCE, {"status": "suspended", "autoRenewEnabled": True}
        )
    assert caught.value.code == 800091


def test_field_names_match_case_insensitively(state: FakeState) -> None:
    result = state.patch_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, {"Status": "Active", "AutoRenewEnabled": True}
    )
    assert result["autoRenewEnabled"] is True and state.mutations == []


def test_client_refuses_an_unwritable_status(live: Live) -> None:
    with pytest.raises(ValueError, match="expired"):
        live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="expired")
    assert live.app.requests == []


# -- lifecycle ------------------------------------------------------------------------------


def test_nce_with_auto_renew_off_expires_at_term_end(live: Live) -> None:
    live.client.update_subscription(TAILSPIN, TAILSPIN_NCE, auto_renew=False)
    live.app.set_now("2027-02-28T23:59:59Z")  # the commitment end date is inclusive
    assert live.client.get_subscription(TAILSPIN, TAILSPIN_NCE).status is SubscriptionStatus.ACTIVE
    live.app.set_now("2027-03-01T00:00:00Z")
    assert live.client.get_subscription(TAILSPIN, TAILSPIN_NCE).status is SubscriptionStatus.EXPIRED
    assert live.client.remove_relationship(TAILSPIN).relationship == "none"


def test_nce_with_auto_renew_on_renews_with_a_new_window(live: Live) -> None:
    live.app.set_now("2026-12-02T00:00:00Z")  # proseware's monthly term ended on 30 Nov
    renewed = live.client.get_subscription(PROSEWARE, PROSEWARE_NCE)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.commitment_end is not None and renewed.cancellation_allowed_until is not None
    assert renewed.commitment_end.isoformat() == "2026-12-31T00:00:00+00:00"
    assert renewed.cancellation_allowed_until.isoformat() == "2026-12-08T23:59:00+00:00"
    # Inside the renewal's window, it can be cancelled again.
    cancelled = live.client.update_subscription(PROSEWARE, PROSEWARE_NCE, status="deleted")
    assert cancelled.status is SubscriptionStatus.DELETED


def test_suspended_nce_at_term_end_is_disabled(state: FakeState) -> None:
    state.patch_subscription(TAILSPIN, TAILSPIN_NCE, {"status": "suspended"})
    state.advance_clock(timedelta(days=120))
    state.apply_lifecycle()
    assert state.subscription(TAILSPIN, TAILSPIN_NCE)["status"] == "disabled"


# -- software orders ------------------------------------------------------------------------


def a_perpetual_purchase_in_the_same_order(live: Live) -> None:
    """Wide World's software order gets a second line: a perpetual purchase, bought with
    the one-year SQL Server subscription."""
    with live.app.edit() as state:
        add_perpetual_purchase(state)


def test_an_order_line_is_cancelled_alone(live: Live) -> None:
    """Only the line that is the subscription goes: the order's other purchase stays."""
    a_perpetual_purchase_in_the_same_order(live)
    order = live.client.cancel_order_line(
        WIDE_WORLD, WIDE_WORLD_ORDER, WIDE_WORLD_PERPETUAL, request_id="j-7"
    )
    assert [(line.number, line.quantity) for line in order.line_items] == [(0, 4), (1, 0)]
    assert order.status == "completed"  # cancelled only once every line is
    sent = [r for r in live.app.requests if r.method == "PATCH"]
    assert len(sent) == 1 and live.app.mutations[-1]["lines"] == [1]
    assert live.app.mutations[-1]["request_id"] == "j-7"
    perpetual = live.client.get_subscription(WIDE_WORLD, WIDE_WORLD_PERPETUAL)
    assert perpetual.status is SubscriptionStatus.DELETED
    software = live.client.get_subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE)
    assert software.status is SubscriptionStatus.ACTIVE  # the other line's purchase is kept
    # Cancelling again sends nothing more.
    live.client.cancel_order_line(WIDE_WORLD, WIDE_WORLD_ORDER, WIDE_WORLD_PERPETUAL)
    assert len(live.app.mutations) == 1


def test_no_line_for_the_subscription_sends_nothing(live: Live) -> None:
    with pytest.raises(LineNotFound, match="has no line for subscription"):
        live.client.cancel_order_line(WIDE_WORLD, WIDE_WORLD_ORDER, WIDE_WORLD_PERPETUAL)
    assert [r.method for r in live.app.requests] == ["GET"]
    assert live.app.mutations == []


def test_an_order_line_after_the_window_is_refused(live: Live) -> None:
    a_perpetual_purchase_in_the_same_order(live)
    live.app.set_now("2026-12-21T00:00:00Z")  # perpetual: 30 days from 20 Nov
    with pytest.raises(PartnerCenterError) as caught:
        live.client.cancel_order_line(WIDE_WORLD, WIDE_WORLD_ORDER, WIDE_WORLD_PERPETUAL)
    assert (caught.value.status, caught.value.code) == (400, "900117")
    assert live.state.subscription(WIDE_WORLD, WIDE_WORLD_PERPETUAL)["status"] == "active"


def test_software_with_a_term_is_cancelled_by_its_subscription_alone(live: Live) -> None:
    a_perpetual_purchase_in_the_same_order(live)
    cancelled = live.client.update_subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE, status="deleted")
    assert cancelled.status is SubscriptionStatus.DELETED
    lines = live.state.order(WIDE_WORLD, WIDE_WORLD_ORDER)["lineItems"]
    assert [line["quantity"] for line in lines] == [0, 2]  # its own line only
    perpetual = live.client.get_subscription(WIDE_WORLD, WIDE_WORLD_PERPETUAL)
    assert perpetual.status is SubscriptionStatus.ACTIVE


def test_order_window_falls_back_to_the_order_date(state: FakeState) -> None:
    del state.subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE)["cancellationAllowedUntilDate"]
    state.set_now("2026-11-27T23:59:00Z")  # ordered 20 Nov: window ends 27 Nov 23:59
    body = {"status": "cancelled", "lineItems": [{"lineItemNumber": 0, "offerId": "x"}]}
    with pytest.raises(FakeApiError) as mismatch:
        state.patch_order(WIDE_WORLD, WIDE_WORLD_ORDER, body)
    assert mismatch.value.code == 800061
    body["lineItems"] = [{"lineItemNumber": 0, "offerId": "DG7GMGF0FKZV:0001:DG7GMGF0KWJD"}]
    state.set_now("2026-11-28T00:00:00Z")
    with pytest.raises(FakeApiError) as late:
        state.patch_order(WIDE_WORLD, WIDE_WORLD_ORDER, body)
    assert late.value.code == 900117


def test_an_order_line_for_nce_must_be_cancelled_as_a_subscription(state: FakeState) -> None:
    state.add_order(
        ADVENTURE_WORKS,
        {
            "id": "nceorder",
            "creationDate": "2026-11-19T14:03:22Z",
            "status": "completed",
            "lineItems": [
                {
                    "lineItemNumber": 0,
                    "offerId": "CFQ7TTC0LCHC:0002:CFQ7TTC0K5DM",
                    "subscriptionId": ADVENTURE_WORKS_NCE,
                    "quantity": 20,
                }
            ],
        },
    )
    body = {
        "status": "cancelled",
        "lineItems": [{"lineItemNumber": 0, "offerId": "CFQ7TTC0LCHC:0002:CFQ7TTC0K5DM"}],
    }
    with pytest.raises(FakeApiError) as caught:
        state.patch_order(ADVENTURE_WORKS, "nceorder", body)
    assert caught.value.code == 800063


def test_cancelling_the_software_subscription_cancels_its_order_line(state: FakeState) -> None:
    state.patch_subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE, {"status": "deleted"})
    assert state.order(WIDE_WORLD, WIDE_WORLD_ORDER)["status"] == "cancelled"
    assert state.entitlements(WIDE_WORLD) == []


# -- relationship removal -------------------------------------------------------------------


def blocked(live: Live, customer_id: str) -> PartnerCenterError:
    with pytest.raises(PartnerCenterError) as caught:
        live.client.remove_relationship(customer_id)
    assert (caught.value.status, caught.value.code) == (400, "3001")
    return caught.value


def test_removal_is_refused_while_a_legacy_subscription_is_active(live: Live) -> None:
    assert "b2c4e6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b" in blocked(live, NORTHWIND).description
    for sub in live.client.list_subscriptions(NORTHWIND):
        if sub.status is SubscriptionStatus.ACTIVE:
            live.client.update_subscription(NORTHWIND, sub.id, status="suspended")
    assert live.client.remove_relationship(NORTHWIND).relationship == "none"


def test_removal_is_refused_while_nce_is_suspended(live: Live) -> None:
    live.client.update_subscription(PROSEWARE, PROSEWARE_LEGACY, status="suspended")
    live.client.update_subscription(PROSEWARE, PROSEWARE_NCE, status="suspended")
    description = blocked(live, PROSEWARE).description
    assert "suspended new-commerce" in description and PROSEWARE_NCE in description
    assert PROSEWARE_LEGACY not in description


def test_removal_is_refused_while_software_is_active(live: Live) -> None:
    assert WIDE_WORLD_SOFTWARE in blocked(live, WIDE_WORLD).description
    live.client.update_subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE, status="deleted")
    assert live.client.remove_relationship(WIDE_WORLD).relationship == "none"


def test_removal_is_refused_while_a_reserved_instance_is_live(live: Live) -> None:
    plan = next(s for s in live.client.list_subscriptions(WOODGROVE) if s.kind.value == "azure")
    with live.app.lock:
        live.state.set_azure_cancel_reads(0)  # settled at once: this test is about the RI
    for azure in live.client.list_azure_entitlements(WOODGROVE, plan.id):
        live.client.cancel_azure_entitlement(WOODGROVE, plan.id, azure.id)
    for sub in live.client.list_subscriptions(WOODGROVE):
        live.client.update_subscription(WOODGROVE, sub.id, status="suspended")
    description = blocked(live, WOODGROVE).description
    assert WOODGROVE_RESERVATION in description and "Azure support" in description
    with live.app.lock:
        live.state.cancel_reserved_instance(WOODGROVE, WOODGROVE_RESERVATION)
    assert live.client.remove_relationship(WOODGROVE).relationship == "none"


def test_an_azure_plan_with_active_azure_subscriptions_is_not_suspended(live: Live) -> None:
    plan = next(s for s in live.client.list_subscriptions(WOODGROVE) if s.kind.value == "azure")
    with pytest.raises(PartnerCenterError) as refused:
        live.client.update_subscription(WOODGROVE, plan.id, status="suspended")
    assert (refused.value.status, refused.value.code) == (403, "900115")
    assert "Admin agent" not in str(refused.value)  # a service rule, not a missing role


def test_a_removed_customer_leaves_the_list(live: Live) -> None:
    live.client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="deleted")
    removed = live.client.remove_relationship(ADVENTURE_WORKS, request_id="j-9")
    assert (removed.id, removed.relationship) == (ADVENTURE_WORKS, "none")
    assert ADVENTURE_WORKS not in {c.id for c in live.client.list_customers()}
    with pytest.raises(NotFound) as caught:
        live.client.get_customer(ADVENTURE_WORKS)
    assert caught.value.code == "3000"
    (mutation,) = [m for m in live.app.mutations if m["action"] == "remove_relationship"]
    assert mutation["request_id"] == "j-9"
    with pytest.raises(NotFound):
        live.client.remove_relationship(ADVENTURE_WORKS)


def test_only_relationship_none_is_accepted_on_a_customer(state: FakeState) -> None:
    response = raw_patch(FakePartnerCenter(state), f"/v1/customers/{CONTOSO}", {"name": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "code": 800061,
        "description": "Only relationshipToPartner: none can be set here.",
        "data": [],
        "source": "PartnerFD",
    }
