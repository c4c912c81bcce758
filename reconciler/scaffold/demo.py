"""`pcr demo`: a ready estate to try pcr on, from the installed package alone.

The estate is this project's own example (`reconciler/example/`, which the repository's
`desired-state/` is), plus what only a try-out needs: a GDAP admin relationship that an
offboarding ends, an Azure plan that one does, and a customer file whose tenant Partner
Center does not know. Its
fake Partner Center is moved to today: every date in it shifts by the same whole number
of days, so cancellation windows that are open in the example are open on the day the
demo is written, and the commands it prints need no `--now`.

`demo_files(now)` gives each file's text by its path inside the demo folder, from the
example the package holds; the command writes them.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from reconciler.desired.load import CUSTOMERS_DIR
from reconciler.desired.load import PARTNER_FILE
from reconciler.fake.state import FakeState
from reconciler.scaffold.repository import DESIRED_DIR
from reconciler.scaffold.repository import schema_files
from reconciler.timestamps import format_time

EXAMPLE = Path(__file__).resolve().parents[1] / "example"
FAKE_STATE = "fake-state.json"

# A customer offboarded in the example (relationship: none) whose GDAP relationship the
# plan ends with the removal, and one kept whose GDAP relationship is left alone.
GDAP_ENDED = "f86270b9-6fdb-4baa-965b-bffb2f7a52ec"  # Northwind Traders
GDAP_KEPT = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"  # Contoso Ltd
# An offboarded customer with an Azure plan and no reservation: the plan cancels its Azure
# subscription, then suspends the plan, before the removal.
AZURE_PLAN_CUSTOMER = "f0539d6e-a996-4622-89f9-b3150c1e88cd"  # Adventure Works Cycles
AZURE_PLAN_ID = "a1d3f5b7-2c4e-4a6b-8d0f-1e2f3a4b5c6d"
AZURE_SUBSCRIPTION_ID = "4e6a8c0e-2f4b-4d6c-8e0a-3b5d7f9a1c2e"

# Dates for `pcr calendar`: a trial and a savings plan of Contoso's, Woodgrove's reservation.
TRIAL_ID = "7d9f1b3d-5e7a-4c9e-8b1d-2f4a6c8e0b13"
SAVINGS_PLAN_ID = "9b1d3f5a-7c9e-4b1d-8f3a-5c7e9a1b3d24"
RESERVATION_CUSTOMER = "139748a4-22d9-4508-bd7f-04e25f245176"  # Woodgrove Bank

MISSING_CUSTOMER_FILE = "relecloud.yaml"
MISSING_CUSTOMER = """\
# yaml-language-server: $schema=../../schemas/customer.schema.json
# Declared, but Partner Center has no customer with this tenant id (a typo, or a
# customer not invited yet): pcr reports it and changes nothing for it.
tenant_id: 0b7e6a52-3c1d-4e8f-9a2b-5d6c7e8f9a10
name: Relecloud
domain: relecloud.onmicrosoft.com
relationship: reseller
"""

# An ISO-8601 date or time as the fake state holds them; Partner Center's "no end" dates
# (year 9999) stay put.
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?")


def demo_files(now: datetime) -> dict[str, str]:
    """Every file of the demo, by its path inside the demo folder."""
    files = {
        f"{DESIRED_DIR}/{PARTNER_FILE}": (EXAMPLE / PARTNER_FILE).read_text(encoding="utf-8"),
        **{
            f"{DESIRED_DIR}/{CUSTOMERS_DIR}/{path.name}": path.read_text(encoding="utf-8")
            for path in sorted((EXAMPLE / CUSTOMERS_DIR).glob("*.yaml"))
        },
        f"{DESIRED_DIR}/{CUSTOMERS_DIR}/{MISSING_CUSTOMER_FILE}": MISSING_CUSTOMER,
        **schema_files(),
        FAKE_STATE: fake_state(now),
    }
    return files


def fake_state(now: datetime) -> str:
    """The example's fake Partner Center, moved to `now`, with GDAP relationships."""
    example = json.loads((EXAMPLE / FAKE_STATE).read_text(encoding="utf-8"))
    days = (now.date() - FakeState(example).now.date()).days
    moved = _shifted(example, timedelta(days=days))
    moved["now"] = format_time(now.replace(microsecond=0))
    state = FakeState(moved)
    state.add_gdap_relationship(GDAP_ENDED, display_name="Northwind Traders helpdesk")
    _add_calendar_dates(state, now)
    _add_azure_plan(state, since=now - timedelta(days=400))
    # Pretty-printed, for people to read and edit; the fake reads either.
    return json.dumps(json.loads(state.to_json()), indent=2) + "\n"


