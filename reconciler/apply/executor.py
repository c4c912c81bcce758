"""Carry out a plan: each customer's actions strictly in order, customers in parallel.

Every step is re-checked against live state just before it runs (a destructive
step whose precondition no longer holds stops that customer instead of pushing
on), journaled before and after (so a crashed run resumes without repeating
work), and every mutation is written to the audit log. One customer failing
never stops the others. Once `Executor.stop` is set (SIGINT, SIGTERM), no worker starts
a new step: the steps in flight finish, and the rest are reported as not started.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from functools import partial
from typing import Any

from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.apply.journal import Orphan
from reconciler.interrupts import leave_signals_to_main
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import TenantClients
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.http import CallId
from reconciler.live.http import Landed
from reconciler.live.lifecycle import GDAP_ENDING
from reconciler.live.lifecycle import GDAP_HOLDS_REMOVAL
from reconciler.live.lifecycle import GDAP_TERMINATED_BY_PCR
from reconciler.live.lifecycle import blocks_removal
from reconciler.live.lifecycle import live_reservations
from reconciler.live.lifecycle import unknown_state
from reconciler.live.models import AzureEntitlement
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapRequest
from reconciler.live.models import GdapRequestStatus
from reconciler.live.models import Subscription
from reconciler.live.read import customer_gone
from reconciler.live.tenant import TenantClient
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Outcome
from reconciler.plan.actions import kind_of
from reconciler.plan.actions.base import GONE
from reconciler.plan.actions.base import AlreadyDone
from reconciler.plan.actions.base import Stopped
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.actions.base import Unsent
from reconciler.plan.actions.base import WorldMoved
from reconciler.plan.guardrails import domains_differ
from reconciler.plan.model import Action
from reconciler.plan.model import Plan
from reconciler.plan.model import to_dict as plan_to_dict
from reconciler.wording import in_words


@dataclass(frozen=True)
class StepResult:
    action: Action
    outcome: Outcome
    message: str = ""
    request_id: str = ""


@dataclass
class ApplyReport:
    results: list[StepResult] = field(default_factory=list)
    interrupted: bool = False  # a signal asked the run to stop (exit 130)

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]


# The `pcr apply --format json` document's version: a consumer checks it before reading.
RESULT_FORMAT_VERSION = 1


def applied_to_dict(
    report: ApplyReport | None,
    plan: Plan | None,
    *,
    exit_code: int,
    refused: str = "",
    error: str = "",
    records: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What an apply did, for machines: each step of the plan with its outcome (done,
    already, skipped, failed, or not_started: the run never reached it), what waits, and
    where the records are."""
    outcomes = {r.action.id: r for r in report.results} if report else {}
    steps = (
        [_step(plan, action, outcomes.get(action.id)) for action in plan.actions] if plan else []
    )
    whole = plan_to_dict(plan) if plan else {}
    return {
        "format_version": RESULT_FORMAT_VERSION,
        "exit_code": exit_code,
        "refused": refused or None,  # set: nothing was changed, and why
        "error": error or None,
        "interrupted": bool(report and report.interrupted),
        "counts": {
            o.name.lower(): sum(s["outcome"] == o.name.lower() for s in steps) for o in Outcome
        },
        "steps": steps,
        "deferred": whole.get("deferred", []),
        "blocked": whole.get("blocked", []),
        "unread": list(plan.unread) if plan else [],
        **(records or {}),
    }


def _step(plan: Plan, action: Action, result: StepResult | None) -> dict[str, Any]:
    return {
        "id": action.id,
        "customer_id": action.customer_id,
        "customer_name": plan.name_of(action.customer_id),
        "type": str(action.type),
        "target_id": action.target_id,
        "target_name": action.target_name,
        "outcome": (result.outcome if result else Outcome.NOT_STARTED).name.lower(),
        "message": result.message if result else "",
        "request_id": result.request_id if result else "",
    }


OnStep = Callable[[StepResult], None]  # told of every step as it ends

