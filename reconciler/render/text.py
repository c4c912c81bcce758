"""Plans and drift for a terminal, Terraform-like: one block per customer, one line per item.

Both share the markers, the colours and the wrapping, so that `pcr plan` and
`pcr drift` look alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.drift.model import DriftKind
from reconciler.drift.model import DriftNote
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.live.models import moment
from reconciler.plan.actions import kind_of
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import Deferred
from reconciler.plan.model import Plan
from reconciler.render.common import EXPIRY_REASON
from reconciler.render.common import INDENT
from reconciler.render.common import IRREVERSIBLE_LEAD
from reconciler.render.common import NO_CHANGES
from reconciler.render.common import NO_DRIFT
from reconciler.render.common import NOT_APPLIED
from reconciler.render.common import NOTHING_TO_APPLY
from reconciler.render.common import UNMANAGED_SHOWN
from reconciler.render.common import WIDTH
from reconciler.render.common import CustomerItems
from reconciler.render.common import billing_words
from reconciler.render.common import by_customer
from reconciler.render.common import counts_by_type
from reconciler.render.common import deadline_words
from reconciler.render.common import deferred_count
from reconciler.render.common import deferred_when
from reconciler.render.common import irreversible_headline
from reconciler.render.common import records_by_customer
from reconciler.render.common import scope_line
from reconciler.render.common import value
from reconciler.render.common import wrap
from reconciler.wording import named
from reconciler.wording import plural

KIND_WIDTH = max(len(kind.value) for kind in DriftKind)

# The drift marker per kind: "-" missing, "?" not declared, "!" the relationship or what
# outlives it (GDAP, the partner's things in the customer's tenant), "~" a value.
DRIFT_SYMBOLS = {
    DriftKind.MISSING_CUSTOMER: "-",
    DriftKind.UNMANAGED_CUSTOMER: "?",
    DriftKind.RELATIONSHIP: "!",
    DriftKind.SUBSCRIPTION_MISSING: "-",
    DriftKind.GDAP_RELATIONSHIP: "!",
    DriftKind.TENANT_GUEST_USER: "!",
    DriftKind.TENANT_CONTACT: "!",
    DriftKind.TENANT_PARTNER_APP: "!",
}

RED, YELLOW, GREEN, BOLD = "\033[31m", "\033[33m", "\033[32m", "\033[1m"
RESET = "\033[0m"


@dataclass(frozen=True)
class Paint:
    """Wraps text in ANSI styles, or leaves it alone when colour is off."""

    color: bool

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        return "".join(styles) + text + RESET


def render(plan: Plan, *, color: bool) -> str:
    """The plan for a terminal; `color` adds ANSI styles."""
    paint = Paint(color)
    scoped = [paint(line, BOLD)] if (line := scope_line(plan)) else []
    blocks = [_errors(plan, paint), scoped, _warnings(plan.warnings, paint), _unmanaged(plan)]
    if not plan.is_empty:
        width = _verb_width(plan)
        blocks += [
            _customer(plan, cid, items, width, paint) for cid, items in by_customer(plan).items()
        ]
        blocks.append(_summary(plan, paint))
    else:
        blocks.append([paint(NO_CHANGES, GREEN)])
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"


# --- before the customers: what stops the plan, what to know --------------------------


def _errors(plan: Plan, paint: Paint) -> list[str]:
    messages = plan.errors
    if not messages:
        return []
    lines = []
    for message in messages:
        first, *rest = message.splitlines() or [""]
        lines.append(paint("Error:", RED, BOLD) + " " + paint(first, RED))
        lines += [paint(" " * 7 + line, RED) for line in rest]
    lines.append(paint(NOT_APPLIED, RED, BOLD))
    return lines


def _warnings(warnings: list[str], paint: Paint) -> list[str]:
    """A plan's or a drift report's warnings, each wrapped under its dash."""
    if not warnings:
        return []
    lines = [paint("Warnings:", YELLOW, BOLD)]
    for warning in warnings:
        first, *rest = wrap(warning, "    ")
        lines.append(paint("  - " + first.lstrip(), YELLOW))
        lines += [paint(line, YELLOW) for line in rest]
    return lines


def _unmanaged(plan: Plan) -> list[str]:
    if not plan.unmanaged:
        return []
    shown = ", ".join(named(plan.name_of(cid), cid) for cid in plan.unmanaged[:UNMANAGED_SHOWN])
    more = len(plan.unmanaged) - UNMANAGED_SHOWN
    tail = f" and {more} more" if more > 0 else ""
    return [
        f"Unmanaged: {plural(len(plan.unmanaged), 'customer')} in Partner Center "
        f"not in the desired state (left alone): {shown}{tail}."
    ]


# --- one block per customer ----------------------------------------------------------


def _customer(
    plan: Plan, customer_id: str, items: CustomerItems, width: int, paint: Paint
) -> list[str]:
    ref = plan.customers.get(customer_id)
    where = f"tenant {customer_id}" + (f", {ref.file}" if ref and ref.file else "")
    lines = [paint(f"{plan.name_of(customer_id)} ({where})", BOLD)]
    for action in items.actions:
        lines += _action(action, width, paint)
    for deferred in items.deferred:
        lines += _deferred(deferred, plan.now, paint)
    for blocked in items.blocked:
        lines += _blocked(blocked, paint)
    return lines


def _target(name: str, target_id: str) -> str:
    if name and target_id and name != target_id:
        return f"{name} ({target_id})"
    return name or target_id


def _verb_width(plan: Plan) -> int:
    # The plan's own longest verb: one rare long verb ("cancel Azure subscription")
    # widens only the plans that hold it, and every block of a plan still lines up.
    return max((len(kind_of(a.type).verb) for a in plan.actions), default=0)


def _action(action: Action, width: int, paint: Paint) -> list[str]:
    """The action's line and reason, what it does to the bill, and what it cannot undo."""
    lines = _head_and_reason(action, width, paint)
    if (by := deadline_words(action)) is not None:
        lines += [paint(line, YELLOW) for line in wrap(by)]
    lines += wrap(billing_words(action.billing, action.type))
    if action.irreversible:
        lines.append(paint(INDENT + IRREVERSIBLE_LEAD, RED))
        lines += [paint(f"{INDENT}  - {c}", RED) for c in action.consequences]
    return lines


