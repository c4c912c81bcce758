"""`pcr drift` on the example estate: the fake in process, every format, the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from reconciler.cli import cli
from reconciler.cli import main
from reconciler.desired.model import Relationship
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftReport
from reconciler.render import render_drift
from reconciler.render.common import ONLY_WAITING
from reconciler.render.markdown import render_drift as markdown
from tests.conftest import EXAMPLE
from tests.drift.waiting import PROSEWARE
from tests.drift.waiting import PROSEWARE_DUE
from tests.drift.waiting import PROSEWARE_NCE
from tests.drift.waiting import TAILSPIN_DUE
from tests.drift.waiting import set_fake_clock
from tests.drift.waiting import waiting_estate
from tests.plan.builders import NOW as PLANNER_NOW
from tests.plan.builders import customer
from tests.plan.builders import estate

NOW = "2026-11-22T09:00:00Z"
ALPINE = "ae43c559-1885-44c2-ad5f-68ff5454b9da"
FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
FABRIKAM_E3 = "f3ea7643-adc7-4f68-b701-7b00fd007869"
TAILSPIN = "6f55635c-a2f9-40b3-98c9-9879d04da870"
TAILSPIN_NCE = "f6a8c0d2-5e7a-4c9d-8ebf-3a4b5c6d7e8f"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", path)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["drift", "--desired", str(EXAMPLE), "--now", NOW, *args])


def test_text_report_of_the_example_estate(state: Path) -> None:
    result = run("--fake", str(state))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Fabrikam Inc (tenant d815fc46-557a-42b8-83ec-fb3ebcb1fb2f, " in out
    assert (
        f"Office 365 E3 (legacy) ({FABRIKAM_E3})\n"
        "       desired suspended, live active: `pcr apply` suspends it"
    ) in out
    # Renewal awareness: when Tailspin's NCE term can be cancelled, and when it goes.
    words = " ".join(out.split())
    assert "it renews on 2027-03-01, and the next cancellation window opens then and " in words
    assert "closes 2027-03-08 23:59 UTC" in words
    assert "removal deferred until 2027-03-01" in words
    assert "Alpine Ski House (tenant ae43c559-1885-44c2-ad5f-68ff5454b9da, not declared)" in out
    # Woodgrove's reserved instance holds back everything destructive: drift says so.
    woodgrove = words[words.index("Woodgrove Bank") : words.index("Alpine Ski House")]
    assert "`pcr apply` suspends it" not in woodgrove
    assert woodgrove.count("held back: nothing is suspended or cancelled for this customer") == 2
    # Proseware's and Tailspin's removals wait for their dates; the rest is to do now.
    assert out.count("(waiting): offboarding: removal deferred until") == 2
    assert out.rstrip().endswith(
        "Drift: 19 differences in 7 of 9 declared customers (2 waiting); 1 unmanaged customer; "
        "16 API calls."
    )


def test_detailed_exitcode_is_2_on_drift(state: Path) -> None:
    assert run("--fake", str(state), "--detailed-exitcode").exit_code == 2


def test_json_report_follows_the_contract(state: Path) -> None:
    result = run("--fake", str(state), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"] == {
        "customers_checked": 9,
        "drifted": 7,
        "unmanaged": 1,
        "differences": 20,
        "waiting": 2,
        # Woodgrove is offboarding: its Azure plan's Azure subscriptions are read too.
        "api_calls": 16,  # with the one Microsoft Graph listing of GDAP relationships
    }
    records = {(r["customer_id"], r["kind"], r["target_id"]): r for r in data["drift"]}
    status = records[TAILSPIN, "subscription_status", TAILSPIN_NCE]
    assert (status["desired"], status["live"]) == ("cancelled", "active")
    assert status["detail"] == {
        "next_window_opens": "2027-03-01T00:00:00Z",
        "next_window_closes": "2027-03-08T23:59:00Z",
    }
    assert status["waiting"] is False  # `pcr apply` turns its auto-renew off first
    relationship = records[TAILSPIN, "relationship", TAILSPIN]
    assert relationship["detail"] == {"removal": "deferred", "not_before": "2027-03-01T00:00:00Z"}
    assert relationship["waiting"] is True
    assert records[ALPINE, "unmanaged_customer", ALPINE]["live"] == "reseller"
    # Litware (protected, nothing overridden) and Contoso are in line.
    assert {r["customer_id"] for r in data["drift"]}.isdisjoint(
        {"c1260b6b-9d9b-424d-8a7b-e52c0648b082", "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"}
    )


def test_all_reads_the_unmanaged_customers_subscriptions(state: Path) -> None:
    plain = json.loads(run("--fake", str(state), "--format", "json").stdout)
    everything = json.loads(run("--fake", str(state), "--format", "json", "--all").stdout)
    unmanaged = [r for r in everything["drift"] if r["kind"] == "unmanaged_customer"]
    assert [s["id"] for s in unmanaged[0]["detail"]["subscriptions"]] == [
        "a3b5d7e9-2f4b-4d15-8b37-0c1d2e3f4a56"
    ]
    assert everything["summary"]["api_calls"] == plain["summary"]["api_calls"] + 1
    assert (
        "subscriptions"
        not in next(r for r in plain["drift"] if r["kind"] == "unmanaged_customer")["detail"]
    )


def test_markdown_report(state: Path) -> None:
    result = run("--fake", str(state), "--format", "markdown")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("### pcr drift\n\n| Drift | |\n")
    assert "| Differences | 20 |" in out
    assert (
        "**Fabrikam Inc** · tenant <code>d815fc46-557a-42b8-83ec-fb3ebcb1fb2f</code> · "
        f"file <code>{EXAMPLE}/customers/fabrikam.yaml</code>" in out
    )


def test_drift_only_reads(state: Path) -> None:
    before = json.loads(state.read_text())
    assert run("--fake", str(state)).exit_code == 0
    after = json.loads(state.read_text())
    assert after["mutations"] == before["mutations"]
    assert after["subscriptions"] == before["subscriptions"]


def test_no_drift_after_the_estate_matches(tmp_path: Path, state: Path) -> None:
    desired = tmp_path / "desired"
    (desired / "customers").mkdir(parents=True)
    (desired / "partner.yaml").write_text(
        "partner:\n  type: direct\npolicy:\n  unmanaged_customers: ignore\n"
    )
    shutil.copy(EXAMPLE / "customers" / "contoso.yaml", desired / "customers")
    result = CliRunner().invoke(
        cli, ["drift", "--desired", str(desired), "--fake", str(state), "--detailed-exitcode"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "No drift. Partner Center matches the desired state. 1 customer checked.\n"
    )


def test_invalid_desired_state_is_an_error(tmp_path: Path, state: Path) -> None:
    desired = tmp_path / "desired"
    (desired / "customers").mkdir(parents=True)
    (desired / "customers" / "x.yaml").write_text("tenant_id: nope\n")
    result = CliRunner().invoke(
        cli, ["drift", "--desired", str(desired), "--fake", str(state), "--detailed-exitcode"]
    )
    assert result.exit_code == 1
    assert "run `pcr validate` and fix them first" in result.stderr


def test_unreachable_partner_center_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "drift",
                "--desired",
                str(EXAMPLE),
                "--endpoint",
                "http://127.0.0.1:9/",  # discard port: nothing listens
            ]
        )
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("pcr: ")


def test_missing_fake_state_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["drift", "--desired", str(EXAMPLE), "--fake", str(tmp_path / "nope.json")])
    assert exit_info.value.code == 1


def test_unknown_format_is_refused_by_the_renderer() -> None:
    with pytest.raises(ValueError, match="unknown drift format"):
        render_drift(DriftReport(now=PLANNER_NOW), "yaml")


def missing_customers(names: list[str]) -> DriftReport:
    """A report with one missing_customer record per name."""
    customers = [customer(relationship=Relationship.RESELLER, name=name) for name in names]
    desired, live = estate(*((c, None) for c in customers))
    live.customers.clear()
    return drift(desired, live, PLANNER_NOW)


def test_markdown_stays_under_its_limit_and_says_what_it_left_out() -> None:
    report = missing_customers([f"Customer {n}" for n in range(40)])
    assert len(report.records) == 40
    text = markdown(report, limit=4_000)
    assert len(text) <= 4_000
    assert "not shown, to stay within 4000 characters" in text
    full = markdown(report)
    assert "not shown" not in full
    assert full.count("missing\\_customer") == 40


def test_markdown_escapes_what_a_file_or_partner_center_supplies() -> None:
    text = markdown(missing_customers(["<script>alert(1)</script> | *Contoso*"]))
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\*Contoso\\*" in text


# --- removals that wait for their date, then are due ---------------------------------------


def drift_at(desired: Path, state: Path, now: str, *args: str) -> Result:
    command = ["drift", "--desired", str(desired), "--fake", str(state), "--now", now, *args]
    return CliRunner().invoke(cli, [*command, "--detailed-exitcode"])


def by_key(result: Result) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["customer_id"], r["kind"]): r for r in json.loads(result.stdout)["drift"]}


def test_drift_exits_0_while_the_only_differences_are_removals_waiting(tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    result = drift_at(desired, state, NOW)
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())
    assert "(waiting): offboarding: removal deferred until 2027-03-01 00:00 UTC" in words
    assert words.endswith(
        "No drift to act on: 4 differences in 2 of 2 declared customers, all waiting for a "
        "deferred date; 6 API calls."
    )
    as_json = drift_at(desired, state, NOW, "--format", "json")
    assert as_json.exit_code == 0
    data = json.loads(as_json.stdout)
    assert [r["waiting"] for r in data["drift"]] == [True] * 4
    assert data["summary"]["waiting"] == data["summary"]["differences"] == 4


def test_the_day_before_it_is_due_it_still_waits(tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    assert drift_at(desired, state, "2026-11-30T23:59:00Z").exit_code == 0


def test_drift_exits_2_the_day_a_removal_is_due(tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    result = drift_at(desired, state, PROSEWARE_DUE, "--format", "json")
    assert result.exit_code == 2, result.output
    records = by_key(result)
    due = records[PROSEWARE, "relationship"]
    assert due["waiting"] is False
    assert due["message"] == (
        "offboarding: removal due since 2026-12-01 00:00 UTC; Partner Center still shows "
        f"Exchange Online (Plan 1) (nce) {PROSEWARE_NCE} suspended; plan again later (Partner "
        "Center can take a day to end a term)"
    )
    assert due["detail"] == {"removal": "due", "not_before": "2026-12-01T00:00:00Z"}
    status = records[PROSEWARE, "subscription_status"]
    assert status["waiting"] is False
    assert status["message"] == (
        "its term ended 2026-11-30, but Partner Center still shows it suspended: plan again "
        "later (Partner Center can take a day to end a term)"
    )
    assert records[TAILSPIN, "relationship"]["waiting"] is True  # its date is 2027-03-01
    text = drift_at(desired, state, TAILSPIN_DUE)
    assert text.exit_code == 2
    words = " ".join(text.stdout.split())
    assert "removal due since 2027-03-01 00:00 UTC; Partner Center still shows Office 365" in words
    assert "(waiting)" not in words and "No drift to act on" not in words


def test_once_partner_center_ends_the_term_apply_removes_the_relationship(
    tmp_path: Path,
) -> None:
    desired, state = waiting_estate(tmp_path)
    set_fake_clock(state, TAILSPIN_DUE)  # both terms are over in Partner Center too
    result = drift_at(desired, state, TAILSPIN_DUE, "--format", "json")
    assert result.exit_code == 2
    records = by_key(result)
    assert set(records) == {(PROSEWARE, "relationship"), (TAILSPIN, "relationship")}
    for record in records.values():
        assert record["message"] == "offboarding: `pcr apply` removes the relationship now"
        assert record["waiting"] is False


def test_markdown_shows_what_waits(tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    result = drift_at(desired, state, NOW, "--format", "markdown")
    assert result.exit_code == 0
    out = result.stdout
    assert f"**{ONLY_WAITING}**" in out
    assert "| Waiting for a date | 4 |" in out
    assert out.count("| **Waiting:** ") == 4
    due = drift_at(desired, state, PROSEWARE_DUE, "--format", "markdown").stdout
    assert ONLY_WAITING not in due
    assert due.count("| **Waiting:** ") == 2  # Tailspin's
    assert "removal due since 2026-12-01 00:00 UTC" in due
