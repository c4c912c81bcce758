"""`pcr demo DIR`: write a ready estate to try pcr on, and say what to run."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import click

from reconciler.commands import OK
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.scaffold import demo
from reconciler.scaffold import repository as scaffold


def run(directory: Path, now: datetime | None = None) -> int:
    files = demo.demo_files(now or datetime.now(UTC))
    if taken := [name for name in files if (directory / name).exists()]:
        # A demo over an estate (or an earlier demo that has been applied) would mix the
        # two: nothing is written.
        raise PcrError(f"{directory / taken[0]} exists: give `pcr demo` a new or empty folder")
    with prefixed(f"cannot write the demo in {directory}", OSError):
        written = scaffold.write_files(directory, files, force=False).written
    click.echo(
        f"pcr: wrote a demo estate in {directory} ({len(written)} files): "
        "a desired state and a fake Partner Center, no credentials needed."
    )
    click.echo("Try, in order:")
    width = max(len(command) for command, _ in demo.commands(directory))
    for command, what in demo.commands(directory):
        click.echo(f"  {command:<{width}}  {'# ' + what if what else ''}".rstrip())
    return OK
