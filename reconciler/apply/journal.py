"""The apply journal and the audit trail: what makes apply resumable and accountable.

The journal is append-only JSON lines, durable after every line, so that a run
killed at any point (kill -9, a lost network) leaves an exact record: a step
with a `done` line is never repeated, and a step with only a `start` line was
in flight — the next run reads live state to see whether it landed before it
sends anything again, and reuses its `MS-RequestId` if it must. A step that
ended in a refusal (`failed`) is not in flight: the service answered, so a
later attempt is a new call with a new request id, as the Partner Center
documentation asks. A `start` line carries the step itself, so that a later run
that planned afresh (another journal) still finds, verifies and audits it.

Both are written through a state store's `Records` (`reconciler.apply.state`): local
files, or append blobs that every runner shares.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.apply.state import Records
from reconciler.apply.state import StateStore
from reconciler.apply.state import actor
from reconciler.apply.state import commit
from reconciler.apply.state.local import LocalRecords
from reconciler.plan.actions import ActionType
from reconciler.plan.model import Action
from reconciler.timestamps import format_time

JOURNAL_PREFIX = "journal-"
AUDIT_NAME = "audit.jsonl"
EVENTS = ("start", "done", "failed")


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


def _records(where: Path | Records) -> Records:
    return LocalRecords(where) if isinstance(where, Path) else where


def _parsed(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: the step it began stays as it was
        if isinstance(record, dict):
            yield record


def _stamp() -> str:
    return format_time(datetime.now(UTC))


def journal_name(key: str) -> str:
    return f"{JOURNAL_PREFIX}{key}.jsonl"


@dataclass(frozen=True)
class StepRecord:
    """What the journal knows of one action: its request id and its last event."""

    request_id: str
    event: str  # start | done | failed
    step: dict[str, Any] | None = None  # the action, as its `start` line recorded it

    @property
    def finished(self) -> bool:
        return self.event == "done"


class Journal:
    """Start and outcome of every step, keyed by action id."""

    def __init__(self, where: Path | Records) -> None:
        self.records = _records(where)
        self.steps: dict[str, StepRecord] = {}
        self._lock = threading.Lock()
        self._replay()

    @property
    def path(self) -> str:
        """Where it is, for people: a file path or a blob name."""
        return self.records.where

    def _replay(self) -> None:
        text = self.records.read()
        for record in _parsed(text):
            action, event = record.get("action"), record.get("event")
            if not isinstance(action, str) or event not in EVENTS:
                continue
            previous = self.steps.get(action)
            if previous is None or not previous.finished:
                step = record.get("step") if event == "start" else None
                self.steps[action] = StepRecord(str(record.get("request_id", "")), event, step)
        if text and not text.endswith("\n"):
            # End the cut-short line, or the next record would be glued onto it and lost.
            self.records.append("\n")

    def finished(self, action_id: str) -> bool:
        step = self.steps.get(action_id)
        return step is not None and step.finished

    def in_flight(self, action_id: str) -> StepRecord | None:
        """The step if it was started and never answered (the run died mid-call)."""
        step = self.steps.get(action_id)
        return step if step is not None and step.event == "start" else None

    def all_in_flight(self) -> dict[str, StepRecord]:
        return {aid: step for aid, step in self.steps.items() if step.event == "start"}

    def start(self, action: Action | str, request_id: str) -> None:
        action_id = action if isinstance(action, str) else action.id
        step = None if isinstance(action, str) else _step(action)
        self._write("start", action_id, request_id, **({"step": step} if step else {}))
        self.steps[action_id] = StepRecord(request_id, "start", step)

    def done(self, action_id: str, request_id: str, result: str) -> None:
        self._write("done", action_id, request_id, result=result)
        self.steps[action_id] = StepRecord(request_id, "done")

    def failed(self, action_id: str, request_id: str, error: str) -> None:
        self._write("failed", action_id, request_id, error=error)
        self.steps[action_id] = StepRecord(request_id, "failed")

    def _write(self, event: str, action_id: str, request_id: str, **extra: Any) -> None:
        record = {"time": _stamp(), "event": event, "action": action_id, "request_id": request_id}
        with self._lock:
            self.records.append(_line(record | extra))


def _step(action: Action) -> dict[str, Any]:
    return {
        "customer_id": action.customer_id,
        "type": str(action.type),
        "target_id": action.target_id,
        "target_name": action.target_name,
        "parent_id": action.parent_id,
    }


@dataclass(frozen=True)
class Orphan:
    """A step another run started and never saw answered, in that run's journal."""

    journal: Journal
    action: Action
    request_id: str


def orphans(store: StateStore, current: Journal) -> list[Orphan]:
    """Steps left in flight by killed runs in the other journals of this store.

    A run that plans afresh writes a new journal; what a killed run sent is
    still in the old one, and must be verified and audited all the same.
    """
    found = []
    for name in store.names(JOURNAL_PREFIX):
        journal = Journal(store.records(name))
        if journal.path == current.path:
            continue
        for action_id, step in journal.all_in_flight().items():
            if (action := _action(action_id, step)) is not None:
                found.append(Orphan(journal, action, step.request_id))
    return found


def _action(action_id: str, step: StepRecord) -> Action | None:
    data = step.step or {}
    try:
        action = Action(
            customer_id=str(data["customer_id"]),
            type=ActionType(data["type"]),
            target_id=str(data["target_id"]),
            reason="started by an interrupted run",
            target_name=str(data.get("target_name") or ""),
            parent_id=str(data.get("parent_id") or ""),
        )
    except (KeyError, ValueError):
        return None  # a start line from before steps were recorded: nothing to verify with
    return action if action.id == action_id else None


@dataclass(frozen=True)
class RunContext:
    """Who applied what, on every audit line."""

    actor: str
    commit: str
    plan: str  # the plan's id: its file's hash, or its live fingerprint

    @classmethod
    def here(cls, plan: str, desired_dir: Path | None = None) -> RunContext:
        return cls(actor(), commit(desired_dir), plan)


def audit_records(store: StateStore) -> list[dict[str, Any]]:
    """Every line of a store's audit trail that can be read."""
    return list(_parsed(store.records(AUDIT_NAME).read()))


class AuditLog:
    """One JSON line per mutation sent to Partner Center; never any credential.

    `result` is `done`, `failed`, or `verified`: a change a killed run sent
    and never logged, found in place by a run after it.
    """

    def __init__(self, where: Path | Records, context: RunContext | None = None) -> None:
        self.records = _records(where)
        self.context = context
        self._lock = threading.Lock()
        self._seen: set[str] | None = None  # request ids already logged, read on first use

    @property
    def path(self) -> str:
        return self.records.where

    def record(
        self,
        *,
        customer_id: str,
        action: str,
        target_id: str,
        result: str,
        request_id: str,
        before: str = "",
        after: str = "",
    ) -> None:
        entry = {
            "time": _stamp(),
            "customer_id": customer_id,
            "action": action,
            "target_id": target_id,
            "result": result,
            "request_id": request_id,
            "before": before,
            "after": after,
        }
        if self.context is not None:
            entry |= {
                "actor": self.context.actor,
                "commit": self.context.commit,
                "plan": self.context.plan,
            }
        with self._lock:
            self.records.append(_line(entry))
            if self._seen is not None:
                self._seen.add(request_id)

    def has(self, request_id: str) -> bool:
        """Whether a mutation with this request id is logged (by this run or an earlier one)."""
        with self._lock:
            if self._seen is None:
                self._seen = {str(r.get("request_id")) for r in _parsed(self.records.read())}
            return request_id in self._seen
