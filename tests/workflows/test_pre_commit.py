"""The pre-commit hook as a partner uses it: `pcr init`'s config, pre-commit itself,
pcr installed by pre-commit from this repository's source, `pcr validate` on commit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.artifact import Installed
from tests.artifact import offline_env
from tests.artifact import snapshot
from tests.conftest import EXAMPLE
from tests.workflows.test_workflows import git
from tests.workflows.test_workflows import init_repository


@pytest.fixture
def hook_repository(tmp_path: Path) -> tuple[Path, str]:
    """This repository as pre-commit fetches it: a git repository at a commit."""
    repo = snapshot(tmp_path / "pcr")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pcr")
    return repo, git(repo, "rev-parse", "HEAD").strip()


def pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("pre-commit is not installed: install the test extras (`make test`)")
    return subprocess.run(
        [found, "run", "--all-files", "--color", "never"],
        cwd=repo,
        env=offline_env(PRE_COMMIT_HOME=str(home), HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_hook_validates_with_the_installed_package(
    tmp_path: Path, installed: Installed, hook_repository: tuple[Path, str]
) -> None:
    estate = init_repository(installed.pcr, tmp_path / "estate")
    shutil.copytree(EXAMPLE / "customers", estate / "desired-state/customers", dirs_exist_ok=True)
    config_path = estate / ".pre-commit-config.yaml"
    config = yaml.safe_load(config_path.read_text())
    (hook,) = config["repos"]
    assert hook["hooks"] == [{"id": "pcr-validate"}]
    # The same config, fetched from this commit of this repository instead of GitHub.
    hook["repo"], hook["rev"] = str(hook_repository[0]), hook_repository[1]
    config_path.write_text(yaml.safe_dump(config))
    git(estate, "init", "-q")
    git(estate, "add", "-A")

    home = tmp_path / "pre-commit-home"
    passed = pre_commit(estate, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "pcr validate" in passed.stdout and "Passed" in passed.stdout
    # pre-commit ran the pcr it installed in its own environment, not any other.
    assert list(home.glob("*/py_env-*/bin/pcr")), sorted(home.rglob("pcr"))

    (estate / "desired-state/customers/contoso.yaml").write_text("tenant_id: nope\n")
    git(estate, "add", "-A")
    failed = pre_commit(estate, home)
    assert failed.returncode == 1
    assert "Failed" in failed.stdout
    assert "desired-state/customers/contoso.yaml:1:" in failed.stdout
