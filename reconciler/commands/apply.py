"""`pcr apply`: apply a saved plan, or plan and apply in one go, safely and resumably."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TextIO

import click

from reconciler import interrupts
from reconciler.apply.executor import INTERRUPTED
from reconciler.apply.executor import ApplyReport
from reconciler.apply.executor import Executor
from reconciler.apply.executor import StepResult
from reconciler.apply.executor import applied_to_dict
from reconciler.apply.journal import AUDIT_NAME
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.apply.journal import RunContext
from reconciler.apply.journal import journal_name
from reconciler.apply.journal import orphans
from reconciler.apply.state import Holder
from reconciler.apply.state import LockedError
from reconciler.apply.state import StateError
from reconciler.apply.state import StateStore
from reconciler.apply.state import open_store
from reconciler.commands import DEFAULT_DESIRED
from reconciler.commands import ERROR
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.commands import state_folder
from reconciler.commands.backend import Backend
from reconciler.commands.plan import UNREAD
from reconciler.commands.plan import choose_scope
from reconciler.commands.plan import load_valid
from reconciler.commands.plan import load_valid_scoped
from reconciler.commands.plan import read_with_progress
from reconciler.desired.load import DesiredStateError
from reconciler.desired.model import Desired
from reconciler.desired.scope import Declarations
from reconciler.desired.scope import Scope
from reconciler.desired.scope import ScopeError
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import Clients
from reconciler.live.lifecycle import needs_gdap
from reconciler.live.models import Live
from reconciler.live.read import read_summary
from reconciler.plan import guardrails
from reconciler.plan import model as plan_model
from reconciler.plan.actions import Outcome
from reconciler.plan.actions import kind_of
from reconciler.plan.model import Plan
from reconciler.plan.planner import make_plan
from reconciler.printable import escape_hidden
from reconciler.progress import Meter
from reconciler.render import render
from reconciler.render import use_color
from reconciler.render.common import deferred_when
from reconciler.render.common import irreversible_headline
from reconciler.render.json import render_applied
from reconciler.wording import plural


@dataclass(frozen=True)
class ApplyOptions:
    desired_dir: Path | None  # None: the folder the saved plan records, else the default
    backend: Backend
    now: datetime
    plan_file: Path | None = None
    auto_approve: bool = False
    state_dir: Path | None = None
    workers: int = 8
    only: tuple[str, ...] = ()  # a fresh plan's scope: customer files or tenant ids
    changed_since: str | None = None  # a fresh plan's scope: a git ref
    output_format: str = "text"  # json: the result on stdout, everything else on stderr

    @property
    def state(self) -> Path:
        return state_folder(self.desired, self.state_dir)

    @property
    def desired(self) -> Path:
        return self.desired_dir or DEFAULT_DESIRED


class Refused(PcrError):
    """Apply will not start; nothing was changed."""


def saved_plan(options: ApplyOptions) -> tuple[ApplyOptions, plan_model.SavedPlan | None]:
    """The saved plan, and the options completed from what it records.

    A plan file says which desired-state folder it was made from, so `pcr apply
    PLAN.json` needs nothing else; a --desired that names another folder is refused.
    """
    if options.plan_file is None:
        return options, None
    try:
        saved = plan_model.load(options.plan_file)
    except plan_model.PlanFormatError as exc:
        raise Refused(str(exc)) from None
    recorded = Path(saved.plan.desired_dir) if saved.plan.desired_dir else None
    given = options.desired_dir
    # The recorded folder is relative to where `pcr plan` ran; from elsewhere it cannot
    # be compared, and the saved plan's own checks (same actions, same live facts) hold.
    here = recorded is not None and recorded.is_dir()
    if (
        given is not None
        and recorded is not None
        and here
        and given.resolve() != recorded.resolve()
    ):
        raise Refused(
            f"{options.plan_file} was made from {recorded}, not {given}: "
            "drop --desired, or plan again from that folder"
        )
    if given is None and recorded is not None and not here:
        raise Refused(
            f"{options.plan_file} was made from {recorded}, which is not a folder here: run "
            "`pcr apply` where `pcr plan` ran, or pass --desired"
        )
    chosen = given or recorded or DEFAULT_DESIRED
    return replace(options, desired_dir=chosen), saved


def run(options: ApplyOptions) -> int:
    """OK; ERROR or 130 when a step failed or a signal stopped the steps (the summary says
    which). Raises PcrError, after the JSON result, when apply refused, stopped, or could
    not read some customers."""
    finished = _run(options)
    if options.output_format == "json":  # a refusal and a failure are results too
        click.echo(render_applied(finished.to_dict()), nl=False)
    if finished.failure:
        raise PcrError(finished.failure)
    return finished.code


def _run(options: ApplyOptions) -> Finished:
    """How the apply ended, also when it refused or stopped: each is a result of its own."""
    try:
        options, saved = saved_plan(options)
        return _outcome(options, saved)
    except (Refused, ScopeError, LockedError) as exc:
        return _refused(str(exc))
    except DesiredStateError as exc:  # its problems were listed as it loaded
        return Finished(ERROR, error="the desired state cannot be used", failure=exc.message)
    except PcrError as exc:
        return _failed(exc.message)


def _outcome(options: ApplyOptions, saved: plan_model.SavedPlan | None) -> Finished:
    """The apply itself: the desired state loaded, the lock taken, the steps run, summarised."""
    desired, chosen = _load(options, saved)
    desired = chosen.restrict(desired) if chosen else desired
    unwritten = f"apply stopped: cannot write its records under {options.state}"
    with (
        options.backend.failures(),
        prefixed("apply stopped", StateError),
        prefixed(unwritten, OSError),  # the journal, the audit log or the lock
    ):
        store = open_store(desired.partner.state, options.state)
        with store.lock(Holder.me(options.desired), _stderr):
            report, plan, journal, audit = _apply(options, desired, saved, store, chosen)
    _summarise(report, plan, journal, audit)
    finished = Finished(OK, report, plan, journal.path, audit.path)
    if report.interrupted:
        return replace(finished, code=interrupts.EXIT_CODE)
    if plan.unread:  # the others were applied; these were not even read
        unread = _unread(plan)
        return replace(finished, code=ERROR, error=unread, failure=unread)
    return replace(finished, code=ERROR) if report.failed else finished


@dataclass(frozen=True)
class Finished:
    """How an apply ended: its exit code, and what it did (`apply --format json`)."""

    code: int
    report: ApplyReport | None = None
    plan: Plan | None = None
    journal: str = ""
    audit: str = ""
    refused: str = ""  # why nothing was changed
    error: str = ""
    failure: str = ""  # what the CLI says of a refusal or a failure, after the result

    def to_dict(self) -> dict[str, Any]:
        return applied_to_dict(
            self.report,
            self.plan,
            exit_code=self.code,
            refused=self.refused,
            error=self.error,
            records={"journal": self.journal, "audit_log": self.audit},
        )


def _refused(reason: str) -> Finished:
    return Finished(ERROR, refused=reason, failure=f"apply refused, nothing was changed: {reason}")


def _failed(message: str) -> Finished:
    return Finished(ERROR, error=message, failure=message)


def _unread(plan: Plan) -> str:
    return UNREAD.format(customers=plural(len(plan.unread), "customer"))


def _load(
    options: ApplyOptions, saved: plan_model.SavedPlan | None
) -> tuple[Desired, Scope | None]:
    """The desired state, whole or only the scope's customers. Raises DesiredStateError,
    Refused, ScopeError."""
    scoped = options.only or options.changed_since or (saved and saved.plan.scope is not None)
    if not scoped:
        return load_valid(options.desired), None
    return load_valid_scoped(options.desired, lambda declared: _scope(options, declared, saved))


def _scope(
    options: ApplyOptions, declared: Declarations, saved: plan_model.SavedPlan | None
) -> Scope | None:
    """A saved plan's own scope, or the one --only / --changed-since give a fresh plan."""
    if saved is None:
        return choose_scope(declared, options.desired, options.only, options.changed_since)
    if options.only or options.changed_since:
        raise Refused(
            "a saved plan applies exactly its own scope: drop --only and --changed-since, "
            "or plan again with them"
        )
    if saved.plan.scope is None:
        return None
    covered = set(saved.plan.scope)
    if outside := sorted({a.customer_id for a in saved.plan.actions} - covered):
        raise Refused(
            f"{options.plan_file} is scoped, but has actions for customers outside its scope "
            f"({', '.join(outside)}): plan again"
        )
    return Scope(tuple(saved.plan.scope), f"the scope of {options.plan_file}")


