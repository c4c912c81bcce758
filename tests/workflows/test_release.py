"""The release workflow: what it may do, and its build job's own steps, run here."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.scaffold.repository import DISTRIBUTION
from reconciler.scaffold.repository import REPOSITORY
from tests.artifact import Installed
from tests.workflows.release import CHECK_VERSION
from tests.workflows.release import RECORD
from tests.workflows.release import RELEASE
from tests.workflows.release import TAG
from tests.workflows.release import committed_snapshot
from tests.workflows.release import release_commit
from tests.workflows.release import released_pcr
from tests.workflows.release import run_step
from tests.workflows.runner import PINNED
from tests.workflows.runner import load_workflow


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return released_pcr(tmp_path_factory)


def test_the_release_runs_on_a_version_tag_with_the_least_permissions() -> None:
    workflow = load_workflow(RELEASE)
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {}
    jobs: dict[str, Any] = workflow["jobs"]
    assert {name: job["permissions"] for name, job in jobs.items()} == {
        "build": {"contents": "read"},
        "pypi": {"id-token": "write"},
        "github-release": {"contents": "write"},
    }
    # Only the publishing job, in its environment, may mint the token PyPI trusts.
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    assert jobs["pypi"]["needs"] == "build" and jobs["github-release"]["needs"] == "pypi"
    (publish,) = [s for s in jobs["pypi"]["steps"] if "gh-action-pypi-publish" in s["uses"]]
    assert PINNED.match(publish["uses"]) and "with" not in publish  # trusted publishing
    release = jobs["github-release"]["steps"][-1]
    assert release["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert "gh release create" in release["run"] and "gh release upload" in release["run"]
    text = RELEASE.read_text()
    assert "secrets." not in text and "password" not in text  # no stored token anywhere
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
            assert "${{" not in step.get("run", ""), step.get("name")
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False
    # Nobody is told to install `pcr` from PyPI: that name is another project's.
    assert f"pypi.org/project/{DISTRIBUTION}/" in jobs["pypi"]["environment"]["url"]


@pytest.mark.parametrize(
    "tag",
    ["v9.9.9", __version__, f"v{__version__}.1", f'v{__version__}"; touch injected; "'],
)
def test_a_tag_that_is_not_the_packages_version_releases_nothing(tmp_path: Path, tag: str) -> None:
    checkout, _ = committed_snapshot(tmp_path / "checkout")
    done = run_step(CHECK_VERSION, checkout, tag=tag, temp=tmp_path / "temp")
    assert done.returncode == 1
    assert f"::error title=release::the tag {tag} is not v{__version__}" in done.stdout
    assert not (checkout / "injected").exists()
    right = run_step(CHECK_VERSION, checkout, tag=TAG, temp=tmp_path / "temp")
    assert right.returncode == 0, right.stdout + right.stderr


def test_the_commit_is_recorded_only_as_plain_values(tmp_path: Path) -> None:
    checkout, commit = committed_snapshot(tmp_path / "checkout")
    odd = run_step(RECORD, checkout, tag="v1'+__import__('os').getcwd()+'", temp=tmp_path)
    assert odd.returncode != 0
    assert not (checkout / "reconciler/_release.py").exists()
    done = run_step(RECORD, checkout, tag=TAG, temp=tmp_path)
    assert done.returncode == 0, done.stderr
    namespace: dict[str, Any] = {}
    exec((checkout / "reconciler/_release.py").read_text(), namespace)
    assert (namespace["REPOSITORY"], namespace["TAG"], namespace["COMMIT"]) == (
        REPOSITORY,
        TAG,
        commit,
    )


def test_the_released_sdist_and_wheel_carry_the_commit(released: Installed) -> None:
    """Built as the workflow builds them, and passed by its own checks ("Check them")."""
    commit = release_commit(released)
    assert released.wheel.name == f"{DISTRIBUTION.replace('-', '_')}-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(released.wheel) as wheel:
        recorded = wheel.read("reconciler/_release.py").decode()
    assert f"COMMIT = {commit!r}" in recorded and f"TAG = {TAG!r}" in recorded
    assert "twine (a stand-in) -m twine check --strict" in released.build_log
