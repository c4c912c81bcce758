"""The executor's tenant clean-up paths that a plain run does not take: the world moves
between apply's own read and a step. A guest that is no longer the one the plan named is
not deleted; one already gone is done already; an app that is no longer the partner's is
not deleted. In process, over the fake's Graph with each tenant's own token."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from reconciler.apply.executor import StepResult
from reconciler.connect import FAKE_APP_ID
from reconciler.desired.model import Cleanup
from reconciler.desired.model import TenantCleanup
from reconciler.fake.app import FakePartnerCenter
from reconciler.fake.tokens import tenant_token
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import Clients
from reconciler.live.clients import TenantClients
from reconciler.live.config import Limits
from reconciler.live.read import read_live
from reconciler.live.tenant_read import read_tenants
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.planner import make_plan
from tests.apply.support import NORTHWIND
from tests.apply.support import TOKEN
from tests.apply.test_executor import NOW
from tests.apply.test_executor import example_desired
from tests.apply.test_executor import example_state
from tests.apply.test_gdap_executor import northwind_executor
from tests.apply.test_tenant_cleanup import ALICE
from tests.apply.test_tenant_cleanup import BOB
from tests.apply.test_tenant_cleanup import OTHER_VENDOR
from tests.apply.test_tenant_cleanup import PARTNER_DOMAIN
from tests.apply.test_tenant_cleanup import PSA
from tests.apply.test_tenant_cleanup import app
from tests.apply.test_tenant_cleanup import guest
from tests.graphs import graph_beside

EVERYTHING = TenantCleanup(Cleanup.REMOVE, Cleanup.REMOVE, Cleanup.REMOVE)


def world() -> FakePartnerCenter:
    state = example_state()
    state.add_gdap_relationship(NORTHWIND, status="active", display_name="northwind admins")
    tenant = state.tenants.add_tenant(NORTHWIND)
    tenant["users"] = [
        guest(ALICE, f"alice@{PARTNER_DOMAIN}", "x"),
        guest(BOB, f"bob@{PARTNER_DOMAIN}", "y"),
    ]
    tenant["servicePrincipals"] = [
        app(
            PSA,
            "c3c3c3c3-0000-4000-8000-000000000001",
            "Contoso PSA",
            state.tenants.partner_tenant_id,
        )
    ]
    return FakePartnerCenter(state)


def run(tmp_path: Path, fake: FakePartnerCenter, between: object) -> list[StepResult]:
    """Plan Northwind's offboarding with its tenant's clean-up, let `between(fake)` change
    the tenant, then apply Northwind's steps."""
    desired = example_desired()
    northwind = replace(desired.customers[NORTHWIND], tenant_cleanup=EVERYTHING)
    desired.customers[NORTHWIND] = northwind
    desired = replace(desired, partner=replace(desired.partner, domains=(PARTNER_DOMAIN,)))
    transport = httpx.WSGITransport(app=fake)
    limits = Limits(rate_per_minute=100_000)
    client = PartnerCenterClient(
        "https://pc.test", StaticToken(TOKEN), transport=transport, limits=limits
    )
    tenants = TenantClients(
        "https://pc.test",
        lambda tenant: StaticToken(tenant_token(tenant)),
        FAKE_APP_ID,
        transport=transport,
        limits=limits,
    )
    with client, tenants:
        graph = graph_beside(client)
        live = read_live(client, desired, graph=graph)
        read_tenants(Clients(client, graph, tenants=tenants), desired, live)
        plan = make_plan(desired, live, NOW)
        assert callable(between)
        with fake.edit():
            between(fake)
        executor = northwind_executor(tmp_path, client, graph, tenants=tenants)
        steps = [a for a in plan.actions if a.customer_id == NORTHWIND]
        return executor.run_customer(steps, None)


def by_target(results: list[StepResult], kind: ActionType) -> dict[str, StepResult]:
    return {r.action.target_id: r for r in results if r.action.type is kind}


def test_a_guest_changed_since_the_plan_is_not_deleted(tmp_path: Path) -> None:
    def meanwhile(fake: FakePartnerCenter) -> None:
        users = fake.state.data["tenants"][NORTHWIND]["users"]
        users[0]["mail"] = "alice@northwind.example"  # now the customer's own colleague

    fake = world()
    results = run(tmp_path, fake, meanwhile)
    alice = by_target(results, ActionType.REMOVE_GUEST_USER)[ALICE]
    assert alice.outcome is Outcome.FAILED
    assert "is alice@northwind.example now: plan again" in alice.message
    assert len(fake.state.data["tenants"][NORTHWIND]["users"]) == 2
    # What comes after a failed step is not done: GDAP holds, the relationship stays.
    later = {ActionType.TERMINATE_GDAP, ActionType.REMOVE_RELATIONSHIP}
    after = [r for r in results if r.action.type in later or r.action.target_id == BOB]
    assert len(after) == 3 and all(r.outcome is Outcome.SKIPPED for r in after)


def test_a_guest_gone_since_the_plan_is_done_already(tmp_path: Path) -> None:
    def meanwhile(fake: FakePartnerCenter) -> None:
        del fake.state.data["tenants"][NORTHWIND]["users"][1]  # Bob, by the customer's admins

    fake = world()
    results = run(tmp_path, fake, meanwhile)
    guests = by_target(results, ActionType.REMOVE_GUEST_USER)
    assert (guests[BOB].outcome, guests[BOB].message) == (Outcome.ALREADY, "already deleted")
    assert guests[ALICE].outcome is Outcome.DONE
    assert fake.state.data["tenants"][NORTHWIND]["users"] == []
    assert all(r.outcome in (Outcome.DONE, Outcome.ALREADY) for r in results)


def test_an_app_no_longer_the_partners_is_not_deleted(tmp_path: Path) -> None:
    def meanwhile(fake: FakePartnerCenter) -> None:
        (psa,) = fake.state.data["tenants"][NORTHWIND]["servicePrincipals"]
        psa["appOwnerOrganizationId"] = OTHER_VENDOR  # the same object id, someone else's app

    fake = world()
    results = run(tmp_path, fake, meanwhile)
    (psa,) = by_target(results, ActionType.REMOVE_PARTNER_APP).values()
    assert psa.outcome is Outcome.FAILED and "is not the partner's now" in psa.message
    assert len(fake.state.data["tenants"][NORTHWIND]["servicePrincipals"]) == 1
