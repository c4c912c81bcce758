"""Where pcr used to disagree with Microsoft's contract, through the installed `pcr`: only the
named line of a software order is cancelled, marketplace SaaS is cancelled and never
suspended, a biennial subscription is one pcr knows, a one-off 404 is no removal, and an
expired reservation blocks nothing (docs/partner-center.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from tests.apply.support import NORTHWIND
from tests.apply.support import NOW
from tests.apply.support import WIDE_WORLD
from tests.apply.support import WIDE_WORLD_ORDER
from tests.apply.support import WIDE_WORLD_SOFTWARE
from tests.apply.support import Estate
from tests.apply.support import make_estate
from tests.apply.support import run_pcr
from tests.live.pc_support import MARKETPLACE
from tests.live.pc_support import WIDE_WORLD_PERPETUAL
from tests.live.pc_support import add_perpetual_purchase
from tests.live.pc_support import marketplace_subscription

PERPETUAL = WIDE_WORLD_PERPETUAL
BIENNIAL = "6a7b8c9d-0000-4000-8000-000000000005"
WOODGROVE = "139748a4-22d9-4508-bd7f-04e25f245176"


def apply_now(pcr: str, estate: Estate, *args: str) -> Any:
    """A fresh `pcr apply`, approved, in the estate (the fake in process unless told)."""
    backend = () if "--endpoint" in args else ("--fake", "live.json")
    return run_pcr(
        pcr,
        *("apply", "--desired", "desired-state", *backend, "--now", NOW, "--auto-approve"),
        *args,
        cwd=estate.root,
    )


def edit_live(estate: Estate, change: Any) -> None:
    state = FakeState.load(estate.live)
    change(state)
    state.save(estate.live)


def wide_world_stays_and_cancels(estate: Estate, subscription: str) -> None:
    (estate.desired / "customers" / "wide-world-importers.yaml").write_text(
        f"tenant_id: {WIDE_WORLD}\nname: Wide World Importers\nrelationship: reseller\n"
        f"subscriptions:\n  - id: {subscription}\n    status: cancelled\n"
    )


def lines(estate: Estate) -> list[int]:
    order = FakeState.load(estate.live).order(WIDE_WORLD, WIDE_WORLD_ORDER)
    return [line["quantity"] for line in order["lineItems"]]


def status(estate: Estate, customer: str, subscription: str) -> str:
    """As Partner Center keeps it, though the customer may no longer be the partner's."""
    subscriptions = FakeState.load(estate.live).data["subscriptions"][customer]
    return str(next(s["status"] for s in subscriptions if s["id"] == subscription))


def only(*customers: str) -> list[str]:
    return [f"--only={c}" for c in customers]


def test_one_of_two_software_purchases_in_one_order_is_cancelled_and_the_other_kept(
    tmp_path: Path, pcr_executable: str
) -> None:
    """The harm this fixes: the order PATCH used to list every line of the order."""
    estate = make_estate(tmp_path)
    edit_live(estate, add_perpetual_purchase)
    wide_world_stays_and_cancels(estate, PERPETUAL)
    applied = apply_now(pcr_executable, estate, *only(WIDE_WORLD))
    assert applied.returncode == 0, applied.stderr
    assert status(estate, WIDE_WORLD, PERPETUAL) == "deleted"
    assert status(estate, WIDE_WORLD, WIDE_WORLD_SOFTWARE) == "active"
    assert lines(estate) == [4, 0]  # its own line only
    (sent,) = [m for m in estate.mutations() if m["customer_id"] == WIDE_WORLD]
    assert (sent["action"], sent["lines"]) == ("cancel_order", [1])


