"""A synthetic Partner Center estate for benchmarks: fake state, desired files, live snapshot.

Deterministic for a seed. Customers have about ten subscriptions each (mixed
NCE, legacy, software and Azure plans), a few hold Azure reserved instances;
most are steady, about 1% are offboarding and about 1% carry subscription
overrides — the shape of a real large CSP estate.

The desired state is a git repository of two commits: the estate, then a pull request
that changes one customer file (a steady customer's subscription stops renewing), so
that `pcr plan --changed-since HEAD~1` plans what the pull request changed.
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from reconciler.live.models import CustomerDetail
from reconciler.live.models import Live
from reconciler.live.models import customer_from_wire
from reconciler.live.models import entitlement_from_wire
from reconciler.live.models import subscription_from_wire
from reconciler.timestamps import format_time

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
OFFBOARDING_SHARE = 0.01
OVERRIDE_SHARE = 0.01
RESERVED_INSTANCE_SHARE = 0.05
PAGE_SIZE = 500  # customers a page of Partner Center's list (pcr's DEFAULT_PAGE_SIZE)


@dataclass
class Estate:
    customers: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    entitlements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    offboarding: set[str] = field(default_factory=set)
    overrides: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def deep_reads(self) -> int:
        """Partner Center calls a frugal plan needs beyond paging: per offboarding customer its
        subscriptions, its entitlements and the Azure entitlements of each Azure plan not
        ended; per override customer its subscriptions."""
        azure = sum(
            1
            for tenant in self.offboarding
            for sub in self.subscriptions[tenant]
            if sub.get("offerName") == "Azure plan"
        )
        return 2 * len(self.offboarding) + azure + len(self.overrides)

    @property
    def calendar_reads(self) -> int:
        """Partner Center calls `pcr calendar` needs beyond the plan's: the subscriptions of
        every other declared customer, and the entitlements of each customer not offboarding
        that has an Azure plan (reservations are bought under one)."""
        deep = self.offboarding | set(self.overrides)
        steady = sum(1 for c in self.customers if c["id"] not in deep)
        azure = sum(
            1
            for tenant, subscriptions in self.subscriptions.items()
            if tenant not in self.offboarding
            and any(sub.get("offerName") == "Azure plan" for sub in subscriptions)
        )
        return steady + azure

    @property
    def graph_reads(self) -> int:
        """Microsoft Graph calls: one GDAP listing per offboarding customer (its relationships
        end with it, the default)."""
        return len(self.offboarding)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _subscription(rng: random.Random, kind: str, bought: datetime) -> dict[str, Any]:
    term_end = bought + timedelta(days=365) - timedelta(days=1)
    wire: dict[str, Any] = {
        "id": _guid(rng),
        "quantity": rng.randint(1, 300),
        "unitType": "Licenses",
        "status": rng.choices(["active", "suspended"], [0.93, 0.07])[0],
        "autoRenewEnabled": rng.random() < 0.8,
        "billingCycle": "monthly",
        "creationDate": format_time(bought),
        "commitmentEndDate": format_time(term_end.replace(hour=0, minute=0, second=0)),
        "orderId": _guid(rng).replace("-", "")[:12],
        "attributes": {"objectType": "Subscription"},
    }
    if kind == "legacy":
        wire |= {"offerId": _guid(rng).upper(), "offerName": "Office 365 E3", "etag": "W/1"}
        return wire
    product = {"nce": "OnlineServicesNCE", "software": "Software", "azure": "Azure"}[kind]
    wire |= {
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "offerName": {
            "nce": "Microsoft 365 Business Basic",
            "software": "SQL Server Standard",
            "azure": "Azure plan",
        }[kind],
        "productType": {"id": product, "displayName": product},
        "termDuration": "P1Y",
    }
    if kind in ("nce", "software"):
        window = bought.replace(hour=23, minute=59, second=0) + timedelta(days=7)
        wire["cancellationAllowedUntilDate"] = format_time(window)
    return wire


def generate(count: int, seed: int = 7) -> Estate:
    rng = random.Random(seed)
    estate = Estate()
    for index in range(count):
        tenant = _guid(rng)
        estate.customers.append(
            {
                "id": tenant,
                "companyProfile": {
                    "tenantId": tenant,
                    "domain": f"customer{index}.onmicrosoft.com",
                    "companyName": f"Customer {index} Ltd",
                    "attributes": {"objectType": "CustomerCompanyProfile"},
                },
                "relationshipToPartner": "reseller",
                "attributes": {"objectType": "Customer"},
            }
        )
        subs = []
        for _ in range(rng.randint(7, 13)):
            kind = rng.choices(["nce", "legacy", "software", "azure"], [0.55, 0.3, 0.05, 0.1])[0]
            bought = NOW - timedelta(days=rng.choice([2, 5, 40, 200, 330]))
            subs.append(_subscription(rng, kind, bought))
            if kind == "software":
                estate.orders.setdefault(tenant, []).append(_order(subs[-1], bought))
        estate.subscriptions[tenant] = subs
        if rng.random() < RESERVED_INSTANCE_SHARE:
            estate.entitlements[tenant] = [_reserved_instance(rng)]
        roll = rng.random()
        if roll < OFFBOARDING_SHARE:
            estate.offboarding.add(tenant)
        elif roll < OFFBOARDING_SHARE + OVERRIDE_SHARE:
            chosen = rng.sample(subs, 2)
            estate.overrides[tenant] = [
                {"id": chosen[0]["id"], "status": "suspended"},
                {"id": chosen[1]["id"], "auto_renew": False},
            ]
    return estate


def _order(subscription: dict[str, Any], bought: datetime) -> dict[str, Any]:
    """The purchase order of a software subscription: cancelling goes through it."""
    line = {
        "lineItemNumber": 0,
        "offerId": subscription["offerId"],
        "subscriptionId": subscription["id"],
        "quantity": subscription["quantity"],
    }
    return {
        "id": subscription["orderId"],
        "lineItems": [line],
        "creationDate": format_time(bought),
        "status": "completed",
        "attributes": {"objectType": "Order"},
    }


def _reserved_instance(rng: random.Random) -> dict[str, Any]:
    return {
        "entitlementType": "reservedinstance",
        "productId": "DZH318Z0BQ3Q",
        "skuId": "0001",
        "quantity": 1,
        "referenceOrder": {"id": _guid(rng), "lineItemId": 0},
        "entitledArtifacts": [{"artifactType": "reservedinstance", "resourceId": _guid(rng)}],
    }


def write_desired(estate: Estate, directory: Path) -> None:
    """One customer file per customer, as a partner would keep them in git."""
    customers = directory / "customers"
    customers.mkdir(parents=True, exist_ok=True)
    (directory / "partner.yaml").write_text(
        "partner:\n  type: direct\npolicy:\n  max_removals_per_run: 100000\n"
    )
    for wire in estate.customers:
        _write_customer(estate, wire, customers / f"{wire['id']}.yaml")


def _write_customer(estate: Estate, wire: dict[str, Any], path: Path) -> None:
    tenant, profile = wire["id"], wire["companyProfile"]
    lines = [
        "# yaml-language-server: $schema=../../schemas/customer.schema.json",
        f"tenant_id: {tenant}",
        f"name: {profile['companyName']}",
        f"domain: {profile['domain']}",
        f"relationship: {'none' if tenant in estate.offboarding else 'reseller'}",
    ]
    if tenant in estate.overrides:
        lines.append("subscriptions:")
        for item in estate.overrides[tenant]:
            lines.append(f"  - id: {item['id']}")
            lines += [f"    {k}: {str(v).lower()}" for k, v in item.items() if k != "id"]
    path.write_text("\n".join(lines) + "\n")


def pull_request(estate: Estate, directory: Path) -> tuple[str, Path]:
    """Change one steady customer's file as a pull request would: one of its NCE
    subscriptions stops renewing. The tenant and the file changed."""
    for wire in estate.customers:
        tenant = wire["id"]
        if tenant in estate.offboarding or tenant in estate.overrides:
            continue
        renewing = [
            s
            for s in estate.subscriptions[tenant]
            if s.get("productType", {}).get("id") == "OnlineServicesNCE"
            and s["status"] == "active"
            and s["autoRenewEnabled"]
        ]
        if renewing:
            estate.overrides[tenant] = [{"id": renewing[0]["id"], "auto_renew": False}]
            path = directory / "customers" / f"{tenant}.yaml"
            _write_customer(estate, wire, path)
            return tenant, path
    raise ValueError("no steady customer with a renewing NCE subscription")


def _git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=directory,
        check=True,
        capture_output=True,
    )


def git_reset(directory: Path, ref: str) -> None:
    """The repository (and its files) back at `ref`: what a benchmark changed is undone."""
    _git(directory, "reset", "--quiet", "--hard", ref)
    _git(directory, "clean", "--quiet", "--force", "--", ".")


def commit_all(directory: Path, message: str) -> None:
    if not (directory / ".git").exists():
        _git(directory, "init", "--quiet")
    _git(directory, "add", "--all", ".")
    _git(directory, "commit", "--quiet", "--no-verify", "-m", message)


def fake_state(estate: Estate) -> dict[str, Any]:
    """The fake's document for the estate: `FakeState(fake_state(estate))` is its fake in
    process, with no file between. It holds the estate's own lists, which the fake changes
    as it runs."""
    return {
        "format_version": 1,
        "now": format_time(NOW),
        "customers": estate.customers,
        "subscriptions": estate.subscriptions,
        "entitlements": estate.entitlements,
        "orders": estate.orders,
        "faults": [],
        "throttle": None,
        "operations": {},
        "mutations": [],
    }


def write_fake_state(estate: Estate, path: Path) -> None:
    """The fake's document for the estate, for a fake in another process (`pcr fake serve`,
    `pcr plan --fake`), which reads it with `json`."""
    path.write_text(json.dumps(fake_state(estate)))


def live_snapshot(estate: Estate, needs_detail: set[str]) -> Live:
    """What a frugal read returns: every customer, details only where the plan needs them."""
    live = Live(customers={c["id"]: customer_from_wire(c) for c in estate.customers})
    for tenant in needs_detail:
        subs = tuple(subscription_from_wire(tenant, w) for w in estate.subscriptions[tenant])
        ents = tuple(entitlement_from_wire(tenant, w) for w in estate.entitlements.get(tenant, []))
        live.details[tenant] = CustomerDetail(subs, ents)
    return live


def write_all(count: int, work: Path) -> dict[str, Any]:
    """Desired files (a git repository: the estate, then a one-file pull request), fake
    state and live snapshot for `count` customers; the counts a benchmark checks against."""
    import pickle

    estate = generate(count)
    desired = work / "desired-state"
    write_desired(estate, desired)
    commit_all(desired, "the estate")
    tenant, changed = pull_request(estate, desired)
    commit_all(desired, f"stop renewing a subscription of {tenant}")
    write_fake_state(estate, work / "fake-state.json")
    deep = estate.offboarding | set(estate.overrides)
    with (work / "snapshot.pickle").open("wb") as handle:
        pickle.dump(live_snapshot(estate, deep), handle)
    return {
        "customers": count,
        "pages": -(-count // PAGE_SIZE),
        "deep_read_customers": len(deep),
        "deep_reads": estate.deep_reads,
        "graph_reads": estate.graph_reads,
        "calendar_reads": estate.calendar_reads,
        "pull_request": {"tenant": tenant, "file": str(changed.relative_to(desired))},
    }


if __name__ == "__main__":  # run apart, so the benchmark's own process stays small
    import sys

    work = Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(write_all(int(sys.argv[1]), work)))
