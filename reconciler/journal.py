"""The apply journal, the audit log and the apply lock: what makes apply resumable and safe.

The journal is an append-only JSON-lines file, fsync'd after every line, so
that a run killed at any point (kill -9, a lost network) leaves an exact record:
a step with a `done` line is never repeated, and a step with only a `start`
line was in flight — the next run reads live state to see whether it landed
before it sends anything again, and reuses its `MS-RequestId` if it must.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.partnercenter.models import format_time


def _append(path: Path, record: dict[str, Any], lock: threading.Lock) -> None:
    line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    with lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def _stamp() -> str:
    return format_time(datetime.now(UTC))


@dataclass(frozen=True)
class StepRecord:
    """What the journal knows of one action: its request id and whether it finished."""

    request_id: str
    finished: bool


class Journal:
    """Start and outcome of every step, keyed by action id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.steps: dict[str, StepRecord] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._replay()

    def _replay(self) -> None:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: its step counts as in flight
            action, request_id = record.get("action"), record.get("request_id", "")
            if not action:
                continue
            finished = record.get("event") == "done"
            previous = self.steps.get(action)
            if previous is None or not previous.finished:
                self.steps[action] = StepRecord(request_id, finished)

    def finished(self, action_id: str) -> bool:
        step = self.steps.get(action_id)
        return step is not None and step.finished

    def in_flight(self, action_id: str) -> StepRecord | None:
        step = self.steps.get(action_id)
        return step if step is not None and not step.finished else None

    def start(self, action_id: str, request_id: str) -> None:
        self._write("start", action_id, request_id)
        self.steps[action_id] = StepRecord(request_id, False)

    def done(self, action_id: str, request_id: str, result: str) -> None:
        self._write("done", action_id, request_id, result=result)
        self.steps[action_id] = StepRecord(request_id, True)

    def failed(self, action_id: str, request_id: str, error: str) -> None:
        self._write("failed", action_id, request_id, error=error)

    def _write(self, event: str, action_id: str, request_id: str, **extra: str) -> None:
        record = {"time": _stamp(), "event": event, "action": action_id, "request_id": request_id}
        _append(self.path, record | extra, self._lock)


class AuditLog:
    """One JSON line per mutation sent to Partner Center; never any credential."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(
        self, *, customer_id: str, action: str, target_id: str, result: str, request_id: str
    ) -> None:
        entry = {
            "time": _stamp(),
            "customer_id": customer_id,
            "action": action,
            "target_id": target_id,
            "result": result,
            "request_id": request_id,
        }
        _append(self.path, entry, self._lock)


class LockedError(Exception):
    """Another apply holds the lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def apply_lock(path: Path, *, notice: Any = print) -> Iterator[None]:
    """Hold an exclusive lock file for one apply; a dead holder's lock is explained and taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _stamp()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _handle_existing_lock(path, notice)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        break
    else:  # pragma: no cover - another process won the race for a stale lock
        raise LockedError(f"{path}: another apply took the lock just now; try again")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _handle_existing_lock(path: Path, notice: Any) -> None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        holder = {}
    pid, host = holder.get("pid"), holder.get("host")
    same_host = host == socket.gethostname()
    if isinstance(pid, int) and same_host and not _alive(pid):
        notice(
            f"pcr: removing a stale lock {path}: apply process {pid} started "
            f"{holder.get('started', '?')} is no longer running (it was killed or crashed; "
            "its journal lets this run resume where it stopped)"
        )
        path.unlink(missing_ok=True)
        return
    where = f"process {pid} on {host}" if pid else "another process"
    raise LockedError(
        f"another apply is running ({where}, since {holder.get('started', '?')}): "
        f"wait for it to finish; if it is gone, delete {path}"
    )
