"""The plan: ordered actions, deferred items and blocked items, and its JSON contract.

A `Plan` is what the planner produces and what apply consumes; `to_dict` and
`from_dict` are the only code that knows the plan-JSON layout (docs/design.md,
"Plan JSON").
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from reconciler.errors import PcrError
from reconciler.live.models import Live
from reconciler.live.models import parse_time
from reconciler.plan.actions import DESTRUCTIVE
from reconciler.plan.actions import KINDS
from reconciler.plan.actions import kind_of
from reconciler.plan.actions.base import ActionType
from reconciler.plan.actions.base import Billing
from reconciler.plan.actions.base import Refund
from reconciler.printable import JSON_ESCAPES
from reconciler.timestamps import format_time

FORMAT_VERSION = 1


# The steps that end GDAP: after every subscription step, before the removal.
GDAP_STEPS = frozenset({ActionType.TERMINATE_GDAP, ActionType.DELETE_GDAP})
# The steps inside the customer's tenant: after the subscription steps, before GDAP ends.
TENANT_STEPS = frozenset(
    {ActionType.REMOVE_GUEST_USER, ActionType.REMOVE_TENANT_CONTACT, ActionType.REMOVE_PARTNER_APP}
)


@dataclass(frozen=True)
class Action:
    customer_id: str
    type: ActionType
    target_id: str
    reason: str
    target_name: str = ""
    depends_on: tuple[str, ...] = ()
    irreversible: bool = False
    billing: Billing | None = None
    # The subscription the target sits under: an Azure subscription's Azure plan.
    parent_id: str = ""
    # When the step stops being possible (a cancellation window closing), or None.
    deadline: datetime | None = None

    def __post_init__(self) -> None:
        # A step of an irreversible kind is irreversible, whatever a (hand-edited) plan file
        # says; one the file marks irreversible stays so.
        if kind_of(self.type).irreversible and not self.irreversible:
            object.__setattr__(self, "irreversible", True)

    @property
    def id(self) -> str:
        return f"{self.customer_id}/{self.type}/{self.target_id}"

    @property
    def destructive(self) -> bool:
        return self.type in DESTRUCTIVE

    @property
    def consequences(self) -> tuple[str, ...]:
        return kind_of(self.type).consequences if self.irreversible else ()


@dataclass(frozen=True)
class Deferred:
    customer_id: str
    type: ActionType
    not_before: datetime
    reason: str
    target_id: str = ""

    def due(self, now: datetime) -> bool:
        """Its date has come: it is waiting for Partner Center now, not for the calendar."""
        return self.not_before <= now


class BlockedKind(StrEnum):
    """Why a person must act (`blocked[].kind` in the plan JSON)."""

    UNKNOWN_STATE = "unknown_state"  # something pcr does not know: it does nothing destructive
    RESERVED_INSTANCE = "reserved_instance"
    SAVINGS_PLAN = "savings_plan"  # final: it cannot be cancelled, only run out
    PENDING = "pending"
    MISSING_CUSTOMER = "missing_customer"
    GDAP = "gdap"  # a GDAP relationship pcr may not end (waiting for the customer), or cannot read
    TENANT = "tenant"  # the customer's tenant cannot be read for the clean-up its offboarding asks
    # Partner Center's answers for the customer could not be read (a 404 or 403 that a fresh
    # read did not confirm): nothing is known, nothing planned, and the run fails.
    READ_FAILED = "read_failed"
    OTHER = "other"


@dataclass(frozen=True)
class Blocked:
    customer_id: str
    reason: str
    manual_steps: tuple[str, ...] = ()
    kind: BlockedKind = BlockedKind.OTHER
    # The ids of what it is about (subscriptions, GDAP relationships, the customer): how
    # drift ties its records to it. Not in the plan's JSON: drift reads the plan it makes.
    about: frozenset[str] = frozenset()


class RefusalKind(StrEnum):
    """Which guardrail refused part of a plan."""

    PROTECTED = "protected"  # the customer is declared protected: true
    DOMAIN_MISMATCH = "domain_mismatch"  # two-key identity: the tenant id may be someone else's
    INDIRECT_RESELLER = "indirect_reseller"  # only the provider may remove the relationship
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"  # an override names no subscription of its own
    REMOVAL_LIMIT = "removal_limit"  # more removals than policy.max_removals_per_run
    # Read back from a plan file, which keeps a refusal's words only (its `errors`).
    SAVED = "saved"


@dataclass(frozen=True)
class Refusal:
    """A guardrail's refusal: a plan with one is shown, but never applied (exit 1).

    The facts are data (which rule, whose customer, which action types it kept out of the
    plan); `message` says them for people, once, for every output format alike.
    """

    kind: RefusalKind
    message: str
    customer_id: str = ""  # empty: the whole plan
    refused: tuple[str, ...] = ()


def too_many_removals(removals: int, limit: int | None) -> bool:
    """More removals than policy.max_removals_per_run allows: a mistake in bulk must not
    offboard half the estate in one run."""
    return limit is not None and removals > limit


@dataclass(frozen=True)
class CustomerRef:
    """Who a customer is, for people reading the plan."""

    name: str
    file: str


@dataclass(kw_only=True)
class Items:
    """What a plan holds, a whole plan's or one customer's: the actions to take, what waits
    for a date or for a person, what to know, and what a guardrail refused."""

    actions: list[Action] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """The refusals in words (`errors` in the plan JSON)."""
        return [r.message for r in self.refusals]

    def add(self, other: Items) -> None:
        self.actions += other.actions
        self.deferred += other.deferred
        self.blocked += other.blocked
        self.warnings += other.warnings
        self.refusals += other.refusals


@dataclass
class Plan(Items):
    now: datetime
    customers: dict[str, CustomerRef] = field(default_factory=dict)
    unmanaged: list[str] = field(default_factory=list)
    live_fingerprint: str = ""
    expires_at: datetime | None = None
    max_removals: int | None = None
    api_calls: int = 0
    # What the plan was made from, so that `pcr apply PLAN.json` needs nothing else:
    # the desired-state folder as given to `pcr plan`, and the customers a scoped plan
    # covered (None: every customer).
    desired_dir: str = ""
    scope: list[str] | None = None

    @property
    def removals(self) -> int:
        return sum(a.type is ActionType.REMOVE_RELATIONSHIP for a in self.actions)

    @property
    def irreversible(self) -> dict[ActionType, int]:
        """The irreversible steps, counted by type in the registry's order."""
        counts = Counter(a.type for a in self.actions if a.irreversible)
        return {k.type: counts[k.type] for k in KINDS if counts[k.type]}

    @property
    def exceeds_removal_limit(self) -> bool:
        return too_many_removals(self.removals, self.max_removals)

    @property
    def has_changes(self) -> bool:
        """Something for apply to do now: at least one action (`--detailed-exitcode` 2).

        Deferred items (waiting for a date) and blocked items (waiting for a person) are
        shown, but they are not changes: apply does not carry them out.
        """
        return bool(self.actions)

    @property
    def unread(self) -> list[str]:
        """The customers whose live state could not be read: the run that made this plan
        fails, whatever it did for the others."""
        return [b.customer_id for b in self.blocked if b.kind is BlockedKind.READ_FAILED]

    @property
    def is_empty(self) -> bool:
        """Nothing to show: no actions, and nothing deferred or blocked either."""
        return not (self.actions or self.deferred or self.blocked)

    @property
    def due(self) -> list[Deferred]:
        """The deferred items whose date has passed: they wait for Partner Center now."""
        return [d for d in self.deferred if d.due(self.now)]

    def customer_ids(self) -> list[str]:
        """Every customer the plan has something for, in plan order."""
        ids = [i.customer_id for i in self.actions]
        ids += [i.customer_id for i in self.deferred] + [i.customer_id for i in self.blocked]
        return list(dict.fromkeys(ids))

    def name_of(self, customer_id: str) -> str:
        ref = self.customers.get(customer_id)
        return ref.name if ref and ref.name else customer_id


