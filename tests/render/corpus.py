"""A fixed corpus of plans and drift reports, as each output format renders them: the
example estate on two days (a scoped plan too) and the demo estate (GDAP, an Azure plan,
a customer Partner Center does not have), each in text, Markdown and JSON.

The files under `corpus/` were recorded before the code was reorganised into packages and
action kinds; a test holds every later change to them byte for byte. A change of output
that is meant is recorded again with `python -m tests.render.corpus` and reviewed in the
diff.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.scaffold.demo import demo_files
from tests.conftest import EXAMPLE

CORPUS = Path(__file__).parent / "corpus"
NOW = "2026-11-22T09:00:00Z"
LATER = "2027-03-20T09:00:00Z"
FORMATS = ("text", "markdown", "json")
EXAMPLE_RUNS = {
    "plan": ("plan", "--now", NOW),
    "plan-later": ("plan", "--now", LATER),
    "plan-only": ("plan", "--now", NOW, "--only", "fabrikam.yaml", "--only", "northwind.yaml"),
    "drift": ("drift", "--now", NOW),
    "drift-later": ("drift", "--now", LATER),
}
DEMO_RUNS = {"demo-plan": ("plan", "--now", NOW), "demo-drift": ("drift", "--now", NOW)}
CASES = [f"{name}.{fmt}" for name in [*EXAMPLE_RUNS, *DEMO_RUNS] for fmt in FORMATS]


@contextmanager
def _estate(root: Path, demo: bool) -> Iterator[Path]:
    """The estate's desired state and a fresh copy of its fake (a run may write it back)."""
    if demo:
        day = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
        for name, text in demo_files(day).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
    else:
        shutil.copytree(EXAMPLE, root / "desired-state")
        shutil.copy(EXAMPLE / "fake-state.json", root / "state.json")
    # Run from the estate's folder: file names in the output are as a user sees them.
    with contextlib.chdir(root):
        yield root


def render_case(case: str, root: Path) -> str:
    """What `pcr` prints on stdout for one case of the corpus."""
    name, fmt = case.rsplit(".", 1)
    demo = name in DEMO_RUNS
    command, *rest = (DEMO_RUNS if demo else EXAMPLE_RUNS)[name]
    fake = "fake-state.json" if demo else "state.json"
    with _estate(root, demo):
        args = [command, "--desired", "desired-state", "--fake", fake, *rest, "--format", fmt]
        result = CliRunner().invoke(cli, args, env={"NO_COLOR": "1", "COLUMNS": "100"})
    return result.stdout


if __name__ == "__main__":
    import tempfile

    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            (CORPUS / case).write_text(render_case(case, Path(folder)), encoding="utf-8")
    print(f"recorded {len(CASES)} files in {CORPUS}", file=sys.stderr)
