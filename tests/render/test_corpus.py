"""Every output format renders the fixed corpus of plans and drift reports byte for byte
as recorded (see `corpus.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.render.corpus import CASES
from tests.render.corpus import CORPUS
from tests.render.corpus import render_case


@pytest.mark.parametrize("case", CASES)
def test_the_corpus_renders_as_recorded(case: str, tmp_path: Path) -> None:
    recorded = (CORPUS / case).read_text(encoding="utf-8")
    assert recorded.strip(), f"{case}: nothing was recorded"
    assert render_case(case, tmp_path) == recorded
