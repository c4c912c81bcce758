"""`pcr drift`: report every difference between the desired state and Partner Center."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from reconciler import interrupts
from reconciler.commands import CHANGES
from reconciler.commands import OK
from reconciler.commands.backend import Backend
from reconciler.commands.backend import ReportOptions
from reconciler.commands.plan import UNREAD
from reconciler.commands.plan import load_valid
from reconciler.commands.plan import read_with_partner_gdap
from reconciler.desired.model import Desired
from reconciler.drift.compare import drift
from reconciler.errors import PcrError
from reconciler.live.client import PartnerCenterClient
from reconciler.live.lifecycle import unmanaged_ids
from reconciler.live.models import Live
from reconciler.live.read import read_subscriptions
from reconciler.progress import Meter
from reconciler.render import render_drift
from reconciler.render import use_color
from reconciler.wording import plural


@dataclass(frozen=True)
class DriftOptions(ReportOptions):
    read_all: bool = False  # also read the subscriptions of undeclared customers


def read_for_drift(desired: Desired, backend: Backend, *, read_all: bool) -> Live:
    """What drift compares: the planner's reads, plus unmanaged customers' subscriptions,
    plus every declared customer's GDAP relationships (Microsoft Graph), read once."""

    def unmanaged(client: PartnerCenterClient, live: Live) -> None:
        if read_all:
            ids = unmanaged_ids(desired, live)
            with Meter("reading unmanaged customers", len(ids), "customers") as meter:
                live.details |= read_subscriptions(client, ids, progress=meter)

    return read_with_partner_gdap(desired, backend, unmanaged)


def run(options: DriftOptions) -> int:
    desired = load_valid(options.desired_dir)
    with options.backend.failures():
        live = interrupts.interruptible(
            lambda: read_for_drift(desired, options.backend, read_all=options.read_all)
        )
    # Pure from here on: a failure below is a bug, and is reported as one.
    report = drift(desired, live, options.now)
    report.warnings += [
        f"{cid}: could not be read from Partner Center ({why}): its drift is not known"
        for cid, why in sorted(live.unreadable.items())
    ]
    color = options.output_format == "text" and use_color(sys.stdout)
    click.echo(render_drift(report, options.output_format, color=color), nl=False, color=color)
    if live.unreadable:
        raise PcrError(UNREAD.format(customers=plural(len(live.unreadable), "customer")))
    return CHANGES if options.detailed_exitcode and report.has_changes else OK
