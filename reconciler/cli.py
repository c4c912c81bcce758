"""The `pcr` command line: a thin shell over the stages in `reconciler/`.

Commands return exit codes (0 ok, 1 error, 2 changes with --detailed-exitcode);
`main` makes sure that every failure, including a usage error, ends in a
one-line message and exit 1, never a traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from reconciler import __version__
from reconciler.commands import ERROR
from reconciler.commands import validate as validate_command

DEFAULT_DESIRED = Path("desired-state")

_directory = click.Path(path_type=Path, file_okay=True, dir_okay=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcr")
def cli() -> None:
    """pcr: declare Partner Center reseller relationships in git, plan and apply them safely."""


@cli.command()
@click.argument("desired_dir", type=_directory, default=DEFAULT_DESIRED)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="github: GitHub Actions annotations.",
)
def validate(desired_dir: Path, output_format: str) -> None:
    """Check every file in DESIRED_DIR (default ./desired-state) and report each problem."""
    sys.exit(validate_command.run(desired_dir, output_format))


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="pcr", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ERROR)  # not click's 2: that code means "changes" under --detailed-exitcode
    except click.exceptions.Abort:
        click.echo("pcr: aborted", err=True)
        sys.exit(ERROR)
    except KeyboardInterrupt:
        click.echo("pcr: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("PCR_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"pcr: internal error: {type(exc).__name__}: {exc} (set PCR_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(ERROR)
