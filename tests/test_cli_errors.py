"""Errors reach the user as one line: a bug in a pure stage (planner, diff) as an internal
error, never as a backend failure (the backend's `try` catches only what talking to
Partner Center raises); a bad setting or argument as what to fix."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.commands import apply as apply_command
from reconciler.commands import drift as drift_command
from reconciler.commands import plan as plan_command
from tests.conftest import EXAMPLE

NOW = "2026-11-22T09:00:00Z"


def broken(*args: Any, **kwargs: Any) -> Any:
    # ValueError and OSError on purpose: both used to pass for backend failures.
    raise ValueError("a bug in a pure stage")


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    shutil.copy(EXAMPLE / "fake-state.json", tmp_path / "state.json")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "name", "command"),
    [
        (plan_command, "make_plan", ["plan"]),
        (drift_command, "drift", ["drift"]),
        (apply_command, "make_plan", ["apply", "--auto-approve"]),
    ],
)
def test_a_bug_in_a_pure_stage_is_an_internal_error(
    estate: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: Any,
    name: str,
    command: list[str],
) -> None:
    monkeypatch.setattr(module, name, broken)
    monkeypatch.chdir(estate)
    args = [*command, "--desired", "desired-state", "--fake", "state.json", "--now", NOW]
    err = one_line_error(capsys, args)
    assert "pcr: internal error: ValueError: a bug in a pure stage" in err


def one_line_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run pcr in process; it must exit 1 with one-line errors and no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_bad_setting_is_still_a_one_line_error(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    monkeypatch.setenv("PCR_RATE_LIMIT", "fast")
    err = one_line_error(capsys, ["plan", "--fake", "state.json", "--now", NOW])
    assert "pcr: PCR_RATE_LIMIT='fast': expected a positive number" in err
    assert "internal error" not in err


def test_an_unreadable_fake_state_is_a_one_line_error(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    (estate / "state.json").write_text("{not json")
    err = one_line_error(capsys, ["plan", "--fake", "state.json", "--now", NOW])
    assert "state.json: cannot read the fake's state" in err
    assert "internal error" not in err


def test_the_fake_refuses_to_serve_beyond_this_machine(
    estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It takes any bearer token: on a network address anyone could change its state.
    args = ["fake", "serve", "--state", str(estate / "state.json"), "--host", "0.0.0.0"]
    assert "--host 0.0.0.0 is not a loopback address" in one_line_error(capsys, args)
