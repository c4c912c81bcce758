"""Microsoft Graph tokens of each customer's tenant, for its clean-up, from the one Secure
Application Model sign-in: the partner's refresh token redeemed through MSAL at the customer
tenant's own authority, against a fake Entra ID over TLS on loopback; then the installed
`pcr` cleaning a tenant with them, against the fake's Graph, which answers a token only in
its own tenant."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.connect import FAKE_APP_ID
from reconciler.fake.server import FakeServer
from reconciler.fake.tokens import tenant_of
from reconciler.live.auth import GRAPH
from reconciler.live.auth import SCOPES
from reconciler.live.errors import TenantRefused
from reconciler.live.sam import SamTokenProvider
from tests.apply.support import ADVENTURE_WORKS
from tests.apply.support import NORTHWIND
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.test_tenant_cleanup import ALICE
from tests.apply.test_tenant_cleanup import BOB
from tests.apply.test_tenant_cleanup import OWN
from tests.apply.test_tenant_cleanup import PSA
from tests.apply.test_tenant_cleanup import assert_exactly_the_partners_footprint_went
from tests.apply.test_tenant_cleanup import cleaning
from tests.apply.test_tenant_cleanup import tenant
from tests.apply.test_tenant_cleanup import with_tenant
from tests.live.entra import CLIENT
from tests.live.entra import REFRESH
from tests.live.entra import SECRET
from tests.live.entra import FakeEntra
from tests.live.entra import Login

CUSTOMER_A = "a0a0a0a0-0000-4000-8000-00000000000a"
CUSTOMER_B = "b0b0b0b0-0000-4000-8000-00000000000b"
NOT_CONSENTED = (
    "AADSTS65001: The user or administrator has not consented to use the application with "
    "ID 'app-6c3f'."
)


def signed_in(login: Login) -> SamTokenProvider:
    pc, graph = login.providers()
    graph.close()
    return pc


def test_each_customer_tenant_gets_its_own_token_at_its_own_authority(
    entra: FakeEntra, login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    entra.customer_tenants = {CUSTOMER_A: None, CUSTOMER_B: None}
    pc = signed_in(login)
    partner = pc()  # the partner's own sign-in first, as a run does
    a, b = pc.sign_in.customer_tenant(CUSTOMER_A), pc.sign_in.customer_tenant(CUSTOMER_B)
    token_a, token_b = a(), b()
    assert (tenant_of(token_a), tenant_of(token_b), tenant_of(partner)) == (
        CUSTOMER_A,
        CUSTOMER_B,
        None,
    )
    # Kept for the run: the same provider and the same token, with no second request.
    assert pc.sign_in.customer_tenant(CUSTOMER_A.upper()) is a
    assert a() == token_a and b() == token_b
    (grant_a,) = entra.tenant_grants(CUSTOMER_A)
    (grant_b,) = entra.tenant_grants(CUSTOMER_B)
    for grant in (grant_a, grant_b):
        assert grant["grant_type"] == "refresh_token"
        assert SCOPES[GRAPH] in grant["scope"].split()
        assert grant["client_id"] == CLIENT
    # The partner's newest refresh token, not one already rotated away.
    assert grant_a["refresh_token"] == "rotated-1-do-not-print"
    assert all(secret not in caplog.text for secret in (SECRET, REFRESH, token_a, "rotated-"))
    pc.close()


def test_a_tenant_that_refuses_the_app_says_what_to_do_and_others_go_on(
    entra: FakeEntra, login: Login
) -> None:
    entra.customer_tenants = {CUSTOMER_A: NOT_CONSENTED, CUSTOMER_B: None}
    pc = signed_in(login)
    with pytest.raises(TenantRefused) as refused:
        pc.sign_in.customer_tenant(CUSTOMER_A)()
    message = str(refused.value)
    assert message.startswith(
        f"the customer's tenant {CUSTOMER_A} refused a Microsoft Graph token for pcr's app "
        "(invalid_grant): AADSTS65001"
    )
    assert "consent it through GDAP" in message and "tenant_cleanup to keep" in message
    assert SECRET not in message and REFRESH not in message
    assert tenant_of(pc.sign_in.customer_tenant(CUSTOMER_B)()) == CUSTOMER_B
    assert pc()  # the partner's own sign-in is untouched
    pc.close()


def sam_env(login: Login) -> dict[str, str]:
    """The installed `pcr`'s environment: the Secure Application Model, no static token."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("PCR_")}
    return kept | login.env(PCR_RATE_LIMIT="60000", PCR_CLIENT_ID=login.entra.client_id)


