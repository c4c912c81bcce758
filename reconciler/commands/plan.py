"""`pcr plan`: read desired and live state, plan, render, and optionally save the plan."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from reconciler import plan as plan_model
from reconciler.commands import CHANGES, ERROR, OK
from reconciler.commands.backend import Backend
from reconciler.desired import Desired
from reconciler.plan import Plan
from reconciler.planner import plan as make_plan
from reconciler.read import read_live, read_summary
from reconciler.render import render, use_color
from reconciler.validate import DesiredStateError, load_desired


@dataclass(frozen=True)
class PlanOptions:
    desired_dir: Path
    backend: Backend
    now: datetime
    output_format: str = "text"
    out: Path | None = None
    detailed_exitcode: bool = False


def load_valid(directory: Path) -> Desired | None:
    """The desired state, or None after printing why it cannot be used."""
    try:
        result = load_desired(directory)
    except DesiredStateError as exc:
        click.echo(f"pcr: {exc}", err=True)
        return None
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if result.desired is None:
        click.echo(
            f"pcr: {len(result.problems)} problem(s) in {directory}; "
            "run `pcr validate` and fix them first",
            err=True,
        )
    return result.desired


def build_plan(desired: Desired, backend: Backend, now: datetime) -> Plan:
    """Read what the plan needs from Partner Center and plan. Raises backend errors."""
    with backend.open() as client:
        live = read_live(client, desired)
    click.echo(f"pcr: {read_summary(live)}", err=True)
    return make_plan(desired, live, now)


def run(options: PlanOptions) -> int:
    desired = load_valid(options.desired_dir)
    if desired is None:
        return ERROR
    failure = options.backend.failure_message
    try:
        result = build_plan(desired, options.backend, options.now)
        result.desired_dir = str(options.desired_dir)
    except options.backend.errors as exc:
        click.echo(f"pcr: {failure(exc)}", err=True)
        return ERROR
    stdout = sys.stdout
    color = options.output_format == "text" and use_color(stdout)
    click.echo(render(result, options.output_format, color=color), nl=False)
    if result.errors:
        click.echo("pcr: the plan is refused by a guardrail (see the errors above)", err=True)
        return ERROR
    if options.out is not None:
        plan_model.save(result, options.out)
        click.echo(
            f"pcr: plan saved to {options.out}; apply it with `pcr apply {options.out}`", err=True
        )
    return CHANGES if options.detailed_exitcode and result.has_changes else OK