def _head_and_reason(action: Action, width: int, paint: Paint) -> list[str]:
    kind = kind_of(action.type)
    style = RED if action.destructive or action.irreversible else GREEN
    marker = f"  {kind.symbol:<2} {kind.verb:<{width}}"
    plain = f"{marker}  {_target(action.target_name, action.target_id)}".rstrip()
    head = paint(marker, style) + plain[len(marker) :]
    if action.irreversible:
        return [head + "  " + paint("IRREVERSIBLE", RED, BOLD), *wrap(action.reason)]
    # Measured without escape codes, so colour never changes where the reason goes.
    if len(plain) + 2 + len(action.reason) <= WIDTH and "\n" not in action.reason:
        return [f"{head}: {action.reason}"]
    return [head, *wrap(action.reason)]


def _deferred(item: Deferred, now: datetime, paint: Paint) -> list[str]:
    what = f"{kind_of(item.type).verb} {item.target_id}".rstrip()
    head = paint(f"  {'>':<2} {deferred_when(item, now)}:", YELLOW)
    return [f"{head} {what}", *wrap(item.reason)]


def _blocked(item: Blocked, paint: Paint) -> list[str]:
    head = f"  {'x':<2} blocked: "
    first, *rest = wrap(item.reason, INDENT, first=head)
    lines = [paint(head.rstrip(), YELLOW, BOLD) + " " + first[len(head) :], *rest]
    for number, step in enumerate(item.manual_steps, start=1):
        lines += _numbered(number, step)
    return lines


def _numbered(number: int, step: str) -> list[str]:
    label = f"{INDENT}{number}. "
    first, *rest = wrap(step, " " * len(label))
    return [label + first.lstrip(), *rest]


# --- the last word ------------------------------------------------------------------


