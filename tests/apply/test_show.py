"""`pcr show` renders a saved plan as `pcr plan` printed it; `pcr apply PLAN.json` needs
nothing that the plan file records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import run_pcr

FORMATS = ("text", "json", "markdown")


@pytest.mark.parametrize("fmt", FORMATS)
def test_show_prints_what_plan_printed(pcr_executable: str, planned: Estate, fmt: str) -> None:
    args = ("--desired", "desired-state", "--fake", "live.json", "--now", NOW)
    planned_now = run_pcr(pcr_executable, "plan", *args, "--format", fmt, cwd=planned.root)
    shown = run_pcr(pcr_executable, "show", "plan.json", "--format", fmt, cwd=planned.root)
    assert (shown.returncode, shown.stderr) == (0, "")
    assert planned_now.returncode == 0, planned_now.stderr
    assert shown.stdout == planned_now.stdout
    assert planned.mutations() == []


def test_the_plan_file_records_its_desired_state_and_scope(planned: Estate) -> None:
    plan = json.loads(planned.plan.read_text())
    assert plan["desired_dir"] == "desired-state"
    assert plan["scope"] is None  # every customer


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such plan file"),
        (b"{not json", "not a pcr plan"),
        (b"[]", "not a pcr plan"),
        (b'{"format_version": 1, "now": "2026-11-22T09:00:00Z"}', "not a pcr plan"),
        (b"\xff\xfe", "not a pcr plan"),
    ],
)
def test_show_explains_a_file_that_is_not_a_plan(
    pcr_executable: str, tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_bytes(content)
    shown = run_pcr(pcr_executable, "show", path, cwd=tmp_path)
    assert shown.returncode == 1
    assert shown.stderr.startswith(f"pcr: {path}: {why}"), shown.stderr
    assert "Traceback" not in shown.stderr


def test_apply_takes_the_desired_state_from_the_plan(pcr_executable: str, planned: Estate) -> None:
    # No --desired: the plan file says where the desired state is.
    args = ("apply", "plan.json", "--fake", "live.json", "--now", NOW)
    applied = run_pcr(pcr_executable, *args, cwd=planned.root)
    assert applied.returncode == 0, applied.stderr
    assert planned.mutations(), "apply changed nothing"
    assert (planned.root / ".pcr" / "audit.jsonl").is_file()


def test_apply_refuses_a_desired_state_other_than_the_plans(
    pcr_executable: str, planned: Estate
) -> None:
    other = planned.root / "elsewhere"
    other.mkdir()
    applied = run_pcr(
        pcr_executable,
        "apply",
        "plan.json",
        "--desired",
        other,
        "--fake",
        "live.json",
        "--now",
        NOW,
        cwd=planned.root,
    )
    assert applied.returncode == 1
    assert "plan.json was made from desired-state, not " in applied.stderr
    assert "nothing was changed" in applied.stderr
    assert planned.mutations() == []


def test_apply_accepts_the_same_folder_spelled_differently(
    pcr_executable: str, planned: Estate
) -> None:
    same = str(planned.desired.resolve())
    args = ("apply", "plan.json", "--desired", same, "--fake", "live.json", "--now", NOW)
    applied = run_pcr(pcr_executable, *args, cwd=planned.root)
    assert applied.returncode == 0, applied.stderr


def test_apply_elsewhere_says_where_the_plan_was_made(pcr_executable: str, planned: Estate) -> None:
    elsewhere = planned.root / "elsewhere"
    elsewhere.mkdir()
    args = ("apply", "../plan.json", "--fake", "../live.json", "--now", NOW)
    applied = run_pcr(pcr_executable, *args, cwd=elsewhere)
    assert applied.returncode == 1
    assert "was made from desired-state, which is not a folder here" in applied.stderr
    assert planned.mutations() == []
    # Pointed at the folder, it applies: the plan's own checks still hold.
    applied = run_pcr(pcr_executable, *args, "--desired", "../desired-state", cwd=elsewhere)
    assert applied.returncode == 0, applied.stderr
    assert planned.mutations()
