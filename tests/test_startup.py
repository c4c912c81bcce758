"""`pcr --help` and `pcr validate` start without importing what only other commands use:
the commands are imported when they run, and the names the CLI needs up front are its own,
held here to the modules they stand for."""

from __future__ import annotations

import subprocess
import sys

from reconciler import __version__
from reconciler import cli
from reconciler import render
from reconciler.desired.model import PartnerType
from reconciler.scaffold import repository as scaffold


def test_the_clis_own_names_match_the_modules_they_stand_for() -> None:
    assert list(cli.FORMATS) == list(render.FORMATS)
    assert list(cli.PARTNER_TYPES) == [t.value for t in PartnerType]
    assert cli.INIT_REPOSITORY == scaffold.REPOSITORY
    assert f"v{__version__}" == scaffold.Source().ref


def imported_by(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_cli_imports_no_command_until_it_runs() -> None:
    loaded = imported_by("import reconciler.cli")
    commands = {m for m in loaded if m.startswith("reconciler.commands.")}
    assert commands <= {"reconciler.commands.backend"}, commands
    for heavy in (
        "reconciler.plan.planner",
        "reconciler.apply.executor",
        "reconciler.render",
        "jsonschema",
    ):
        assert heavy not in loaded, heavy


def test_a_run_against_partner_center_never_loads_the_fake() -> None:
    """The fake (thousands of lines) is for `--fake` and tests: the clients, the read, the
    planner and apply load without it."""
    loaded = imported_by(
        "import reconciler.connect, reconciler.live.read, reconciler.plan.planner, "
        "reconciler.apply.executor, reconciler.commands.plan, reconciler.commands.apply"
    )
    assert not {m for m in loaded if m.startswith("reconciler.fake")}
