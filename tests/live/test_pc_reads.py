"""Reads through the client, against the fake in process and over loopback sockets."""

from __future__ import annotations

import uuid

import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.errors import NotFound
from reconciler.live.models import EntitlementType
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from tests.live.pc_support import ALPINE
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_BASIC_NCE
from tests.live.pc_support import FABRIKAM_E3_LEGACY
from tests.live.pc_support import WIDE_WORLD
from tests.live.pc_support import WIDE_WORLD_ORDER
from tests.live.pc_support import WIDE_WORLD_SOFTWARE
from tests.live.pc_support import WOODGROVE
from tests.live.pc_support import WOODGROVE_RESERVATION
from tests.live.pc_support import Live
from tests.live.pc_support import example_state
from tests.live.pc_support import make_client


def test_paging_follows_continuation_tokens_across_many_pages(live: Live) -> None:
    for number in range(85):  # 10 example customers + 85 = 95
        tenant = str(uuid.UUID(int=number + 1))
        live.state.add_customer(tenant, f"Customer {number:02d}", f"c{number:02d}.onmicrosoft.com")

    customers = live.client.list_customers(page_size=10)

    assert len(customers) == 95
    assert len({c.id for c in customers}) == 95
    assert customers[0].id == CONTOSO and customers[-1].name == "Customer 84"
    pages = [r for r in live.app.requests if r.path == "/v1/customers"]
    assert len(pages) == 10
    assert pages[0].query == "size=10"
    assert all(r.query == "seekOperation=Next" for r in pages[1:])
    assert live.client.request_count == 10


def test_paging_skips_nobody_when_a_customer_leaves_mid_listing(state: FakeState) -> None:
    app = FakePartnerCenter(state)
    with make_client(app) as client:
        pages = client.iter_customers(page_size=3)
        first = [next(pages) for _ in range(3)]
        state.customer(first[-1].id)["relationshipToPartner"] = "none"  # removed meanwhile
        rest = list(pages)
    assert len(first) + len(rest) == 10


def test_get_customer_and_typed_fields(live: Live) -> None:
    customer = live.client.get_customer(FABRIKAM)
    assert (customer.id, customer.name, customer.domain, customer.relationship) == (
        FABRIKAM,
        "Fabrikam Inc",
        "fabrikam.onmicrosoft.com",
        "reseller",
    )


def test_unknown_customer_is_not_found(live: Live) -> None:
    with pytest.raises(NotFound) as caught:
        live.client.get_customer("00000000-0000-0000-0000-00000000dead")
    assert caught.value.status == 404


def test_subscriptions_are_classified_from_the_wire(live: Live) -> None:
    subscriptions = {s.id: s for s in live.client.list_subscriptions(FABRIKAM)}
    legacy, nce = subscriptions[FABRIKAM_E3_LEGACY], subscriptions[FABRIKAM_BASIC_NCE]
    assert legacy.kind is SubscriptionKind.LEGACY and legacy.cancellation_allowed_until is None
    assert nce.kind is SubscriptionKind.NCE and nce.auto_renew
    assert nce.cancellation_allowed_until is not None
    assert nce.cancellation_allowed_until.isoformat() == "2026-04-22T23:59:00+00:00"
    kinds = {s.kind for s in live.client.list_subscriptions(CONTOSO)}
    assert kinds == {SubscriptionKind.NCE, SubscriptionKind.AZURE}


def test_get_subscription(live: Live) -> None:
    software = live.client.get_subscription(WIDE_WORLD, WIDE_WORLD_SOFTWARE)
    assert software.kind is SubscriptionKind.SOFTWARE
    assert software.status is SubscriptionStatus.ACTIVE
    assert software.order_id == WIDE_WORLD_ORDER


def test_entitlements_carry_reservation_order_ids(live: Live) -> None:
    (reservation,) = live.client.list_entitlements(WOODGROVE)
    assert reservation.type is EntitlementType.RESERVED_INSTANCE
    assert reservation.artifact_ids == (WOODGROVE_RESERVATION,)
    assert reservation.expires_at is not None  # asked for with showExpiry=true
    (software,) = live.client.list_entitlements(WIDE_WORLD)
    assert software.type is EntitlementType.SOFTWARE and software.order_id == WIDE_WORLD_ORDER


def test_entitlement_type_filter_and_expired_entitlements(state: FakeState) -> None:
    assert [e["entitlementType"] for e in state.entitlements(WOODGROVE, "reservedInstance")] == [
        "reservedinstance"
    ]
    assert state.entitlements(WOODGROVE, "software") == []
    assert "expiryDate" not in state.entitlements(WOODGROVE)[0]
    state.set_now("2029-06-01T00:00:00Z")  # past the reservation's expiry: still listed,
    (expired,) = state.entitlements(WOODGROVE, show_expiry=True)  # with the date that ended it
    assert expired["expiryDate"] < "2029-06-01"


def test_get_order(live: Live) -> None:
    order = live.client.get_order(WIDE_WORLD, WIDE_WORLD_ORDER)
    assert order.status == "completed"
    assert [(line.number, line.subscription_id) for line in order.line_items] == [
        (0, WIDE_WORLD_SOFTWARE)
    ]


def test_list_omits_delegated_access_that_get_by_id_returns() -> None:
    app = FakePartnerCenter(example_state())
    with make_client(app) as client:
        listing = client._get_json("/customers", {"size": 50})
        single = client._get_json(f"/customers/{ALPINE}")
    assert all("allowDelegatedAccess" not in item for item in listing["items"])
    assert listing["totalCount"] == 10 and "next" not in listing["links"]
    assert single["allowDelegatedAccess"] is True
