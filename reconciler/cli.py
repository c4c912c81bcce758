"""The `pcr` command line: a thin shell over the stages in `reconciler/`.

Commands return exit codes (0 ok, 1 error, 2 changes with --detailed-exitcode,
130 interrupted) or raise a `PcrError` (`reconciler.errors`), which is reported here
once, for every command (`Commands.invoke`): `pcr: <message>` and its exit code.
`main` makes sure that every other failure, including a usage error, ends in a
one-line message and exit 1 as well, never a traceback, and that SIGINT and SIGTERM
end in `pcr: interrupted` and exit 130 (`reconciler.interrupts`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import click

from reconciler import __version__
from reconciler import interrupts
from reconciler.commands import DEFAULT_DESIRED
from reconciler.commands import ERROR
from reconciler.commands import say
from reconciler.commands.backend import backend_options
from reconciler.errors import PcrError

if TYPE_CHECKING:  # imported when a command runs: `pcr --help` needs none of it
    from reconciler.desired.model import PartnerType

_directory = click.Path(path_type=Path, file_okay=True, dir_okay=True)
# The output formats, named here so that `pcr --help` needs no renderer imported;
# a test holds them to `render.FORMATS`. Commands are imported when they run, too.
FORMATS = ("text", "json", "markdown")
# `pcr init`'s defaults (`scaffold.Source`), for the same reason.
INIT_REPOSITORY = "partnercenter-reconciler/pcr"
# `desired.PartnerType`'s values, for the same reason.
PARTNER_TYPES = ("direct", "indirect_provider", "indirect_reseller")
F = TypeVar("F", bound=Callable[..., Any])


def detailed_exitcode(help: str) -> Callable[[F], F]:
    """--detailed-exitcode: exit 2 when there is something to do (`help` says what)."""
    return click.option("--detailed-exitcode", is_flag=True, help=help)


def format_choice(choices: list[str], help: str) -> Callable[[F], F]:
    """--format, text by default, for a command whose formats are not FORMATS."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=help,
    )


# The local state backend's folder; a Blob Storage backend (partner.yaml `state:`) ignores it.
state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the local lock, journals and audit trail go (default: .pcr beside the "
    "desired state).",
)


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        # One switch for every part that draws (renderers, progress bars): the convention
        # each of them already follows (no-color.org).
        os.environ["NO_COLOR"] = "1"


def _no_color_option() -> click.Option:
    return click.Option(
        ["--no-color"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_no_color,
        help="No colour or other terminal escapes, anywhere (as NO_COLOR=1 does).",
    )


class Commands(click.Group):
    """pcr's commands, each of which takes `--no-color` too: it is typed where the output
    is, `pcr plan --no-color` as often as `pcr --no-color plan`. A `PcrError` that one
    raises is reported here, for all of them."""

    group_class = type  # `pcr fake serve` too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(param.name == "no_color" for param in cmd.params):
            cmd.params.append(_no_color_option())
        super().add_command(cmd, name)

    # Here rather than in `main`: whatever invokes the group reports it the same way.
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PcrError as exc:  # expected: what went wrong and what to do, in its own words
            say(exc.message)
            sys.exit(exc.exit_code)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="pcr")
def cli() -> None:
    """pcr: declare Partner Center reseller relationships in git, plan and apply them safely."""


cli.params.append(_no_color_option())


@cli.command()
@click.argument("desired_dir", type=_directory, default=DEFAULT_DESIRED)
@format_choice(["text", "github"], "github: GitHub Actions annotations.")
def validate(desired_dir: Path, output_format: str) -> None:
    """Check every file in DESIRED_DIR (default ./desired-state) and report each problem."""
    from reconciler.commands import validate as validate_command

    sys.exit(validate_command.run(desired_dir, output_format))


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO-8601 time; without a zone it is taken as UTC."""
    if value is None:
        return None
    from reconciler.timestamps import read_time

    try:
        return read_time(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 time (e.g. 2026-11-22T09:00:00Z)"
        ) from None


def _parse_since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO-8601 date or time, or a span back from now: 7d, 12h."""
    if value is None:
        return None
    from datetime import timedelta

    from reconciler.timestamps import read_time

    span = value.strip().lower()
    try:
        if re.fullmatch(r"[0-9]{1,6}[dh]", span):
            hours = int(span[:-1]) * (24 if span.endswith("d") else 1)
            return datetime.now(UTC) - timedelta(hours=hours)
        return read_time(value)
    except (ValueError, OverflowError):  # 999999d: before the first year there is
        raise click.BadParameter(
            f"{value!r} is neither an ISO-8601 date or time (2026-11-22, "
            "2026-11-22T09:00:00Z) nor a span back from now (7d, 12h)"
        ) from None


def _now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime:
    """`--now`, or the current time: what a command plans as of."""
    return _parse_now(ctx, param, value) or datetime.now(UTC)


desired_option = click.option(
    "--desired",
    "desired_dir",
    type=_directory,
    default=DEFAULT_DESIRED,
    show_default=True,
    help="The desired-state directory.",
)


format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
)


