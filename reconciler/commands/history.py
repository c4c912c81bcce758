"""`pcr history`: what pcr did to one customer, from the audit trail, oldest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reconciler.commands import ERROR, OK
from reconciler.commands.plan import load_valid
from reconciler.journal import AUDIT_NAME, audit_records
from reconciler.printable import escape_hidden
from reconciler.scope import DesiredDeclarations, customer_id_of
from reconciler.state import StateError, open_store
from reconciler.validate import CUSTOMERS_DIR


def run(
    who: str, desired_dir: Path, output_format: str = "text", state_dir: Path | None = None
) -> int:
    desired = load_valid(desired_dir)
    if desired is None:
        return ERROR
    customer_id = customer_id_of(who, DesiredDeclarations(desired, desired_dir / CUSTOMERS_DIR))
    if customer_id is None:
        click.echo(
            f"pcr: {who} is neither a customer file under {desired_dir} nor a tenant id",
            err=True,
        )
        return ERROR
    local = state_dir or desired_dir.resolve().parent / ".pcr"
    try:
        store = open_store(desired.partner.state, local)
        records = [r for r in audit_records(store) if r.get("customer_id") == customer_id]
    except StateError as exc:
        click.echo(f"pcr: cannot read the audit trail: {exc}", err=True)
        return ERROR
    records.sort(key=lambda r: str(r.get("time", "")))
    if output_format == "json":
        click.echo(json.dumps({"customer_id": customer_id, "history": records}, indent=2))
    else:
        click.echo(_text(customer_id, records, f"{store.where}/{AUDIT_NAME}"))
    return OK


def _text(customer_id: str, records: list[dict[str, Any]], where: str) -> str:
    if not records:
        return f"No changes to {customer_id} in the audit trail ({where})."
    lines = [f"History of {customer_id} ({len(records)} changes, from {where}):"]
    for r in records:
        change = f"{r.get('before') or '?'} -> {r.get('after') or '?'}"
        who = f"by {r.get('actor') or '?'} at {str(r.get('commit') or '?')[:12]}"
        lines.append(
            f"  {r.get('time', '?')}  {r.get('action', '?')} {r.get('target_id', '')}: "
            f"{change}, {r.get('result', '?')} ({who}, plan {r.get('plan') or '?'}, "
            f"request {r.get('request_id', '?')})"
        )
    # The records hold what Partner Center and the runner said (a status, an actor's name).
    return escape_hidden("\n".join(lines))
