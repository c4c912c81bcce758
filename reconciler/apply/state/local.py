"""The local state backend: `.pcr/` beside the desired state, for one machine.

The lock is a file created with `link` (which fails if it exists), so a crash
never leaves an empty lock; a lock whose holder is a dead process on this host
is explained and taken. Records are JSON-lines files, fsync'd after every line.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.apply.state import AppendedInTurn
from reconciler.apply.state import Holder
from reconciler.apply.state import LockedError
from reconciler.apply.state import Notice
from reconciler.apply.state import StateError

LOCK_NAME = "apply.lock"


@dataclass
class LocalRecords(AppendedInTurn):
    """A JSON-lines file, appended to with O_APPEND and fsync'd after every record."""

    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""


class LocalStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._records: dict[str, LocalRecords] = {}

    @property
    def where(self) -> str:
        return str(self.directory)

    def records(self, name: str) -> LocalRecords:
        # One object per file, so that its threads share one lock.
        return self._records.setdefault(name, LocalRecords(self.directory / name))

    def names(self, prefix: str) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.glob(f"{prefix}*") if p.is_file())

    def lock(self, holder: Holder, notice: Notice) -> AbstractContextManager[None]:
        return apply_lock(self.directory / LOCK_NAME, holder=holder, notice=notice)

    def unlock(self, holder_id: str) -> str:
        path = self.directory / LOCK_NAME
        current = _holder_of(path)
        if current is None:
            raise StateError(f"{path}: no apply holds the lock")
        if current.get("id") != holder_id:
            raise StateError(
                f"{path} is held by {current.get('id') or 'an unnamed holder'}, not {holder_id}: "
                "name the holder the refusal printed"
            )
        path.unlink(missing_ok=True)
        return f"removed the lock of holder {holder_id} ({path})"


@contextmanager
def apply_lock(
    path: Path, *, holder: Holder | None = None, notice: Notice = print
) -> Iterator[None]:
    """Hold an exclusive lock file for one apply; a dead holder's lock is explained and taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    me = asdict(holder or Holder.me())
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


def _holder_of(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _handle_existing_lock(path: Path, notice: Notice) -> None:
    holder = _holder_of(path) or {}
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
    named = f", holder {holder['id']}" if holder.get("id") else ""
    raise LockedError(
        f"another apply is running ({where}{named}, since {holder.get('started', '?')}): "
        f"wait for it to finish; if it is gone, `pcr unlock --holder {holder.get('id', 'ID')}` "
        f"or delete {path}"
    )