def _apply(
    options: ApplyOptions,
    desired: Desired,
    saved: plan_model.SavedPlan | None,
    store: StateStore,
    chosen: Scope | None,
) -> tuple[ApplyReport, Plan, Journal, AuditLog]:
    scoped = chosen is not None
    with options.backend.open_clients() as clients:
        client = clients.partner_center
        live = interrupts.interruptible(lambda: read_with_progress(clients, desired, scoped=scoped))
        say(read_summary(live))
        fresh = make_plan(desired, live, options.now)
        if chosen is not None:
            fresh.scope = list(chosen.customers)
        if saved is not None:
            plan, key = saved.plan, saved.key
            journal = Journal(store.records(journal_name(key)))
            # Guardrails first: a hand-edited plan is refused for what it would do,
            # not only because it differs from a fresh plan.
            reasons = guardrails.refusals(plan, desired, live)
            # And for what the desired state and Partner Center are now: a refusal of the
            # fresh plan holds whatever the file says (its `errors` may have been deleted).
            if fresh.refusals and not plan.refusals:
                reasons += [f"a fresh plan is refused: {e}" for e in fresh.errors]
            if unread := sorted({a.customer_id for a in plan.actions} & set(fresh.unread)):
                reasons.append(f"Partner Center could not be read for {', '.join(unread)}")
            if stale := guardrails.staleness(plan, fresh, journal.steps, options.now):
                reasons.append("the saved plan is stale: " + "; ".join(stale) + ". Plan again")
            if reasons:
                raise Refused("; ".join(reasons))
        else:
            plan = fresh
            refused = guardrails.refusals(plan, desired, live)
            # A plan a guardrail refuses is shown, but never asked about.
            _show_and_confirm(
                plan,
                ask=not (options.auto_approve or refused),
                stream=sys.stderr if options.output_format == "json" else sys.stdout,
            )
            if refused:
                raise Refused("; ".join(refused))
            key = fresh_run_key(plan)
            journal = Journal(store.records(journal_name(key)))
        audit = AuditLog(store.records(AUDIT_NAME), RunContext.here(key, options.desired))
        executor = _executor(options, clients, journal, audit, desired, live)
        for note in executor.recover(orphans(store, journal)):
            say(note)
        report = _execute(client, executor, plan, options.workers)
    return report, plan, journal, audit


