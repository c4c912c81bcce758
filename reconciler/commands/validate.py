"""`pcr validate`: report every problem in a desired-state directory."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands import ERROR
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.desired.load import Problem
from reconciler.desired.load import load_desired
from reconciler.wording import plural


def _escape(text: str, *, prop: bool = False) -> str:
    """Workflow-command escaping, per GitHub's spec (properties also escape ':' and ',')."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command; property and message escaping per its spec."""
    mark = problem.mark
    return (
        f"::error file={_escape(mark.path, prop=True)},line={mark.line},col={mark.col},"
        f"title=pcr validate::{_escape(problem.message)}"
    )


def github_warning(message: str) -> str:
    """A warning annotation; it names no file (the folder is the subject)."""
    return f"::warning title=pcr validate::{_escape(message)}"


def run(directory: Path, output_format: str) -> int:
    result = load_desired(directory)
    github = output_format == "github"
    for problem in result.problems:
        click.echo(github_annotation(problem) if github else str(problem))
    # A warning does not fail the run: an empty desired state (a fresh `pcr init`)
    # makes pcr remove nothing, it only leaves every customer unmanaged.
    for warning in result.warnings:
        say(f"warning: {warning}")
        if github:
            click.echo(github_warning(warning))
    files = plural(result.files, "file")
    if result.desired is None:
        problems = plural(len(result.problems), "problem")
        click.echo(f"{problems} in {files} under {directory}", err=True)
        return ERROR
    customers = plural(len(result.desired.customers), "customer")
    warned = len(result.warnings)
    warnings = f", {plural(warned, 'warning')} (see above)" if warned else ""
    click.echo(f"{directory}: {files}, {customers}, no problems{warnings}", err=True)
    return OK
