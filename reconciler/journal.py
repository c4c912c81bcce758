"""The apply journal, the audit log and the apply lock: what makes apply resumable and safe.

The journal is an append-only JSON-lines file, fsync'd after every line, so
that a run killed at any point (kill -9, a lost network) leaves an exact record:
a step with a `done` line is never repeated, and a step with only a `start`
line was in flight — the next run reads live state to see whether it landed
before it sends anything again, and reuses its `MS-RequestId` if it must.
A step that ended in a refusal (`failed`) is not in flight: the service
answered, so a later attempt is a new call with a new request id, as the
Partner Center documentation asks.
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
    _append_raw(path, json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n", lock)


def _append_raw(path: Path, text: str, lock: threading.Lock) -> None:
    with lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def _stamp() -> str:
    return format_time(datetime.now(UTC))


@dataclass(frozen=True)
class StepRecord:
    """What the journal knows of one action: its request id and its last event."""

    request_id: str
    event: str  # start | done | failed

    @property
    def finished(self) -> bool:
        return self.event == "done"


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
        text = self.path.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: the step it began stays as it was
            action, event = record.get("action"), record.get("event")
            if not action or event not in ("start", "done", "failed"):
                continue
            previous = self.steps.get(action)
            if previous is None or not previous.finished:
                self.steps[action] = StepRecord(record.get("request_id", ""), event)
        if text and not text.endswith("\n"):
            # End the cut-short line, or the next record would be glued onto it and lost.
            _append_raw(self.path, "\n", self._lock)

    def finished(self, action_id: str) -> bool:
        step = self.steps.get(action_id)
        return step is not None and step.finished

    def in_flight(self, action_id: str) -> StepRecord | None:
        """The step if it was started and never answered (the run died mid-call)."""
        step = self.steps.get(action_id)
        return step if step is not None and step.event == "start" else None

    def start(self, action_id: str, request_id: str) -> None:
        self._write("start", action_id, request_id)
        self.steps[action_id] = StepRecord(request_id, "start")

    def done(self, action_id: str, request_id: str, result: str) -> None:
        self._write("done", action_id, request_id, result=result)
        self.steps[action_id] = StepRecord(request_id, "done")

    def failed(self, action_id: str, request_id: str, error: str) -> None:
        self._write("failed", action_id, request_id, error=error)
        self.steps[action_id] = StepRecord(request_id, "failed")

    def _write(self, event: str, action_id: str, request_id: str, **extra: str) -> None:
        record = {"time": _stamp(), "event": event, "action": action_id, "request_id": request_id}
        _append(self.path, record | extra, self._lock)


class AuditLog:
    """One JSON line per mutation sent to Partner Center; never any credential.

    `result` is `done`, `failed`, or `verified`: a change a killed run sent
    and never logged, found in place by the run after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: set[str] | None = None  # request ids already logged, read on first use
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
        if self._seen is not None:
            self._seen.add(request_id)

    def has(self, request_id: str) -> bool:
        """Whether a mutation with this request id is logged (by this run or an earlier one)."""
        with self._lock:
            if self._seen is None:
                self._seen = set()
                if self.path.exists():
                    for line in self.path.read_text(encoding="utf-8").splitlines():
                        try:
                            self._seen.add(str(json.loads(line).get("request_id")))
                        except (json.JSONDecodeError, AttributeError):
                            continue
            return request_id in self._seen


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
    # The holder is written to a private file first and then linked into place:
    # link fails if the lock exists, and a crash can never leave an empty lock.
    mine = path.with_name(f".{path.name}.{os.getpid()}")
    mine.write_text(json.dumps(me), encoding="utf-8")
    try:
        for _ in range(2):
            try:
                os.link(mine, path)
            except FileExistsError:
                _handle_existing_lock(path, notice)
                continue
            break
        else:  # pragma: no cover - another process won the race for a stale lock
            raise LockedError(f"{path}: another apply took the lock just now; try again")
    finally:
        mine.unlink(missing_ok=True)
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
