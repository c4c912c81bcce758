"""Fixtures for the apply tests: the example estate with a plan saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apply.support import Estate
from tests.apply.support import copy_estate
from tests.apply.support import make_estate
from tests.apply.support import save_plan


@pytest.fixture(scope="session")
def planned_template(tmp_path_factory: pytest.TempPathFactory, pcr_executable: str) -> Estate:
    """The example estate and its plan at NOW, saved by `pcr plan --out`; never modified."""
    estate = make_estate(tmp_path_factory.mktemp("template") / "estate")
    save_plan(pcr_executable, estate)
    return estate


@pytest.fixture
def planned(tmp_path: Path, planned_template: Estate) -> Estate:
    """A private copy of the example estate with its saved plan."""
    return copy_estate(planned_template, tmp_path / "estate")