# --- the live facts a plan relies on ----------------------------------------------------


def live_fingerprint(live: Live, customer_ids: Iterable[str]) -> str:
    """A hash of exactly the live facts a plan depends on, for the given customers.

    Undeclared customers are left out on purpose: a new customer signing up
    must not make a reviewed plan stale.
    """
    facts: list[Any] = []
    for customer_id in sorted(set(customer_ids)):
        customer = live.customers.get(customer_id)
        entry: dict[str, Any] = {"id": customer_id, "present": customer is not None}
        if customer is not None:
            entry |= {"relationship": customer.relationship, "domain": customer.domain.lower()}
        if (detail := live.details.get(customer_id)) is not None:
            entry["subscriptions"] = sorted(
                [
                    s.id,
                    s.kind,
                    s.status_text or s.status,
                    s.auto_renew,
                    s.commitment_end and format_time(s.commitment_end),
                    s.cancellation_allowed_until and format_time(s.cancellation_allowed_until),
                    s.is_trial,
                    s.parent_id,
                    list(s.unknowns),
                ]
                for s in detail.subscriptions
            )
            entry["entitlements"] = sorted(
                [e.type_text or e.type, e.order_id or "", *e.artifact_ids]
                for e in detail.entitlements
            )
            entry["azure_entitlements"] = sorted(
                [e.plan_id, e.id, e.status_text] for e in detail.azure_entitlements
            )
        if (relationships := live.gdap.get(customer_id)) is not None:
            entry["gdap"] = sorted([r.id, r.status_text, list(r.unknowns)] for r in relationships)
        if (footprint := live.tenants.get(customer_id)) is not None:
            entry["tenant"] = [
                sorted([u.id, u.label] for u in footprint.guests),
                sorted([str(w), a] for w, a in footprint.contacts),
                sorted([a.id, a.app_id, a.owner] for a in footprint.apps),
                # Why it could not be read names a request id, new each run: not a fact.
                footprint.unreadable and "unreadable",
            ]
        facts.append(entry)
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest}"


