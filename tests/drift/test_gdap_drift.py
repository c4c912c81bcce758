"""GDAP in drift: what an offboarding leaves behind is drift (waiting with a deferred removal),
what a customer that stays is about to lose is a note (never drift), and GDAP that could not
be read is said. Plain data, `now` fixed; one end-to-end run through `pcr drift`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from click.testing import Result

from reconciler.cli import cli
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import GdapOffboarding
from reconciler.desired.model import Relationship
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.drift.model import to_dict
from reconciler.fake.state import FakeState
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.plan.planner import make_plan
from reconciler.render import render_drift
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import override
from tests.plan.builders import relationship
from tests.plan.builders import sub

GDAP = DriftKind.GDAP_RELATIONSHIP
RESELLER = Relationship.RESELLER
STEADY = "00000000-0000-4000-8000-00000000beef"  # a customer that stays


def only(report: DriftReport) -> DriftRecord:
    assert len(report.records) == 1, report.records
    return report.records[0]


def gdap_records(report: DriftReport) -> list[DriftRecord]:
    return [r for r in report.records if r.kind is GDAP]


def only_gdap(report: DriftReport) -> DriftRecord:
    records = gdap_records(report)
    assert len(records) == 1, report.records
    return records[0]


def offboarding(
    *statuses: GdapStatus,
    subs: tuple[Subscription, ...] = (),
    gdap: GdapOffboarding = GdapOffboarding.TERMINATE,
    protected: bool = False,
) -> tuple[Live, DriftReport, tuple[GdapRelationship, ...]]:
    """An offboarding customer (still a reseller customer) with these GDAP relationships."""
    c = customer(gdap=gdap, protected=protected)
    desired, live = estate((c, detail(*subs)))
    relationships = tuple(relationship(c.tenant_id, s) for s in statuses)
    live.gdap[c.tenant_id] = relationships
    return live, drift(desired, live, NOW), relationships


# --- offboarding: what is left behind is drift ------------------------------------------------


def test_an_active_relationship_of_an_offboarding_customer_is_drift() -> None:
    _, report, (active,) = offboarding(GdapStatus.ACTIVE)
    record = only_gdap(report)
    assert (record.target_id, record.target_name, record.desired, record.live) == (
        active.id,
        active.name,
        "terminated",
        "active",
    )
    assert record.message == (
        "offboarding: `pcr apply` terminates it with the removal; the partner's admin roles "
        "in the customer's tenant end at once"
    )
    assert not record.waiting and report.has_changes  # `--detailed-exitcode`: 2
    # After the relationship itself, as the plan ends GDAP after the subscriptions.
    assert [r.kind for r in report.records] == [DriftKind.RELATIONSHIP, GDAP]
    removal = report.records[0]
    assert "after 1 step on its GDAP relationships" in removal.message
    (as_json,) = [r for r in to_dict(report)["drift"] if r["kind"] == "gdap_relationship"]
    assert as_json["detail"] == {
        "status": "active",
        "ends": "2027-12-27T09:00:00Z",
        "auto_extend": "PT0S",
    }


def test_what_drift_says_apply_does_to_gdap_is_in_the_plan() -> None:
    c = customer()
    desired, live = estate((c, detail()))
    active, draft = relationship(c.tenant_id), relationship(c.tenant_id, GdapStatus.CREATED)
    live.gdap[c.tenant_id] = (active, draft)
    report = drift(desired, live, NOW)
    planned = {(a.type, a.target_id) for a in make_plan(desired, live, NOW).actions}
    by_id = {r.target_id: r for r in gdap_records(report)}
    assert kind_of(ActionType.TERMINATE_GDAP).apply_says in by_id[active.id].message
    assert (ActionType.TERMINATE_GDAP, active.id) in planned
    assert (by_id[draft.id].desired, by_id[draft.id].live) == ("deleted", "created")
    assert "a draft the customer never approved: `pcr apply` deletes it" in (
        by_id[draft.id].message
    )
    assert (ActionType.DELETE_GDAP, draft.id) in planned


def test_a_relationship_left_behind_by_a_removal_is_drift() -> None:
    c = customer()
    desired, live = estate((c, None))
    del live.customers[c.tenant_id]  # the reseller relationship is gone already
    # Graph names the customer as the file does: the second key, with no domain to check.
    left = replace(relationship(c.tenant_id), customer_name="Contoso")
    live.gdap[c.tenant_id] = (left,)
    report = drift(desired, live, NOW)
    record = only(report)
    assert (record.kind, record.target_id, record.waiting) == (GDAP, left.id, False)
    assert record.message.startswith(
        "offboarding: `pcr apply` terminates it, left behind by the removal of the reseller "
        "relationship"
    )
    assert report.has_changes and report.drifted == 1


def test_approved_and_activating_become_active_so_they_are_drift_too() -> None:
    for status in (GdapStatus.APPROVED, GdapStatus.ACTIVATING):
        _, report, (rel,) = offboarding(status)
        record = only_gdap(report)
        assert (record.desired, record.live, record.waiting) == ("terminated", status.value, False)
        assert record.message.startswith("blocked, a person must act: ")
        assert rel.id in record.message and "making it active" in record.message
        assert report.has_changes


def test_ended_and_ending_relationships_are_not_drift() -> None:
    ended = [
        GdapStatus.TERMINATED,
        GdapStatus.TERMINATING,
        GdapStatus.TERMINATION_REQUESTED,
        GdapStatus.EXPIRED,
        GdapStatus.EXPIRING,
    ]
    _, report, _ = offboarding(*ended)
    assert gdap_records(report) == []
    # And for a customer whose removal is done, nothing at all is left to drift.
    c = customer()
    desired, live = estate((c, None))
    del live.customers[c.tenant_id]
    live.gdap[c.tenant_id] = tuple(relationship(c.tenant_id, s) for s in ended)
    assert drift(desired, live, NOW).records == []


def test_gdap_keep_leaves_them_alone() -> None:
    _, report, _ = offboarding(GdapStatus.ACTIVE, gdap=GdapOffboarding.KEEP)
    assert gdap_records(report) == []
    assert [r.kind for r in report.records] == [DriftKind.RELATIONSHIP]
    assert report.notes == [] and report.warnings == []


def test_a_protected_customer_says_the_guardrail_refuses_it() -> None:
    _, report, _ = offboarding(GdapStatus.ACTIVE, protected=True)
    record = only_gdap(report)
    assert record.message.startswith("refused by a guardrail: ")
    assert "`pcr apply`" not in record.message and not record.waiting


def test_an_unknown_status_holds_the_customer_back() -> None:
    c = customer()
    desired, live = estate((c, detail()))
    odd = GdapRelationship(
        "a-b", c.tenant_id, "odd one", GdapStatus.UNKNOWN, "unknownFutureValue", unknowns=("x",)
    )
    live.gdap[c.tenant_id] = (odd,)
    record = only_gdap(drift(desired, live, NOW))
    assert (record.desired, record.live) == ("terminated", "unknownFutureValue")
    assert record.message.startswith("held back: no GDAP relationship is ended for this customer")


# --- waiting with a deferred removal, then due ---------------------------------------------


def deferred_removal(
    *statuses: GdapStatus,
) -> tuple[Live, DriftReport, tuple[GdapRelationship, ...]]:
    # Past its cancellation window, auto-renew off: the removal waits for the term's end.
    nce = sub(SubscriptionKind.NCE, auto_renew=False, window_days=-30, term_end_days=40)
    return offboarding(*statuses, subs=(nce,))


def test_gdap_waits_with_a_deferred_removal_exactly_as_the_removal_does() -> None:
    _, report, (active,) = deferred_removal(GdapStatus.ACTIVE)
    assert [(r.kind, r.waiting) for r in report.records] == [
        (DriftKind.RELATIONSHIP, True),
        (DriftKind.SUBSCRIPTION_STATUS, True),
        (GDAP, True),
    ]
    record = only_gdap(report)
    assert record.message.startswith("offboarding: terminated together with the removal, deferred ")
    assert record.detail["not_before"] == report.records[0].detail["not_before"]
    assert not report.has_changes  # `--detailed-exitcode`: 0
    assert to_dict(report)["summary"]["waiting"] == 3


def test_once_the_removal_is_due_so_is_its_gdap() -> None:
    c = customer()
    nce = sub(SubscriptionKind.NCE, auto_renew=False, window_days=-30, term_end_days=40)
    desired, live = estate((c, detail(nce)))
    live.gdap[c.tenant_id] = (relationship(c.tenant_id),)
    later = drift(desired, live, NOW + timedelta(days=42))
    record = only_gdap(later)
    assert not record.waiting and later.has_changes
    assert "together with the removal, due since " in record.message


def test_one_waiting_for_the_customer_is_a_persons_even_while_the_removal_waits() -> None:
    _, report, (pending,) = deferred_removal(GdapStatus.APPROVAL_PENDING)
    record = only_gdap(report)
    assert not record.waiting and record.live == "approvalPending"
    assert record.message.startswith("blocked, a person must act: ")
    assert report.records[0].waiting  # the removal itself still waits for its date
    assert report.has_changes


# --- customers that stay: notes, never drift -------------------------------------------------


def steady(*relationships: GdapRelationship) -> DriftReport:
    c = customer(STEADY, RESELLER)
    desired, live = estate((c, None))
    live.gdap[c.tenant_id] = relationships
    return drift(desired, live, NOW)


def test_a_relationship_ending_soon_without_extension_is_a_note_not_drift() -> None:
    ending = relationship(STEADY, ends_in_days=20, name="Contoso admins")
    report = steady(ending)
    assert report.records == [] and not report.has_drift and not report.has_changes
    (note,) = report.notes
    assert (note.customer_id, note.target_id, note.target_name, note.ends) == (
        STEADY,
        ending.id,
        "Contoso admins",
        ending.ends,
    )
    assert note.message.startswith(
        "GDAP relationship: it ends 2026-12-12 09:00 UTC, in 20 days, and it does not "
        "auto-extend (autoExtendDuration PT0S)"
    )
    for how in ("Partner Center portal", "autoExtendDuration to P180D", "Global Administrator"):
        assert how in note.message
    data = to_dict(report)
    assert data["drift"] == []
    assert data["notes"] == [
        {
            "customer_id": STEADY,
            "target_id": ending.id,
            "target_name": "Contoso admins",
            "message": note.message,
            "ends": "2026-12-12T09:00:00Z",
        }
    ]
    assert data["warnings"] == []


def test_one_ending_later_or_extending_itself_or_over_is_no_note() -> None:
    assert steady(relationship(STEADY, ends_in_days=40)).notes == []
    assert steady(relationship(STEADY, ends_in_days=20, auto_extend="P180D")).notes == []
    assert steady(relationship(STEADY, GdapStatus.TERMINATED, ends_in_days=20)).notes == []
    assert steady(relationship(STEADY, GdapStatus.EXPIRED, ends_in_days=-1)).notes == []
    # `P0D` and `PT0S` both mean no extension (docs/partner-center.md, "GDAP").
    assert len(steady(relationship(STEADY, ends_in_days=5, auto_extend="P0D")).notes) == 1


def test_notes_show_in_every_format_and_keep_a_clean_summary() -> None:
    ending = relationship(STEADY, ends_in_days=20, name="Contoso admins")
    report = steady(ending)
    text = render_drift(report, "text")
    assert "Notes (not drift):" in text
    assert f"Contoso admins ({ending.id})" in text
    assert text.rstrip().endswith(
        "No drift. Partner Center matches the desired state. 1 customer checked."
    )
    markdown = render_drift(report, "markdown")
    assert "**Notes** (not drift)" in markdown
    assert "| Contoso | Contoso admins <code>" in markdown
    assert "2026-12-12 09:00 UTC" in markdown
    assert "No drift. Partner Center matches the desired state." in markdown
    assert json.loads(render_drift(report, "json"))["notes"][0]["target_id"] == ending.id


def test_a_note_beside_drift_changes_nothing_about_the_drift() -> None:
    sid = "00000000-0000-4000-8000-00000000c0de"
    c = customer(STEADY, RESELLER, overrides=(override(sid, DesiredStatus.SUSPENDED),))
    desired, live = estate((c, detail(sub(SubscriptionKind.LEGACY, id=sid))))
    live.gdap[STEADY] = (relationship(STEADY, ends_in_days=3),)
    report = drift(desired, live, NOW)
    assert [r.kind for r in report.records] == [DriftKind.SUBSCRIPTION_STATUS]
    assert len(report.notes) == 1
    assert report.records[0].message == "`pcr apply` suspends it"


def test_gdap_of_a_customer_that_stays_does_not_change_what_the_plan_does() -> None:
    """Drift reads every declared customer's GDAP, `pcr plan` only an offboarding's: drift
    explains with the plan that `pcr plan` makes."""
    sid = "00000000-0000-4000-8000-00000000c0de"
    c = customer(STEADY, RESELLER, overrides=(override(sid, DesiredStatus.SUSPENDED),))
    desired, live = estate((c, detail(sub(SubscriptionKind.LEGACY, id=sid))))
    odd = GdapRelationship("a-b", STEADY, "odd", GdapStatus.UNKNOWN, "newStatus", unknowns=("x",))
    live.gdap[STEADY] = (odd,)
    (record,) = drift(desired, live, NOW).records
    assert record.message == "`pcr apply` suspends it"


# --- GDAP that could not be read -------------------------------------------------------------


def test_unreadable_gdap_is_said_in_one_line_without_failing() -> None:
    a, b = customer(name="Adatum"), customer(name="Bellows")
    keeps = customer(name="Keeps", gdap=GdapOffboarding.KEEP)
    stays = customer(name="Stays", relationship=RESELLER)
    desired, live = estate((a, detail()), (b, None), (keeps, None), (stays, None))
    del live.customers[b.tenant_id]  # its removal is done: GDAP may still be left
    live.gdap.clear()
    live.gdap_unreadable = "no Microsoft Graph credentials (set PCR_GRAPH_TOKEN)"
    report = drift(desired, live, NOW)
    (warning,) = report.warnings
    assert warning.startswith(
        "GDAP relationships not compared for 2 offboarding customers with `gdap: terminate` ("
    )
    assert "Adatum" in warning and "Bellows" in warning and "Keeps" not in warning
    assert "no Microsoft Graph credentials (set PCR_GRAPH_TOKEN)" in warning
    assert gdap_records(report) == []
    assert to_dict(report)["warnings"] == [warning]
    assert "Warnings:" in render_drift(report, "text")
    assert "> [!WARNING]" in render_drift(report, "markdown")
    # The removal that cannot go yet says why, as the plan blocks it.
    (removal,) = [r for r in report.records if r.customer_id == a.tenant_id]
    assert "could not read this customer's GDAP relationships" in removal.message


def test_no_warning_when_nothing_needed_gdap() -> None:
    c = customer(relationship=RESELLER)
    desired, live = estate((c, None))
    live.gdap_unreadable = "no Microsoft Graph credentials"
    report = drift(desired, live, NOW)
    assert report.warnings == [] and report.notes == [] and report.records == []
    assert render_drift(report, "text") == (
        "No drift. Partner Center matches the desired state. 1 customer checked.\n"
    )


# --- end to end: `pcr drift` on the fake, Partner Center and Graph -------------------------

CLI_NOW = "2026-11-22T09:00:00Z"
GONE = "0b9c3d4e-5f60-4a71-8b82-93a4b5c6d7e8"
STAYS = "1c2d3e4f-5061-4728-9394-a5b6c7d8e9f0"
STRANGER = "2d3e4f50-6172-4839-a4b5-c6d7e8f90a1b"


def gdap_estate(root: Path) -> tuple[Path, Path, FakeState]:
    """Gone offboarded by hand (its reseller relationship removed) but an active GDAP
    relationship was left behind; Stays stays, with one about to end."""
    desired = root / "desired"
    (desired / "customers").mkdir(parents=True)
    (desired / "partner.yaml").write_text(
        "partner:\n  type: direct\npolicy:\n  unmanaged_customers: ignore\n"
    )
    (desired / "customers" / "gone.yaml").write_text(
        f"tenant_id: {GONE}\nname: Gone Ltd\ndomain: gone.onmicrosoft.com\nrelationship: none\n"
    )
    (desired / "customers" / "stays.yaml").write_text(
        f"tenant_id: {STAYS}\nname: Stays Ltd\ndomain: stays.onmicrosoft.com\n"
        "relationship: reseller\n"
    )
    fake = FakeState.empty(CLI_NOW)
    fake.add_customer(STAYS, "Stays Ltd", "stays.onmicrosoft.com")
    # Graph names the customer, listed by Partner Center or not.
    fake.add_gdap_relationship(GONE, display_name="Gone admins")["customer"]["displayName"] = (
        "Gone Ltd"
    )
    fake.add_gdap_relationship(GONE, status="terminated", display_name="Gone old admins")
    fake.add_gdap_relationship(STAYS, display_name="Stays admins", ends="2026-12-12T09:00:00Z")
    fake.add_gdap_relationship(STRANGER, display_name="Someone else's")
    fake.gdap.set_page_size(1)  # the partner-wide listing is followed page by page
    state = root / "state.json"
    fake.save(state)
    return desired, state, fake


def pcr_drift(desired: Path, state: Path, *args: str) -> Result:
    command = ["drift", "--desired", str(desired), "--fake", str(state), "--now", CLI_NOW]
    return CliRunner().invoke(cli, [*command, *args])


def test_pcr_drift_reports_the_relationship_left_behind_with_exit_2(tmp_path: Path) -> None:
    desired, state, _ = gdap_estate(tmp_path)
    result = pcr_drift(desired, state, "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    (record,) = data["drift"]
    assert {k: record[k] for k in ("customer_id", "kind", "target_name", "desired", "live")} == {
        "customer_id": GONE,
        "kind": "gdap_relationship",
        "target_name": "Gone admins",
        "desired": "terminated",
        "live": "active",
    }
    assert record["waiting"] is False
    assert record["message"].startswith("offboarding: `pcr apply` terminates it, left behind")
    (note,) = data["notes"]
    assert (note["customer_id"], note["ends"]) == (STAYS, "2026-12-12T09:00:00Z")
    assert "in 20 days" in note["message"]
    assert data["warnings"] == []
    # One Graph call per page of the partner-wide listing (four relationships, one a page,
    # and the empty page after a full one), beside Partner Center's own.
    assert "5 Microsoft Graph calls" in result.stderr

    text = pcr_drift(desired, state, "--detailed-exitcode")
    assert text.exit_code == 2
    assert "gdap_relationship" in text.stdout and "Notes (not drift):" in text.stdout


def test_once_apply_terminates_it_only_the_note_is_left_and_drift_exits_0(
    tmp_path: Path,
) -> None:
    desired, state, _ = gdap_estate(tmp_path)
    command = ["--desired", str(desired), "--fake", str(state), "--now", CLI_NOW]
    applied = CliRunner().invoke(cli, ["apply", *command, "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    assert "terminate GDAP relationship Gone admins" in applied.output
    result = pcr_drift(desired, state, "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["drift"] == [] and len(data["notes"]) == 1
