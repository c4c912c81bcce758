"""The tenant's clean-up in drift: what of the partner's an offboarding removes from the
customer's tenant and is still there is drift, explained by the plan (now, with the removal,
waiting with a deferred one, held back); pcr's own app and a `keep` are not; a tenant that
could not be read is said. Plain data, `now` fixed."""

from __future__ import annotations

from dataclasses import replace

from reconciler.desired.model import Cleanup
from reconciler.desired.model import GdapOffboarding
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import TenantCleanup
from reconciler.drift import compare
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.drift.model import to_dict
from reconciler.live.lifecycle import needs_tenant_read
from reconciler.live.models import Live
from reconciler.live.models import SubscriptionKind
from reconciler.live.tenant import Footprint
from reconciler.plan.actions import ActionType
from reconciler.plan.model import TENANT_STEPS
from reconciler.plan.planner import make_plan
from reconciler.render import render_drift
from tests.plan.builders import NOW
from tests.plan.builders import OWN_APP
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import footprint
from tests.plan.builders import relationship
from tests.plan.builders import sub

TENANT_KINDS = (DriftKind.TENANT_GUEST_USER, DriftKind.TENANT_CONTACT, DriftKind.TENANT_PARTNER_APP)
EVERYTHING = TenantCleanup(Cleanup.REMOVE, Cleanup.REMOVE, Cleanup.REMOVE)


def in_tenant(report: DriftReport) -> list[DriftRecord]:
    return [r for r in report.records if r.kind in TENANT_KINDS]


def cleaning(
    found: Footprint,
    *,
    cleanup: TenantCleanup = EVERYTHING,
    gone: bool = False,
    term_ends_in: float | None = None,
    gdap: GdapOffboarding = GdapOffboarding.TERMINATE,
) -> tuple[Live, DriftReport]:
    """An offboarding that cleans its tenant, with `found` read there; its reseller
    relationship `gone` already (GDAP still active), or waiting for a term to end."""
    subs = (
        (sub(SubscriptionKind.NCE, window_days=-30, term_end_days=term_ends_in, auto_renew=False),)
        if term_ends_in is not None
        else ()
    )
    c = customer(tenant_cleanup=cleanup, nce_outside_window=NceOutsideWindow.WAIT, gdap=gdap)
    desired, live = estate((c, detail(*subs)))
    live.gdap[c.tenant_id] = (replace(relationship(c.tenant_id), customer_name="Contoso"),)
    if gone:
        del live.customers[c.tenant_id]
        live.details.pop(c.tenant_id)
    live.tenants[c.tenant_id] = found
    live.own_app_id = OWN_APP
    return live, drift(desired, live, NOW)


def test_each_thing_the_clean_up_removes_is_a_record_in_the_plans_order() -> None:
    live, report = cleaning(footprint(guests=2, contacts=1, apps=1, own_app=True))
    (found,) = live.tenants.values()
    kinds = [r.kind for r in report.records]
    # The relationship, then the tenant (guests, contacts, apps), then GDAP: the plan's order.
    assert kinds == [
        DriftKind.RELATIONSHIP,
        DriftKind.TENANT_GUEST_USER,
        DriftKind.TENANT_GUEST_USER,
        DriftKind.TENANT_CONTACT,
        DriftKind.TENANT_PARTNER_APP,
        DriftKind.GDAP_RELATIONSHIP,
    ]
    guests = {r.target_id: r for r in report.records if r.kind is DriftKind.TENANT_GUEST_USER}
    assert set(guests) == {u.id for u in found.guests}
    alice = guests[found.guests[0].id]
    assert (alice.desired, alice.live, alice.target_name) == (
        "absent",
        "present",
        "tech0@partner.example",
    )
    assert alice.message == (
        "offboarding: `pcr apply` deletes the guest user with the removal, before the "
        "partner's GDAP access ends"
    )
    assert not alice.waiting and report.has_changes
    (app,) = [r for r in report.records if r.kind is DriftKind.TENANT_PARTNER_APP]
    assert app.target_name == "Partner app 0"  # pcr's own app is kept: never drift
    assert report.records[0].message == (
        "offboarding: `pcr apply` removes the relationship now, after 4 steps in its "
        "tenant and 1 on its GDAP relationships"
    )


