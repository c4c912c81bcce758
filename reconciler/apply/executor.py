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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from reconciler.apply.journal import AuditLog, Journal, Orphan
from reconciler.desired.model import DesiredStatus
from reconciler.interrupts import leave_signals_to_main
from reconciler.live.client import PartnerCenterClient
from reconciler.live.errors import LineNotFound, NotFound, PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.http import CallId, Landed
from reconciler.live.lifecycle import (
    GDAP_DELETED_BY_PCR,
    GDAP_ENDING,
    GDAP_HOLDS_REMOVAL,
    GDAP_TERMINATED_BY_PCR,
    blocks_removal,
    cancel_deadline,
    in_window,
    live_reservations,
    satisfies,
    unknown_state,
)
from reconciler.live.models import (
    AzureEntitlement,
    AzureEntitlementStatus,
    CustomerRelationship,
    GdapRelationship,
    GdapRequest,
    GdapRequestStatus,
    GdapStatus,
    Order,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    moment,
)
from reconciler.live.read import customer_gone
from reconciler.plan.guardrails import domains_differ
from reconciler.plan.model import ACTION_TYPES, Action, ActionType, Plan
from reconciler.plan.model import to_dict as plan_to_dict


class Outcome(StrEnum):
    DONE = "done"  # a mutation was sent and succeeded
    ALREADY = "already"  # live state already matched: nothing sent
    SKIPPED = "skipped"  # not attempted: an earlier step of the customer failed
    FAILED = "failed"
    NOT_STARTED = "not started"  # not attempted: the run was asked to stop first


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


class _AlreadyDone(Exception):
    """Live state already is what the step wants: nothing to send."""


class _ThroughOrder(Exception):
    """A perpetual software purchase: it is cancelled through its order's line."""

    def __init__(self, subscription: Subscription) -> None:
        super().__init__(subscription.id)
        self.subscription = subscription


class WorldMoved(Exception):
    """A precondition that held at planning time no longer holds: stop this customer."""


class _Stopped(Exception):
    """The run was asked to stop while this step waited, before it sent anything."""


OnStep = Callable[[StepResult], None]  # told of every step as it ends