# --- JSON contract ----------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value else None


def to_dict(plan: Plan) -> dict[str, Any]:
    """The plan-JSON contract (docs/design.md, "Plan JSON"), key order stable."""
    return {
        "format_version": FORMAT_VERSION,
        "now": format_time(plan.now),
        "live_fingerprint": plan.live_fingerprint,
        "expires_at": _time(plan.expires_at),
        "actions": [
            {
                "id": a.id,
                "customer_id": a.customer_id,
                "type": str(a.type),
                "target_id": a.target_id,
                "target_name": a.target_name,
                "depends_on": list(a.depends_on),
                "reason": a.reason,
                "irreversible": a.irreversible,
                **({"consequences": list(a.consequences)} if a.consequences else {}),
                "billing": _billing_dict(a.billing),
                **({"parent_id": a.parent_id} if a.parent_id else {}),
                **({"deadline": format_time(a.deadline)} if a.deadline else {}),
            }
            for a in plan.actions
        ],
        "deferred": [
            {
                "customer_id": d.customer_id,
                "type": str(d.type),
                "target_id": d.target_id,
                "not_before": format_time(d.not_before),
                "reason": d.reason,
                "due": d.due(plan.now),
            }
            for d in plan.deferred
        ],
        "blocked": [
            {
                "customer_id": b.customer_id,
                "reason": b.reason,
                "manual_steps": list(b.manual_steps),
                "kind": str(b.kind),
            }
            for b in plan.blocked
        ],
        "warnings": list(plan.warnings),
        "errors": list(plan.errors),
        "customers": {
            cid: {"name": ref.name, "file": ref.file} for cid, ref in plan.customers.items()
        },
        "unmanaged": list(plan.unmanaged),
        "policy": {
            "max_removals_per_run": plan.max_removals,
            "removals": plan.removals,
            "exceeded": plan.exceeds_removal_limit,
        },
        "summary": {
            "customers": len(plan.customer_ids()),
            "actions": len(plan.actions),
            "deferred": len(plan.deferred),
            "blocked": len(plan.blocked),
            "irreversible": sum(plan.irreversible.values()),
            "api_calls": plan.api_calls,
        },
        "desired_dir": plan.desired_dir or None,
        "scope": None if plan.scope is None else list(plan.scope),
    }


def _billing_dict(billing: Billing | None) -> dict[str, Any] | None:
    if billing is None:
        return None
    return {
        "stops_billing": billing.stops_billing,
        "billed_until": billing.billed_until.isoformat() if billing.billed_until else None,
        "refund": str(billing.refund),
    }


def _billing(data: object) -> Billing | None:
    if not isinstance(data, Mapping):
        return None
    until = data.get("billed_until")
    return Billing(
        stops_billing=bool(data.get("stops_billing")),
        billed_until=date.fromisoformat(until) if until else None,
        refund=Refund(str(data.get("refund") or "none")),
    )