def plan_and_apply(estate: Estate, pcr: str, login: Login) -> FakeServer:
    """`pcr plan --out`, then `pcr apply` of it, over loopback with the Secure Application
    Model: both succeed, and neither shows a secret."""
    login.entra.client_id = FAKE_APP_ID  # the app registration whose service principal is OWN
    login.entra.strict = False  # each run redeems the refresh token it was given, as CI's secret
    with FakeServer(estate.live) as server:
        backend = ("--endpoint", server.url)
        plan = [pcr, "plan", "--desired", "desired-state", *backend, "--now", NOW]
        for command in ([*plan, "--out", "plan.json"], apply_command(pcr, *backend)):
            run = subprocess.run(
                command,
                cwd=estate.root,
                env=sam_env(login),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            assert SECRET not in run.stdout + run.stderr and "rotated-" not in run.stderr
    return server


def test_the_installed_pcr_cleans_a_tenant_with_that_tenants_own_token(
    tmp_path: Path, pcr_executable: str, entra: FakeEntra, login: Login
) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    entra.customer_tenants = {NORTHWIND: None}
    server = plan_and_apply(estate, pcr_executable, login)
    assert_exactly_the_partners_footprint_went(estate)
    assert not {ALICE, BOB} & {u["id"] for u in tenant(estate, NORTHWIND)["users"]}
    assert OWN in {sp["id"] for sp in tenant(estate, NORTHWIND)["servicePrincipals"]}
    assert PSA not in {sp["id"] for sp in tenant(estate, NORTHWIND)["servicePrincipals"]}
    # One redemption at Northwind's own authority per run (plan, apply), none elsewhere.
    assert len(entra.tenant_grants(NORTHWIND)) == 2
    assert [r for r in server.app.requests if r.path.startswith("/v1.0/users/")]
    assert "eyJ" not in estate.plan.read_text()


# How a tenant refuses, and what its blocked item then says: Graph's roles, Graph's error
# (with its request id), Entra ID's refusal of the token (its own advice, said once).
REFUSALS = {
    "role": "User Administrator",
    "error": "[request ",
    "consent": "not consented in this tenant: consent it through GDAP",
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_tenant_that_cannot_be_read_holds_its_customer_and_the_plan_applies(
    tmp_path: Path, pcr_executable: str, entra: FakeEntra, login: Login, refusal: str
) -> None:
    """Graph's refusal may name a request id, which differs from run to run: the reviewed
    plan is not stale for it, and every other customer's offboarding is applied."""
    estate = cleaning(tmp_path, pcr_executable)
    entra.customer_tenants = {NORTHWIND: None}
    if refusal == "role":
        with_tenant(estate, NORTHWIND, refuse="role")
    elif refusal == "error":
        estate.add_faults({"method": "GET", "path": "^/v1.0/users$", "status": 400,
                           "count": None})  # fmt: skip
    else:
        entra.customer_tenants = {NORTHWIND: NOT_CONSENTED}
    plan_and_apply(estate, pcr_executable, login)
    (blocked,) = [b for b in json.loads(estate.plan.read_text())["blocked"]
                  if b["customer_id"] == NORTHWIND]  # fmt: skip
    assert REFUSALS[refusal] in blocked["reason"], blocked
    assert "it must be consented there" not in blocked["reason"]  # its advice, said once
    removed = {m["customer_id"] for m in estate.mutations() if m["action"] == "remove_relationship"}
    assert ADVENTURE_WORKS in removed and NORTHWIND not in removed
    assert len(tenant(estate, NORTHWIND)["users"]) == 4
