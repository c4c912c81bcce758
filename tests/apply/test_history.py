"""`pcr history`: one customer's changes from the audit trail, by file or tenant id."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.apply.support import NORTHWIND, Estate, make_estate, run_apply, run_pcr, save_plan


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
    assert f"History of {NORTHWIND} (3 changes" in by_file.stdout
    assert "suspend_subscription" in by_file.stdout and "active -> suspended" in by_file.stdout
    assert "remove_relationship" in by_file.stdout
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
    assert "No changes to cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b in the audit trail" in quiet.stdout
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
    assert "by mallory\\x1b]0;owned\\x07\\u202e at" in shown.stdout
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
