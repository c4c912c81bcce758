"""`pcr drift`: report every difference between the desired state and Partner Center."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from reconciler import interrupts
from reconciler.commands import CHANGES, ERROR, OK
from reconciler.commands.backend import Backend
from reconciler.commands.plan import load_valid, read_with_progress
from reconciler.desired import Desired
from reconciler.diff import drift
from reconciler.lifecycle import unmanaged_ids
from reconciler.partnercenter.models import Live
from reconciler.progress import Meter
from reconciler.read import read_subscriptions, read_summary
from reconciler.render import render_drift, use_color


@dataclass(frozen=True)
class DriftOptions:
    desired_dir: Path
    backend: Backend
    now: datetime
    output_format: str = "text"
    detailed_exitcode: bool = False
    read_all: bool = False  # also read the subscriptions of undeclared customers


def read_for_drift(desired: Desired, backend: Backend, *, read_all: bool) -> Live:
    """What drift compares: the planner's reads, plus unmanaged customers' subscriptions."""
    with backend.open() as client:
        start, started = client.request_count, time.monotonic()
        live = read_with_progress(client, desired)
        if read_all:
            unmanaged = unmanaged_ids(desired, live)
            with Meter("reading unmanaged customers", len(unmanaged), "customers") as meter:
                live.details |= read_subscriptions(client, unmanaged, progress=meter)
            live.api_calls = client.request_count - start
            live.read_seconds = time.monotonic() - started
    click.echo(f"pcr: {read_summary(live)}", err=True)
    return live


def run(options: DriftOptions) -> int:
    desired = load_valid(options.desired_dir)
    if desired is None:
        return ERROR
    try:
        live = interrupts.interruptible(
            lambda: read_for_drift(desired, options.backend, read_all=options.read_all)
        )
    except options.backend.errors as exc:
        click.echo(f"pcr: {options.backend.failure_message(exc)}", err=True)
        return ERROR
    # Pure from here on: a failure below is a bug, and is reported as one.
    report = drift(desired, live, options.now)
    color = options.output_format == "text" and use_color(sys.stdout)
    click.echo(render_drift(report, options.output_format, color=color), nl=False, color=color)
    return CHANGES if options.detailed_exitcode and report.has_changes else OK
