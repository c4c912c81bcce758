"""pcr as the release workflow (.github/workflows/release.yml) builds it, without a network.

The build job's own steps run on a snapshot of the working tree, committed: the check of
the tag against the package's version, the step that records the commit in
`reconciler/_release.py`, and the checks of the built files. Two things stand in for
what needs the network: `python -m build` runs offline from the wheelhouse, as
tests/artifact.py builds, instead of after `pip install build twine`, and `python -m
twine` is a stand-in that only says it ran. The wheel is installed in a fresh virtual
environment: a pcr as users get it from PyPI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.scaffold.repository import REPOSITORY
from tests.artifact import REPO
from tests.artifact import Installed
from tests.artifact import base_python
from tests.artifact import install_into
from tests.artifact import make_venv
from tests.artifact import offline_env
from tests.artifact import run
from tests.artifact import snapshot
from tests.shared import MakingFailed
from tests.shared import once_per_run
from tests.workflows.runner import load_workflow

RELEASE = REPO / ".github/workflows/release.yml"
CHECK_VERSION = "Check that the tag is the package's version"
RECORD = "Record the commit it is built from"
CHECK_FILES = "Check them"
TAG = f"v{__version__}"
GIT = {
    "GIT_AUTHOR_NAME": "pcr tests",
    "GIT_AUTHOR_EMAIL": "tests@pcr.invalid",
    "GIT_COMMITTER_NAME": "pcr tests",
    "GIT_COMMITTER_EMAIL": "tests@pcr.invalid",
}
TWINE = """#!/usr/bin/env bash
# python, except `python -m twine`: twine is not installed here (the release job installs it).
if [ "$1" = -m ] && [ "$2" = twine ]; then
  echo "twine (a stand-in) $*"
  exit 0
fi
exec {python} "$@"
"""


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent)} | GIT
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def build_step(name: str) -> dict[str, Any]:
    """A step of the release workflow's build job, by its name."""
    steps: list[dict[str, Any]] = load_workflow(RELEASE)["jobs"]["build"]["steps"]
    found = [step for step in steps if step.get("name") == name]
    assert len(found) == 1, f"release.yml's build job has no one step {name!r}"
    return found[0]


def run_step(
    name: str, checkout: Path, *, tag: str, temp: Path, python_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One `run:` step of the build job, in `checkout`, for a push of `tag`."""
    step = build_step(name)
    # The only expression these steps have: the tag, handed in through `env`.
    assert step.get("env", {}) in ({}, {"PCR_TAG": "${{ github.ref_name }}"}), step
    assert "${{" not in step["run"], f"{name}: an expression inside `run:`"
    script = temp / "step.sh"
    temp.mkdir(parents=True, exist_ok=True)
    script.write_text(step["run"], encoding="utf-8")
    path = f"{python_dir or Path(base_python()).parent}:/usr/bin:/bin"
    env = offline_env(
        PATH=path,
        PCR_TAG=tag,
        GITHUB_REF_NAME=tag,
        GITHUB_REPOSITORY=REPOSITORY,
        RUNNER_TEMP=str(temp),
    )
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def committed_snapshot(target: Path) -> tuple[Path, str]:
    """The working tree as git would commit it, committed: what the tag's checkout has."""
    source = snapshot(target)
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "release")
    return source, git(source, "rev-parse", "HEAD").strip()


def build_released(folder: Path) -> Installed:
    source, commit = committed_snapshot(folder / "source")
    temp = folder / "temp"
    for name in (
        "Check that the tag is the package's version",
        "Record the commit it is built from",
    ):
        done = run_step(name, source, tag=TAG, temp=temp)
        assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
    recorded = (source / "reconciler/_release.py").read_text()
    assert f"COMMIT = {commit!r}" in recorded, recorded
    # The job's `python -m build`, offline.
    build_log = run(
        [sys.executable, "-m", "build", "--outdir", source / "dist", source],
        cwd=folder,
        env=offline_env(),
    )
    shim = folder / "python-with-twine"
    shim.mkdir()
    (shim / "python").write_text(TWINE.format(python=sys.executable))
    (shim / "python").chmod(0o755)
    checked = run_step(CHECK_FILES, source, tag=TAG, temp=temp, python_dir=shim)
    assert checked.returncode == 0, f"Check them:\n{checked.stdout}{checked.stderr}"
    (sdist,) = (source / "dist").glob("*.tar.gz")
    (wheel,) = (source / "dist").glob("*.whl")
    venv = make_venv(folder / "venv", with_pip=False)
    install_into(venv, wheel, cwd=folder)
    return Installed(source, wheel, sdist, venv, build_log + checked.stdout)


def released_pcr(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pcr built as the release workflow builds it and installed, once for the whole run."""
    try:
        return once_per_run(
            tmp_path_factory, "released", build_released, Installed.dump, Installed.load
        )
    except MakingFailed as exc:
        pytest.fail(str(exc), pytrace=False)


def release_commit(released: Installed) -> str:
    """The commit the released pcr was built from."""
    return git(released.source, "rev-parse", "HEAD").strip()
