"""Start-up: how long `pcr --help` and `pcr validate` (on the example estate) spend importing.

Python's own `-X importtime` is the measure: each module's self time, summed, is the
whole import. It is split by top-level package, so that pcr's own modules stand apart
from the libraries they need. The installed pcr is measured (`-I`: the source tree is not
on the path), each command several times, and the run of median total kept: a loaded
machine skews one run. The whole-process wall time of each run is kept beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "desired-state"
RUNS = 7
COMMANDS = {"pcr --help": ["--help"], "pcr validate": ["validate", str(EXAMPLE)]}
OURS = "reconciler"


def import_ms_by_package(stderr: str) -> Counter[str]:
    """Milliseconds of import, by top-level package, from `-X importtime` lines."""
    spent: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:") :].split("|")
        spent[name.strip().split(".")[0]] += int(own) / 1000
    return spent


def _once(args: list[str], cwd: str) -> tuple[Counter[str], float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: pcr {' '.join(args)} failed: {done.stderr[-2000:]}")
    return import_ms_by_package(done.stderr), wall


def measure(args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cwd:
        runs = [_once(args, cwd) for _ in range(RUNS)]
    runs.sort(key=lambda run: sum(run[0].values()))
    spent, wall = runs[len(runs) // 2]
    others = [(name, ms) for name, ms in spent.most_common() if name != OURS]
    return {
        "import_ms": round(sum(spent.values()), 1),
        "pcr_modules_ms": round(spent[OURS], 1),
        "heaviest": [[name, round(ms, 1)] for name, ms in others[:4]],
        "wall_ms": round(wall * 1000, 1),
        "imports_ms_of_runs": [round(sum(run[0].values()), 1) for run in runs],
    }


def run_startup() -> dict[str, Any]:
    return {name: measure(args) for name, args in COMMANDS.items()}
