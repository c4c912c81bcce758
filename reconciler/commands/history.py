"""`pcr history`: what pcr changed, from the audit trail, oldest first: for one customer,
or for the whole estate; `--since` keeps the recent part."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from reconciler.apply.journal import AUDIT_NAME
from reconciler.apply.journal import audit_records
from reconciler.apply.state import StateError
from reconciler.apply.state import open_store
from reconciler.commands import OK
from reconciler.commands import state_folder
from reconciler.commands.plan import load_valid
from reconciler.desired.load import CUSTOMERS_DIR
from reconciler.desired.model import Desired
from reconciler.desired.scope import DesiredDeclarations
from reconciler.desired.scope import customer_id_of
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.printable import escape_hidden
from reconciler.timestamps import format_time
from reconciler.timestamps import read_time
from reconciler.wording import named
from reconciler.wording import plural


@dataclass(frozen=True)
class HistoryOptions:
    desired_dir: Path
    who: str | None = None  # a tenant id or a customer file; None: every customer
    since: datetime | None = None
    output_format: str = "text"
    state_dir: Path | None = None


def run(options: HistoryOptions) -> int:
    desired = load_valid(options.desired_dir)
    customer_id = None
    if options.who is not None:
        declared = DesiredDeclarations(desired, options.desired_dir / CUSTOMERS_DIR)
        if (customer_id := customer_id_of(options.who, declared)) is None:
            raise PcrError(
                f"{options.who} is neither a customer file under {options.desired_dir} "
                "nor a tenant id"
            )
    local = state_folder(options.desired_dir, options.state_dir)
    with prefixed("cannot read the audit trail", StateError):
        store = open_store(desired.partner.state, local)
        records = _chosen(audit_records(store), customer_id, options.since)
    where = f"{store.where}/{AUDIT_NAME}"
    if options.output_format == "json":
        click.echo(json.dumps(_json(customer_id, options.since, records, where), indent=2))
    else:
        click.echo(_text(customer_id, options.since, records, where, _names(desired)))
    return OK


def _chosen(
    records: list[dict[str, Any]], customer_id: str | None, since: datetime | None
) -> list[dict[str, Any]]:
    """The records of `customer_id` (every customer's when None) from `since` on, oldest
    first. A record whose time cannot be read is kept: the trail is never shown short."""
    chosen = [r for r in records if customer_id is None or r.get("customer_id") == customer_id]
    if since is not None:
        chosen = [r for r in chosen if not _before(r, since)]
    chosen.sort(key=lambda r: str(r.get("time", "")))
    return chosen


def _before(record: dict[str, Any], since: datetime) -> bool:
    try:
        return read_time(str(record.get("time"))) < since
    except (TypeError, ValueError):
        return False


def _json(
    customer_id: str | None, since: datetime | None, records: list[dict[str, Any]], where: str
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "since": format_time(since) if since else None,
        "audit_trail": where,
        "history": records,
    }


def _names(desired: Desired) -> dict[str, str]:
    return {c.tenant_id: c.name for c in desired.customers.values() if c.name}


def _text(
    customer_id: str | None,
    since: datetime | None,
    records: list[dict[str, Any]],
    where: str,
    names: dict[str, str],
) -> str:
    when = f" since {format_time(since)}" if since else ""
    if not records:
        whom = _customer(customer_id, names) if customer_id else "any customer"
        return escape_hidden(f"No changes to {whom}{when} in the audit trail ({where}).")
    whom = _customer(customer_id, names) if customer_id else "every customer"
    lines = [f"History of {whom}{when}: {plural(len(records), 'change')}, from {where}"]
    for r in records:
        who = "" if customer_id else f"{_customer(str(r.get('customer_id', '?')), names)}: "
        lines.append(f"  {r.get('time', '?')}  {who}{_change(r)}")
    # The records hold what Partner Center and the runner said (a status, an actor's name).
    return escape_hidden("\n".join(lines))


def _customer(customer_id: str, names: dict[str, str]) -> str:
    return named(names.get(customer_id), customer_id)


def _change(r: dict[str, Any]) -> str:
    change = f"{r.get('before') or '?'} -> {r.get('after') or '?'}"
    return (
        f"{_verb(r.get('action'))} {r.get('target_id', '')}: {change}, {r.get('result', '?')} "
        f"(by {r.get('actor') or 'unknown'}, {_commit(r.get('commit'))}, "
        f"plan {r.get('plan') or '?'}, request {r.get('request_id', '?')})"
    )


def _verb(action: object) -> str:
    """The plan's words for an action type (a record of an older pcr may name one this pcr
    does not know: it is shown as written)."""
    try:
        return kind_of(ActionType(str(action))).verb
    except ValueError:
        return str(action or "?")


def _commit(value: object) -> str:
    """A commit as git shows it short, with what was said of it ("with uncommitted
    changes (…)") kept."""
    if not value:
        return "no commit"
    head, _, rest = str(value).partition(" ")
    return f"commit {head[:12]}" + (f" {rest}" if rest else "")
