"""One module per `pcr` command: each function returns the process exit code, or raises a
`PcrError` that the CLI reports (`pcr: <message>`, exit 1 unless it says otherwise)."""

from pathlib import Path

import click

from reconciler.errors import PcrError

# Where the desired state is when no option says otherwise.
DEFAULT_DESIRED = Path("desired-state")

# Exit codes of the CLI contract (see README): 2 only ever means "changes" with
# --detailed-exitcode, so usage errors are mapped to 1 by the CLI as well.
OK = 0
ERROR = PcrError.exit_code
CHANGES = 2


def say(text: str) -> None:
    """A line to the user beside the output, on stderr: a notice, a warning, a summary, or
    the CLI's one line for an error."""
    click.echo(f"pcr: {text}", err=True)


def state_folder(desired_dir: Path, state_dir: Path | None = None) -> Path:
    """Where the local state backend keeps the lock, journals and audit trail: `--state-dir`,
    else `.pcr` beside the desired state (not in it, where a pull request would carry it)."""
    return state_dir or desired_dir.resolve().parent / ".pcr"
