"""`pcr calendar`: the dated events of the declared estate, read from Partner Center and
Microsoft Graph (docs/design.md, "Calendar JSON")."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from reconciler import interrupts
from reconciler.calendar.events import DEFAULT_DAYS
from reconciler.calendar.events import make_calendar
from reconciler.commands import CHANGES
from reconciler.commands import OK
from reconciler.commands.backend import Backend
from reconciler.commands.backend import ReportOptions
from reconciler.commands.plan import UNREAD
from reconciler.commands.plan import choose_scope
from reconciler.commands.plan import load_valid
from reconciler.commands.plan import load_valid_scoped
from reconciler.commands.plan import read_with_partner_gdap
from reconciler.desired.model import Desired
from reconciler.desired.scope import Scope
from reconciler.errors import PcrError
from reconciler.live.client import PartnerCenterClient
from reconciler.live.lifecycle import needs_entitlements
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import Live
from reconciler.live.read import read_reservations
from reconciler.live.read import read_subscriptions
from reconciler.progress import Meter
from reconciler.render import use_color
from reconciler.render.calendar import RENDERERS
from reconciler.wording import plural


@dataclass(frozen=True)
class CalendarOptions(ReportOptions):
    days: int = DEFAULT_DAYS
    only: tuple[str, ...] = ()  # --only: customer files or tenant ids
    changed_since: str | None = None  # --changed-since: a git ref


def _declared(options: CalendarOptions) -> tuple[Desired, Scope | None]:
    """The declared customers the calendar covers: every one, or a scoped run's."""
    if not options.only and options.changed_since is None:
        return load_valid(options.desired_dir), None
    desired, chosen = load_valid_scoped(
        options.desired_dir,
        lambda declared: choose_scope(
            declared, options.desired_dir, options.only, options.changed_since
        ),
    )
    return (chosen.restrict(desired) if chosen else desired), chosen


def read_for_calendar(desired: Desired, backend: Backend, *, scoped: bool = False) -> Live:
    """What the events need and nothing more: the plan's reads (so that a deferred removal
    is the plan's own), the subscriptions of every other declared customer (one call each),
    their entitlements only where an Azure plan can hold a reservation, and GDAP listed
    once for the partner."""

    def subscriptions(client: PartnerCenterClient, live: Live) -> None:
        # Customers with overrides: the plan read their subscriptions, not entitlements.
        without_entitlements = {
            cid: detail
            for cid, detail in live.details.items()
            if cid in desired.customers and not needs_entitlements(desired.customers[cid])
        }
        steady = [
            cid
            for cid in desired.customers
            if cid not in live.details
            and (found := live.customers.get(cid)) is not None
            and found.relationship == CustomerRelationship.RESELLER
        ]
        with Meter("reading subscriptions", len(steady), "customers") as meter:
            live.details |= read_subscriptions(client, steady, progress=meter, reservations=True)
        live.details |= read_reservations(client, without_entitlements)

    return read_with_partner_gdap(desired, backend, subscriptions, scoped=scoped)


def run(options: CalendarOptions) -> int:
    desired, chosen = _declared(options)
    with options.backend.failures():
        live = interrupts.interruptible(
            lambda: read_for_calendar(desired, options.backend, scoped=chosen is not None)
        )
    # Pure from here on: a failure below is a bug, and is reported as one.
    calendar = make_calendar(desired, live, options.now, options.days)
    calendar.scope = None if chosen is None else list(chosen.customers)
    color = options.output_format == "text" and use_color(sys.stdout)
    rendered = RENDERERS[options.output_format](calendar, color=color)
    click.echo(rendered, nl=False, color=color)
    if calendar.unread:
        raise PcrError(UNREAD.format(customers=plural(len(calendar.unread), "customer")))
    # Urgent: an event within a week that the declared state contradicts.
    return CHANGES if options.detailed_exitcode and calendar.urgent else OK
