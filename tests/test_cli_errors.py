"""Errors reach the user as one line: a bug in a pure stage (planner, diff) as an internal
error, never as a backend failure (the backend's `try` catches only what talking to
Partner Center raises); a bad setting or argument as what to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.commands import apply as apply_command
from reconciler.commands import drift as drift_command
from reconciler.commands import plan as plan_command
from reconciler.errors import PcrError
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


def test_an_expected_failure_is_said_once_in_its_own_words(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    err = one_line_error(capsys, ["show", "missing.json"])
    assert err == "pcr: missing.json: no such plan file\n"


def test_an_expected_failure_exits_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.commands import show as show_command

    def interrupted(*args: Any) -> int:
        raise PcrError("interrupted: nothing shown", exit_code=130)

    monkeypatch.setattr(show_command, "run", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["show", "plan.json"])
    assert exit_info.value.code == 130
    assert capsys.readouterr() == ("", "pcr: interrupted: nothing shown\n")


def apply_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], list[str]]:
    """`pcr apply --format json` that fails: its result on stdout, its stderr's lines."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["apply", "--format", "json", "--fake", "state.json", "--now", NOW, *args])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["exit_code"] == 1
    return result, err.splitlines()


def test_apply_refused_still_prints_its_json_result(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    result, err = apply_json(capsys)  # no saved plan, no --auto-approve, no terminal
    assert result["refused"].startswith("no saved plan and no --auto-approve")
    assert result["error"] is None
    assert err[-1] == f"pcr: apply refused, nothing was changed: {result['refused']}"


def test_apply_on_an_invalid_desired_state_still_prints_its_json_result(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    (estate / "desired-state" / "partner.yaml").write_text("partner: [\n")
    result, err = apply_json(capsys, "--auto-approve")
    assert (result["refused"], result["error"]) == (None, "the desired state cannot be used")
    assert err[-1] == "pcr: 1 problem in desired-state; run `pcr validate` and fix it first"


def test_apply_that_cannot_reach_its_backend_still_prints_its_json_result(
    estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(estate)
    (estate / "state.json").write_text("{not json")
    result, err = apply_json(capsys, "--auto-approve")
    assert "state.json: cannot read the fake's state" in result["error"]
    assert err[-1] == f"pcr: {result['error']}"
