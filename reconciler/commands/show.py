"""`pcr show`: render a saved plan, as `pcr plan` printed it, or a saved calendar, as
`pcr calendar` printed it, in any of its formats, without reading Partner Center again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.calendar import model as calendar_model
from reconciler.commands import OK
from reconciler.errors import PcrError
from reconciler.plan import model as plan_model
from reconciler.render import FORMATS
from reconciler.render import render
from reconciler.render import use_color
from reconciler.render.calendar import RENDERERS


def run(saved_file: Path, output_format: str) -> int:
    color = output_format == "text" and use_color(sys.stdout)
    calendar = _calendar(saved_file)
    if calendar is not None:
        shown = RENDERERS[output_format](calendar, color=color)
    elif output_format not in FORMATS:
        raise PcrError(f"{saved_file}: --format {output_format} is a calendar's, not a plan's")
    else:
        shown = render(plan_model.load(saved_file).plan, output_format, color=color)
    click.echo(shown, nl=False, color=color)
    return OK


def _calendar(saved_file: Path) -> calendar_model.Calendar | None:
    """The saved calendar in the file; None when the file is something else (a plan)."""
    try:
        data = json.loads(saved_file.read_bytes())
    except (OSError, ValueError):
        return None  # the plan's loader says what is wrong with the file
    if not isinstance(data, dict) or "events" not in data or "actions" in data:
        return None
    try:
        return calendar_model.from_dict(data)
    except calendar_model.CalendarFormatError as exc:
        raise PcrError(f"{saved_file}: not a pcr calendar ({exc})") from None
