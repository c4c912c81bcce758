"""`pcr fake serve`: the fake Partner Center on a loopback port, for demos and tests."""

from __future__ import annotations

from pathlib import Path

from reconciler.commands import OK
from reconciler.errors import PcrError
from reconciler.fake import serve
from reconciler.live.auth import is_loopback


def run(state: Path, host: str, port: int, save_interval: float) -> int:
    if not is_loopback(host):
        # The fake accepts any bearer token: it must never be reachable from a network.
        raise PcrError(
            f"--host {host} is not a loopback address: the fake serves only this machine "
            "(127.0.0.1, ::1 or localhost)"
        )
    serve(state, host, port, save_interval=save_interval)
    return OK
