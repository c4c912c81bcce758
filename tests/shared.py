"""What the workers of one test run make once and share: the built and installed pcr, the
Action's installed environment. Each is slow to make and never changed by a test.

`make test` runs the suite on every core (pytest-xdist): each worker is a process of its
own, with fixtures of its own. Servers, fakes, temporary folders and environment variables
stay per worker, or per test. Only what is made here is shared, in a folder of the run's
base temporary directory, under a lock: the first worker to ask makes it, the others wait
for it and read what it made. A failure is recorded too, so every worker reports it
rather than trying again.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
_FAILED = "failed.txt"
_MADE = "made.json"


class MakingFailed(Exception):
    """What a worker's attempt to make the shared thing said; every worker says it."""


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """`name` in the base temporary folder that every worker of this run shares."""
    base = tmp_path_factory.getbasetemp()
    run_root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return run_root / name


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    make: Callable[[Path], T],
    dump: Callable[[T], dict[str, str]],
    load: Callable[[dict[str, str]], T],
) -> T:
    """`make(folder)` once for the whole run; every other caller gets `load` of what it made.
    Raises MakingFailed with the first attempt's message."""
    folder = shared_folder(tmp_path_factory, name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (folder / _MADE).is_file():
            return load(json.loads((folder / _MADE).read_text()))
        if (folder / _FAILED).is_file():
            raise MakingFailed((folder / _FAILED).read_text())
        folder.mkdir(exist_ok=True)
        try:
            made = make(folder)
        except Exception as exc:
            (folder / _FAILED).write_text(str(exc))
            raise MakingFailed(str(exc)) from exc
        (folder / _MADE).write_text(json.dumps(dump(made)))
        return made
