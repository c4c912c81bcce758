"""A real estate, end to end with the installed `pcr`: an Azure plan with two active Azure
subscriptions, add-ons under their bases, a trial, and a declared customer Partner Center does
not list. Planned and applied in process and over loopback, it converges in the documented
order, and the customer who is missing blocks only itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.fake.state import FakeState
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import fake_serve
from tests.apply.support import run_apply
from tests.apply.support import run_pcr
from tests.apply.support import save_plan
from tests.conftest import DIRECT_PARTNER

LEAVING = "0a1b2c3d-0000-4000-8000-00000000a001"
MISSING = "0a1b2c3d-0000-4000-8000-00000000b002"
AZURE_PLAN = "5a000000-0000-4000-8000-000000000001"
AZURE_SUBS = ("5a000000-0000-4000-8000-0000000000a1", "5a000000-0000-4000-8000-0000000000a2")
NCE_BASE = "5b000000-0000-4000-8000-000000000001"
NCE_ADDON = "5b000000-0000-4000-8000-000000000002"
LEGACY_BASE = "5c000000-0000-4000-8000-000000000001"
LEGACY_ADDON = "5c000000-0000-4000-8000-000000000002"
TRIAL = "5d000000-0000-4000-8000-000000000001"
MODELINE = "# yaml-language-server: $schema=../../schemas/customer.schema.json\n"


def nce(sid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "offerName": name,
        "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        "quantity": 10,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "creationDate": "2026-11-20T10:00:00Z",
        "effectiveStartDate": "2026-11-20T00:00:00Z",
        "commitmentEndDate": "2027-11-19T00:00:00Z",
        "cancellationAllowedUntilDate": "2026-11-27T23:59:00Z",
        **extra,
    }


def legacy(sid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "offerId": "796B6B5F-613C-4E24-A17C-EBA730D49C02",
        "offerName": name,
        "quantity": 5,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "commitmentEndDate": "2027-03-31T00:00:00Z",
        **extra,
    }


def build_state() -> FakeState:
    state = FakeState.empty(NOW)
    state.add_customer(LEAVING, "Alpine Ski House", "alpineskihouse.onmicrosoft.com")
    subscriptions = [
        {
            "id": AZURE_PLAN,
            "offerId": "DZH318Z0BPS6:0001:DZH318Z0BML6",
            "offerName": "Azure plan",
            "productType": {"id": "Azure", "displayName": "Azure", "subType": {"id": "Azure"}},
            "quantity": 1,
            "status": "active",
            "autoRenewEnabled": False,
            "billingCycle": "one_time",
            "creationDate": "2025-02-03T08:30:00Z",
        },
        nce(NCE_BASE, "Microsoft 365 E3"),
        nce(NCE_ADDON, "Microsoft 365 E5 Security", parentSubscriptionId=NCE_BASE),
        legacy(LEGACY_BASE, "Office 365 E1"),
        legacy(LEGACY_ADDON, "Exchange Online Archiving", parentSubscriptionId=LEGACY_BASE),
        nce(
            TRIAL,
            "Microsoft Teams Premium",
            isTrial=True,
            creationDate="2026-11-01T00:00:00Z",
            effectiveStartDate="2026-11-01T00:00:00Z",
            commitmentEndDate="2026-11-30T00:00:00Z",
            cancellationAllowedUntilDate="2026-11-08T23:59:00Z",
        ),
    ]
    for wire in subscriptions:
        state.add_subscription(LEAVING, wire)
    for number, sid in enumerate(AZURE_SUBS, start=1):
        wire = {"id": sid, "friendlyName": f"Azure {number}", "status": "active"}
        state.add_azure_entitlement(LEAVING, AZURE_PLAN, wire)
    state.set_azure_cancel_reads(2)  # each cancellation shows only on the second read after
    return state


@pytest.fixture
def estate(tmp_path: Path) -> Estate:
    estate = Estate(tmp_path)
    customers = estate.desired / "customers"
    customers.mkdir(parents=True)
    (estate.desired / "partner.yaml").write_text(DIRECT_PARTNER)
    (customers / "alpine.yaml").write_text(
        MODELINE + f"tenant_id: {LEAVING}\nname: Alpine Ski House\n"
        "domain: alpineskihouse.onmicrosoft.com\nrelationship: none\n"
    )
    (customers / "bellows.yaml").write_text(
        MODELINE + f"tenant_id: {MISSING}\nname: Bellows College\n"
        "domain: bellowscollege.onmicrosoft.com\nrelationship: reseller\n"
    )
    build_state().save(estate.live)
    return estate


def order_of(mutations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["action"], m["target"].rsplit("/", 1)[-1].lower()) for m in mutations]


def assert_documented_order(estate: Estate) -> None:
    done = order_of(estate.mutations())
    position = {step: index for index, step in enumerate(done)}
    suspend_plan = position["suspend", AZURE_PLAN]
    for sid in AZURE_SUBS:
        assert position["cancel_azure_entitlement", sid] < suspend_plan
    assert position["cancel", NCE_ADDON] < position["cancel", NCE_BASE]
    assert position["suspend", LEGACY_ADDON] < position["suspend", LEGACY_BASE]
    assert ("cancel", TRIAL) in position
    assert done[-1] == ("remove_relationship", LEAVING), done


def assert_plan_marks_every_irreversible_step(plan: dict[str, Any]) -> None:
    kinds = {a["type"]: a for a in plan["actions"]}
    for kind in ("cancel_azure_entitlement", "cancel_subscription", "remove_relationship"):
        assert kinds[kind]["irreversible"] is True and kinds[kind]["consequences"], kind
    assert plan["summary"]["irreversible"] == 2 + 3 + 1  # Azure, NCE + add-on + trial, removal
    assert all(a["billing"] is not None for a in plan["actions"])


def assert_missing_customer_blocked_alone(plan: dict[str, Any]) -> None:
    (blocked,) = plan["blocked"]
    assert blocked["customer_id"] == MISSING and blocked["kind"] == "missing_customer"
    assert any("https://admin.microsoft.com/" in step for step in blocked["manual_steps"])
    assert plan["errors"] == []


def test_the_catalogue_converges_in_process(estate: Estate, pcr_executable: str) -> None:
    plan = save_plan(pcr_executable, estate)
    assert_plan_marks_every_irreversible_step(plan)
    assert_missing_customer_blocked_alone(plan)

    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    assert "0 failed" in applied.stderr
    assert_documented_order(estate)
    live = json.loads(estate.live.read_text())
    assert live["customers"][0]["relationshipToPartner"] == "none"

    again = run_pcr(
        pcr_executable,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        "--format",
        "json",
        cwd=estate.root,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["actions"] == []


def test_the_catalogue_converges_over_loopback(estate: Estate, pcr_executable: str) -> None:
    with fake_serve(pcr_executable, estate.live) as url:
        plan = save_plan(pcr_executable, estate, "--endpoint", url)
        applied = run_apply(pcr_executable, estate, "--endpoint", url)
    assert_plan_marks_every_irreversible_step(plan)
    assert_missing_customer_blocked_alone(plan)
    assert applied.returncode == 0, applied.stderr
    assert_documented_order(estate)
