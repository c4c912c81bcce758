"""Tenant clean-up in `pcr plan` and `pcr apply`, end to end with the installed `pcr` against
the fake (Partner Center, Graph's GDAP and each customer's tenant on one state): exactly the
partner's guests, contact addresses and apps go, in order, before GDAP ends and the
relationship is removed; a killed run resumes and sends each deletion once; `keep` writes
nothing in the tenant; a tenant that refuses pcr's app blocks its own customer only; a
tenant's token reaches that tenant only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.connect import FAKE_APP_ID
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from tests.apply.support import ADVENTURE_WORKS
from tests.apply.support import NORTHWIND
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import make_estate
from tests.apply.support import run_apply
from tests.apply.support import run_pcr
from tests.apply.support import save_plan
from tests.apply.test_gdap import TAILSPIN
from tests.apply.test_gdap import killed_and_resumed
from tests.apply.test_gdap import northwind_steps
from tests.apply.test_gdap import with_gdap

PARTNER_DOMAIN = "contoso-partner.com"
ALICE = "a1a1a1a1-0000-4000-8000-000000000001"  # a guest by her mail
BOB = "a1a1a1a1-0000-4000-8000-000000000002"  # a guest by his invited address (UPN) only
CAROL = "a1a1a1a1-0000-4000-8000-000000000003"  # a guest of another company's
EVE = "a1a1a1a1-0000-4000-8000-000000000004"  # a guest on a domain that only ends like ours
PSA = "b2b2b2b2-0000-4000-8000-000000000001"  # the partner's PSA connector
OWN = "b2b2b2b2-0000-4000-8000-000000000002"  # the app pcr signs in with
VENDOR = "b2b2b2b2-0000-4000-8000-000000000003"  # another vendor's app
ADVENTURE_GUEST = "e5e5e5e5-0000-4000-8000-000000000001"
OTHER_VENDOR = "d4d4d4d4-0000-4000-8000-000000000001"  # its own tenant
TENANT_STEPS = {"remove_guest_user", "remove_tenant_contact", "remove_partner_app"}
TENANT_WRITES = {"delete_user", "delete_service_principal", "update_organization"}


def guest(user_id: str, mail: str, upn: str) -> dict[str, Any]:
    return {"id": user_id, "displayName": mail or upn, "mail": mail or None,
            "userPrincipalName": upn, "userType": "Guest"}  # fmt: skip


def app(sp_id: str, app_id: str, name: str, owner: str) -> dict[str, Any]:
    return {"id": sp_id, "appId": app_id, "displayName": name, "appOwnerOrganizationId": owner}


def with_tenant(estate: Estate, customer_id: str, *, refuse: str | None = None) -> None:
    """The partner's footprint in `customer_id`'s tenant, beside what is not the partner's."""
    state = FakeState.load(estate.live)
    partner = state.tenants.partner_tenant_id
    record = state.tenants.add_tenant(customer_id, refuse=refuse)
    record["users"] = [
        guest(ALICE, f"alice@{PARTNER_DOMAIN}", f"alice_{PARTNER_DOMAIN}#EXT#@c.onmicrosoft.com"),
        guest(BOB, "", f"bob_{PARTNER_DOMAIN.upper()}#EXT#@c.onmicrosoft.com"),
        guest(CAROL, "carol@fabrikam.com", "carol_fabrikam.com#EXT#@c.onmicrosoft.com"),
        guest(EVE, f"eve@not{PARTNER_DOMAIN}", f"eve_not{PARTNER_DOMAIN}#EXT#@c.onmicrosoft.com"),
    ]
    record["organization"] |= {
        "technicalNotificationMails": [f"ops@{PARTNER_DOMAIN}", "it@northwind.example"],
        "securityComplianceNotificationMails": [f"soc@{PARTNER_DOMAIN}"],
        "privacyProfile": {"contactEmail": "privacy@northwind.example", "statementUrl": None},
    }
    record["servicePrincipals"] = [
        app(PSA, "c3c3c3c3-0000-4000-8000-000000000001", "Contoso PSA", partner),
        app(OWN, FAKE_APP_ID, "pcr", partner),
        app(VENDOR, "c3c3c3c3-0000-4000-8000-000000000003", "Backup vendor", OTHER_VENDOR),
    ]
    state.save(estate.live)


