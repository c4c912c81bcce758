"""`pcr init`: a ready desired-state repository, through the installed pcr."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.artifact import REPO, Installed, run_pcr
from tests.conftest import EXAMPLE

NOW = "2026-11-22T09:00:00Z"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.M)
EXPECTED = {
    ".github/workflows/pcr-apply.yml",
    ".github/workflows/pcr-drift.yml",
    ".github/workflows/pcr-plan.yml",
    ".github/workflows/pcr-reconcile.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "desired-state/customers/.gitkeep",
    "desired-state/partner.yaml",
    "examples/customers/example.yaml",
    "schemas/customer.schema.json",
    "schemas/partner.schema.json",
}


def pcr(installed: Installed, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_pcr(installed.pcr, *args, cwd=cwd)


@pytest.fixture
def repo(installed: Installed, tmp_path: Path) -> Path:
    done = pcr(installed, "init", "estate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return tmp_path / "estate"


def files_in(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_modelines_resolve(files: list[Path]) -> None:
    assert files
    for path in files:
        found = MODELINE.search(path.read_text(encoding="utf-8"))
        assert found is not None, f"{path} has no schema modeline"
        target = (path.parent / found.group(1)).resolve()
        assert target.is_file(), f"{path}: its modeline points at {target}, which is not there"
        expected = "partner" if path.name == "partner.yaml" else "customer"
        assert target.name == f"{expected}.schema.json"


def test_init_writes_a_ready_repository(repo: Path, installed: Installed) -> None:
    assert files_in(repo) == EXPECTED
    for name in ("customer", "partner"):
        shipped = REPO / "reconciler" / "schemas" / f"{name}.schema.json"
        assert (repo / "schemas" / f"{name}.schema.json").read_bytes() == shipped.read_bytes()
    assert_modelines_resolve(
        [repo / "desired-state/partner.yaml", repo / "examples/customers/example.yaml"]
    )
    validated = pcr(installed, "validate", cwd=repo)  # the default: ./desired-state
    assert validated.returncode == 0, validated.stderr
    assert "0 customers, no problems" in validated.stderr
    workflow = (repo / ".github/workflows/pcr-plan.yml").read_text()
    assert "uses: partnercenter-reconciler/pcr@v0.1.0" in workflow
    hooks = (repo / ".pre-commit-config.yaml").read_text()
    assert "repo: https://github.com/partnercenter-reconciler/pcr" in hooks
    assert "rev: v0.1.0" in hooks and "id: pcr-validate" in hooks


def test_the_example_customer_validates_once_copied_in(repo: Path, installed: Installed) -> None:
    shutil.copy(
        repo / "examples/customers/example.yaml", repo / "desired-state/customers/contoso.yaml"
    )
    validated = pcr(installed, "validate", "desired-state", cwd=repo)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "1 customers, no problems" in validated.stderr
    assert_modelines_resolve([repo / "desired-state/customers/contoso.yaml"])


def test_with_customers_added_it_plans_against_the_fake(repo: Path, installed: Installed) -> None:
    shutil.copytree(EXAMPLE / "customers", repo / "desired-state/customers", dirs_exist_ok=True)
    shutil.copy(EXAMPLE / "fake-state.json", repo / "fake-state.json")
    planned = pcr(installed, "plan", "--fake", "fake-state.json", "--now", NOW, cwd=repo)
    assert planned.returncode == 0, planned.stderr
    assert "IRREVERSIBLE" in planned.stdout


def test_a_second_init_keeps_what_is_there(repo: Path, installed: Installed) -> None:
    partner = repo / "desired-state/partner.yaml"
    partner.write_text(partner.read_text().replace("type: direct", "type: indirect_provider"))
    workflow = repo / ".github/workflows/pcr-drift.yml"
    workflow.write_text("# ours now\n")
    again = pcr(installed, "init", ".", cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "0 written, 2 kept" in again.stderr
    assert workflow.read_text() == "# ours now\n"
    forced = pcr(installed, "init", ".", "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert "uses: partnercenter-reconciler/pcr@" in workflow.read_text()
    assert "type: indirect_provider" in partner.read_text(), "partner.yaml is never replaced"


def test_init_names_another_home_for_the_action(installed: Installed, tmp_path: Path) -> None:
    done = pcr(installed, "init", "x", "--repository", "fork/pcr", "--ref", "v9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "uses: fork/pcr@v9" in (tmp_path / "x/.github/workflows/pcr-apply.yml").read_text()
    bad = pcr(installed, "init", "y", "--repository", "not-a-repository", cwd=tmp_path)
    assert bad.returncode == 1
    assert "is not OWNER/NAME" in bad.stderr and "Traceback" not in bad.stderr


def test_init_into_a_file_is_an_error(installed: Installed, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    done = pcr(installed, "init", "taken", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "taken" in done.stderr


def test_imported_files_modelines_resolve(installed: Installed, tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "fake-state.json", tmp_path / "state.json")
    out = tmp_path / "estate" / "desired-state"
    done = pcr(installed, "import", "--fake", "state.json", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "schemas/customer.schema.json" in done.stdout
    assert_modelines_resolve([out / "partner.yaml", *sorted((out / "customers").glob("*.yaml"))])