def _summary(plan: Plan, paint: Paint) -> list[str]:
    head = f"Plan: {len(plan.actions)} to change"
    counts = counts_by_type(plan.actions)
    if counts:
        head += " (" + ", ".join(f"{n} {kind.short}" for kind, n in counts) + ")"
    parts = [head]
    if plan.deferred:
        parts.append(deferred_count(plan))
    if plan.blocked:
        parts.append(f"{len(plan.blocked)} blocked")
    line = ", ".join(parts)
    if headline := irreversible_headline(plan):
        line += f"; {headline}"
    if plan.api_calls:
        line += f"; {plural(plan.api_calls, 'API call')}"
    lines = [paint(line + ".", BOLD)]
    if not plan.has_changes:
        lines.insert(0, NOTHING_TO_APPLY)
    if plan.expires_at is not None:
        expiry = f"This plan expires at {moment(plan.expires_at)} ({EXPIRY_REASON})."
        lines.append(paint(expiry, YELLOW))
    return lines


# --- drift -----------------------------------------------------------------------------


def render_drift(report: DriftReport, *, color: bool) -> str:
    """The drift report for a terminal; `color` adds ANSI styles. Warnings (what could not
    be compared) come first, notes (not drift) after the differences, the summary last."""
    paint = Paint(color)
    blocks = [_warnings(report.warnings, paint)]
    blocks += [
        _drift_customer(report, cid, records, paint)
        for cid, records in records_by_customer(report.records).items()
    ]
    blocks.append(_drift_notes(report, paint))
    summary = paint(drift_summary(report), BOLD if report.has_drift else GREEN)
    blocks.append([summary])
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"


def _drift_notes(report: DriftReport, paint: Paint) -> list[str]:
    """Not drift: what is about to happen, grouped by customer."""
    if not report.notes:
        return []
    lines = [paint("Notes (not drift):", BOLD)]
    for note in report.notes:
        lines += _drift_note(report, note)
    return lines


def _drift_note(report: DriftReport, note: DriftNote) -> list[str]:
    name = f"{note.target_name} ({note.target_id})" if note.target_name else note.target_id
    head = f"  *  {report.name_of(note.customer_id)} (tenant {note.customer_id}): {name}"
    return [head, *wrap(note.message)]


def drift_summary(report: DriftReport) -> str:
    if not report.has_drift:
        return f"{NO_DRIFT} {plural(report.checked, 'customer')} checked."
    declared = len(report.records) - report.unmanaged
    where = (
        f"{plural(declared, 'difference')} in {report.drifted} of "
        f"{plural(report.checked, 'declared customer')}"
    )
    if not report.has_changes:
        parts = [f"No drift to act on: {where}, all waiting for a deferred date"]
    elif report.waiting:
        parts = [f"Drift: {where} ({report.waiting} waiting)"]
    else:
        parts = [f"Drift: {where}"]
    if report.unmanaged:
        parts.append(f"{plural(report.unmanaged, 'unmanaged customer')}")
    line = "; ".join(parts)
    if report.api_calls:
        line += f"; {plural(report.api_calls, 'API call')}"
    return line + "."


def _drift_customer(
    report: DriftReport, customer_id: str, records: list[DriftRecord], paint: Paint
) -> list[str]:
    ref = report.customers.get(customer_id)
    where = f"tenant {customer_id}, " + (ref.file if ref and ref.file else "not declared")
    lines = [paint(f"{report.name_of(customer_id)} ({where})", BOLD)]
    for record in records:
        lines += _drift_record(record, paint)
    return lines


def _drift_record(record: DriftRecord, paint: Paint) -> list[str]:
    symbol = ">" if record.waiting else DRIFT_SYMBOLS.get(record.kind, "~")
    style = RED if symbol in ("-", "!") else YELLOW
    head = paint(f"  {symbol:<2} {record.kind.value:<{KIND_WIDTH}}", style)
    if record.target_id != record.customer_id:
        name = record.target_name
        head += f"  {name} ({record.target_id})" if name else f"  {record.target_id}"
    values = f"desired {value(record.desired)}, live {value(record.live)}"
    if record.waiting:
        values += " (waiting)"
    lines = [head.rstrip(), *wrap(f"{values}: {record.message}")]
    for sub in record.detail.get("subscriptions", ()):
        renew = "auto-renew on" if sub["auto_renew"] else "auto-renew off"
        lines.append(
            f"{INDENT}- {sub['offer']} ({sub['kind']}) {sub['id']}: {sub['status']}, {renew}"
        )
    return lines
