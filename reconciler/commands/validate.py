"""`pcr validate`: report every problem in a desired-state directory."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands import ERROR, OK
from reconciler.validate import DesiredStateError, Problem, load_desired


def github_annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command; property and message escaping per its spec."""

    def escape(text: str, *, prop: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    mark = problem.mark
    return (
        f"::error file={escape(mark.path, prop=True)},line={mark.line},col={mark.col},"
        f"title=pcr validate::{escape(problem.message)}"
    )


def run(directory: Path, output_format: str) -> int:
    try:
        result = load_desired(directory)
    except DesiredStateError as exc:
        click.echo(f"pcr: {exc}", err=True)
        return ERROR
    for problem in result.problems:
        click.echo(github_annotation(problem) if output_format == "github" else str(problem))
    files = f"{result.files} file{'s' * (result.files != 1)}"
    if result.desired is None:
        count = len(result.problems)
        click.echo(f"{count} problem{'s' * (count != 1)} in {files} under {directory}", err=True)
        return ERROR
    customers = len(result.desired.customers)
    click.echo(f"{directory}: {files}, {customers} customers, no problems", err=True)
    return OK
