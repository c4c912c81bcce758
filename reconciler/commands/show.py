"""`pcr show`: render a saved plan, as `pcr plan` printed it, in any format."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.commands import OK
from reconciler.plan import model as plan_model
from reconciler.render import render, use_color


def run(plan_file: Path, output_format: str) -> int:
    saved = plan_model.load(plan_file)
    color = output_format == "text" and use_color(sys.stdout)
    click.echo(render(saved.plan, output_format, color=color), nl=False, color=color)
    return OK