def choose(estate: Estate, file: str, cleanup: str) -> None:
    """The partner's domain, and `cleanup` (remove or keep) for every part of `file`'s."""
    partner = estate.desired / "partner.yaml"
    partner.write_text(
        partner.read_text().replace("partner:\n", f"partner:\n  domains: [{PARTNER_DOMAIN}]\n", 1)
    )
    customer = estate.desired / "customers" / file
    parts = "".join(f"    {p}: {cleanup}\n" for p in ("guest_users", "contacts", "partner_apps"))
    text, block = customer.read_text(), f"  tenant_cleanup:\n{parts}"
    if "\noffboarding:\n" in text:  # beside what the file says of its offboarding already
        customer.write_text(text.replace("\noffboarding:\n", f"\noffboarding:\n{block}", 1))
    else:
        customer.write_text(f"{text}offboarding:\n{block}")


def cleaning(root: Path, pcr: str, cleanup: str = "remove") -> Estate:
    estate = make_estate(root)
    with_gdap(estate, NORTHWIND, "active")
    with_tenant(estate, NORTHWIND)
    choose(estate, "northwind.yaml", cleanup)
    return estate


def tenant(estate: Estate, customer_id: str) -> dict[str, Any]:
    return estate.live_data()["tenants"][customer_id]  # type: ignore[no-any-return]


def assert_exactly_the_partners_footprint_went(estate: Estate) -> None:
    left = tenant(estate, NORTHWIND)
    assert sorted(u["id"] for u in left["users"]) == [CAROL, EVE]
    organization = left["organization"]
    assert organization["technicalNotificationMails"] == ["it@northwind.example"]
    assert organization["securityComplianceNotificationMails"] == []
    assert organization["privacyProfile"]["contactEmail"] == "privacy@northwind.example"
    assert sorted(sp["id"] for sp in left["servicePrincipals"]) == [OWN, VENDOR]
    steps = northwind_steps(estate.mutations())
    cleaned = [i for i, s in enumerate(steps) if s in TENANT_WRITES]
    gdap = steps.index("terminate_gdap_relationship")
    # Subscriptions, then the tenant (guests, contacts, apps), then GDAP, then the removal.
    assert len(cleaned) == 5 and max(cleaned) < gdap < steps.index("remove_relationship")
    assert [steps[i] for i in cleaned] == ["delete_user"] * 2 + ["update_organization"] * 2 + [
        "delete_service_principal"
    ]
    assert all(s not in TENANT_WRITES for s in steps[: cleaned[0]]) and cleaned[0] > 0
    assert_each_mutation_once(estate.mutations())


def test_the_plan_names_each_removal_before_gdap_and_keeps_pcrs_own_app(
    tmp_path: Path, pcr_executable: str
) -> None:
    plan = save_plan(pcr_executable, cleaning(tmp_path, pcr_executable))
    northwind = [a for a in plan["actions"] if a["customer_id"] == NORTHWIND]
    kinds = [a["type"] for a in northwind]
    tenant_steps = [a for a in northwind if a["type"] in TENANT_STEPS]
    assert [(a["type"], a["target_id"]) for a in tenant_steps] == [
        ("remove_guest_user", ALICE),
        ("remove_guest_user", BOB),
        ("remove_tenant_contact", f"technicalNotificationMails:ops@{PARTNER_DOMAIN}"),
        ("remove_tenant_contact", f"securityComplianceNotificationMails:soc@{PARTNER_DOMAIN}"),
        ("remove_partner_app", PSA),
    ]
    assert all(a["irreversible"] for a in tenant_steps)
    first = kinds.index("remove_guest_user")
    assert (
        kinds.index("terminate_gdap_relationship") > first + 4
        and kinds[-1] == "remove_relationship"
    )
    terminate = northwind[kinds.index("terminate_gdap_relationship")]
    assert {a["id"] for a in tenant_steps} <= set(terminate["depends_on"])
    assert any("pcr signs in with app" in w for w in plan["warnings"])