def scope_options(command: F) -> F:
    """--only and --changed-since: a plan or apply of some customers (docs/design.md,
    "Scoped runs")."""
    command = click.option(
        "--changed-since",
        metavar="GIT_REF",
        help="Only the customer files added, changed, renamed or deleted since GIT_REF "
        "(a deleted file is reported, never removed).",
    )(command)
    command = click.option(
        "--only",
        multiple=True,
        metavar="FILE_OR_TENANT_ID",
        help="Only this customer (a customer file, or a tenant id); repeatable.",
    )(command)
    return command


now_option = click.option(
    "--now",
    metavar="ISO-8601",
    callback=_now,
    help="Plan as if it were this time (default: now, UTC).",
)


@cli.command()
@desired_option
@backend_options
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan here.")
@format_option
@detailed_exitcode(
    "Exit 2 when there is an action to apply now (deferred and blocked items are not)."
)
@now_option
@scope_options
def plan(**options: Any) -> None:
    """Diff the desired state against Partner Center and print an ordered, safe plan."""
    from reconciler.commands import plan as plan_command

    sys.exit(plan_command.run(plan_command.PlanOptions(**options)))


@cli.command()
@click.argument("plan_file", type=click.Path(path_type=Path, dir_okay=False))
@format_choice([*FORMATS, "ics"], "ics: only for a saved calendar.")
def show(plan_file: Path, output_format: str) -> None:
    """Print PLAN_FILE (from `pcr plan --out`) as `pcr plan` would, or a calendar saved
    with `pcr calendar --format json` as `pcr calendar` would."""
    from reconciler.commands import show as show_command

    sys.exit(show_command.run(plan_file, output_format))


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--desired",
    "desired_dir",
    type=_directory,
    help="The desired-state directory (default: the one PLAN_FILE was made from, "
    "else ./desired-state).",
)
@backend_options
@click.option("--auto-approve", is_flag=True, help="Apply a fresh plan without asking.")
@state_dir_option
@click.option(
    "--parallel",
    "workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Customers applied at once (each customer's steps stay in order).",
)
@now_option
@scope_options
@format_choice(
    ["text", "json"],
    "json: the result on stdout as one JSON document (each step and its outcome); "
    "what text prints goes to stderr.",
)
def apply(**options: Any) -> None:
    """Apply PLAN_FILE (from `pcr plan --out`), or plan and apply in one go."""
    from reconciler.commands import apply as apply_command

    sys.exit(apply_command.run(apply_command.ApplyOptions(**options)))


@cli.command()
@click.argument("who", metavar="[TENANT_ID_OR_FILE]", required=False)
@desired_option
@click.option(
    "--since",
    metavar="WHEN",
    callback=_parse_since,
    help="Only changes from then on: an ISO-8601 date or time, or a span back (7d, 12h).",
)
@format_choice(["text", "json"], "Output format.")
@state_dir_option
def history(
    who: str | None,
    desired_dir: Path,
    since: datetime | None,
    output_format: str,
    state_dir: Path | None,
) -> None:
    """What pcr changed, from the audit trail, oldest first: for one customer (a tenant id
    or its file), or for every customer."""
    from reconciler.commands import history as history_command

    options = history_command.HistoryOptions(desired_dir, who, since, output_format, state_dir)
    sys.exit(history_command.run(options))


@cli.command()
@desired_option
@click.option(
    "--holder",
    "holder_id",
    required=True,
    help="The lock holder to break, as the refused apply named it.",
)
@state_dir_option
def unlock(desired_dir: Path, holder_id: str, state_dir: Path | None) -> None:
    """Break the apply lock that HOLDER holds (a run that hangs or was killed)."""
    from reconciler.commands import unlock as unlock_command

    sys.exit(unlock_command.run(desired_dir, holder_id, state_dir))


@cli.command()
@desired_option
@backend_options
@format_option
@detailed_exitcode("Exit 2 when there is drift that no waiting deferred item explains.")
@click.option(
    "--all",
    "read_all",
    is_flag=True,
    help="Also read the subscriptions of customers that are not declared (more API calls).",
)
@now_option
def drift(**options: Any) -> None:
    """Report every difference between the desired state and Partner Center."""
    from reconciler.commands import drift as drift_command

    sys.exit(drift_command.run(drift_command.DriftOptions(**options)))


@cli.command()
@desired_option
@backend_options
@format_choice(
    ["text", "json", "markdown", "ics"],
    "ics: an iCalendar file a calendar application subscribes to.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=90,
    show_default=True,
    help="How far ahead to look; past-due events are always listed.",
)
@detailed_exitcode("Exit 2 when an event within 7 days contradicts the declared state (urgent).")
@now_option
@scope_options
def calendar(**options: Any) -> None:
    """Every dated event of the declared estate: cancellation windows, term ends and
    renewals, trials, due removals, GDAP ends, reservations."""
    from reconciler.commands import calendar as calendar_command

    sys.exit(calendar_command.run(calendar_command.CalendarOptions(**options)))


