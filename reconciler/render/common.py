"""What every renderer shares, so that plans and drift read the same in each format.

The words (what each action type is called, its terminal symbol, the order the
summary counts them in), the grouping by customer, the terminal line width, the
Markdown escaping and the loop that keeps a size-limited document under its
limit live here once; the renderers import them, and `render/__init__` imports
the renderers.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from reconciler.drift.model import DriftRecord
from reconciler.drift.model import Value
from reconciler.live.models import moment
from reconciler.plan.actions import KINDS
from reconciler.plan.actions import ActionKind
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Billing
from reconciler.plan.actions import Refund
from reconciler.plan.actions import kind_of
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import Deferred
from reconciler.plan.model import Plan
from reconciler.wording import plural

NO_CHANGES = "No changes. Partner Center matches the desired state."
NO_DRIFT = "No drift. Partner Center matches the desired state."
# A plan of only deferred and blocked items: shown, but apply has nothing to do (exit 0).
NOTHING_TO_APPLY = (
    "Nothing to apply now: deferred items wait for a date or Partner Center, blocked ones for a "
    "person."
)
# A drift report whose every difference a deferred item explains (exit 0).
ONLY_WAITING = "No drift to act on: every difference is waiting for a deferred date."
NOT_APPLIED = "This plan will not be applied: apply refuses it until these errors are fixed."
# Followed by the action's own consequences, whichever irreversible type it is.
IRREVERSIBLE_LEAD = "Cannot be undone from the partner's side:"
EXPIRY_REASON = "an NCE cancellation window closes"
UNMANAGED_SHOWN = 3

WIDTH = 100
INDENT = " " * 7  # reasons and steps line up under the action's text


@dataclass
class CustomerItems:
    """Everything a plan has for one customer, each list in plan order."""

    actions: list[Action] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)


def by_customer(plan: Plan) -> dict[str, CustomerItems]:
    """The plan's items grouped by customer, customers in `plan.customer_ids()` order."""
    groups = {cid: CustomerItems() for cid in plan.customer_ids()}
    for action in plan.actions:
        groups[action.customer_id].actions.append(action)
    for item in plan.deferred:
        groups[item.customer_id].deferred.append(item)
    for blocked in plan.blocked:
        groups[blocked.customer_id].blocked.append(blocked)
    return groups


def deferred_when(item: Deferred, now: datetime) -> str:
    """When a deferred item happens: "deferred until D", or "due since D" once D has passed."""
    return f"{'due since' if item.due(now) else 'deferred until'} {moment(item.not_before)}"


def deferred_count(plan: Plan, noun: str = " deferred") -> str:
    """How many deferred items, and how many of them are due: `2 deferred (1 due)`.

    `noun` is "" for a table cell that names them already.
    """
    due = len(plan.due)
    return f"{len(plan.deferred)}{noun}" + (f" ({due} due)" if due else "")


def records_by_customer(records: Iterable[DriftRecord]) -> dict[str, list[DriftRecord]]:
    """Drift records grouped by customer, customers in report order."""
    groups: dict[str, list[DriftRecord]] = {}
    for record in records:
        groups.setdefault(record.customer_id, []).append(record)
    return groups


def counts_by_type(actions: Iterable[Action]) -> list[tuple[ActionKind, int]]:
    """Non-zero counts per action type, in the registry's order: what takes something
    away first."""
    counts = Counter(a.type for a in actions)
    return [(k, counts[k.type]) for k in KINDS if counts[k.type]]


REFUNDS = {
    Refund.FULL: "full refund",
    Refund.PRORATED: "prorated refund",
    Refund.NONE: "no refund",
}


def billing_words(billing: Billing | None, step: ActionType | None = None) -> str:
    """What a step does to the partner's bill, in the words every format shows."""
    if billing is None:
        # A plan file from before billing was recorded: say so rather than guess.
        return "billing not stated in this plan"
    if billing.stops_billing:
        return f"billing stops now; {REFUNDS[billing.refund]}"
    if billing.billed_until is not None:
        # Inclusive, like Partner Center's commitmentEndDate: the partner pays for that day.
        return (
            f"still billed: the partner pays through {billing.billed_until.isoformat()}, "
            "the last day of its term"
        )
    return kind_of(step).goes_on if step else "billing unchanged"


def deadline_words(action: Action) -> str | None:
    """When the step stops being possible, for the row that shows it ("cancel by …")."""
    if action.deadline is None:
        return None
    return f"{kind_of(action.type).verb} by {moment(action.deadline)}: then the window closes"


