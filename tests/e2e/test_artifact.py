"""The artifact users install: what the wheel and sdist hold, and the installed wheel at work.
Each way of installing it that the README shows is run by `test_readme.py`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import reconciler
from tests.artifact import REPO
from tests.artifact import Installed
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