def _partner_type(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> PartnerType | None:
    from reconciler.desired.model import PartnerType

    return PartnerType(value) if value else None


partner_type_option = click.option(
    "--partner-type",
    type=click.Choice(PARTNER_TYPES),
    callback=_partner_type,
    help="Who the partner is, written into partner.yaml (default: left for you to set; pcr "
    "plans nothing until it is: indirect resellers may not remove relationships).",
)


@cli.command("import")
@backend_options
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The desired-state directory to write (customers/ and partner.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@partner_type_option
def import_(**options: Any) -> None:
    """Write a customer file for every reseller customer in Partner Center, as it is now."""
    from reconciler.commands import import_state as import_command

    sys.exit(import_command.run(import_command.ImportOptions(**options)))


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--repository",
    default=INIT_REPOSITORY,
    show_default=True,
    metavar="OWNER/NAME",
    help="The GitHub repository the workflows take the pcr Action and pre-commit hook from.",
)
@click.option(
    "--ref",
    default=f"v{__version__}",
    show_default=True,
    help="A tag (v0.1.0) or a whole 40-digit commit of that repository: the pcr the "
    "workflows install.",
)
@click.option(
    "--branch",
    metavar="NAME",
    help="The branch the workflows apply from (default: DIRECTORY's repository's default "
    "branch, else main).",
)
@click.option("--force", is_flag=True, help="Replace files that exist (never partner.yaml).")
@partner_type_option
def init(
    directory: Path,
    repository: str,
    ref: str,
    branch: str | None,
    force: bool,
    partner_type: PartnerType | None,
) -> None:
    """Write a ready desired-state repository in DIRECTORY: settings, an example customer,
    the JSON Schemas, GitHub workflows and a pre-commit config."""
    from reconciler.commands import init as init_command
    from reconciler.scaffold import repository as scaffold

    source = scaffold.Source(repository, ref)
    options = init_command.InitOptions(
        directory,
        source,
        force=force,
        branch=branch,
        partner_type=partner_type,
    )
    sys.exit(init_command.run(options))


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def demo(directory: Path) -> None:
    """Write a ready estate to try pcr on in DIRECTORY (a desired state and a fake Partner
    Center), and print the commands to try: no clone and no credentials needed."""
    from reconciler.commands import demo as demo_command

    sys.exit(demo_command.run(directory))


@cli.command()
@click.option(
    "--device-code",
    is_flag=True,
    help="Sign in on another device with a code, instead of a browser on this machine.",
)
@click.option(
    "--tenant",
    envvar="PCR_TENANT_ID",
    metavar="TENANT",
    help="The partner tenant (its id or a domain); env PCR_TENANT_ID.",
)
@click.option(
    "--client-id",
    envvar="PCR_CLIENT_ID",
    metavar="APP_ID",
    help="The partner's app registration (its application id); env PCR_CLIENT_ID. Its "
    "secret comes from env PCR_CLIENT_SECRET only.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Do not open a browser (the sign-in address is printed either way).",
)
def login(device_code: bool, tenant: str | None, client_id: str | None, no_browser: bool) -> None:
    """Sign in as a partner user (with MFA) and print the Secure Application Model refresh
    token once, to store as a CI secret (PCR_REFRESH_TOKEN). Nothing is written to disk.

    The browser sign-in comes back to http://localhost: the app registration needs that
    redirect URI (platform Web)."""
    from reconciler.commands import login as login_command

    options = login_command.LoginOptions(
        tenant=tenant,
        client_id=client_id,
        device_code=device_code,
        open_browser=not no_browser,
        env=dict(os.environ),
    )
    sys.exit(login_command.run(options))


@cli.group()
def fake() -> None:
    """The fake Partner Center, for demos and tests."""


@fake.command("serve")
@click.option(
    "--state", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0: any free port.")
@click.option(
    "--save-interval",
    type=click.FloatRange(0),
    default=0.0,
    help="Save STATE at most every N seconds (default 0: after every change).",
)
def fake_serve(state: Path, host: str, port: int, save_interval: float) -> None:
    """Serve the fake Partner Center API on loopback, its state kept in STATE."""
    from reconciler.commands import fake as fake_command  # the fake is not needed elsewhere

    sys.exit(fake_command.run(state, host, port, save_interval))


def main(argv: list[str] | None = None) -> None:
    # Retries and other notices from the client go to stderr, one prefixed line each.
    logging.basicConfig(format="pcr: %(message)s", level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(interrupts.not_after_interrupt)
    with interrupts.handled():
        try:
            _main(argv)
        except interrupts.Interrupted:  # also one that came while an error was reported
            interrupts.exit_interrupted()


def _main(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="pcr", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ERROR)  # not click's 2: that code means "changes" under --detailed-exitcode
    except click.exceptions.Abort:  # end of input at a prompt; signals are `Interrupted`
        say("aborted")
        sys.exit(ERROR)
    except KeyboardInterrupt:  # outside a command (click makes one inside it Abort)
        interrupts.exit_interrupted()
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("PCR_DEBUG"):
            traceback.print_exc()
        say(f"internal error: {type(exc).__name__}: {exc} (set PCR_DEBUG=1 for details)")
        sys.exit(ERROR)
