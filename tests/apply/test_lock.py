"""The apply lock: one apply at a time; a dead process's lock is explained and taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apply.state import LockedError
from reconciler.apply.state.local import apply_lock
from reconciler.fake.server import FakeServer
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import run_pcr

# Only a safety net: the waits below end on events (a change reaching the fake, an exit).
SAFETY_SECONDS = 120


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    with apply_lock(lock):
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(LockedError) as refused, apply_lock(lock):
            pytest.fail("a second holder got the lock")
        assert f"process {os.getpid()}" in str(refused.value)
        assert str(lock) in str(refused.value)  # where to look if the holder is gone
    assert not lock.exists()
    assert list(tmp_path.iterdir()) == []  # no private temp file left behind


def test_a_stale_lock_is_explained_and_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    pid = dead_pid()
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "earlier"}))
    notices: list[str] = []
    with apply_lock(lock, notice=notices.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    (notice,) = notices
    assert "stale lock" in notice and f"process {pid}" in notice
    assert "no longer running" in notice and "resume" in notice


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "apply.lock"
    holder = {"pid": dead_pid(), "host": "build-agent-7", "started": "2026-11-22T08:00:00Z"}
    lock.write_text(json.dumps(holder))
    with pytest.raises(LockedError, match="build-agent-7"), apply_lock(lock):
        pytest.fail("took another machine's lock")
    assert json.loads(lock.read_text()) == holder


def test_two_concurrent_applies_one_refuses_nothing_doubled(
    planned: Estate, pcr_executable: str
) -> None:
    estate = planned
    lock = estate.state_dir / "apply.lock"
    with FakeServer(estate.live) as server:
        # The first apply's changes wait at the fake until the second apply is over: it
        # holds the lock all that time, however slowly either process runs.
        changes = server.app.hold("PATCH", ".", count=None)
        command = apply_command(pcr_executable, "--endpoint", server.url)
        first = subprocess.Popen(
            command,
            cwd=estate.root,
            env=pcr_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Its first change reached the fake: it is applying, under the lock.
            arrived = changes.arrived.wait(SAFETY_SECONDS)
            assert arrived, "the first apply never sent a change"
            assert lock.exists()
            second = subprocess.run(
                command,
                cwd=estate.root,
                env=pcr_env(),
                capture_output=True,
                text=True,
                timeout=SAFETY_SECONDS,
            )
        finally:
            changes.close()
            _, first_err = first.communicate(timeout=SAFETY_SECONDS)
        mutations = server.app.mutations

    assert second.returncode == 1
    assert "apply refused, nothing was changed" in second.stderr
    assert f"another apply is running (process {first.pid}" in second.stderr
    assert first.returncode == 0, first_err
    assert len(mutations) == EXAMPLE_ACTIONS
    assert_each_mutation_once(mutations)
    assert not lock.exists()


def test_apply_after_a_dead_process_left_its_lock(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    estate.state_dir.mkdir()
    pid = dead_pid()
    holder = {"pid": pid, "host": socket.gethostname(), "started": "2026-11-22T08:59:00Z"}
    (estate.state_dir / "apply.lock").write_text(json.dumps(holder))

    result = run_pcr(
        pcr_executable,
        *("apply", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        "--auto-approve",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert f"removing a stale lock {estate.state_dir / 'apply.lock'}" in result.stderr
    assert f"apply process {pid} started 2026-11-22T08:59:00Z is no longer running" in (
        result.stderr
    )
    assert len(estate.mutations()) == EXAMPLE_ACTIONS
    assert not (estate.state_dir / "apply.lock").exists()