def _add_calendar_dates(state: FakeState, now: datetime) -> None:
    """What gives `pcr calendar` one of each kind of event: Contoso (which stays) with a GDAP
    relationship that ends within the month without auto-extend and one that extends, a
    trial that converts unless auto-renew goes off, and a savings plan that runs out;
    Woodgrove's reservation runs out in the quarter."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    state.add_gdap_relationship(
        GDAP_KEPT, display_name="Contoso Ltd helpdesk", ends=day + timedelta(days=20)
    )
    state.add_gdap_relationship(
        GDAP_KEPT,
        display_name="Contoso Ltd support",
        ends=day + timedelta(days=45),
        auto_extend="P180D",
    )
    state.add_subscription(GDAP_KEPT, _trial(day))
    state.add_subscription(GDAP_KEPT, _savings_plan(day))
    for entitlement in state.data["entitlements"].get(RESERVATION_CUSTOMER, []):
        entitlement["expiryDate"] = format_time(day + timedelta(days=75))
    state.edited()


def _trial(day: datetime) -> dict[str, Any]:
    started = day - timedelta(days=5)
    return _subscription(
        TRIAL_ID,
        "CFQ7TTC0LCHC:0002:CFQ7TTC0K5DM",
        "Microsoft Teams Premium (trial)",
        {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        started,
        started + timedelta(days=30),
        quantity=25,
        unitType="Licenses",
        autoRenewEnabled=True,
        isTrial=True,
        termDuration="P1M",
        cancellationAllowedUntilDate=format_time(started + timedelta(days=7)),
        orderId="3c5e7a9b1d2f",
    )


def _savings_plan(day: datetime) -> dict[str, Any]:
    started = day - timedelta(days=305)
    azure = {"id": "Azure", "displayName": "Azure"}
    return _subscription(
        SAVINGS_PLAN_ID,
        "DZH318Z0BPS6:0002:DZH318Z08N2P",
        "Azure savings plan for compute",
        azure | {"subType": {"id": "savingsPlan", "displayName": "Savings plan"}},
        started,
        started + timedelta(days=364),
        unitType="Usage-based",
        autoRenewEnabled=False,
        termDuration="P1Y",
        orderId="5d7f9b1c3e4a",
    )


def _subscription(
    subscription_id: str,
    offer_id: str,
    name: str,
    product_type: dict[str, Any],
    started: datetime,
    ends: datetime,
    **fields: Any,
) -> dict[str, Any]:
    """An active monthly-billed subscription as Partner Center lists it, from `started` to
    its inclusive last day `ends` (one seat, no trial, unless `fields` say otherwise)."""
    return {
        "quantity": 1,
        "isTrial": False,
        "id": subscription_id,
        "offerId": offer_id,
        "offerName": name,
        "friendlyName": name,
        "productType": product_type,
        "status": "active",
        "billingCycle": "monthly",
        "creationDate": format_time(started),
        "effectiveStartDate": format_time(started),
        "commitmentEndDate": format_time(ends),
        **fields,
        "attributes": {"objectType": "Subscription"},
    }


def _add_azure_plan(state: FakeState, since: datetime) -> None:
    """An Azure plan with one Azure subscription under it, as Partner Center lists them."""
    started = format_time(since.replace(microsecond=0))
    plan = {
        "id": AZURE_PLAN_ID,
        "offerId": "DZH318Z0BPS6:0001:DZH318Z0BPS6",
        "offerName": "Azure plan",
        "friendlyName": "Azure plan",
        "productType": {"id": "Azure", "displayName": "Azure"},
        "quantity": 1,
        "unitType": "Usage-based",
        "status": "active",
        "autoRenewEnabled": False,
        "isTrial": False,
        "billingType": "usage",
        "billingCycle": "monthly",
        "creationDate": started,
        "effectiveStartDate": started,
        # Partner Center's "no end" for an Azure plan.
        "commitmentEndDate": "9999-12-14T00:00:00Z",
        "orderId": "7be2d4f6a8c1",
        "links": {
            "self": {"uri": f"subscriptions/{AZURE_PLAN_ID}", "method": "GET", "headers": []}
        },
        "attributes": {"objectType": "Subscription"},
    }
    state.add_subscription(AZURE_PLAN_CUSTOMER, plan)
    entitlement = {
        "id": AZURE_SUBSCRIPTION_ID,
        "friendlyName": "Adventure Works Production",
        "status": "active",
    }
    state.add_azure_entitlement(AZURE_PLAN_CUSTOMER, AZURE_PLAN_ID, entitlement)


def _shifted(value: Any, by: timedelta) -> Any:
    """`value` with every date in it moved `by` (a whole number of days)."""
    if isinstance(value, dict):
        return {key: _shifted(item, by) for key, item in value.items()}
    if isinstance(value, list):
        return [_shifted(item, by) for item in value]
    if isinstance(value, str) and _DATED.fullmatch(value) and value[:4] != "9999":
        return (date.fromisoformat(value[:10]) + by).isoformat() + value[10:]
    return value


def commands(folder: Path) -> list[tuple[str, str]]:
    """What to run in the demo folder, each with what it shows."""
    backend = f"--fake {FAKE_STATE}"
    return [
        (f"cd {shlex.quote(str(folder))}", ""),
        ("pcr validate", "check every file of the desired state"),
        (f"pcr calendar {backend}", "every date that costs money, the urgent ones marked"),
        (f"pcr plan {backend}", "what pcr would do, and why, in order"),
        (f"pcr plan {backend} --out plan.json", "the same plan, saved for review"),
        (f"pcr apply plan.json {backend}", "carry out the reviewed plan (the fake changes)"),
        (f"pcr drift {backend}", "what differs from the desired state now"),
        ("pcr history", "what pcr changed, oldest first, and on whose behalf"),
    ]