def test_software_with_a_term_is_cancelled_by_its_subscription_alone(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    edit_live(estate, add_perpetual_purchase)
    wide_world_stays_and_cancels(estate, WIDE_WORLD_SOFTWARE)
    applied = apply_now(pcr_executable, estate, *only(WIDE_WORLD))
    assert applied.returncode == 0, applied.stderr
    assert status(estate, WIDE_WORLD, WIDE_WORLD_SOFTWARE) == "deleted"
    assert status(estate, WIDE_WORLD, PERPETUAL) == "active"
    assert lines(estate) == [0, 2]
    (sent,) = [m for m in estate.mutations() if m["customer_id"] == WIDE_WORLD]
    assert sent["action"] == "cancel" and sent["target"] == WIDE_WORLD_SOFTWARE


def plan_json(pcr: str, estate: Estate, *args: str) -> dict[str, Any]:
    done = run_pcr(
        pcr,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--format", "json", *args),
        cwd=estate.root,
    )
    assert done.returncode in (0, 2), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_marketplace_saas_is_cancelled_in_an_offboarding_never_suspended(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    # Bought 45 hours ago: inside its 72 hours (a new-commerce refund would be prorated now).
    edit_live(
        estate,
        lambda s: s.add_subscription(NORTHWIND, marketplace_subscription("2026-11-20T12:00:00Z")),
    )
    plan = plan_json(pcr_executable, estate, *only(NORTHWIND))
    on_saas = [a for a in plan["actions"] if a["target_id"] == MARKETPLACE]
    assert [a["type"] for a in on_saas] == ["cancel_subscription"]
    assert on_saas[0]["billing"]["refund"] == "full"  # inside its 72 hours
    applied = apply_now(pcr_executable, estate, *only(NORTHWIND))
    assert applied.returncode == 0, applied.stderr
    assert status(estate, NORTHWIND, MARKETPLACE) == "deleted"
    assert not [
        m for m in estate.mutations() if m["target"] == MARKETPLACE and m["action"] != "cancel"
    ]


def test_marketplace_saas_past_its_72_hours_waits_for_its_term_and_is_never_suspended(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    edit_live(
        estate,
        lambda s: s.add_subscription(NORTHWIND, marketplace_subscription("2026-11-10T10:00:00Z")),
    )
    (northwind,) = [f for f in (estate.desired / "customers").glob("northwind.yaml")]
    northwind.write_text(northwind.read_text() + "offboarding:\n  nce_outside_window: suspend\n")
    plan = plan_json(pcr_executable, estate, *only(NORTHWIND))
    on_saas = [a["type"] for a in plan["actions"] if a["target_id"] == MARKETPLACE]
    assert on_saas == ["disable_auto_renew"]  # even asked to suspend: SaaS is never suspended
    assert [d for d in plan["deferred"] if d["customer_id"] == NORTHWIND]


def test_a_biennial_subscription_is_cancelled_in_its_window(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    biennial = {
        "id": BIENNIAL,
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "offerName": "Microsoft 365 Business Basic",
        "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        "isMicrosoftProduct": True,
        "quantity": 10,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "biennial",
        "termDuration": "P3Y",
        "creationDate": "2026-11-20T10:00:00Z",
        "effectiveStartDate": "2026-11-20T00:00:00Z",
        "commitmentEndDate": "2029-11-19T00:00:00Z",
        "cancellationAllowedUntilDate": "2026-11-27T23:59:00Z",
        "attributes": {"objectType": "Subscription"},
    }
    edit_live(estate, lambda s: s.add_subscription(NORTHWIND, biennial))
    plan = plan_json(pcr_executable, estate, *only(NORTHWIND))
    assert not [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]  # not unknown
    assert ("cancel_subscription", BIENNIAL) in {
        (a["type"], a["target_id"]) for a in plan["actions"]
    }
    applied = apply_now(pcr_executable, estate, *only(NORTHWIND))
    assert applied.returncode == 0, applied.stderr
    assert status(estate, NORTHWIND, BIENNIAL) == "deleted"


def test_a_one_off_404_during_an_apply_is_read_again_and_the_offboarding_happens(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    with FakeServer(estate.live) as server:
        server.app.add_fault("GET", f"/customers/{NORTHWIND}/subscriptions$", status=404, count=1)
        applied = apply_now(pcr_executable, estate, "--endpoint", server.url)
        removed = [
            m
            for m in server.state.mutations
            if (m["customer_id"], m["action"]) == (NORTHWIND, "remove_relationship")
        ]
    assert applied.returncode == 0, applied.stderr
    assert removed  # a real offboarding
    assert "No changes" not in applied.stdout + applied.stderr


def test_a_404_that_keeps_coming_fails_the_run_and_touches_nothing_of_that_customer(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    with FakeServer(estate.live) as server:
        server.app.add_fault(
            "GET", f"/customers/{NORTHWIND}/subscriptions$", status=404, count=None
        )
        applied = apply_now(pcr_executable, estate, "--endpoint", server.url)
        mutations = list(server.state.mutations)
    assert applied.returncode == 1
    assert "could not be read from Partner Center" in applied.stderr
    assert "No changes" not in applied.stdout + applied.stderr
    assert not [m for m in mutations if m["customer_id"] == NORTHWIND]
    assert [m for m in mutations if m["customer_id"] != NORTHWIND]  # the others were applied


def test_a_reservation_past_its_expiry_no_longer_blocks_the_removal(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)

    def expired(state: FakeState) -> None:
        for item in state.data["entitlements"][WOODGROVE]:
            if item["entitlementType"] == "reservedinstance":
                item["expiryDate"] = "2026-11-01T00:00:00Z"

    blocked_before = [b["kind"] for b in plan_json(pcr_executable, estate)["blocked"]]
    assert "reserved_instance" in blocked_before
    edit_live(estate, expired)
    plan = plan_json(pcr_executable, estate)
    assert "reserved_instance" not in [b["kind"] for b in plan["blocked"]]
    assert ("remove_relationship", WOODGROVE) in {
        (a["type"], a["customer_id"]) for a in plan["actions"]
    }
    # And Partner Center (the fake, as Microsoft documents it) lets the removal through.
    applied = apply_now(pcr_executable, estate, *only(WOODGROVE))
    assert applied.returncode == 0, applied.stderr
    customers = FakeState.load(estate.live).data["customers"]
    assert next(c for c in customers if c["id"] == WOODGROVE)["relationshipToPartner"] == "none"
