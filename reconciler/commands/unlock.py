"""`pcr unlock`: break the apply lock of a holder that hangs, by its name only."""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.state import StateError
from reconciler.apply.state import open_store
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.commands import state_folder
from reconciler.commands.plan import load_valid
from reconciler.errors import prefixed


def run(desired_dir: Path, holder_id: str, state_dir: Path | None = None) -> int:
    """Break the lock only if `holder_id` holds it: a refusal printed that name.

    Naming the holder keeps a person from breaking a lock that another, healthy
    run took a moment ago.
    """
    desired = load_valid(desired_dir)
    local = state_folder(desired_dir, state_dir)
    with prefixed("unlock refused", StateError):
        message = open_store(desired.partner.state, local).unlock(holder_id)
    say(message)
    return OK
