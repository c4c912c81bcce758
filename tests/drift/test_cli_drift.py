"""`pcr drift` on the example estate: the fake in process, every format, the exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli, main
from reconciler.desired import Relationship
from reconciler.diff import drift
from reconciler.drift import DriftReport
from reconciler.render import render_drift
from reconciler.render.markdown import render_drift as markdown
from tests.conftest import EXAMPLE
from tests.planner.builders import NOW as PLANNER_NOW
from tests.planner.builders import customer, estate

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
    assert out.rstrip().endswith(
        "Drift: 19 differences in 7 of 9 declared customers; 1 unmanaged customer; 15 API calls."
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
        # Woodgrove is offboarding: its Azure plan's Azure subscriptions are read too.
        "api_calls": 15,
    }
    records = {(r["customer_id"], r["kind"], r["target_id"]): r for r in data["drift"]}
    status = records[TAILSPIN, "subscription_status", TAILSPIN_NCE]
    assert (status["desired"], status["live"]) == ("cancelled", "active")
    assert status["detail"] == {
        "next_window_opens": "2027-03-01T00:00:00Z",
        "next_window_closes": "2027-03-08T23:59:00Z",
    }
    relationship = records[TAILSPIN, "relationship", TAILSPIN]
    assert relationship["detail"] == {"removal": "deferred", "not_before": "2027-03-01T00:00:00Z"}
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
    (desired / "partner.yaml").write_text("policy:\n  unmanaged_customers: ignore\n")
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
