"""Command-line conventions of the installed `pcr`: `-V`, and `--no-color` for a terminal
that should get no escape codes at all (as NO_COLOR does)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler import __version__
from tests.apply.support import NOW
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import run_on_terminal

ESC = "\x1b"


def test_dash_capital_v_says_the_version(tmp_path: Path, pcr_executable: str) -> None:
    for flag in ("-V", "--version"):
        shown = subprocess.run(
            [pcr_executable, flag], env=pcr_env(), capture_output=True, text=True, check=False
        )
        assert shown.returncode == 0
        assert shown.stdout.strip() == f"pcr, version {__version__}"


def test_no_color_takes_every_escape_away_on_a_terminal(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    plan = ["plan", "--desired", str(estate.desired), "--fake", str(estate.live), "--now", NOW]
    # NO_COLOR unset: a terminal gets colour and a redrawn bar.
    code, coloured = run_on_terminal([pcr_executable, *plan], tmp_path, NO_COLOR="")
    assert code == 0 and ESC in coloured
    # Before the command or after it, as a user types it.
    for command in ([pcr_executable, "--no-color", *plan], [pcr_executable, *plan, "--no-color"]):
        code, plain = run_on_terminal(command, tmp_path, NO_COLOR="")
        assert code == 0 and ESC not in plain, command
        assert "remove relationship" in plain


def test_no_color_holds_for_drift_and_the_calendar_too(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    backend = ["--desired", str(estate.desired), "--fake", str(estate.live), "--now", NOW]
    for command, said in (("drift", "Drift:"), ("calendar", "events from now")):
        code, coloured = run_on_terminal([pcr_executable, command, *backend], tmp_path, NO_COLOR="")
        assert code == 0 and ESC in coloured, command  # a terminal gets colour
        code, plain = run_on_terminal(
            [pcr_executable, command, *backend, "--no-color"], tmp_path, NO_COLOR=""
        )
        assert code == 0 and said in plain, plain[-500:]
        assert ESC not in plain, command