def irreversible_headline(plan: Plan) -> str | None:
    """The irreversible steps counted by kind ("3 irreversible: 2 removals, 1 cancellation").

    None when there are none. The summary, the overview and the apply prompt all
    show it, so that whoever approves a plan sees what cannot be taken back.
    """
    counts = plan.irreversible
    if not counts:
        return None
    kinds = ", ".join(plural(n, _step_noun(t)) for t, n in counts.items())
    return f"{sum(counts.values())} irreversible: {kinds}"


def _step_noun(action_type: ActionType) -> str:
    kind = kind_of(action_type)
    # A hand-edited plan can mark any step irreversible; only those types lack a noun.
    return kind.noun or f"{kind.short} step"


def scope_line(plan: Plan) -> str | None:
    """What a scoped plan covers, said first: nobody else was read, so nobody else is in it."""
    if plan.scope is None:
        return None
    names = [plan.name_of(cid) for cid in plan.scope]
    shown = ", ".join(names[:UNMANAGED_SHOWN]) + (", …" if len(names) > UNMANAGED_SHOWN else "")
    covered = f"{plural(len(names), 'customer')}: {shown}" if names else "no customer"
    return (
        f"Scoped plan: {covered}. Partner Center was read for these only; every other "
        "customer is left out of this plan."
    )


def value(item: Value) -> str:
    """A desired or live value for people: booleans as in YAML, absence as a dash."""
    if item is None:
        return "-"
    if isinstance(item, bool):
        return "true" if item else "false"
    return item


def wrap(text: str, indent: str = INDENT, first: str | None = None) -> list[str]:
    """`text` wrapped to WIDTH under `indent`; at least one line, even when empty. The
    first line starts with `first` instead when given: the plain text of a head that the
    caller paints and puts back, so that the head counts in the width."""
    # Ids must stay whole to be copied, so no breaking inside words or at hyphens.
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [(indent if first is None else first).rstrip()]


# --- Markdown: escaping, and staying under a size limit ---------------------------------

# Backslash-escape what Markdown reads as syntax anywhere in a line (`[` and `]`
# cover links and images); `<`, `>`, `&` become entities so that no HTML gets in.
_MD_ESCAPES = str.maketrans(
    {char: "\\" + char for char in "\\`*_[]|~$"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)
# What Markdown reads as syntax only at the start of a line: a list marker or a heading.
_LINE_START = re.compile(r"^(?:[-+#=]|\d+[.)])")

# A piece of a document, and the kind of item it is when it may be left out for
# space ("error", "warning", "customer"); None for what must always be there.
Chunk = tuple[str | None, str]


def md(text: str) -> str:
    """User text, safe inside a Markdown line or table cell."""
    # One line: a newline would end a table row or a list item early.
    escaped = " ".join(text.split()).translate(_MD_ESCAPES)
    # User text can follow a list marker ("- "), where it could open a nested block.
    return _LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped)


def prose(text: str) -> str:
    """One of pcr's own messages, safe in Markdown, its `code spans` shown as code (the
    values it quotes are escaped like any user text)."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # a backtick without its pair: all of it is plain text
        return md(text)
    shown = []
    for index, part in enumerate(parts):
        if index % 2:
            shown.append(code(part))
        elif part.strip():
            lead = " " if part[0].isspace() else ""
            trail = " " if part[-1].isspace() else ""
            shown.append(lead + md(part) + trail)
        else:
            shown.append(" " if part else "")
    return "".join(shown)


def raw_html(text: str) -> str:
    """User text, safe inside raw HTML (GitHub does not read Markdown in <summary>)."""
    return html.escape(" ".join(text.split()), quote=False)


def code(text: str) -> str:
    # <code> rather than backticks: a backtick in the text cannot close it early.
    return f"<code>{md(text)}</code>"


def keep_what_fits(chunks: Iterable[Chunk], budget: int) -> tuple[list[str], Counter[str]]:
    """The chunks kept within `budget`, in order, and how many of each kind were left out.

    A chunk of kind None is always kept and not charged (the caller reserves
    room for it). A kind stops at its first item that does not fit, so that
    "the first N customers" is what a reader sees.
    """
    kept: list[str] = []
    left_out: Counter[str] = Counter()
    for kind, text in chunks:
        if kind is not None:
            if left_out[kind] or len(text) > budget:
                left_out[kind] += 1
                continue
            budget -= len(text)
        kept.append(text)
    return kept, left_out


def finish(document: str) -> str:
    """The document ending in exactly one newline."""
    return document.rstrip("\n") + "\n"
