"""The README's way in, as a newcomer takes it: every install command it shows, each in a
fresh environment, from this tree's own build and offline; then its quick start, and every
command the demo prints after it, with no clone on the path and no credentials.

The commands are read from the README itself (between its `install:` and `quickstart:`
markers), so the README cannot drift from what works. What reaches the network in a user's
hands is pointed at local copies: `git clone` of the project's URL at a git repository of
this tree (git's `insteadOf`), and pip at the wheelhouse and the wheel built from this tree
(`PIP_NO_INDEX`, `PIP_FIND_LINKS`), so `pipx install partnercenter-reconciler` installs
this build as it will install the release.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import __version__
from tests.artifact import Installed
from tests.artifact import base_python
from tests.artifact import offline_env

README = Path(__file__).resolve().parents[2] / "README.md"
PROJECT_URL = "https://github.com/partnercenter-reconciler/pcr"
COMMAND_SECONDS = 600  # a net for a hung install, never a measure of speed
DEV_BIN = Path(sys.executable).parent


def section(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {name}:begin.*?-->(.*?)<!-- {name}:end -->", text, re.S)
    assert found, f"README.md has no {name}:begin/{name}:end markers"
    return found[1]


def commands(markdown: str) -> list[str]:
    """The command lines of the ```sh blocks in `markdown`, comments left out."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


INSTALLS = [c for c in commands(section("install")) if not c.startswith("git clone")]
CLONES = [c for c in commands(section("install")) if c.startswith("git clone")]


def test_the_readme_shows_installs_and_a_quick_start() -> None:
    assert [f"git clone {PROJECT_URL}"] == CLONES
    assert len(INSTALLS) >= 4
    assert any(c.split()[-1] == "partnercenter-reconciler" for c in INSTALLS)
    # Never the name another project owns on PyPI.
    assert not any(re.search(r"install\s+pcr(\s|$|\[)", c) for c in INSTALLS)
    assert commands(section("quickstart"))[0].startswith("pcr demo ")


@pytest.fixture
def clone_source(installed: Installed, tmp_path: Path) -> Path:
    """A git repository of the tree the wheel was built from, standing in for GitHub's."""
    repository = tmp_path / "upstream"
    shutil.copytree(installed.source, repository, symlinks=True)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "pcr")):
        subprocess.run(
            ["git", "-c", "user.name=pcr", "-c", "user.email=pcr@example.com", *args],
            cwd=repository,
            check=True,
            capture_output=True,
        )
    return repository


def newcomer_env(tmp_path: Path, installed: Installed, upstream: Path) -> dict[str, str]:
    """A shell with nothing of pcr's on it: a fresh virtual environment first on PATH (for
    `python3 -m pip`), pipx's homes of its own, pip offline, git's clone URL local."""
    venv = tmp_path / "venv"
    subprocess.run([base_python(), "-m", "venv", venv], check=True, env=offline_env())
    pipx_bin = tmp_path / "pipx-bin"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy(installed.wheel, wheels)
    env = offline_env(
        PIPX_HOME=str(tmp_path / "pipx-home"),
        PIPX_BIN_DIR=str(pipx_bin),
        HOME=str(tmp_path / "home"),
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{upstream}.insteadOf",
        GIT_CONFIG_VALUE_0=PROJECT_URL,
    )
    env["PIP_FIND_LINKS"] = f"{env['PIP_FIND_LINKS']} {wheels}"
    # pipx comes with the test extras, last on the PATH.
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(pipx_bin), env["PATH"], str(DEV_BIN)])
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("NO_COLOR", None)
    return env


def shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize("install", INSTALLS)
def test_each_install_command_gives_a_working_pcr(
    install: str, installed: Installed, clone_source: Path, tmp_path: Path
) -> None:
    home = tmp_path / "newcomer"
    home.mkdir()
    env = newcomer_env(tmp_path, installed, clone_source)
    if ".whl" in install:
        wheel = install.split()[-1].removeprefix("./")
        assert wheel == installed.wheel.name, "README.md names another version's wheel"
        shutil.copy(installed.wheel, home)
    elif "./pcr" in install:
        shell(CLONES[0], home, env)
    shell(install, home, env)

    version = shell("pcr --version", home, env)
    assert version.stdout.strip() == f"pcr, version {__version__}"
    where = Path(shell("command -v pcr", home, env).stdout.strip())
    assert where.parent != DEV_BIN  # the newcomer's own pcr, not the one the tests run under

    started = shell(section_script("quickstart"), home, env)
    assert "Plan: " in started.stdout and "to change" in started.stdout
    demo = home / "try-pcr"
    if "[azure]" not in install:
        azure_extra_is_named(demo, env)


def section_script(name: str) -> str:
    return "\n".join(commands(section(name)))


def azure_extra_is_named(demo: Path, env: dict[str, str]) -> None:
    """Without the extra, the Blob Storage backend names the install command, never a
    traceback."""
    partner = demo / "desired-state" / "partner.yaml"
    original = partner.read_text()
    partner.write_text(original + "state:\n  backend: azure_blob\n  container: pcr-state\n")
    try:
        done = subprocess.run(
            ["pcr", "history"], cwd=demo, env=env, capture_output=True, text=True, check=False
        )
    finally:
        partner.write_text(original)
    assert done.returncode == 1
    assert "needs pcr's azure extra" in done.stderr
    assert "partnercenter-reconciler[azure]" in done.stderr
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr


def test_what_the_demo_prints_runs_as_printed(installed: Installed, tmp_path: Path) -> None:
    """After the quick start, each command `pcr demo` prints, in order, from the wheel (as
    the run installed it once: each install command is tried above), no clone in sight."""
    env = offline_env(HOME=str(tmp_path / "home"))
    env["PATH"] = os.pathsep.join([str(Path(installed.pcr).parent), env["PATH"]])
    env.pop("NO_COLOR", None)
    printed = shell("pcr demo try-pcr", tmp_path, env).stdout
    tried = [
        line.split("  #")[0].strip()
        for line in printed.splitlines()
        if line.startswith("  pcr ") or line.startswith("  cd ")
    ]
    assert tried[0] == "cd try-pcr" and len(tried) >= 6, printed
    ran = shell("\n".join(tried), tmp_path, env)
    assert "Apply: " in ran.stderr and " done, " in ran.stderr
    assert "History of every customer: " in ran.stdout
