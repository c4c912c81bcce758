"""`pcr calendar` end to end: the installed `pcr`, the demo estate and the fake in process."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import icalendar

from reconciler.calendar.model import EventKind
from reconciler.commands import demo as demo_command
from reconciler.scaffold.demo import FAKE_STATE
from tests.artifact import run_pcr

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


def demo(tmp_path: Path) -> Path:
    assert demo_command.run(tmp_path / "demo", now=NOW) == 0
    return tmp_path / "demo"


def calendar(pcr: str, folder: Path, *args: str) -> tuple[int, str, str]:
    done = run_pcr(
        pcr,
        "calendar",
        "--desired",
        "desired-state",
        "--fake",
        FAKE_STATE,
        "--now",
        NOW.isoformat(),
        *args,
        cwd=folder,
    )
    return done.returncode, done.stdout, done.stderr


def test_the_demo_calendar_lists_its_events_and_exits_2_for_an_urgent_one(
    tmp_path: Path, pcr_executable: str
) -> None:
    folder = demo(tmp_path)
    state = (folder / FAKE_STATE).read_bytes()
    code, out, err = calendar(pcr_executable, folder, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    kinds = {e["kind"] for e in document["events"]}
    assert kinds == {str(kind) for kind in EventKind}  # the demo shows every kind
    urgent = [e for e in document["events"] if e["urgent"]]
    assert urgent  # an offboarding whose window closes within the week
    assert "API calls" in err  # what it read, said on stderr
    code, _, _ = calendar(pcr_executable, folder, "--detailed-exitcode")
    assert code == 2
    assert (folder / FAKE_STATE).read_bytes() == state  # it only reads


def test_the_ics_keeps_its_uids_across_runs(tmp_path: Path, pcr_executable: str) -> None:
    folder = demo(tmp_path)
    runs = [calendar(pcr_executable, folder, "--format", "ics") for _ in range(2)]
    uids = []
    for code, out, err in runs:
        assert code == 0, err
        parsed = icalendar.Calendar.from_ical(out)
        uids.append([str(event["UID"]) for event in parsed.walk("VEVENT")])
    assert uids[0] == uids[1] and uids[0]


def test_a_window_of_days_that_is_not_a_number_is_a_usage_error(
    tmp_path: Path, pcr_executable: str
) -> None:
    folder = demo(tmp_path)
    code, _, err = calendar(pcr_executable, folder, "--days", "soon")
    assert code == 1 and "--days" in err and "Traceback" not in err


def test_a_saved_calendar_is_shown_in_any_format_without_reading_again(
    tmp_path: Path, pcr_executable: str
) -> None:
    folder = demo(tmp_path)
    code, saved, err = calendar(pcr_executable, folder, "--format", "json")
    assert code == 0, err
    (folder / "calendar.json").write_text(saved)
    code, direct, _ = calendar(pcr_executable, folder, "--format", "ics")
    shown = run_pcr(pcr_executable, "show", "calendar.json", "--format", "ics", cwd=folder)
    assert (code, shown.returncode) == (0, 0) and shown.stdout == direct
    markdown = run_pcr(pcr_executable, "show", "calendar.json", "--format", "markdown", cwd=folder)
    assert markdown.stdout.startswith("### pcr calendar\n") and "```mermaid" in markdown.stdout
    planned = run_pcr(
        pcr_executable, "plan", "--fake", FAKE_STATE, "--out", "plan.json", cwd=folder
    )
    assert planned.returncode in (0, 2), planned.stderr
    refused = run_pcr(pcr_executable, "show", "plan.json", "--format", "ics", cwd=folder)
    assert refused.returncode == 1 and "a calendar's, not a plan's" in refused.stderr


def test_a_scoped_calendar_reads_and_lists_only_its_customers(
    tmp_path: Path, pcr_executable: str
) -> None:
    folder = demo(tmp_path)
    contoso = "desired-state/customers/contoso.yaml"
    code, out, err = calendar(pcr_executable, folder, "--format", "json", "--only", contoso)
    assert code == 0, err
    document = json.loads(out)
    assert document["scope"] == ["cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"]
    assert {e["customer_id"] for e in document["events"]} == set(document["scope"])
    assert {"trial_converts", "savings_plan_ends", "gdap_ends"} <= {
        e["kind"] for e in document["events"]
    }
    code, text, _ = calendar(pcr_executable, folder, "--only", contoso)
    assert "Scoped: 1 customer only" in text.splitlines()[0]


def day_of(text: str) -> str:
    return text[:10]


def test_each_event_is_on_the_date_the_fakes_fields_give(
    tmp_path: Path, pcr_executable: str
) -> None:
    """Against the fake: windows on `cancellationAllowedUntilDate`, terms on their inclusive
    `commitmentEndDate`, GDAP on `endDateTime`, reservations on `expiryDate`, and the
    deferred removal the day after the term it waits for ends."""
    folder = demo(tmp_path)
    state = json.loads((folder / FAKE_STATE).read_text())
    code, out, err = calendar(pcr_executable, folder, "--format", "json", "--days", "400")
    assert code == 0, err
    subscriptions = {s["id"]: s for subs in state["subscriptions"].values() for s in subs}
    relationships = {r["id"]: r for r in state["gdapRelationships"]}
    reservations = {
        order: e
        for entitlements in state["entitlements"].values()
        for e in entitlements
        for order in [a["resourceId"] for a in e.get("entitledArtifacts", [])] + [e.get("skuId")]
    }
    checked = set()
    for event in json.loads(out)["events"]:
        kind, target = event["kind"], event["target_id"]
        if kind == "cancellation_window_closes":
            assert event["date"] == subscriptions[target]["cancellationAllowedUntilDate"]
        elif kind in ("term_ends", "renewal_lock", "trial_converts", "savings_plan_ends"):
            assert day_of(event["date"]) == day_of(subscriptions[target]["commitmentEndDate"])
        elif kind == "gdap_ends":
            assert event["date"] == relationships[target]["endDateTime"]
        elif kind == "reservation_ends":
            assert event["date"] == reservations[target]["expiryDate"]
        elif kind == "removal_due":
            # The day after the inclusive end of the term it waits for.
            ends = {
                day_of(sub["commitmentEndDate"])
                for sub in state["subscriptions"][event["customer_id"]]
            }
            day_before = datetime.fromisoformat(day_of(event["date"])) - timedelta(days=1)
            assert event["date"].endswith("T00:00:00Z") and day_before.date().isoformat() in ends
        checked.add(kind)
    assert checked == {str(kind) for kind in EventKind}
