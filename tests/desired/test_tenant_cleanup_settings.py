"""`tenant_cleanup` and `partner.domains` as the desired state declares them: a customer's own
choices over the policy's, keep unless said, and no removal of guests or contacts without
the domains that tell the partner's from anyone else's."""

from __future__ import annotations

from pathlib import Path

from reconciler.desired.load import load_desired
from reconciler.desired.model import Cleanup
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
LEAVING = f"tenant_id: {TENANT}\ndomain: contoso.onmicrosoft.com\nrelationship: none\n"


def test_guests_or_contacts_without_the_partners_domains_point_at_the_choice(
    desired_dir: Path, write: WriteFile
) -> None:
    write("customers/c.yaml", LEAVING + "offboarding:\n  tenant_cleanup:\n    contacts: remove\n")
    (problem,) = load_desired(desired_dir).problems
    assert Path(problem.mark.path).name == "c.yaml" and problem.mark.line == 6  # its choices
    assert "partner.yaml" in problem.message and "domains: [" in problem.message
    assert "\n" not in problem.message


def test_apps_alone_need_no_domains(desired_dir: Path, write: WriteFile) -> None:
    write(
        "customers/c.yaml", LEAVING + "offboarding:\n  tenant_cleanup:\n    partner_apps: remove\n"
    )
    result = load_desired(desired_dir)
    assert result.problems == [] and result.desired is not None
    cleanup = result.desired.cleanup_of(result.desired.customers[TENANT])
    assert (cleanup.partner_apps, cleanup.guest_users, cleanup.contacts) == (
        Cleanup.REMOVE,
        Cleanup.KEEP,
        Cleanup.KEEP,
    )


def test_a_customers_choice_overrides_the_policy_part_by_part(
    desired_dir: Path, write: WriteFile
) -> None:
    write(
        "partner.yaml",
        "partner:\n  type: direct\n  domains: [Contoso-Partner.com]\n"
        "policy:\n  tenant_cleanup:\n    guest_users: remove\n    contacts: remove\n",
    )
    write("customers/c.yaml", LEAVING + "offboarding:\n  tenant_cleanup:\n    contacts: keep\n")
    result = load_desired(desired_dir)
    assert result.problems == [] and result.desired is not None
    assert result.desired.partner.domains == ("contoso-partner.com",)
    customer = result.desired.customers[TENANT]
    cleanup = result.desired.cleanup_of(customer)
    assert (cleanup.guest_users, cleanup.contacts, cleanup.partner_apps) == (
        Cleanup.REMOVE,
        Cleanup.KEEP,
        Cleanup.KEEP,
    )
    staying = customer.__class__(TENANT, customer.relationship.RESELLER, customer.mark)
    assert not result.desired.cleanup_of(staying).any  # only an offboarding cleans
