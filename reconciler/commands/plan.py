"""`pcr plan`: read desired and live state, plan, render, and optionally save the plan."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

import click

from reconciler import interrupts
from reconciler.commands import CHANGES
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.commands.backend import Backend
from reconciler.commands.backend import ReportOptions
from reconciler.desired import scope
from reconciler.desired.load import DesiredStateError
from reconciler.desired.load import LoadResult
from reconciler.desired.load import load_desired
from reconciler.desired.load import load_scoped
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.scope import Scope
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import Clients
from reconciler.live.models import Live
from reconciler.live.read import ReadAhead
from reconciler.live.read import gdap_summary
from reconciler.live.read import read_live
from reconciler.live.read import read_partner_gdap
from reconciler.live.read import read_summary
from reconciler.live.tenant_read import read_tenants
from reconciler.plan import model as plan_model
from reconciler.plan.planner import make_plan
from reconciler.progress import Meter
from reconciler.progress import Progress
from reconciler.render import render
from reconciler.render import use_color
from reconciler.wording import plural

# A plan of the others is still shown (and saved): it is right for them.
UNREAD = (
    "{customers} could not be read from Partner Center: nothing was planned or compared for "
    "them, so this run is not the whole picture; run again"
)
NO_CUSTOMERS = (
    "{directory} declares no customers, so this plan manages none: every customer in Partner "
    "Center is left alone as unmanaged. Check that this is the right folder"
)


@dataclass(frozen=True)
class PlanOptions(ReportOptions):
    out: Path | None = None
    only: tuple[str, ...] = ()  # --only: customer files or tenant ids
    changed_since: str | None = None  # --changed-since: a git ref


class DesiredStateProblems(DesiredStateError):
    """Problems in the desired state's files, each printed as it was found: a command that
    would act on them stops before anything is read or changed."""


def load_valid(
    directory: Path, on_customers: Callable[[list[DesiredCustomer]], None] | None = None
) -> Desired:
    """The desired state; raises DesiredStateError when it cannot be used. `on_customers`:
    see `load_desired`."""
    return _reported(load_desired(directory, on_customers), directory)


Chooser = Callable[[scope.Declarations], Scope | None]


def load_valid_scoped(directory: Path, choose: Chooser) -> tuple[Desired, Scope | None]:
    """A scoped run's desired state (`load_scoped`) and its scope. Raises DesiredStateError
    when it cannot be used, and what `choose` raises."""
    result, chosen = load_scoped(directory, choose)
    return _reported(result, directory), chosen


def _reported(result: LoadResult, directory: Path) -> Desired:
    for problem in result.problems:
        click.echo(str(problem), err=True)
    for warning in result.warnings:
        say(f"warning: {warning}")
    if result.desired is None:
        raise DesiredStateProblems(
            f"{plural(len(result.problems), 'problem')} in {directory}; "
            f"run `pcr validate` and fix {'it' if len(result.problems) == 1 else 'them'} first"
        )
    return result.desired


def choose_scope(
    declared: scope.Declarations,
    desired_dir: Path,
    only: tuple[str, ...],
    changed_since: str | None,
) -> Scope | None:
    """The scope that `--only` and `--changed-since` name together; None: every customer.
    Raises ScopeError."""
    scopes = [scope.only(declared, only)] if only else []
    if changed_since is not None:
        changed = scope.changed_since(declared, desired_dir, changed_since)
        if changed is None:
            say(
                f"partner.yaml changed since {changed_since}: it applies to every customer, "
                "so this plan covers them all"
            )
            return None
        scopes.append(changed)
    return scope.union(scopes) if scopes else None


def read_with_progress(clients: Clients, desired: Desired, *, scoped: bool = False) -> Live:
    """`read_partner_center`, then the tenants that offboardings clean (`read_tenants`)."""
    live = read_partner_center(clients, desired, scoped=scoped)
    live.api_calls += read_tenants(clients, desired, live)
    return live


def read_partner_center(clients: Clients, desired: Desired, *, scoped: bool = False) -> Live:
    """`read_live` (Partner Center, and Graph for GDAP), its progress shown on stderr."""
    return _metered(
        lambda meter: read_live(
            clients.partner_center,
            desired,
            progress=meter,
            graph=clients.graph,
            graph_unavailable=clients.graph_unavailable,
            scoped=scoped,
        ),
    )


def read_with_partner_gdap(
    desired: Desired,
    backend: Backend,
    more: Callable[[PartnerCenterClient, Live], None],
    *,
    scoped: bool = False,
) -> Live:
    """What drift and the calendar read: the plan's reads of Partner Center (`scoped`: of
    the declared customers only, by id), then `more`, then every declared customer's GDAP
    relationships from one partner-wide Graph listing (a scoped run: each customer's own),
    not only the offboarding customers' as a plan reads them. It only reads."""
    with backend.open_clients(read_only=True) as clients:
        client = clients.partner_center
        start, started = client.request_count, time.monotonic()
        live = read_partner_center(replace(clients, graph=None), desired, scoped=scoped)
        more(client, live)
        graph_calls = read_partner_gdap(clients, desired, live, scoped=scoped)
        graph_calls += read_tenants(clients, desired, live)
        live.api_calls = client.request_count - start + graph_calls
        live.read_seconds = time.monotonic() - started
    say(f"{read_summary(live)}; {gdap_summary(live, graph_calls)}")
    return live


def _metered(read: Callable[[Progress], Live]) -> Live:
    with Meter("reading Partner Center", 0, "customers' details") as meter:  # total: the read's
        live = read(meter)
        meter.finish()
    return live


def read_for_plan(
    desired: Desired, backend: Backend, *, scoped: bool, ahead: ReadAhead | None
) -> Live:
    """What the plan needs from Partner Center. Raises backend errors."""
    if ahead is not None:  # a full read, begun while the desired state validated
        live = _metered(lambda meter: ahead.finish(desired, meter))
    else:
        with backend.open_clients(read_only=True) as clients:  # a plan only reads
            live = read_with_progress(clients, desired, scoped=scoped)
    say(read_summary(live))
    return live


def run(options: PlanOptions) -> int:
    # A plan of every customer reads while the desired state validates.
    full = not options.only and options.changed_since is None
    ahead = ReadAhead(lambda: options.backend.open_clients(read_only=True)) if full else None
    try:
        return _plan(options, ahead)
    finally:
        gc.unfreeze()  # for a caller that runs more in this process (tests)
        if ahead is not None:
            ahead.close(wait=False)


def _plan(options: PlanOptions, ahead: ReadAhead | None) -> int:
    if ahead is not None:
        desired, chosen = load_valid(options.desired_dir, ahead.declare), None
    else:
        desired, chosen = load_valid_scoped(
            options.desired_dir,
            lambda declared: choose_scope(
                declared, options.desired_dir, options.only, options.changed_since
            ),
        )
    planned = chosen.restrict(desired) if chosen else desired
    with options.backend.failures():
        live = interrupts.interruptible(
            lambda: read_for_plan(planned, options.backend, scoped=chosen is not None, ahead=ahead)
        )
    if ahead is not None:
        ahead.close()  # the read is done: its clients close before planning
    # What was read and loaded lives to the end of the run: the cyclic collector need not
    # walk it again (at 100,000 customers that costs a tenth of the planning).
    gc.freeze()
    # Pure from here on: a failure below is a bug, and is reported as one.
    result = make_plan(planned, live, options.now)
    result.desired_dir = str(options.desired_dir)
    if chosen is not None:
        result.scope = list(chosen.customers)
        result.warnings += chosen.left
    elif not desired.customers:  # said in the plan too: a reviewer reads the comment
        result.warnings.insert(0, NO_CUSTOMERS.format(directory=options.desired_dir))
    color = options.output_format == "text" and use_color(sys.stdout)
    rendered = render(result, options.output_format, color=color)
    click.echo(rendered, nl=False, color=color)
    if result.errors:
        raise PcrError("the plan is refused by a guardrail (see the errors above)")
    if options.out is not None:
        # A plan file is written whole, its temporary file removed.
        with prefixed(f"cannot save the plan to {options.out}", OSError), interrupts.held():
            # The JSON format is the plan file's own text: encoded once.
            text = rendered if options.output_format == "json" else None
            plan_model.save(result, options.out, text)
        say(f"plan saved to {options.out}; apply it with `pcr apply {options.out}`")
    if result.unread:
        raise PcrError(UNREAD.format(customers=plural(len(result.unread), "customer")))
    return CHANGES if options.detailed_exitcode and result.has_changes else OK
