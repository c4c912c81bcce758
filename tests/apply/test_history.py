"""`pcr history`: the audit trail, of one customer (by file or tenant id) or of the whole
estate, from a moment on (`--since`), as text or JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.apply.support import CONTOSO
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import NORTHWIND
from tests.apply.support import Estate
from tests.apply.support import make_estate
from tests.apply.support import run_apply
from tests.apply.support import run_pcr
from tests.apply.support import save_plan


def applied(tmp_path: Path, pcr: str) -> Estate:
    """The example estate, its plan saved and applied."""
    estate = make_estate(tmp_path)
    save_plan(pcr, estate)
    assert run_apply(pcr, estate).returncode == 0
    return estate


def northwind_history(tmp_path: Path, pcr: str) -> subprocess.CompletedProcess[str]:
    shown = run_pcr(pcr, "history", "northwind.yaml", "--desired", "desired-state", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    return shown


def test_history_of_a_customer_after_an_apply(tmp_path: Path, pcr_executable: str) -> None:
    estate = applied(tmp_path, pcr_executable)
    by_file = northwind_history(tmp_path, pcr_executable)
    assert f"History of Northwind Traders ({NORTHWIND}): 3 changes, from " in by_file.stdout
    # In the plan's words, not the audit trail's type names.
    assert "  suspend b2c4e6f8-" in by_file.stdout and "active -> suspended" in by_file.stdout
    assert f"  remove relationship {NORTHWIND}" in by_file.stdout
    assert "_subscription" not in by_file.stdout
    assert "relationship reseller -> relationship none" in by_file.stdout

    as_json = run_pcr(
        pcr_executable,
        *("history", NORTHWIND.upper(), "--desired", "desired-state", "--format", "json"),
        cwd=tmp_path,
    )
    history = json.loads(as_json.stdout)["history"]
    assert [h["action"] for h in history][-1] == "remove_relationship"
    assert all(h["customer_id"] == NORTHWIND and h["request_id"] for h in history)
    mutations = {m["request_id"] for m in estate.mutations()}
    assert {h["request_id"] for h in history} <= mutations


def test_history_of_someone_pcr_never_touched(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    quiet = run_pcr(
        pcr_executable, "history", "contoso.yaml", "--desired", str(estate.desired), cwd=tmp_path
    )
    assert quiet.returncode == 0
    assert f"No changes to Contoso Ltd ({CONTOSO}) in the audit trail" in quiet.stdout
    wrong = run_pcr(
        pcr_executable, "history", "nobody.yaml", "--desired", str(estate.desired), cwd=tmp_path
    )
    assert wrong.returncode == 1
    assert "nobody.yaml is neither a customer file" in wrong.stderr


def test_history_shows_what_others_wrote_in_the_audit_trail_safely(
    tmp_path: Path, pcr_executable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Who ran pcr comes from the runner (GITHUB_ACTOR): shown, never acted on by a terminal.
    monkeypatch.setenv("GITHUB_ACTOR", "mallory\x1b]0;owned\x07\u202e")
    applied(tmp_path, pcr_executable)
    shown = northwind_history(tmp_path, pcr_executable)
    assert "by mallory\\x1b]0;owned\\x07\\u202e, " in shown.stdout
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout


def test_history_of_the_whole_estate_names_each_customer(
    tmp_path: Path, pcr_executable: str
) -> None:
    applied(tmp_path, pcr_executable)
    shown = run_pcr(pcr_executable, "history", "--desired", "desired-state", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"History of every customer: {EXAMPLE_ACTIONS} changes, from ")
    assert len(lines) == 1 + EXAMPLE_ACTIONS
    assert sum(f"Northwind Traders ({NORTHWIND}): " in line for line in lines) == 3
    assert all(": " in line.split("  ", 2)[-1] for line in lines[1:])
    times = [line.split()[0] for line in lines[1:]]
    assert times == sorted(times)  # oldest first


def test_history_since_keeps_the_changes_from_then_on(tmp_path: Path, pcr_executable: str) -> None:
    estate = applied(tmp_path, pcr_executable)
    # An older line, as an earlier apply would have written it.
    old = {"time": "2025-01-02T03:04:05Z", "customer_id": CONTOSO, "action": "suspend_subscription"}
    with estate.audit.open("a", encoding="utf-8") as trail:
        trail.write(json.dumps(old) + "\n")
    every = ("history", "--desired", "desired-state", "--format", "json")
    whole = json.loads(run_pcr(pcr_executable, *every, cwd=tmp_path).stdout)
    assert len(whole["history"]) == EXAMPLE_ACTIONS + 1
    assert whole["history"][0]["time"] == old["time"] and whole["customer_id"] is None

    recent = json.loads(
        run_pcr(pcr_executable, *every, "--since", "2026-01-01", cwd=tmp_path).stdout
    )
    assert recent["since"] == "2026-01-01T00:00:00Z"
    assert len(recent["history"]) == EXAMPLE_ACTIONS
    # A span back from now: everything this test applied is within the last day.
    spans = run_pcr(pcr_executable, *every, "--since", "1d", cwd=tmp_path)
    assert len(json.loads(spans.stdout)["history"]) == EXAMPLE_ACTIONS

    later = run_pcr(
        pcr_executable,
        "history",
        "--desired",
        "desired-state",
        "--since",
        "2999-01-01",
        cwd=tmp_path,
    )
    assert later.returncode == 0
    assert "No changes to any customer since 2999-01-01T00:00:00Z" in later.stdout
    for nonsense in ("last tuesday", "1000000d", "\u00b2d"):  # no date, too far back, no digit
        wrong = run_pcr(pcr_executable, "history", "--since", nonsense, cwd=tmp_path)
        assert wrong.returncode == 1 and "a span back from now" in wrong.stderr, wrong.stderr
    assert "neither an ISO-8601 date or time" in wrong.stderr and "Traceback" not in wrong.stderr