GONE = "the customer is no longer in the partner's list"
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
                    failed = ACTION_TYPES[action.type].verb
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
            outcome, message = STEPS[action.type](self, action, request_id)
        except _Stopped as stopped:
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

    def _mutate(
        self,
        action: Action,
        request_id: str,
        send: Callable[[CallId, Landed], object],
        landed: Landed,
    ) -> None:
        """Send one change: journaled before (in flight) and after, audited once either way.

        `send` makes the call under the `CallId` it is given: the client gives an attempt
        after an answer a new request id, and each one is journaled before it is sent, so
        a killed run's step is checked under the id it last sent. `landed` reads live
        state and says whether the change is in place. The client asks it when an answer
        left the outcome open (a 5xx); it is asked here when the call fails: an attempt
        whose answer was lost may have taken effect, and its retry then refused
        (cancelling a cancelled subscription, removing a removed customer).
        """
        self.journal.start(action, request_id)
        call = CallId(request_id, on_new=lambda new: self.journal.start(action, new))
        try:
            send(call, lambda: self._verified(landed))
        except (_AlreadyDone, _ThroughOrder, WorldMoved, _Stopped):
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
            after=AFTER[action.type],
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
                landed = LANDED[action.type](self, action)
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

    def _subscription(self, action: Action) -> Subscription:
        try:
            return self.client.get_subscription(action.customer_id, action.target_id)
        except NotFound:
            raise self._not_found(action, f"subscription {action.target_id}") from None

    def _not_found(self, action: Action, what: str) -> WorldMoved:
        """A 404 under a customer: the resource is gone, or the whole customer is."""
        try:
            customer_gone = self._relationship_gone(action.customer_id)
        except PartnerCenterError:  # unreadable now: report the 404 that is known
            customer_gone = False
        if customer_gone:
            # Removed meanwhile (someone in the portal): nothing can be done for it now.
            return WorldMoved(f"{GONE} (its reseller relationship was removed): plan again")
        return WorldMoved(f"{what} no longer exists")

    def suspend(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        def check(sub: Subscription) -> None:
            if satisfies(DesiredStatus.SUSPENDED, sub):
                raise _AlreadyDone(f"already {sub.status.value}")
            if sub.kind is SubscriptionKind.AZURE:
                self._await_azure_cancellations(action)

        return self._set(
            action,
            request_id,
            check,
            lambda s: satisfies(DesiredStatus.SUSPENDED, s),
            "suspended",
            status=SubscriptionStatus.SUSPENDED,
        )

    def reactivate(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        def check(sub: Subscription) -> None:
            if satisfies(DesiredStatus.ACTIVE, sub):
                raise _AlreadyDone("already active")
            if sub.status is not SubscriptionStatus.SUSPENDED:
                raise WorldMoved(f"subscription {sub.id} is {sub.status.value}: cannot reactivate")

        return self._set(
            action,
            request_id,
            check,
            lambda s: satisfies(DesiredStatus.ACTIVE, s),
            "reactivated",
            status=SubscriptionStatus.ACTIVE,
        )

    def cancel(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        def ended(s: Subscription) -> bool:
            return satisfies(DesiredStatus.CANCELLED, s)

        def check(sub: Subscription) -> None:
            if ended(sub):
                raise _AlreadyDone(f"already {sub.status.value}")
            if not in_window(sub, self.now):
                deadline = cancel_deadline(sub)
                closed = f"closed {moment(deadline)}" if deadline else "is gone"
                raise WorldMoved(f"the cancellation window of {sub.id} {closed}: plan again")

        def routed(sub: Subscription) -> None:
            check(sub)
            if sub.kind is SubscriptionKind.PERPETUAL_SOFTWARE:
                raise _ThroughOrder(sub)

        # New commerce, software with a term and marketplace SaaS: the subscription PATCH,
        # which cancels this subscription alone; a perpetual purchase only through its
        # order (docs/partner-center.md). The read the PATCH needs anyway tells which.
        try:
            return self._set(
                action, request_id, routed, ended, "cancelled", status=SubscriptionStatus.DELETED
            )
        except _ThroughOrder as through:
            return self._cancel_order_line(action, request_id, through.subscription, ended)

    def _cancel_order_line(
        self,
        action: Action,
        request_id: str,
        sub: Subscription,
        ended: Callable[[Subscription], bool],
    ) -> tuple[Outcome, str]:
        """A perpetual software purchase: its one line of its order, and nothing else. The
        order is read again afterwards: anything else in it that changed is reported."""
        if not sub.order_id:
            raise WorldMoved(f"subscription {sub.id} names no order to cancel it through")
        order_id = sub.order_id
        before: list[Order] = []

        def send(call: CallId, landed: Landed) -> object:
            try:
                return self.client.cancel_order_line(
                    action.customer_id,
                    order_id,
                    action.target_id,
                    request_id=call,
                    landed=landed,
                    precondition=before.append,
                )
            except NotFound:
                raise self._not_found(action, f"order {order_id}") from None
            except LineNotFound as missing:
                raise WorldMoved(str(missing.description)) from None

        self._before[action.id] = _facts(sub, False)
        self._mutate(action, request_id, send, lambda: ended(self._subscription(action)))
        if before and (changed := self._others_changed(action, before[0])):
            raise WorldMoved(
                f"cancelled, but Partner Center changed more of order {order_id} than its "
                f"line for {sub.id}: {changed}; check the order in Partner Center"
            )
        return Outcome.DONE, "cancelled (its order line)"

    def _others_changed(self, action: Action, before: Order) -> str:
        """What of an order's other lines differs from `before`: empty when nothing does."""
        after = self.client.get_order(action.customer_id, before.id)
        wanted = action.target_id.lower()
        was = {line.number: line.quantity for line in before.line_items}
        return ", ".join(
            f"line {line.number} ({line.offer_id}) quantity {was.get(line.number)} -> "
            f"{line.quantity}"
            for line in after.line_items
            if (line.subscription_id or "").lower() != wanted
            and was.get(line.number) != line.quantity
        )

    def auto_renew(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        wanted = action.type is ActionType.ENABLE_AUTO_RENEW
        state = "on" if wanted else "off"

        def check(sub: Subscription) -> None:
            if sub.auto_renew is wanted:
                raise _AlreadyDone(f"auto-renew already {state}")
            if sub.status is not SubscriptionStatus.ACTIVE:
                raise WorldMoved(
                    f"subscription {sub.id} is {sub.status.value}: auto-renew is fixed"
                )

        return self._set(
            action,
            request_id,
            check,
            lambda s: s.auto_renew is wanted,
            f"auto-renew {state}",
            auto_renew=wanted,
        )

    def _set(
        self,
        action: Action,
        request_id: str,
        check: Callable[[Subscription], None],
        landed: Callable[[Subscription], bool],
        done: str,
        *,
        status: SubscriptionStatus | None = None,
        auto_renew: bool | None = None,
    ) -> tuple[Outcome, str]:
        """Change a subscription in one read and one write.

        The read that the full-body PATCH needs anyway is the re-check: `check`
        sees the resource as it is right before the write and stops it by raising.
        """

        def checked(sub: Subscription) -> None:
            # The planner's fail-closed rule, again on the read right before the write.
            if action.destructive and (why := unknown_state(sub)) is not None:
                raise WorldMoved(f"subscription {sub.id} has {why}, which pcr does not know")
            self._before[action.id] = _facts(sub, auto_renew is not None)
            check(sub)

        def send(call: CallId, landed_now: Landed) -> object:
            try:
                return self.client.update_subscription(
                    action.customer_id,
                    action.target_id,
                    status=status,
                    auto_renew=auto_renew,
                    request_id=call,
                    precondition=checked,
                    landed=landed_now,
                )
            except NotFound:
                raise self._not_found(action, f"subscription {action.target_id}") from None

        try:
            self._mutate(action, request_id, send, lambda: landed(self._subscription(action)))
        except _AlreadyDone as already:
            return Outcome.ALREADY, str(already)
        return Outcome.DONE, done

    def cancel_azure_entitlement(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        current = self._azure_entitlement(action)
        if current.status is AzureEntitlementStatus.INACTIVE:
            return Outcome.ALREADY, "already cancelled (inactive)"
        if current.status is not AzureEntitlementStatus.ACTIVE:
            raise WorldMoved(
                f"Azure subscription {current.id} has status {current.status_text!r}, "
                "which pcr does not know"
            )
        self._before[action.id] = current.status_text or current.status.value

        def send(call: CallId, landed_now: Landed) -> None:
            self.client.cancel_azure_entitlement(
                action.customer_id,
                action.parent_id,
                action.target_id,
                request_id=call,
                landed=landed_now,
            )

        def landed() -> bool:
            return self._azure_entitlement(action).status is AzureEntitlementStatus.INACTIVE

        self._mutate(action, request_id, send, landed)
        return Outcome.DONE, "cancelled (Partner Center shows it inactive within minutes)"

    def _azure_entitlement(self, action: Action) -> AzureEntitlement:
        try:
            return self.client.get_azure_entitlement(
                action.customer_id, action.parent_id, action.target_id
            )
        except NotFound:
            raise self._not_found(action, f"Azure subscription {action.target_id}") from None

    def _await_azure_cancellations(self, plan: Action) -> None:
        """Before an Azure plan is suspended, every Azure subscription under it is inactive.

        Those this plan cancelled are waited for (a cancellation takes minutes to
        show); an active one the plan did not cancel (created since) stops the step.
        """
        cancelled_here = {
            dep.rsplit("/", 1)[-1]
            for dep in plan.depends_on
            if f"/{ActionType.CANCEL_AZURE_ENTITLEMENT}/" in dep
        }
        waited, pause = 0.0, 1.0
        while True:
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
            if not active:
                return
            if self.stop.is_set():  # a wait of minutes is no step in flight worth finishing
                raise _Stopped(
                    f"{INTERRUPTED} while waiting for Azure subscriptions to turn inactive"
                )
            if waited >= AZURE_CANCEL_WAIT_SECONDS:
                raise WorldMoved(
                    f"Azure subscriptions under the plan are still active after "
                    f"{waited / 60:.0f} minutes ({', '.join(e.id for e in active)}): "
                    "apply again later"
                )
            self._pause(pause)
            waited += pause
            pause = min(pause * 2, AZURE_POLL_CAP_SECONDS)

    def _pause(self, seconds: float) -> None:
        """The client's wait, a second at a time: a stop is seen within one."""
        while seconds > 0 and not self.stop.is_set():
            self.client.wait(min(seconds, 1.0))
            seconds -= 1.0

    def remove(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        cid = action.customer_id
        try:
            customer = self.client.get_customer(cid)
        except NotFound:
            if not customer_gone(self.client, cid):  # one 404 proves nothing
                raise WorldMoved(
                    "Partner Center answered 404, then had it again: plan again"
                ) from None
            return Outcome.ALREADY, GONE
        if customer.relationship == CustomerRelationship.NONE:
            return Outcome.ALREADY, "relationship already none"
        if customer.relationship != CustomerRelationship.RESELLER:
            shown = customer.relationship_text or "missing"
            raise WorldMoved(f"relationship is {shown!r}, not reseller: refusing to remove")
        expected = self.expected_domains.get(cid)
        if domains_differ(expected, customer.domain):
            raise WorldMoved(
                f"domain is now {customer.domain!r}, not {expected!r}: refusing to remove"
            )
        try:
            blockers = self._removal_blockers(cid)
        except NotFound:
            if not self._relationship_gone(cid):
                raise
            # Removed between the read above and this one (someone in the portal): what
            # this step wants is done, and nothing was sent.
            return Outcome.ALREADY, GONE
        if blockers:
            raise WorldMoved("removal still blocked: " + "; ".join(blockers))
        self._before[action.id] = f"relationship {customer.relationship}"
        self._mutate(
            action,
            request_id,
            lambda call, landed: self.client.remove_relationship(
                cid, request_id=call, landed=landed
            ),
            lambda: self._relationship_gone(cid),
        )
        return Outcome.DONE, "reseller relationship removed"

    def _relationship_gone(self, customer_id: str) -> bool:
        return customer_gone(self.client, customer_id)

    def _removal_blockers(self, customer_id: str) -> list[str]:
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

    # -- GDAP relationships (Microsoft Graph) ---------------------------------------------

    def terminate_gdap(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        graph = self._graph()
        current = self._gdap(action)
        if current is None or current.status in (GdapStatus.TERMINATED, GdapStatus.EXPIRED):
            return Outcome.ALREADY, "already ended" if current else "no longer exists"
        if current.status in GDAP_ENDING:  # asked already (by a run that was stopped?)
            self._await_gdap_end(action)
            return Outcome.ALREADY, "already terminating; now terminated"
        self._check_gdap(current, GDAP_TERMINATED_BY_PCR)
        self._before[action.id] = current.status_text
        asked: list[GdapRequest | None] = []

        def send(call: CallId, landed: Landed) -> None:
            asked.append(
                graph.terminate_relationship(action.target_id, request_id=call, landed=landed)
            )

        self._mutate(action, request_id, send, lambda: LANDED[action.type](self, action))
        # The removal that follows must not run while the partner's roles still hold.
        self._await_gdap_end(action, asked[0] if asked else None)
        return Outcome.DONE, "terminated"

    def delete_gdap(self, action: Action, request_id: str) -> tuple[Outcome, str]:
        graph = self._graph()
        current = self._gdap(action)
        if current is None:
            return Outcome.ALREADY, "already deleted"
        self._check_gdap(current, GDAP_DELETED_BY_PCR)
        self._before[action.id] = current.status_text

        def send(call: CallId, landed: Landed) -> None:
            try:
                graph.delete_relationship(
                    action.target_id, current.etag, request_id=call, landed=landed
                )
            except PartnerCenterError as exc:
                if exc.status == 412:  # changed since the read above: it is no draft to delete
                    why = f"{current.label} changed since it was read: plan again"
                    raise WorldMoved(why) from None
                raise

        self._mutate(action, request_id, send, lambda: LANDED[action.type](self, action))
        return Outcome.DONE, "deleted"

    def _graph(self) -> GraphClient:
        if self.graph is None:
            raise WorldMoved(NO_GRAPH)
        return self.graph

    def _gdap(self, action: Action) -> GdapRelationship | None:
        """The relationship as Graph has it now; None once it is gone (404)."""
        try:
            return self._graph().get_relationship(action.target_id)
        except NotFound:
            return None

    @staticmethod
    def _check_gdap(current: GdapRelationship, wanted: frozenset[GdapStatus]) -> None:
        """The planner's rules, again on the read right before the write."""
        if current.unknowns:
            raise WorldMoved(
                f"{current.label} has {', '.join(current.unknowns)}, which pcr does not know"
            )
        if current.status not in wanted:
            raise WorldMoved(f"{current.label} is {current.status_text} now: plan again")

    def _await_gdap_end(self, action: Action, asked: GdapRequest | None = None) -> None:
        """Poll until Graph shows the relationship terminated (or gone), and the terminate
        request it was asked with not failed; at most GDAP_END_WAIT_SECONDS, however long
        each poll takes (its own retries, a Retry-After) or however short a pause is."""
        waited, pause, started = 0.0, 1.0, time.monotonic()
        while (current := self._gdap(action)) is not None and current.status in (
            GDAP_ENDING | GDAP_TERMINATED_BY_PCR
        ):
            if asked is not None:
                self._check_request(current, asked)
            if self.stop.is_set():
                raise WorldMoved(f"{INTERRUPTED} while waiting for {current.label} to end")
            if max(waited, time.monotonic() - started) >= GDAP_END_WAIT_SECONDS:
                raise WorldMoved(
                    f"{current.label} is still {current.status_text} after "
                    f"{GDAP_END_WAIT_SECONDS / 60:.0f} minutes: apply again later"
                )
            self._pause(pause)
            waited += pause
            pause = min(pause * 2, AZURE_POLL_CAP_SECONDS)

    def _check_request(self, current: GdapRelationship, asked: GdapRequest) -> None:
        """A terminate request Graph reports failed (or in a state pcr does not know) is no
        termination to wait for (reference §12.3: `failed` is an internal error)."""
        request = self._graph().get_request(current.id, asked.id)
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


# What each step leaves its target as, for the audit trail.
AFTER: dict[ActionType, str] = {
    ActionType.SUSPEND: "suspended",
    ActionType.REACTIVATE: "active",
    ActionType.CANCEL: "deleted",
    ActionType.DISABLE_AUTO_RENEW: "auto-renew off",
    ActionType.ENABLE_AUTO_RENEW: "auto-renew on",
    ActionType.CANCEL_AZURE_ENTITLEMENT: "cancelled",
    ActionType.TERMINATE_GDAP: "terminated",
    ActionType.DELETE_GDAP: "deleted",
    ActionType.REMOVE_RELATIONSHIP: "relationship none",
}


def _subscription_is(wanted: DesiredStatus) -> Callable[[Executor, Action], bool]:
    return lambda executor, action: satisfies(wanted, executor._subscription(action))


def _renewal_is(wanted: bool) -> Callable[[Executor, Action], bool]:
    return lambda executor, action: executor._subscription(action).auto_renew is wanted


# Whether each step is in place in Partner Center now: how a step an interrupted run
# sent is verified.
LANDED: dict[ActionType, Callable[[Executor, Action], bool]] = {
    ActionType.SUSPEND: _subscription_is(DesiredStatus.SUSPENDED),
    ActionType.REACTIVATE: _subscription_is(DesiredStatus.ACTIVE),
    ActionType.CANCEL: _subscription_is(DesiredStatus.CANCELLED),
    ActionType.DISABLE_AUTO_RENEW: _renewal_is(False),
    ActionType.ENABLE_AUTO_RENEW: _renewal_is(True),
    ActionType.CANCEL_AZURE_ENTITLEMENT: lambda executor, action: (
        executor._azure_entitlement(action).status is AzureEntitlementStatus.INACTIVE
    ),
    ActionType.TERMINATE_GDAP: lambda executor, action: (
        (now := executor._gdap(action)) is None
        or now.status in GDAP_ENDING | {GdapStatus.TERMINATED}
    ),
    ActionType.DELETE_GDAP: lambda executor, action: executor._gdap(action) is None,
    ActionType.REMOVE_RELATIONSHIP: lambda executor, action: executor._relationship_gone(
        action.customer_id
    ),
}

Step = Callable[[Executor, Action, str], tuple[Outcome, str]]
# Each action type's step, as its one description names it (`plan.ACTION_TYPES`).
STEPS: dict[ActionType, Step] = {
    kind: getattr(Executor, spec.step) for kind, spec in ACTION_TYPES.items()
}
