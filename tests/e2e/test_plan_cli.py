"""`pcr plan` end to end: the installed program, real files, the fake Partner Center."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.fake.server import FakeServer
from reconciler.render.common import NOTHING_TO_APPLY
from tests.conftest import EXAMPLE
from tests.drift.waiting import NOW as WAITING_NOW
from tests.drift.waiting import TAILSPIN
from tests.drift.waiting import TAILSPIN_DUE
from tests.drift.waiting import TAILSPIN_NCE
from tests.drift.waiting import set_fake_clock
from tests.drift.waiting import waiting_estate

NOW = "2026-11-22T09:00:00Z"
ADVENTURE = "f0539d6e-a996-4622-89f9-b3150c1e88cd"
LITWARE = "c1260b6b-9d9b-424d-8a7b-e52c0648b082"


@pytest.fixture
def fake_state(tmp_path: Path) -> Path:
    target = tmp_path / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", target)
    return target


def pcr(
    executable: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([executable, *args], capture_output=True, text=True, env=env, timeout=120)


def plan_args(desired: Path, state: Path, *extra: str) -> list[str]:
    return ["plan", "--desired", str(desired), "--fake", str(state), "--now", NOW, *extra]


def test_text_plan_of_the_example(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    flat = " ".join(out.split())
    assert "Traceback" not in done.stderr
    assert "IRREVERSIBLE" in out
    assert "removes the partner from the customer's support contacts" in out
    assert "deferred until 2027-03-01" in out  # Tailspin: NCE term ends 2027-02-28
    assert "Azure support" in out and "5d8e2f1a-3b4c-4d6e-9f70-a1b2c3d4e5f6" in out
    assert "does not stop billing" in flat  # Proseware's suspend policy
    assert "\x1b[" not in out, "no colour when not on a terminal"
    assert out.rstrip().splitlines()[-1].startswith("This plan expires at 2026-11-26")


def test_json_plan_follows_the_contract(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--format", "json"))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert list(plan)[:5] == ["format_version", "now", "live_fingerprint", "expires_at", "actions"]
    assert plan["format_version"] == 1
    assert plan["now"] == NOW
    assert plan["live_fingerprint"].startswith("sha256:")
    assert plan["expires_at"] == "2026-11-26T23:59:00Z"
    for key in ("deferred", "blocked", "warnings", "summary"):
        assert key in plan
    summary = plan["summary"]
    assert summary["actions"] == len(plan["actions"]) == 13
    assert summary["deferred"] == 2 and summary["blocked"] == 1
    # One page of customers, then deep reads for the 6 offboarding customers still
    # present (subscriptions + entitlements), the Azure subscriptions under Woodgrove's
    # Azure plan, Fabrikam's overrides (subscriptions), and one Microsoft Graph listing of
    # GDAP relationships for each of the 6 customers whose offboarding ends them.
    assert summary["api_calls"] == 1 + 2 * 6 + 1 + 1 + 6
    for action in plan["actions"]:
        assert set(action) >= {
            "id",
            "customer_id",
            "type",
            "target_id",
            "depends_on",
            "reason",
            "irreversible",
        }
    removes = [a for a in plan["actions"] if a["type"] == "remove_relationship"]
    assert removes and all(a["irreversible"] for a in removes)
    ids = [a["id"] for a in plan["actions"]]
    for remove in removes:
        assert all(ids.index(dep) < ids.index(remove["id"]) for dep in remove["depends_on"])
    assert not any(a["customer_id"] == LITWARE for a in plan["actions"])


def test_markdown_plan(pcr_executable: str, example_copy: Path, fake_state: Path) -> None:
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--format", "markdown"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("### pcr plan")
    assert "<details>" in done.stdout and "Adventure Works Cycles" in done.stdout
    assert len(done.stdout) < 65_536


def test_out_saves_a_plan_and_detailed_exitcode(
    pcr_executable: str, example_copy: Path, fake_state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plans" / "plan.json"
    done = pcr(
        pcr_executable,
        *plan_args(example_copy, fake_state, "--out", str(out), "--detailed-exitcode"),
    )
    assert done.returncode == 2, done.stderr
    saved = json.loads(out.read_text())
    assert saved["summary"]["actions"] == 13
    assert f"pcr apply {out}" in done.stderr


def test_plan_does_not_change_the_fake(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    before = json.loads(fake_state.read_text())
    pcr(pcr_executable, *plan_args(example_copy, fake_state))
    after = json.loads(fake_state.read_text())
    assert after["subscriptions"] == before["subscriptions"]
    assert after["mutations"] == before["mutations"] == []


def test_protected_customer_guardrail_fails_the_plan(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    litware = example_copy / "customers" / "litware.yaml"
    state = json.loads(fake_state.read_text())
    sub_id = state["subscriptions"][LITWARE][0]["id"]
    litware.write_text(
        litware.read_text() + f"subscriptions:\n  - id: {sub_id}\n    status: suspended\n"
    )
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state))
    assert done.returncode == 1
    assert "litware.yaml: customer is protected" in done.stdout
    assert "refused by a guardrail" in done.stderr


def test_indirect_reseller_cannot_plan_removals(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    partner = example_copy / "partner.yaml"
    partner.write_text(partner.read_text().replace("type: direct", "type: indirect_reseller"))
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state))
    assert done.returncode == 1
    assert "ask your indirect provider" in done.stdout


def test_domain_mismatch_refuses_offboarding(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    northwind = example_copy / "customers" / "northwind.yaml"
    northwind.write_text(
        northwind.read_text().replace("northwindtraders.onmicrosoft.com", "contoso.com")
    )
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--format", "json"))
    assert done.returncode == 1
    plan = json.loads(done.stdout)
    assert any("does not match Partner Center's" in e for e in plan["errors"])
    northwind_id = "f86270b9-6fdb-4baa-965b-bffb2f7a52ec"
    assert not any(
        a["customer_id"] == northwind_id and a["type"] != "disable_auto_renew"
        for a in plan["actions"]
    )


def test_removal_limit_is_shown(pcr_executable: str, example_copy: Path, fake_state: Path) -> None:
    partner = example_copy / "partner.yaml"
    partner.write_text(
        partner.read_text().replace("max_removals_per_run: 10", "max_removals_per_run: 1")
    )
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state))
    # Refused already at plan time, so a pull request's check fails; the plan is shown.
    assert done.returncode == 1
    assert "refused by a guardrail" in done.stderr
    head = done.stdout.split("Adventure Works")[0]
    assert "max_removals_per_run" in head


def test_a_missing_customer_is_its_own_blocked_item(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    typo = "0badc0de-0000-4000-8000-000000000000"
    (example_copy / "customers" / "typo.yaml").write_text(
        f"tenant_id: {typo}\nrelationship: reseller\n"
    )
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--format", "json"))
    assert done.returncode == 0, done.stderr  # everyone else's plan goes ahead
    plan = json.loads(done.stdout)
    assert plan["errors"] == []
    assert len(plan["actions"]) == 13  # the example's actions, all still planned
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == typo]
    assert blocked["kind"] == "missing_customer"
    assert "typo" in blocked["reason"]
    assert "invType=ResellerRelationship" in blocked["manual_steps"][0]


def test_invalid_desired_state_stops_the_plan(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    (example_copy / "customers" / "bad.yaml").write_text("tenant_id: x\n")
    before = fake_state.read_bytes()
    done = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--out", "plan.json"))
    assert done.returncode == 1
    assert "bad.yaml:1:12" in done.stderr
    assert "run `pcr validate`" in done.stderr
    assert not Path("plan.json").exists() and fake_state.read_bytes() == before


def test_an_invalid_desired_state_is_reported_before_missing_credentials(
    pcr_executable: str, example_copy: Path
) -> None:
    # The read starts while files validate, and fails at once without a token: that
    # failure waits, and the file the user must fix is what they are told about.
    (example_copy / "customers" / "bad.yaml").write_text("tenant_id: x\n")
    done = pcr(
        pcr_executable, "plan", "--desired", str(example_copy), env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 1
    assert "bad.yaml:1:12" in done.stderr
    assert "PCR_TOKEN" not in done.stderr and "Traceback" not in done.stderr


def test_bad_now_and_conflicting_backends_are_usage_errors(
    pcr_executable: str, example_copy: Path, fake_state: Path
) -> None:
    bad_now = pcr(
        pcr_executable,
        "plan",
        "--desired",
        str(example_copy),
        "--fake",
        str(fake_state),
        "--now",
        "yesterday",
    )
    assert bad_now.returncode == 1
    assert "not an ISO-8601 time" in bad_now.stderr
    both = pcr(
        pcr_executable, *plan_args(example_copy, fake_state, "--endpoint", "http://127.0.0.1:9")
    )
    assert both.returncode == 1
    assert "choose one backend" in both.stderr
    missing = pcr(pcr_executable, *plan_args(example_copy, fake_state.with_name("nope.json")))
    assert missing.returncode == 1
    assert "no such fake state file" in missing.stderr


def test_plan_over_loopback_matches_in_process(
    pcr_executable: str, example_copy: Path, fake_state: Path, tmp_path: Path
) -> None:
    in_process = pcr(pcr_executable, *plan_args(example_copy, fake_state, "--format", "json"))
    loopback_state = tmp_path / "served.json"
    shutil.copy(EXAMPLE / "fake-state.json", loopback_state)
    with FakeServer(loopback_state) as server:
        env = {
            "PATH": "/usr/bin:/bin",
            "PCR_TOKEN": "secret-token-value",
            "PCR_GRAPH_TOKEN": "secret-graph-token-value",  # Graph is served on the same port
        }
        served = pcr(
            pcr_executable,
            "plan",
            "--desired",
            str(example_copy),
            "--endpoint",
            server.url,
            "--now",
            NOW,
            "--format",
            "json",
            env=env,
        )
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["actions"] == json.loads(in_process.stdout)["actions"]
    assert "secret-token-value" not in served.stdout + served.stderr


def test_missing_credentials_say_what_to_set(pcr_executable: str, example_copy: Path) -> None:
    done = pcr(
        pcr_executable, "plan", "--desired", str(example_copy), env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 1
    assert "PCR_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr


# --- deferred and blocked items are not changes ------------------------------------------


def waiting_plan(
    executable: str, desired: Path, state: Path, now: str, *extra: str
) -> tuple[int, str]:
    """`pcr plan --detailed-exitcode`: its exit code and its stdout."""
    args = ["plan", "--desired", str(desired), "--fake", str(state), "--now", now, *extra]
    done = pcr(executable, *args, "--detailed-exitcode")
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout


def test_a_plan_of_only_deferred_items_exits_0(pcr_executable: str, tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    code, out = waiting_plan(pcr_executable, desired, state, WAITING_NOW)
    assert code == 0, out
    assert out.rstrip().endswith(f"{NOTHING_TO_APPLY}\nPlan: 0 to change, 2 deferred; 7 API calls.")
    code, document = waiting_plan(
        pcr_executable, desired, state, WAITING_NOW, "--format", "markdown"
    )
    # The action's comment says "Merging this pull request applies …" only for actions.
    assert code == 0
    assert f"**{NOTHING_TO_APPLY}**" in document and "Merging" not in document


def test_a_due_removal_is_said_and_still_exits_0(pcr_executable: str, tmp_path: Path) -> None:
    desired, state = waiting_estate(tmp_path)
    code, out = waiting_plan(pcr_executable, desired, state, TAILSPIN_DUE)
    assert code == 0, out
    words = " ".join(out.split())
    assert f"due since 2027-03-01 00:00 UTC: remove relationship {TAILSPIN}" in words
    assert (
        f"Partner Center still shows Office 365 E3 (nce) {TAILSPIN_NCE} active; plan again later"
        in words
    )
    assert "deferred until" not in words
    assert "Plan: 0 to change, 2 deferred (2 due); 7 API calls." in words


def test_once_partner_center_ends_the_terms_the_removals_are_actions(
    pcr_executable: str, tmp_path: Path
) -> None:
    desired, state = waiting_estate(tmp_path)
    set_fake_clock(state, TAILSPIN_DUE)
    code, out = waiting_plan(pcr_executable, desired, state, TAILSPIN_DUE, "--format", "json")
    assert code == 2
    plan = json.loads(out)
    assert [a["type"] for a in plan["actions"]] == ["remove_relationship"] * 2
    assert plan["deferred"] == []