def test_the_partners_footprint_goes_in_order_in_process(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    save_plan(pcr_executable, estate)
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    assert_exactly_the_partners_footprint_went(estate)
    # The audit trail shows each step in the plan's words, with what it took away.
    shown = run_pcr(pcr_executable, "history", "northwind.yaml", "--desired", "desired-state",
                    cwd=estate.root)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout
    assert f"remove guest user {ALICE}: guest user alice@{PARTNER_DOMAIN} -> deleted" in history
    assert (
        f"remove notification contact technicalNotificationMails:ops@{PARTNER_DOMAIN}: "
        f"ops@{PARTNER_DOMAIN} in technicalNotificationMails -> removed"
    ) in history
    assert f"remove partner app {PSA}: service principal of Contoso PSA -> deleted" in history
    assert CAROL not in history and VENDOR not in history and OWN not in history


def drift_of(estate: Estate, pcr: str) -> tuple[int, list[dict[str, Any]]]:
    shown = run_pcr(pcr, "drift", "--desired", "desired-state", "--fake", "live.json", "--now",
                    NOW, "--format", "json", "--detailed-exitcode", cwd=estate.root)  # fmt: skip
    assert shown.returncode in (0, 2), shown.stderr
    return shown.returncode, json.loads(shown.stdout)["drift"]


def test_drift_finds_the_partner_left_in_a_tenant_after_a_removal_outside_pcr(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    state = FakeState.load(estate.live)
    (northwind,) = [c for c in state.data["customers"] if c["id"] == NORTHWIND]
    northwind["relationshipToPartner"] = "none"  # removed in the portal; GDAP left active
    state.save(estate.live)
    code, records = drift_of(estate, pcr_executable)
    left = sorted((r["kind"], r["target_id"]) for r in records if r["kind"].startswith("tenant_"))
    assert code == 2 and left == [
        ("tenant_contact", f"securityComplianceNotificationMails:soc@{PARTNER_DOMAIN}"),
        ("tenant_contact", f"technicalNotificationMails:ops@{PARTNER_DOMAIN}"),
        ("tenant_guest_user", ALICE),
        ("tenant_guest_user", BOB),
        ("tenant_partner_app", PSA),
    ]
    # Carried out, and then nothing of the partner's is left to report.
    save_plan(pcr_executable, estate)
    assert run_apply(pcr_executable, estate).returncode == 0
    assert [r for r in drift_of(estate, pcr_executable)[1] if r["customer_id"] == NORTHWIND] == []


def test_a_run_killed_at_random_sends_each_deletion_once(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    save_plan(pcr_executable, estate)
    # Slow tenant writes, so that a kill can land while one is on its way.
    estate.add_faults({"method": "*", "path": "/v1.0/(users|organization|servicePrincipals)/",
                       "latency": 0.2, "count": None})  # fmt: skip
    killed_and_resumed(estate, apply_command(pcr_executable))
    assert_exactly_the_partners_footprint_went(estate)


def test_keep_writes_nothing_in_the_tenant(tmp_path: Path, pcr_executable: str) -> None:
    estate = cleaning(tmp_path, pcr_executable, cleanup="keep")
    with FakeServer(estate.live) as server:
        plan = save_plan(pcr_executable, estate, "--endpoint", server.url)
        applied = run_apply(pcr_executable, estate, "--endpoint", server.url)
        tenant_calls = [r for r in server.app.requests if r.path.startswith(
            ("/v1.0/users", "/v1.0/organization", "/v1.0/servicePrincipals"))]  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert not {a["type"] for a in plan["actions"]} & TENANT_STEPS
    assert tenant_calls == []  # not even read
    assert "remove_relationship" in northwind_steps(estate.mutations())
    assert len(tenant(estate, NORTHWIND)["users"]) == 4


@pytest.mark.parametrize("refuse", ["consent", "role"])
def test_a_tenant_that_refuses_blocks_its_customer_only(
    tmp_path: Path, pcr_executable: str, refuse: str
) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    with_tenant(estate, NORTHWIND, refuse=refuse)
    plan = save_plan(pcr_executable, estate)
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]
    assert blocked["kind"] == "tenant"
    needs = "consented there" if refuse == "consent" else "User Administrator"
    assert needs in blocked["reason"], blocked
    assert any("tenant_cleanup to keep" in step for step in blocked["manual_steps"])
    # Northwind waits whole: nothing irreversible, GDAP kept, no removal.
    northwind = {a["type"] for a in plan["actions"] if a["customer_id"] == NORTHWIND}
    assert not northwind & (TENANT_STEPS | {"terminate_gdap_relationship", "remove_relationship"})
    # Every other customer's offboarding goes on, this plan applied as it was reviewed
    # (why the tenant refused, with its request id, is not a fact the plan relies on).
    assert any(
        a["customer_id"] == ADVENTURE_WORKS and a["type"] == "remove_relationship"
        for a in plan["actions"]
    )
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    removed = {m["customer_id"] for m in estate.mutations() if m["action"] == "remove_relationship"}
    assert ADVENTURE_WORKS in removed and NORTHWIND not in removed


def test_a_tenants_token_reaches_that_tenant_only(tmp_path: Path, pcr_executable: str) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    # A second tenant to clean, holding a guest with the same mail: each is deleted through
    # its own tenant's token, or the fake would not find it (404) in the other.
    state = FakeState.load(estate.live)
    state.add_gdap_relationship(ADVENTURE_WORKS, display_name="adventure works")
    other = state.tenants.add_tenant(ADVENTURE_WORKS)
    other["users"] = [guest(ADVENTURE_GUEST, f"alice@{PARTNER_DOMAIN}", "x")]
    state.save(estate.live)
    adventure = estate.desired / "customers" / "adventure-works.yaml"
    adventure.write_text(
        adventure.read_text() + "offboarding:\n  tenant_cleanup:\n    guest_users: remove\n"
    )
    save_plan(pcr_executable, estate)
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    deleted = {
        (m["customer_id"], m["target"]) for m in estate.mutations() if m["action"] == "delete_user"
    }
    assert deleted == {(NORTHWIND, ALICE), (NORTHWIND, BOB), (ADVENTURE_WORKS, ADVENTURE_GUEST)}
    assert tenant(estate, ADVENTURE_WORKS)["users"] == []


def test_the_plan_file_holds_no_token(tmp_path: Path, pcr_executable: str) -> None:
    estate = cleaning(tmp_path, pcr_executable)
    save_plan(pcr_executable, estate)
    assert "eyJ" not in estate.plan.read_text()  # no JWT-shaped token anywhere in the plan
    assert json.loads(estate.plan.read_text())["actions"]


def test_a_deferred_removal_defers_the_clean_up_with_it(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    with_gdap(estate, TAILSPIN, "active")
    with_tenant(estate, TAILSPIN)
    choose(estate, "tailspin-toys.yaml", "remove")
    plan = save_plan(pcr_executable, estate)
    deferred = [d for d in plan["deferred"] if d["customer_id"] == TAILSPIN]
    cleanup = [d for d in deferred if d["type"] in TENANT_STEPS]
    assert [d["target_id"] for d in cleanup if d["type"] == "remove_guest_user"] == [ALICE, BOB]
    assert {d["not_before"] for d in deferred} == {"2027-03-01T00:00:00Z"}
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    assert len(tenant(estate, TAILSPIN)["users"]) == 4  # the partner still serves it


def test_a_guest_changed_or_gone_since_the_plan_makes_it_stale(
    tmp_path: Path, pcr_executable: str
) -> None:
    """What of the partner's a tenant holds is a fact the reviewed plan relies on: a guest
    that is no longer the one it named, or gone, refuses the plan whole, nothing deleted."""
    estate = cleaning(tmp_path, pcr_executable)
    save_plan(pcr_executable, estate)
    state = FakeState.load(estate.live)
    users = state.data["tenants"][NORTHWIND]["users"]
    (alice,) = [u for u in users if u["id"] == ALICE]
    alice["mail"] = "alice@northwind.example"  # now the customer's own colleague
    users[:] = [u for u in users if u["id"] != BOB]  # deleted by the customer's admins
    state.save(estate.live)
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode != 0
    assert "the saved plan is stale" in applied.stderr
    assert estate.mutations() == []
    assert ALICE in {u["id"] for u in tenant(estate, NORTHWIND)["users"]}


def test_a_static_graph_token_cannot_clean_a_tenant_and_says_what_to_use(
    tmp_path: Path, pcr_executable: str
) -> None:
    """PCR_GRAPH_TOKEN is the partner's own tenant's: no customer's tenant is entered with it,
    and the customer that asked for a clean-up is held, with the sign-in that can."""
    estate = cleaning(tmp_path, pcr_executable)
    with FakeServer(estate.live) as server:
        plan = save_plan(pcr_executable, estate, "--endpoint", server.url)
        entered = [r for r in server.app.requests if r.path.startswith("/v1.0/users")]
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]
    assert "PCR_GRAPH_TOKEN is a token of the partner's own tenant" in blocked["reason"]
    assert "PCR_REFRESH_TOKEN" in blocked["reason"] and entered == []
    assert not {a["type"] for a in plan["actions"] if a["customer_id"] == NORTHWIND} & TENANT_STEPS