def fresh_run_key(plan: Plan) -> str:
    """A journal of its own for each run that plans afresh.

    Keyed on the live facts alone, a run after someone undid a change in the
    portal would find the old run's `done` lines and skip the step. What a
    killed run left in flight is found in its journal all the same (`orphans`);
    what it finished, the fresh plan no longer holds.
    """
    return f"{plan.live_fingerprint.removeprefix('sha256:')[:12]}-{uuid.uuid4().hex[:8]}"


def _show_and_confirm(plan: Plan, *, ask: bool, stream: TextIO) -> None:
    """The plan shown on `stream`, and a "yes" asked for where a person can give it."""
    color = use_color(stream)
    click.echo(render(plan, "text", color=color), nl=False, color=color, file=stream)
    if not ask or plan.errors or not plan.actions:
        return
    if not (sys.stdin.isatty() and stream.isatty() and stream is sys.stdout):
        raise Refused(
            "no saved plan and no --auto-approve, and there is no terminal to confirm on: "
            "pass a saved plan (`pcr plan --out PLAN.json`) or --auto-approve"
        )
    # Right above the prompt, where a long plan's summary may have scrolled away from.
    if headline := irreversible_headline(plan):
        warning = f"{headline}. Cannot be undone from the partner's side."
        click.secho(warning, fg="red", bold=True, color=color)
    answer = click.prompt(
        "Apply these actions? Only 'yes' is accepted", default="", show_default=False
    )
    if answer.strip() != "yes":
        raise Refused("not confirmed")


def _executor(
    options: ApplyOptions,
    clients: Clients,
    journal: Journal,
    audit: AuditLog,
    desired: Desired,
    live: Live,
) -> Executor:
    return Executor(
        client=clients.partner_center,
        journal=journal,
        audit=audit,
        now=options.now,
        expected_domains={cid: c.domain for cid, c in desired.customers.items() if c.domain},
        graph=clients.graph,
        tenants=clients.tenants,
        tenants_unavailable=clients.tenants_unavailable,
        gdap_customers=frozenset(cid for cid, c in desired.customers.items() if needs_gdap(c)),
    )


