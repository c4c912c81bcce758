"""`pcr demo`: an estate that shows every kind of step on whatever day it is written, and
never a file written over."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.commands import demo as demo_command
from reconciler.scaffold.demo import FAKE_STATE
from reconciler.scaffold.demo import commands
from reconciler.scaffold.demo import demo_files
from tests.conftest import EXAMPLE


def planned(folder: Path, now: datetime | None = None) -> dict[str, Any]:
    args = ["plan", "--desired", str(folder / "desired-state"), "--fake", str(folder / FAKE_STATE)]
    args += ["--format", "json"] + (["--now", now.isoformat()] if now else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "now",
    [datetime(2026, 11, 22, 9, tzinfo=UTC), datetime(2031, 2, 28, 23, 30, tzinfo=UTC)],
)
def test_every_kind_of_step_on_any_day(tmp_path: Path, now: datetime) -> None:
    assert demo_command.run(tmp_path / "demo", now=now) == 0
    plan = planned(tmp_path / "demo", now)
    actions = {a["type"] for a in plan["actions"]}
    assert {
        "cancel_subscription",  # NCE and software inside their windows
        "disable_auto_renew",  # NCE past its window
        "suspend_subscription",  # legacy, and the Azure plan
        "cancel_azure_entitlement",  # the Azure subscription under the plan
        "terminate_gdap_relationship",
        "remove_relationship",
    } <= actions
    windows = [a for a in plan["actions"] if "inside the cancellation window" in a["reason"]]
    assert len(windows) == 2
    assert plan["deferred"] and plan["unmanaged"]
    kinds = {b["kind"] for b in plan["blocked"]}
    assert kinds == {"reserved_instance", "missing_customer"}
    state = json.loads((tmp_path / "demo" / FAKE_STATE).read_text())
    assert state["now"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_commands_it_prints_need_no_clock_and_no_credentials(tmp_path: Path) -> None:
    result = CliRunner(env={"PCR_TOKEN": None}).invoke(cli, ["demo", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "--now" not in result.output and "PCR_" not in result.output
    for command in ("pcr validate", "pcr plan --fake fake-state.json", "pcr history"):
        assert f"  {command} " in result.output or f"  {command}\n" in result.output
    plan = planned(tmp_path / "d")  # today, by the wall clock
    assert any("inside the cancellation window" in a["reason"] for a in plan["actions"])


def test_the_demo_is_the_example_plus_what_a_try_out_needs(tmp_path: Path) -> None:
    files = demo_files(datetime(2026, 11, 22, 9, tzinfo=UTC))
    declared = sorted((EXAMPLE / "customers").glob("*.yaml"))
    assert len(declared) >= 9  # the example's customers, each one there as it is
    for path in declared:
        assert files[f"desired-state/customers/{path.name}"] == path.read_text()
    assert "desired-state/customers/relecloud.yaml" in files
    assert {"schemas/customer.schema.json", "schemas/partner.schema.json"} <= set(files)
    assert "partner:\n  type: direct" in files["desired-state/partner.yaml"]


def test_a_folder_that_holds_any_of_its_files_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    (folder / "desired-state").mkdir(parents=True)
    (folder / "desired-state" / "partner.yaml").write_text("mine\n")
    result = CliRunner().invoke(cli, ["demo", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / 'desired-state' / 'partner.yaml'} exists" in result.output
    assert (folder / "desired-state" / "partner.yaml").read_text() == "mine\n"
    assert not (folder / FAKE_STATE).exists()


def test_the_folder_is_named_as_a_shell_reads_it() -> None:
    """The printed `cd` is pasted into a shell: a folder with a space stays one word."""
    assert commands(Path("my demo"))[0] == ("cd 'my demo'", "")
    assert commands(Path("try-pcr"))[0] == ("cd try-pcr", "")