class PlanFormatError(PcrError, ValueError):
    """A saved plan file that this pcr cannot read."""


def from_dict(data: Mapping[str, Any]) -> Plan:
    """Read a saved plan; raises PlanFormatError with what is wrong."""
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanFormatError(
            f"plan format_version {data.get('format_version')!r} is not {FORMAT_VERSION}: "
            "plan again with this pcr"
        )
    try:
        now = parse_time(data["now"])
        if now is None:
            raise PlanFormatError("plan has no 'now'")
        policy = data.get("policy") or {}
        return Plan(
            now=now,
            actions=[_action(a) for a in data["actions"]],
            deferred=[_deferred(d) for d in data["deferred"]],
            blocked=[
                Blocked(
                    b["customer_id"],
                    b["reason"],
                    tuple(b.get("manual_steps", ())),
                    _blocked_kind(b.get("kind")),
                )
                for b in data["blocked"]
            ],
            warnings=list(data.get("warnings", [])),
            refusals=[Refusal(RefusalKind.SAVED, str(e)) for e in data.get("errors", [])],
            customers={
                cid: CustomerRef(ref.get("name", ""), ref.get("file", ""))
                for cid, ref in (data.get("customers") or {}).items()
            },
            unmanaged=list(data.get("unmanaged", [])),
            live_fingerprint=str(data["live_fingerprint"]),
            expires_at=parse_time(data.get("expires_at")),
            max_removals=policy.get("max_removals_per_run"),
            api_calls=int((data.get("summary") or {}).get("api_calls", 0)),
            desired_dir=str(data.get("desired_dir") or ""),
            scope=None if data.get("scope") is None else [str(c) for c in data["scope"]],
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PlanFormatError):
            raise
        raise PlanFormatError(f"plan file is malformed ({type(exc).__name__}: {exc})") from None


def _blocked_kind(value: object) -> BlockedKind:
    # A kind a later pcr added is still a reason to stop: read it as "other".
    try:
        return BlockedKind(str(value))
    except ValueError:
        return BlockedKind.OTHER


def _action(data: Mapping[str, Any]) -> Action:
    action = Action(
        customer_id=data["customer_id"],
        type=ActionType(data["type"]),
        target_id=data["target_id"],
        reason=data["reason"],
        target_name=data.get("target_name", ""),
        depends_on=tuple(data.get("depends_on", ())),
        irreversible=bool(data.get("irreversible", False)),
        billing=_billing(data.get("billing")),
        parent_id=str(data.get("parent_id") or ""),
        deadline=parse_time(data.get("deadline")),
    )
    if action.id != data["id"]:
        raise PlanFormatError(f"action id {data['id']!r} does not match its content")
    return action


def _deferred(data: Mapping[str, Any]) -> Deferred:
    not_before = parse_time(data["not_before"])
    if not_before is None:
        raise PlanFormatError("deferred item without not_before")
    return Deferred(
        data["customer_id"],
        ActionType(data["type"]),
        not_before,
        data["reason"],
        data.get("target_id", ""),
    )


# --- plan files -------------------------------------------------------------------------


def dumps(plan: Plan) -> str:
    """The plan-JSON document: what `pcr plan --format json` prints and the plan file holds."""
    return json.dumps(to_dict(plan), indent=2, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"


def save(plan: Plan, path: Path, text: str | None = None) -> None:
    """Write the plan file atomically: a reader never sees half a plan. `text`: the plan's
    `dumps`, when the caller has it already (a large plan takes a while to encode)."""
    text = dumps(plan) if text is None else text
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    key: str  # a short hash of the file's bytes, which names its journal


def load(path: Path) -> SavedPlan:
    """A saved plan file; raises PlanFormatError saying what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlanFormatError(f"{path}: no such plan file") from None
    except OSError as exc:
        raise PlanFormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise PlanFormatError("not a JSON object")
        plan = from_dict(data)
    except ValueError as exc:  # JSON, UTF-8 and format errors alike
        raise PlanFormatError(f"{path}: not a pcr plan ({exc})") from None
    return SavedPlan(plan, hashlib.sha256(raw).hexdigest()[:16])