def _execute(
    client: PartnerCenterClient, executor: Executor, plan: Plan, workers: int
) -> ApplyReport:
    calls, throttled, started = client.request_count, client.throttled_count, time.monotonic()
    report: ApplyReport | None = None
    # Apply logs each step itself where the bar cannot be drawn (a CI log).
    meter = Meter("applying", len(plan.actions), "steps", tenths=False)
    try:
        # A first SIGINT or SIGTERM sets executor.stop: the steps in flight finish.
        with meter, interrupts.graceful(executor.stop):
            report = executor.apply(plan, workers=workers, progress=_StepLog(plan, meter))
        # Also a signal after the last step started: the run was asked to stop.
        report.interrupted = executor.stop.is_set()
        return report
    finally:
        calls, throttled = client.request_count - calls, client.throttled_count - throttled
        limited = f", {throttled} throttled (429)" if throttled else ""
        say(
            f"applied {_steps_run(plan, report)} with {plural(calls, 'API call')} in "
            f"{time.monotonic() - started:.1f} s{limited}"
        )


def _steps_run(plan: Plan, report: ApplyReport | None) -> str:
    total = len(plan.actions)
    left = report.count(Outcome.NOT_STARTED) if report is not None else 0
    return f"{total - left} of {plural(total, 'step')}" if left else plural(total, "step")


class _StepLog:
    """Each finished step: the progress bar on a terminal, a log line in CI.

    Failures are counted on the bar and listed in the summary after it.
    """

    def __init__(self, plan: Plan, meter: Meter) -> None:
        self.plan, self.meter = plan, meter
        self.seen = self.failed = 0
        self._lock = threading.Lock()  # called from every customer's worker thread

    def __call__(self, result: StepResult) -> None:
        with self._lock:
            self.seen += 1
            if result.outcome is Outcome.FAILED:
                self.failed += 1
                self.meter.status(f"{self.failed} failed")
            if not self.meter.redraws:
                _stderr(f"[{self.seen}/{self.meter.total}] {step_line(self.plan, result)}")
        self.meter.advance()


def step_line(plan: Plan, result: StepResult) -> str:
    """One step as a person reads it: its outcome, customer, verb and target, and why."""
    action = result.action
    target = action.target_name or action.target_id
    return escape_hidden(
        f"{result.outcome.value:<8} {plan.name_of(action.customer_id)}: "
        f"{kind_of(action.type).verb} {target}".rstrip()
        + (f" — {result.message}" if result.message else "")
    )


def _summarise(report: ApplyReport, plan: Plan, journal: Journal, audit: AuditLog) -> None:
    parts = [
        f"{report.count(Outcome.DONE)} done",
        f"{report.count(Outcome.ALREADY)} already in place",
        f"{report.count(Outcome.SKIPPED)} skipped",
        f"{report.count(Outcome.FAILED)} failed",
        f"{len(plan.deferred)} deferred",
        f"{len(plan.blocked)} blocked",
    ]
    if left := report.count(Outcome.NOT_STARTED):
        parts.insert(4, f"{left} not started: {INTERRUPTED}")
    _stderr("Apply: " + ", ".join(parts) + ".")
    for result in report.results:
        if result.outcome in (Outcome.FAILED, Outcome.SKIPPED, Outcome.NOT_STARTED):
            _stderr(f"  {step_line(plan, result)}")
    for item in plan.deferred:
        what = f"{kind_of(item.type).verb} {item.target_id}".rstrip()
        _stderr(f"  {deferred_when(item, plan.now)}: {plan.name_of(item.customer_id)}: {what}")
    for blocked in plan.blocked:
        _stderr(f"  blocked: {plan.name_of(blocked.customer_id)}: {blocked.reason}")
    _stderr(f"Journal: {journal.path}; audit log: {audit.path}")
    if report.interrupted:
        _stderr(_interrupted(left))


def _interrupted(left: int) -> str:
    if not left:
        return f"{interrupts.MESSAGE} after the last step had started: every step ran"
    return (
        f"{interrupts.MESSAGE}: {plural(left, 'step')} not started; the next `pcr apply` does them"
    )


def _stderr(line: str) -> None:
    """A line on stderr as it is: the summary, the step log, the lock's notices."""
    click.echo(line, err=True)
