"""Where apply keeps what outlives one run: the apply lock, the journals, the audit trail.

One `StateStore` Protocol, one registry of backends (`BACKENDS`), chosen by
`partner.yaml`'s `state.backend`: `local` (the default, `.pcr/` beside the desired
state) or `azure_blob` (a Blob Storage container every runner shares, so that two
runners never apply at once and a run interrupted on one resumes on another).
A store hands out append-only `Records` (JSON lines); the journal and the audit
log (`reconciler.apply.journal`) are written through them and know nothing of where.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Protocol

from reconciler.desired.model import StateBackend
from reconciler.desired.model import StateSettings
from reconciler.errors import PcrError
from reconciler.git import GitUnavailable
from reconciler.git import git
from reconciler.timestamps import format_time

Notice = Callable[[str], None]


class LockedError(PcrError):
    """Another apply holds the lock: this one starts nothing."""


class StateError(PcrError):
    """The state backend cannot be reached or used; the message says what to fix."""


@dataclass(frozen=True)
class Holder:
    """Who holds the apply lock, as `pcr unlock --holder` names it."""

    id: str
    host: str
    pid: int
    started: str
    actor: str
    commit: str

    @classmethod
    def me(cls, desired_dir: Path | None = None) -> Holder:
        host, pid = socket.gethostname(), os.getpid()
        return cls(
            id=f"{host}:{pid}:{uuid.uuid4().hex[:8]}",
            host=host,
            pid=pid,
            started=format_time(datetime.now(UTC)),
            actor=actor(),
            commit=commit(desired_dir),
        )

    def describe(self) -> str:
        return f"holder {self.id} ({self.actor}, commit {self.commit or '?'}, since {self.started})"


def actor() -> str:
    """Who runs pcr: the GitHub actor in CI, else the login name."""
    if found := os.environ.get("GITHUB_ACTOR"):
        return found
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a bare container)
        return "unknown"


def commit(desired_dir: Path | None) -> str:
    """The commit the desired state was read at (GITHUB_SHA in CI, else git's HEAD), and,
    when its files differ from that commit, that they do, with a hash of the difference:
    an apply made from uncommitted edits is not credited to a commit that lacks them."""
    folder = desired_dir or Path.cwd()
    head = os.environ.get("GITHUB_SHA") or _git(folder, "rev-parse", "HEAD").decode().strip()
    if not head:
        return ""
    changes = _uncommitted(folder)
    return f"{head} with uncommitted changes ({changes})" if changes else head


def _uncommitted(folder: Path) -> str:
    """sha256 of what differs under `folder` from HEAD (changed and untracked files), or ""."""
    changed = _git(folder, "diff", "--binary", "HEAD", "--", ".")
    untracked = _git(folder, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    if not changed and not untracked:
        return ""
    digest = hashlib.sha256(changed)
    for name in sorted(filter(None, untracked.split(b"\0"))):
        digest.update(b"\0" + name)
        with contextlib.suppress(OSError):
            digest.update((folder / os.fsdecode(name)).read_bytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def _git(folder: Path, *args: str) -> bytes:
    """git's output in `folder`, or nothing when there is no git or no repository."""
    try:
        answer = git(folder, *args)
    except GitUnavailable:
        return b""
    return answer.out if answer.ok else b""


class Records(Protocol):
    """An append-only log of JSON lines: each append lands whole, or not at all."""

    @property
    def where(self) -> str: ...

    def append(self, text: str) -> None: ...

    def read(self) -> str: ...


@dataclass(eq=False)  # one object per name: compared by identity
class AppendedInTurn:
    """Records whose appends take turns: a store hands out one object per name, so that
    the threads of a run that append to it never interleave. A backend says how one
    append lands (`_append`)."""

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def append(self, text: str) -> None:
        with self._lock:
            self._append(text)

    def _append(self, text: str) -> None:
        raise NotImplementedError


class StateStore(Protocol):
    @property
    def where(self) -> str: ...

    def lock(self, holder: Holder, notice: Notice) -> AbstractContextManager[None]: ...

    def records(self, name: str) -> Records: ...

    def names(self, prefix: str) -> list[str]: ...

    def unlock(self, holder_id: str) -> str: ...


def open_store(settings: StateSettings, local_dir: Path) -> StateStore:
    """The configured store; `local_dir` is where the local backend keeps its files."""
    return BACKENDS[settings.backend](settings, local_dir)


def _local(settings: StateSettings, local_dir: Path) -> StateStore:
    from reconciler.apply.state.local import LocalStore

    return LocalStore(local_dir)


# What installs the Azure SDK beside pcr, for a message: the extra is not there by default.
AZURE_EXTRA = (
    "the azure_blob state backend needs pcr's azure extra: install pcr with it, e.g. "
    "`pipx install 'partnercenter-reconciler[azure]'` (or `pip install "
    "'partnercenter-reconciler[azure]'`; from a clone, `pip install '.[azure]'`)"
)


def _azure_blob(settings: StateSettings, local_dir: Path) -> StateStore:
    # Imported only when configured: the Azure SDK is an optional extra, slow to import.
    try:
        from reconciler.apply.state.azure_blob import AzureBlobStore
    except ImportError as missing:
        if not (missing.name or "").startswith("azure"):
            raise
        raise StateError(AZURE_EXTRA) from None
    return AzureBlobStore.from_settings(settings)


BACKENDS: dict[StateBackend, Callable[[StateSettings, Path], StateStore]] = {
    StateBackend.LOCAL: _local,
    StateBackend.AZURE_BLOB: _azure_blob,
}
