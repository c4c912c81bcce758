"""Shared fixtures: real files in temporary directories, the example estate, the installed `pcr`."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.artifact import Installed
from tests.artifact import build_and_install
from tests.azurite import Azurite
from tests.azurite import missing_reason
from tests.azurite import running
from tests.shared import MakingFailed
from tests.shared import once_per_run

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "desired-state"


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A writable copy of the example estate."""
    target = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, target)
    return target


WriteFile = Callable[[str, str], Path]


# partner.yaml is required; a test that is about the partner writes its own over this one.
DIRECT_PARTNER = "partner:\n  type: direct\n"


@pytest.fixture
def desired_dir(tmp_path: Path) -> Path:
    """An empty desired state of a direct partner."""
    folder = tmp_path / "desired"
    (folder / "customers").mkdir(parents=True)
    (folder / "partner.yaml").write_text(DIRECT_PARTNER, encoding="utf-8")
    return folder


@pytest.fixture
def write(desired_dir: Path) -> WriteFile:
    """Write a file (dedented) under the desired directory and return its path."""

    def _write(relative: str, text: str) -> Path:
        path = desired_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """pcr built into a wheel (from its sdist) and installed in a fresh virtual environment,
    once for every worker of the run."""
    try:
        return once_per_run(
            tmp_path_factory, "artifact", build_and_install, Installed.dump, Installed.load
        )
    except MakingFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def pcr_executable(installed: Installed) -> str:
    """The installed `pcr`, never the editable one: end-to-end tests run what users run."""
    return str(installed.pcr)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azure Storage emulator for the session; each test takes a fresh container."""
    if (reason := missing_reason()) is not None:
        pytest.skip(reason)
    with running() as emulator:
        yield emulator