INTERRUPTED = "interrupted"
# How long a suspension of an Azure plan waits for the Azure subscriptions this plan
# cancelled to turn inactive (Partner Center: about ten minutes), polling ever slower.
AZURE_CANCEL_WAIT_SECONDS = 20 * 60
AZURE_POLL_CAP_SECONDS = 60.0
# How long a GDAP termination is polled to `terminated` before the removal may run.
# Unconfirmed: Graph documents no duration; deprovisioning is seen to take minutes.
GDAP_END_WAIT_SECONDS = 20 * 60
NO_GRAPH = "no Microsoft Graph client (set PCR_GRAPH_TOKEN or the Secure Application Model)"


@dataclass
class Executor:
    client: PartnerCenterClient
    journal: Journal
    audit: AuditLog
    now: datetime
    expected_domains: dict[str, str] = field(default_factory=dict)
    # Microsoft Graph, for the GDAP steps and the removal's GDAP re-check.
    graph: GraphClient | None = None
    # Microsoft Graph in each customer's own tenant, for its clean-up; or why there is none.
    tenants: TenantClients | None = None
    tenants_unavailable: str | None = None
    # The customers whose removal must not leave an active GDAP relationship behind.
    gdap_customers: frozenset[str] = frozenset()
    # Set from the main thread to stop: no worker starts a step after it is set.
    stop: threading.Event = field(default_factory=threading.Event)
    # What each step's target was just before it changed, for the audit trail.
    _before: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    # -- the run -------------------------------------------------------------------------

    def apply(self, plan: Plan, *, workers: int = 8, progress: OnStep | None = None) -> ApplyReport:
        by_customer: dict[str, list[Action]] = {}
        for action in plan.actions:
            by_customer.setdefault(action.customer_id, []).append(action)
        report = ApplyReport()
        if not by_customer:
            return report
        with ThreadPoolExecutor(
            max_workers=max(1, min(workers, len(by_customer))),
            initializer=leave_signals_to_main,  # the main thread turns a signal into `stop`
        ) as pool:
            futures = [
                pool.submit(self.run_customer, acts, progress) for acts in by_customer.values()
            ]
            for future in as_completed(futures):
                report.results += future.result()
        order = {a.id: i for i, a in enumerate(plan.actions)}
        report.results.sort(key=lambda r: order[r.action.id])
        return report

    def run_customer(self, actions: list[Action], progress: OnStep | None) -> list[StepResult]:
        results: list[StepResult] = []
        for index, action in enumerate(actions):
            if self.stop.is_set():
                # Not journaled: the next run finds them undone, and does them.
                return results + [
                    StepResult(rest, Outcome.NOT_STARTED, INTERRUPTED) for rest in actions[index:]
                ]
            result = self.run_step(action)
            results.append(result)
            if progress:
                progress(result)
            if result.outcome is Outcome.FAILED:
                for rest in actions[index + 1 :]:
                    failed = kind_of(action.type).verb
                    skipped = StepResult(rest, Outcome.SKIPPED, f"not run: {failed} failed")
                    results.append(skipped)
                    if progress:
                        progress(skipped)
                break
        return results

    def run_step(self, action: Action) -> StepResult:
        if self.journal.finished(action.id):
            return StepResult(action, Outcome.ALREADY, "finished in an earlier run (journal)")
        in_flight = self.journal.in_flight(action.id)
        # A step the last run started and never saw answered reuses its request id,
        # so the service can recognise a repeat; it is re-read below before anything
        # is sent again.
        request_id = in_flight.request_id if in_flight else str(uuid.uuid4())
        try:
            outcome, message = kind_of(action.type).step(self, action, request_id)
        except Stopped as stopped:
            # Nothing was sent. A `start` line it wrote stays: the next run re-reads.
            return StepResult(action, Outcome.NOT_STARTED, str(stopped), request_id)
        except Exception as exc:  # one customer's failure must not stop the others
            text = str(exc) if isinstance(exc, WorldMoved | PartnerCenterError) else repr(exc)
            self.journal.failed(action.id, request_id, text)
            return StepResult(action, Outcome.FAILED, text, request_id)
        if outcome is Outcome.ALREADY:
            if in_flight and not self.audit.has(request_id):
                # The last run died after sending this step, and live state shows it took
                # effect: it is a mutation, so it belongs in the audit log.
                self._audit(action, "verified", request_id)
                message += " (sent by an interrupted run)"
            self.journal.done(action.id, request_id, "already")
        return StepResult(action, outcome, message, request_id)

    # -- mutations -----------------------------------------------------------------------

    def mutate(
        self,
        action: Action,
        request_id: str,
        send: Callable[[CallId, Landed], object],
    ) -> None:
        """Send one change: journaled before (in flight) and after, audited once either way.

        `send` makes the call under the `CallId` it is given: the client gives an attempt
        after an answer a new request id, and each one is journaled before it is sent, so
        a killed run's step is checked under the id it last sent. The kind's `landed`
        reads live state and says whether the change is in place. The client asks it when
        an answer left the outcome open (a 5xx); it is asked here when the call fails: an attempt
        whose answer was lost may have taken effect, and its retry then refused
        (cancelling a cancelled subscription, removing a removed customer).
        """
        landed = partial(kind_of(action.type).landed, self, action)
        self.journal.start(action, request_id)
        call = CallId(request_id, on_new=lambda new: self.journal.start(action, new))
        try:
            send(call, lambda: self._verified(landed))
        except (Unsent, WorldMoved):
            raise  # decided on a fresh read before anything was sent
        except Exception:
            if not self._verified(landed):
                self._audit(action, "failed", call.value)
                raise
        # Audit before `done`: a crash in between leaves the step in flight, and the
        # re-run sees this request id in the audit log and does not log it twice.
        self._audit(action, "done", call.value)
        self.journal.done(action.id, call.value, "done")

    @staticmethod
    def _verified(landed: Callable[[], bool]) -> bool:
        try:
            return landed()
        except Exception:  # unreadable now: the original failure stands
            return False

    def _audit(self, action: Action, result: str, request_id: str) -> None:
        self.audit.record(
            customer_id=action.customer_id,
            action=str(action.type),
            target_id=action.target_id,
            result=result,
            request_id=request_id,
            before=self._before.get(action.id, ""),
            after=kind_of(action.type).after,
        )

    # -- steps a killed run left in flight ------------------------------------------

    def recover(self, orphans: list[Orphan]) -> list[str]:
        """Verify each step a killed run sent and never saw answered; audit what landed.

        Whatever the new plan holds, these were mutations Partner Center may have
        taken: one found in place is audited (once) and closed in its journal, one
        not in place is closed as not sent, so that no run waits on it again.
        """
        notes = []
        for orphan in orphans:
            action, request_id = orphan.action, orphan.request_id
            try:
                landed = kind_of(action.type).landed(self, action)
            except (PartnerCenterError, WorldMoved):
                notes.append(f"{action.id}: could not be verified now; left in flight")
                continue
            if landed:
                if not self.audit.has(request_id):
                    self._audit(action, "verified", request_id)
                orphan.journal.done(action.id, request_id, "verified")
                notes.append(f"{action.id}: sent by an interrupted run, found in place")
            else:
                orphan.journal.failed(
                    action.id, request_id, "not in place after an interrupted run"
                )
                notes.append(f"{action.id}: an interrupted run's step that did not land")
        return notes

    def subscription(self, action: Action) -> Subscription:
        try:
            return self.client.get_subscription(action.customer_id, action.target_id)
        except NotFound:
            raise self.not_found(action, f"subscription {action.target_id}") from None

    def was(self, action: Action, facts: str) -> None:
        self._before[action.id] = facts

    def contradicted_domain(self, customer_id: str, live_domain: str | None) -> str | None:
        expected = self.expected_domains.get(customer_id)
        return expected if domains_differ(expected, live_domain) else None

    def not_found(self, action: Action, what: str) -> WorldMoved:
        """A 404 under a customer: the resource is gone, or the whole customer is."""
        try:
            customer_gone = self.relationship_gone(action.customer_id)
        except PartnerCenterError:  # unreadable now: report the 404 that is known
            customer_gone = False
        if customer_gone:
            # Removed meanwhile (someone in the portal): nothing can be done for it now.
            return WorldMoved(f"{GONE} (its reseller relationship was removed): plan again")
        return WorldMoved(f"{what} no longer exists")

    def set_subscription(
        self, action: Action, request_id: str, patch: SubscriptionPatch
    ) -> tuple[Outcome, str]:
        """Change a subscription in one read and one write.

        The read that the full-body PATCH needs anyway is the re-check: `patch` sees
        the resource as it is right before the write and stops it by raising.
        """

        def checked(sub: Subscription) -> None:
            # The planner's fail-closed rule, again on the read right before the write.
            if action.destructive and (why := unknown_state(sub)) is not None:
                raise WorldMoved(f"subscription {sub.id} has {why}, which pcr does not know")
            self._before[action.id] = _facts(sub, patch.auto_renew is not None)
            patch.check(self, action, sub)

        def send(call: CallId, landed_now: Landed) -> object:
            try:
                return self.client.update_subscription(
                    action.customer_id,
                    action.target_id,
                    status=patch.status,
                    auto_renew=patch.auto_renew,
                    request_id=call,
                    precondition=checked,
                    landed=landed_now,
                )
            except NotFound:
                raise self.not_found(action, f"subscription {action.target_id}") from None

        try:
            self.mutate(action, request_id, send)
        except AlreadyDone as already:
            return Outcome.ALREADY, str(already)
        return Outcome.DONE, patch.done

    def azure_entitlement(self, action: Action) -> AzureEntitlement:
        try:
            return self.client.get_azure_entitlement(
                action.customer_id, action.parent_id, action.target_id
            )
        except NotFound:
            raise self.not_found(action, f"Azure subscription {action.target_id}") from None

    def await_azure_cancellations(self, plan: Action) -> None:
        """Before an Azure plan is suspended, every Azure subscription under it is inactive.

        Those this plan cancelled are waited for (a cancellation takes minutes to
        show); an active one the plan did not cancel (created since) stops the step.
        """
        cancelled_here = {
            dep.rsplit("/", 1)[-1]
            for dep in plan.depends_on
            if f"/{ActionType.CANCEL_AZURE_ENTITLEMENT}/" in dep
        }

        def still_active() -> str | None:
            active = [
                e
                for e in self.client.list_azure_entitlements(plan.customer_id, plan.target_id)
                if e.status is not AzureEntitlementStatus.INACTIVE
            ]
            stray = [e.id for e in active if e.id not in cancelled_here]
            if stray:
                raise WorldMoved(
                    f"Azure subscriptions under the plan are active and not in this plan "
                    f"({', '.join(stray)}): plan again"
                )
            ids = ", ".join(e.id for e in active)
            return f"Azure subscriptions under the plan ({ids}) are still active" if ids else None

        # A wait of minutes before the step is sent: a stop leaves it unsent.
        self._wait(still_active, AZURE_CANCEL_WAIT_SECONDS, "Azure subscriptions", Stopped)

    def _wait(
        self,
        pending: Callable[[], str | None],
        limit: float,
        what: str,
        stopped: Callable[[str], Exception],
    ) -> None:
        """Ask `pending` (what is still under way, in words; None once done) with pauses
        that double up to AZURE_POLL_CAP_SECONDS, for at most `limit` seconds however long
        each ask takes (its own retries, a Retry-After) or however short a pause is. A stop
        ends the wait with `stopped`."""
        waited, pause, started = 0.0, 1.0, time.monotonic()
        while (still := pending()) is not None:
            if self.stop.is_set():
                raise stopped(f"{INTERRUPTED} while waiting for {what}")
            if max(waited, time.monotonic() - started) >= limit:
                raise WorldMoved(f"{still} after {in_words(limit)}: apply again later")
            self._pause(pause)
            if self.stop.is_set():  # seen during the pause: no further look, no step after
                raise stopped(f"{INTERRUPTED} while waiting for {what}")
            waited += pause
            pause = min(pause * 2, AZURE_POLL_CAP_SECONDS)

    def _pause(self, seconds: float) -> None:
        """The client's wait, a second at a time: a stop is seen within one."""
        while seconds > 0 and not self.stop.is_set():
            self.client.wait(min(seconds, 1.0))
            seconds -= 1.0

    def relationship_gone(self, customer_id: str) -> bool:
        return customer_gone(self.client, customer_id)

    def removal_blockers(self, customer_id: str) -> list[str]:
        blockers = []
        for sub in self.client.list_subscriptions(customer_id):
            if blocks_removal(sub):
                status = sub.status_text or sub.status.value
                blockers.append(f"{sub.kind.value} subscription {sub.id} is {status}")
        entitlements = self.client.list_entitlements(customer_id)
        reservations = live_reservations(entitlements, self.now)
        if reservations:
            orders = ", ".join(a for e in reservations for a in e.artifact_ids)
            blockers.append(f"Azure reserved instances are live ({orders})")
        blockers += self._gdap_blockers(customer_id)
        # The planner's fail-closed rule for entitlements, on this fresh read.
        blockers += [
            f"entitlement {e.product_id or '?'} has {', '.join(e.unknowns)}, which pcr does "
            "not know"
            for e in entitlements
            if e.unknowns
        ]
        return blockers

    # -- the customer's own tenant (Microsoft Graph, its token) ---------------------------

    def tenant(self, customer_id: str) -> TenantClient:
        if self.tenants is None:
            raise WorldMoved(self.tenants_unavailable or NO_GRAPH)
        return self.tenants.client(customer_id)

    # -- GDAP relationships (Microsoft Graph) ---------------------------------------------

    def graph_client(self) -> GraphClient:
        if self.graph is None:
            raise WorldMoved(NO_GRAPH)
        return self.graph

    def gdap(self, action: Action) -> GdapRelationship | None:
        """The relationship as Graph has it now; None once it is gone (404)."""
        try:
            return self.graph_client().get_relationship(action.target_id)
        except NotFound:
            return None

    def await_gdap_end(self, action: Action, asked: GdapRequest | None = None) -> None:
        """Poll until Graph shows the relationship terminated (or gone), and the terminate
        request it was asked with not failed; at most GDAP_END_WAIT_SECONDS, however long
        each poll takes (its own retries, a Retry-After) or however short a pause is."""

        def still_ending() -> str | None:
            current = self.gdap(action)
            if current is None or current.status not in GDAP_ENDING | GDAP_TERMINATED_BY_PCR:
                return None
            if asked is not None:
                self._check_request(current, asked)
            return f"{current.label} is still {current.status_text}"

        # The terminate request is sent: a stop cannot take it back.
        what = f"GDAP relationship {action.target_name or action.target_id} to end"
        self._wait(still_ending, GDAP_END_WAIT_SECONDS, what, WorldMoved)

    def _check_request(self, current: GdapRelationship, asked: GdapRequest) -> None:
        """A terminate request Graph reports failed (or in a state pcr does not know) is no
        termination to wait for (`failed` is an internal error: docs/partner-center.md, "GDAP")."""
        request = self.graph_client().get_request(current.id, asked.id)
        if request.status in (GdapRequestStatus.FAILED, GdapRequestStatus.UNKNOWN):
            raise WorldMoved(
                f"Microsoft Graph reports the terminate request {request.id} of {current.label} "
                f"as {request.status_text!r}; {current.label} is {current.status_text}: "
                "apply again to ask once more"
            )

    def _gdap_blockers(self, customer_id: str) -> list[str]:
        """The removal's GDAP re-check: none of the partner's roles may outlive it."""
        if customer_id not in self.gdap_customers:
            return []
        if self.graph is None:
            return [f"its GDAP relationships cannot be read: {NO_GRAPH}"]
        return [
            f"{r.label} is {r.status_text}"
            + (f" ({', '.join(r.unknowns)}, which pcr does not know)" if r.unknowns else "")
            for r in self.graph.list_relationships(customer_id)
            if r.status in GDAP_HOLDS_REMOVAL or r.unknowns
        ]


def _facts(sub: Subscription, renewal: bool) -> str:
    if renewal:
        return f"auto-renew {'on' if sub.auto_renew else 'off'}"
    return sub.status_text or sub.status.value
