"""Terminal manners of the installed `pcr`: a progress bar where a line can be redrawn,
plain lines in a log, no escape codes for `TERM=dumb`, NO_COLOR and FORCE_COLOR."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from reconciler.fake.server import FakeServer
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import run_on_terminal
from tests.apply.support import strip_escapes

# Of the 9 declared customers, 7 have reads to do (subscriptions, GDAP): the read's work.
READ_BAR = re.compile(r"\rreading Partner Center +\[#+\] +7/7 +customers' details")
READ_LINE = re.compile(r"^pcr: reading Partner Center: (\d+)/7 customers' details(.*)$", re.M)


def plan_command(pcr: str, estate: Estate, *backend: str, command: str = "plan") -> list[str]:
    backend = backend or ("--fake", str(estate.live))
    return [pcr, command, "--desired", str(estate.desired), *backend, "--now", NOW]


def apply_command(pcr: str, estate: Estate) -> list[str]:
    return [*plan_command(pcr, estate, command="apply"), "--auto-approve"]


def test_a_plan_on_a_terminal_shows_a_read_bar(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    plan = plan_command(pcr_executable, estate)
    code, output = run_on_terminal(plan, tmp_path)
    assert code == 0, output
    assert READ_BAR.search(strip_escapes(output)), output
    assert not READ_LINE.search(output)


def test_apply_on_a_terminal_redraws_one_bar_and_logs_no_step_lines(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    code, output = run_on_terminal(apply_command(pcr_executable, estate), tmp_path)
    assert code == 0, output
    plain = strip_escapes(output)
    assert re.search(r"\rapplying +\[#+\] +13/13 +steps", plain), output
    assert not re.search(r"^\[\d+/13\]", plain, re.M)
    # The summary after the bar speaks the plan's words, not the JSON's type names.
    assert "remove relationship" in plain and "remove_relationship" not in plain


def test_term_dumb_gets_plain_lines_and_no_escape_codes(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    # NO_COLOR unset: only TERM=dumb keeps the colour and the bar away.
    code, output = run_on_terminal(
        apply_command(pcr_executable, estate), tmp_path, TERM="dumb", NO_COLOR=""
    )
    assert code == 0, output
    assert "\x1b" not in output
    assert "\r" not in output.replace("\r\n", "\n")
    steps = re.findall(r"^\[(\d+)/13\] done +\S", output.replace("\r\n", "\n"), re.M)
    assert sorted(map(int, steps)) == list(range(1, 14))


def test_force_color_colours_a_log_and_no_color_wins(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    plan = plan_command(pcr_executable, estate)

    def run(**env: str) -> str:
        done = subprocess.run(plan, env=pcr_env(**env), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stderr  # no bar in a log, forced colour or not
        return done.stdout

    assert "\x1b[" in run(FORCE_COLOR="1")
    assert "\x1b" not in run(FORCE_COLOR="1", NO_COLOR="1")
    assert "\x1b" not in run()


def test_a_slow_read_in_a_log_says_how_far_it_got_and_a_quick_one_stays_quiet(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    with FakeServer(estate.live) as server:
        quick = subprocess.run(
            plan_command(pcr_executable, estate, "--endpoint", server.url),
            env=pcr_env(),
            capture_output=True,
            text=True,
        )
        # Every deep read now answers after 2.5 s: longer than the quiet start of a log.
        server.app.add_fault("GET", "/subscriptions", latency=2.5, count=None)
        slow = subprocess.run(
            plan_command(pcr_executable, estate, "--endpoint", server.url),
            env=pcr_env(),
            capture_output=True,
            text=True,
        )
    assert quick.returncode == slow.returncode == 0, quick.stderr + slow.stderr
    assert not READ_LINE.search(quick.stderr), quick.stderr
    lines = READ_LINE.findall(slow.stderr)
    counts = [int(done) for done, _ in lines]
    assert counts and counts == sorted(counts) and counts[-1] == 7, slow.stderr
    assert len(counts) <= 11  # a tenth of the way at a time, never a line per call
    # The last line says how long it took (and how fast it went, once that is known:
    # reads that all end within a second have no rate to tell).
    assert re.search(r", 100%(, [\d.]+/(s|min))?, in [\d.]+s$", lines[-1][1]), slow.stderr
    assert "\x1b" not in slow.stderr


def test_import_on_a_terminal_shows_its_reads(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    command = [pcr_executable, "import", "--fake", str(estate.live), "--out", str(tmp_path / "in")]
    code, output = run_on_terminal(command, tmp_path)
    assert code == 0, output
    written = len(list((tmp_path / "in" / "customers").glob("*.yaml")))
    bar = rf"\rreading subscriptions +\[#+\] +{written}/{written} +customers"
    assert written and re.search(bar, strip_escapes(output)), output
