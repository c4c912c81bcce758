"""The artifact users install: what the wheel and sdist hold, and each way of installing it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

import reconciler
from tests.artifact import REPO, Installed, make_venv, offline_env, run
from tests.artifact import run_pcr as pcr
from tests.conftest import EXAMPLE

SCHEMAS = ("reconciler/schemas/customer.schema.json", "reconciler/schemas/partner.schema.json")
NOW = "2026-11-22T09:00:00Z"


def demo_plan(executable: Path | str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`pcr plan --fake <copy of the fake state>` on the example estate, run from a bare folder."""
    # A fresh copy each time: a plan may write the fake's state back.
    state = Path(tempfile.mkdtemp(dir=tmp_path)) / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", state)
    args = ("plan", "--desired", EXAMPLE, "--fake", state, "--now", NOW)
    return pcr(executable, *args, cwd=tmp_path)


def test_the_wheel_ships_the_schemas(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert {*SCHEMAS, "reconciler/py.typed"} <= names
        for name in SCHEMAS:
            assert wheel.read(name) == (REPO / name).read_bytes()


def test_the_sdist_ships_the_schemas(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {*SCHEMAS, "pyproject.toml", "README.md"} <= names


def test_one_copy_of_each_schema() -> None:
    # Editors point at the top-level schemas/; it is the package's folder, not a copy.
    top = REPO / "schemas"
    assert top.is_symlink()
    assert top.resolve() == (REPO / "reconciler" / "schemas").resolve()


def test_the_build_prints_no_warning(installed: Installed) -> None:
    warnings = [line for line in installed.build_log.splitlines() if re.search("warn", line, re.I)]
    assert warnings == []
    assert "Successfully built" in installed.build_log


def test_version(installed: Installed, tmp_path: Path) -> None:
    expected = f"pcr, version {reconciler.__version__}\n"
    assert pcr(installed.pcr, "--version", cwd=tmp_path).stdout == expected
    module = pcr(installed.bin / "python", "-m", "reconciler", "--version", cwd=tmp_path)
    assert module.stdout == expected


def test_the_installed_wheel_validates_and_plans(installed: Installed, tmp_path: Path) -> None:
    validated = pcr(installed.pcr, "validate", EXAMPLE, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "no problems" in validated.stderr
    planned = demo_plan(installed.pcr, tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "IRREVERSIBLE" in planned.stdout and "deferred until 2027-03-01" in planned.stdout


def test_pip_install_dot(installed: Installed, tmp_path: Path) -> None:
    """`python -m venv v && v/bin/pip install .`, as the README and pre-commit do it."""
    venv = make_venv(tmp_path / "v")
    run([venv / "bin" / "pip", "install", "--quiet", "."], cwd=installed.source, env=offline_env())
    validated = pcr(venv / "bin" / "pcr", "validate", EXAMPLE, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    from_source, from_wheel = (
        demo_plan(venv / "bin" / "pcr", tmp_path),
        demo_plan(installed.pcr, tmp_path),
    )
    assert from_source.returncode == 0, from_source.stderr
    assert from_source.stdout == from_wheel.stdout


def test_pipx_install(installed: Installed, tmp_path: Path) -> None:
    pipx = shutil.which("pipx", path=str(Path(sys.executable).parent))
    if pipx is None:
        pytest.fail("pipx is not installed: install the test extras (`make test`)")
    homes = {f"PIPX_{name}": str(tmp_path / name.lower()) for name in ("HOME", "BIN_DIR")}
    run([pipx, "install", installed.wheel], cwd=tmp_path, env=offline_env(**homes))
    validated = pcr(tmp_path / "bin_dir" / "pcr", "validate", EXAMPLE, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
