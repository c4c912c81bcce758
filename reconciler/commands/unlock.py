"""`pcr unlock`: break the apply lock of a holder that hangs, by its name only."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.apply.state import StateError, open_store
from reconciler.commands import ERROR, OK
from reconciler.commands.plan import load_valid


def run(desired_dir: Path, holder_id: str, state_dir: Path | None = None) -> int:
    """Break the lock only if `holder_id` holds it: a refusal printed that name.

    Naming the holder keeps a person from breaking a lock that another, healthy
    run took a moment ago.
    """
    desired = load_valid(desired_dir)
    if desired is None:
        return ERROR
    local = state_dir or desired_dir.resolve().parent / ".pcr"
    try:
        message = open_store(desired.partner.state, local).unlock(holder_id)
    except StateError as exc:
        click.echo(f"pcr: unlock refused: {exc}", err=True)
        return ERROR
    click.echo(f"pcr: {message}", err=True)
    return OK