def test_what_drift_says_apply_removes_is_in_the_plan() -> None:
    c = customer(tenant_cleanup=EVERYTHING)
    desired, live = estate((c, detail()))
    live.tenants[c.tenant_id] = footprint(guests=1, contacts=1, apps=1)
    planned = {(a.type, a.target_id) for a in make_plan(desired, live, NOW).actions}
    records = in_tenant(drift(desired, live, NOW))
    assert len(records) == 3  # a guest, a contact, an app: each checked below
    for record in records:
        step = {
            DriftKind.TENANT_GUEST_USER: ActionType.REMOVE_GUEST_USER,
            DriftKind.TENANT_CONTACT: ActionType.REMOVE_TENANT_CONTACT,
            DriftKind.TENANT_PARTNER_APP: ActionType.REMOVE_PARTNER_APP,
        }[record.kind]
        assert (step, record.target_id) in planned


def test_with_gdap_kept_nothing_is_said_of_gdap_ending() -> None:
    _, report = cleaning(footprint(guests=1), gdap=GdapOffboarding.KEEP)
    (record,) = in_tenant(report)
    assert record.message == "offboarding: `pcr apply` deletes the guest user with the removal"


def test_with_gdap_kept_a_removal_done_outside_pcr_ends_the_clean_up() -> None:
    """`pcr plan` reads no GDAP under `gdap: keep`, drift reads every customer's: neither
    reads the tenant once the relationship is gone, so they agree; GDAP that the
    offboarding ends still lets pcr in."""
    for gdap, reads in ((GdapOffboarding.KEEP, False), (GdapOffboarding.TERMINATE, True)):
        c = customer(tenant_cleanup=EVERYTHING, gdap=gdap)
        desired, live = estate((c, None))
        del live.customers[c.tenant_id]
        live.gdap[c.tenant_id] = (relationship(c.tenant_id),)  # as drift reads it
        assert needs_tenant_read(desired, c, live) is reads
    _, report = cleaning(footprint(guests=1), gone=True, gdap=GdapOffboarding.KEEP)
    assert in_tenant(report) == []


def test_left_behind_by_a_removal_done_outside_pcr() -> None:
    _, report = cleaning(footprint(guests=1), gone=True)
    (record,) = in_tenant(report)
    assert record.message.startswith(
        "offboarding: `pcr apply` deletes the guest user, left behind by the removal of the "
        "reseller relationship"
    )
    assert not record.waiting and report.has_changes


def test_waiting_with_a_deferred_removal() -> None:
    _, report = cleaning(footprint(contacts=1), term_ends_in=40)
    (record,) = in_tenant(report)
    assert record.waiting and not report.has_changes  # `--detailed-exitcode`: 0
    assert record.message.startswith(
        "offboarding: removed together with the removal, deferred until"
    )
    assert "not_before" in record.detail


def test_held_back_behind_a_reservation() -> None:
    c = customer(tenant_cleanup=EVERYTHING)
    desired, live = estate((c, detail(ris=1)))
    live.tenants[c.tenant_id] = footprint(guests=1)
    (record,) = in_tenant(drift(desired, live, NOW))
    assert record.message.startswith(
        "held back: nothing is removed from the customer's tenant for this customer while a "
        "person must act"
    )
    assert not record.waiting


def test_keep_and_pcrs_own_app_are_not_drift() -> None:
    keep = TenantCleanup(Cleanup.KEEP, Cleanup.KEEP, Cleanup.REMOVE)
    _, report = cleaning(footprint(guests=2, contacts=2, own_app=True), cleanup=keep)
    assert in_tenant(report) == []


def test_a_tenant_that_could_not_be_read_is_said() -> None:
    unreadable = Footprint(unreadable="the partner's GDAP roles do not allow it")
    _, report = cleaning(unreadable, gone=True)
    assert in_tenant(report) == []
    (warning,) = report.warnings
    assert warning.startswith(
        "The partner's guests, contacts and apps not compared for 1 offboarding customer "
        "with `tenant_cleanup` (Contoso): the tenant could not be read"
    )
    # GDAP waits for the clean-up, and its record names why.
    (gdap,) = [r for r in report.records if r.kind is DriftKind.GDAP_RELATIONSHIP]
    assert gdap.message.startswith(
        "blocked, a person must act: the customer's tenant cannot be read"
    )


def test_each_tenant_step_has_its_drift_kind() -> None:
    assert set(compare.TENANT_KINDS) == TENANT_STEPS
    assert set(compare.TENANT_KINDS.values()) == set(TENANT_KINDS)


def test_json_and_text_name_the_kinds() -> None:
    _, report = cleaning(footprint(guests=1, contacts=1, apps=1))
    kinds = [r["kind"] for r in to_dict(report)["drift"]]
    assert kinds[1:4] == ["tenant_guest_user", "tenant_contact", "tenant_partner_app"]
    text = render_drift(report, "text")
    assert "!  tenant_guest_user     tech0@partner.example" in text
