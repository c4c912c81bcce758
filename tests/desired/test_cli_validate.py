"""`pcr validate` through click's runner and as a real subprocess of the installed `pcr`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.cli import main
from tests.conftest import EXAMPLE
from tests.conftest import WriteFile

TENANT = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"


def test_example_validates_clean() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output
    assert "9 customers" in result.output


def test_broken_copy_reports_every_problem(example_copy: Path) -> None:
    (example_copy / "customers" / "contoso.yaml").write_text(
        "tenant_id: oops\nrelationship: reseller\nrelationship: none\n"
    )
    (example_copy / "customers" / "new.yaml").write_text(f"tenant_id: {TENANT}\nstatus: x\n")
    result = CliRunner().invoke(cli, ["validate", str(example_copy)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    contoso = str(example_copy / "customers" / "contoso.yaml")
    new = str(example_copy / "customers" / "new.yaml")
    # The duplicate key no longer hides the bad tenant id beside it.
    assert lines == [
        f"{contoso}:1:12: tenant_id: 'oops' is not a valid GUID "
        "(like 3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13)",
        f"{contoso}:3:1: duplicate key 'relationship' (first defined at line 2): keep one of them",
        f"{new}:1:1: missing required key 'relationship' at the top level",
        f"{new}:2:1: unknown key 'status' at the top level; allowed keys: domain, name, "
        "offboarding, protected, relationship, subscriptions, tenant_id",
    ]
    assert "4 problems in 11 files" in result.stderr


def test_github_format(desired_dir: Path, write: WriteFile) -> None:
    write("customers/c.yaml", f"tenant_id: {TENANT}\nrelationship: maybe\n")
    result = CliRunner().invoke(cli, ["validate", str(desired_dir), "--format", "github"])
    assert result.exit_code == 1
    path = str(desired_dir / "customers" / "c.yaml").replace(":", "%3A").replace(",", "%2C")
    assert result.stdout.splitlines() == [
        f"::error file={path},line=2,col=15,title=pcr validate::"
        "relationship: 'maybe' is not allowed; use one of: reseller, none"
    ]


def test_github_annotation_escapes_newlines_and_percent() -> None:
    from reconciler.commands.validate import github_annotation
    from reconciler.desired.load import Problem
    from reconciler.desired.marked_yaml import Mark

    text = github_annotation(Problem(Mark("a,b:c.yaml", 1, 2), "50%\nsecond line"))
    assert (
        text == "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=pcr validate::50%25%0Asecond line"
    )


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"pcr: {tmp_path / 'nowhere'}: no such directory (pass the desired-state folder)"
    )


def test_usage_error_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--no-such-flag"])
    assert caught.value.code == 1
    assert "No such option" in capsys.readouterr().err


def test_subprocess_of_installed_pcr(pcr_executable: str, example_copy: Path) -> None:
    clean = subprocess.run(
        [pcr_executable, "validate", str(example_copy)], capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr
    (example_copy / "customers" / "bad.yaml").write_text("tenant_id: [\n")
    broken = subprocess.run(
        [pcr_executable, "validate", str(example_copy)], capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert f"{example_copy / 'customers' / 'bad.yaml'}:2:1: YAML syntax" in broken.stdout
    assert "Traceback" not in broken.stderr


def test_python_dash_m_is_the_same_program(example_copy: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(example_copy)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "no problems" in done.stderr


def test_empty_desired_state_warns_loudly_and_passes(desired_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(desired_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"pcr: warning: no customer files in {desired_dir / 'customers'}: this desired state "
        "declares no customers, so pcr manages none; add one customers/<name>.yaml per "
        "customer (or check that this is the right folder)",
        f"{desired_dir}: 1 file, 0 customers, no problems, 1 warning (see above)",
    ]


def test_empty_desired_state_is_an_annotation_on_github(desired_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(desired_dir), "--format", "github"])
    assert result.exit_code == 0
    assert result.stdout.startswith("::warning title=pcr validate::no customer files in ")
    assert "pcr: warning: no customer files" in result.stderr


def test_installed_pcr_warns_on_an_empty_desired_state(
    pcr_executable: str, desired_dir: Path
) -> None:
    done = subprocess.run(
        [pcr_executable, "validate", str(desired_dir)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "pcr: warning: no customer files in" in done.stderr
    assert "0 customers, no problems, 1 warning" in done.stderr


def test_a_plan_of_an_empty_desired_state_says_so_in_the_plan_itself(
    desired_dir: Path, tmp_path: Path
) -> None:
    """A reviewer reads the pull-request comment, not the log: the warning is in the plan."""
    state = tmp_path / "live.json"
    state.write_text((EXAMPLE / "fake-state.json").read_text())
    args = ["plan", "--desired", str(desired_dir), "--fake", str(state), "--format", "markdown"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "pcr: warning: no customer files in" in result.stderr
    assert "declares no customers, so this plan manages none" in result.stdout
    assert "**Unmanaged:** 10 customers" in result.stdout
