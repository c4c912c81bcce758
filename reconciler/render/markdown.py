"""The plan as Markdown for a pull-request comment or a CI job summary (GitHub-flavoured).

Everything a customer, a planner message or Partner Center supplies is
escaped, so that a name with `|`, `<` or `*` can neither break a table nor
inject HTML. The document stays under a size limit (GitHub refuses comments
over 65,536 characters) by leaving out whole customer sections, and says so.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from reconciler.partnercenter.models import day, format_time
from reconciler.plan import REMOVAL_CONSEQUENCES, Action, Blocked, Deferred, Plan
from reconciler.render import (
    EXPIRY_REASON,
    IRREVERSIBLE_LEAD,
    NO_CHANGES,
    NOT_APPLIED,
    CustomerItems,
    by_customer,
    counts_by_type,
    plural,
    removal_limit_message,
    verb_of,
)

DEFAULT_LIMIT = 65_000
HEADING = "### pcr plan\n\n"
UNMANAGED_SHOWN = 3

# A piece of the document, and the kind of item it is when it may be left out for
# space ("error", "warning", "customer"); None for what must always be there.
Chunk = tuple[str | None, str]

# Backslash-escape what Markdown reads as syntax anywhere in a line (`[` and `]`
# cover links and images); `<`, `>`, `&` become entities so that no HTML gets in.
_MD_ESCAPES = str.maketrans(
    {char: "\\" + char for char in "\\`*_[]|~$"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)
# What Markdown reads as syntax only at the start of a line: a list marker or a heading.
_LINE_START = re.compile(r"^(?:[-+#=]|\d+[.)])")


def md(text: str) -> str:
    """User text, safe inside a Markdown line or table cell."""
    # One line: a newline would end a table row or a list item early.
    escaped = " ".join(text.split()).translate(_MD_ESCAPES)
    # User text can follow a list marker ("- "), where it could open a nested block.
    return _LINE_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], escaped)


def raw_html(text: str) -> str:
    """User text, safe inside raw HTML (GitHub does not read Markdown in <summary>)."""
    return html.escape(" ".join(text.split()), quote=False)


def code(text: str) -> str:
    # <code> rather than backticks: a backtick in the text cannot close it early.
    return f"<code>{md(text)}</code>"


def render(plan: Plan, *, limit: int = DEFAULT_LIMIT) -> str:
    return _fit(_document(plan), limit)


# --- staying under the limit -----------------------------------------------------------


def _fit(chunks: list[Chunk], limit: int) -> str:
    """The whole document if it fits, else the fixed parts plus as many items as fit.

    Items are kept in order, and a kind stops at its first item that does not
    fit, so that "the first N customers" is what a reader sees.
    """
    full = _finish("".join(text for _, text in chunks))
    if len(full) <= limit:
        return full
    totals = Counter(kind for kind, _ in chunks if kind is not None)
    # The note with every item left out is the longest it can be: reserve that.
    budget = limit - len(_note(totals, totals, limit))
    budget -= sum(len(text) for kind, text in chunks if kind is None)
    kept: list[str] = []
    left_out: Counter[str] = Counter()
    for kind, text in chunks:
        if kind is not None:
            if left_out[kind] or len(text) > budget:
                left_out[kind] += 1
                continue
            budget -= len(text)
        kept.append(text)
    document = _finish("".join(kept) + _note(left_out, totals, limit))
    # Only a limit too small for the summary itself gets here; the limit still holds.
    return document if len(document) <= limit else document[:limit]


def _finish(document: str) -> str:
    return document.rstrip("\n") + "\n"


def _note(left_out: Counter[str], totals: Counter[str], limit: int) -> str:
    shown = ", ".join(
        f"{left_out[kind]} of {plural(totals[kind], kind)}" for kind in totals if left_out[kind]
    )
    return (
        "> [!NOTE]\n"
        f"> Not shown here, to stay within {limit} characters: {shown}. "
        "The full plan is in this job's artifacts and in the output of `pcr plan`.\n"
    )


# --- the document ------------------------------------------------------------------------


def _document(plan: Plan) -> list[Chunk]:
    chunks: list[Chunk] = [(None, HEADING)]
    chunks += _caution(plan)
    chunks.append((None, _overview(plan)))
    chunks += _warnings(plan)
    chunks += _unmanaged(plan)
    if not plan.has_changes:
        chunks.append((None, NO_CHANGES + "\n\n"))
    for customer_id, items in by_customer(plan).items():
        chunks.append(("customer", _section(plan, customer_id, items)))
    return chunks


def _caution(plan: Plan) -> list[Chunk]:
    messages: list[Chunk] = [("error", f"> - {md(error)}\n") for error in plan.errors]
    if plan.exceeds_removal_limit:
        messages.append((None, f"> - {md(removal_limit_message(plan))}\n"))
    if not messages:
        return []
    return [(None, f"> [!CAUTION]\n> **{NOT_APPLIED}**\n>\n"), *messages, (None, "\n")]


def _overview(plan: Plan) -> str:
    rows = [
        ("Customers", str(len(plan.customer_ids()))),
        ("Actions", str(len(plan.actions))),
    ]
    for verb, count in counts_by_type(plan.actions):
        value = str(count)
        if verb.short == "remove" and plan.max_removals is not None:
            value += f" (at most {plan.max_removals} per run)"
        rows.append((f"· {verb.text}", value))
    rows += [
        ("Deferred", str(len(plan.deferred))),
        ("Blocked", str(len(plan.blocked))),
        ("API calls", str(plan.api_calls)),
    ]
    if plan.expires_at is not None:
        rows.append(("Expires at", f"{format_time(plan.expires_at)} ({EXPIRY_REASON})"))
    lines = ["| Plan | |", "| --- | --- |", *(f"| {label} | {value} |" for label, value in rows)]
    return "\n".join(lines) + "\n\n"


def _warnings(plan: Plan) -> list[Chunk]:
    if not plan.warnings:
        return []
    items: list[Chunk] = [("warning", f"- {md(warning)}\n") for warning in plan.warnings]
    return [(None, "**Warnings**\n\n"), *items, (None, "\n")]


def _unmanaged(plan: Plan) -> list[Chunk]:
    if not plan.unmanaged:
        return []
    shown = ", ".join(code(cid) for cid in plan.unmanaged[:UNMANAGED_SHOWN])
    more = len(plan.unmanaged) - UNMANAGED_SHOWN
    tail = f" and {more} more" if more > 0 else ""
    line = (
        f"**Unmanaged:** {plural(len(plan.unmanaged), 'customer')} in Partner Center "
        f"not in the desired state (left alone): {shown}{tail}.\n\n"
    )
    return [(None, line)]


# --- one collapsible section per customer ---------------------------------------------------


def _section(plan: Plan, customer_id: str, items: CustomerItems) -> str:
    ref = plan.customers.get(customer_id)
    where = f"Tenant {code(customer_id)}" + (f", file {code(ref.file)}" if ref and ref.file else "")
    lines = [f"<details><summary>{_summary(plan, customer_id, items)}</summary>", "", where, ""]
    if items.actions:
        lines += [*_actions_table(items.actions), ""]
    for action in items.actions:
        if action.irreversible:
            lines += [*_consequences(action), ""]
    if items.deferred:
        lines += ["**Deferred**", "", *(_deferred(d) for d in items.deferred), ""]
    if items.blocked:
        lines += ["**Blocked**, needs a person:", ""]
        for blocked in items.blocked:
            lines += _blocked(blocked)
        lines.append("")
    return "\n".join([*lines, "</details>", "", ""])


def _summary(plan: Plan, customer_id: str, items: CustomerItems) -> str:
    counts = [
        plural(len(items.actions), "action") if items.actions else "",
        f"{len(items.deferred)} deferred" if items.deferred else "",
        f"{len(items.blocked)} blocked" if items.blocked else "",
    ]
    parts = [
        f"<b>{raw_html(plan.name_of(customer_id))}</b>",
        f"<code>{raw_html(customer_id)}</code>",
        ", ".join(c for c in counts if c),
    ]
    if any(a.irreversible for a in items.actions):
        parts.append("<b>removes the relationship (irreversible)</b>")
    return " · ".join(parts)


def _target(name: str, target_id: str) -> str:
    if name and target_id and name != target_id:
        return f"{md(name)} {code(target_id)}"
    return code(target_id) if target_id else md(name)


def _actions_table(actions: list[Action]) -> list[str]:
    rows = []
    for action in actions:
        verb = verb_of(action.type).text
        label = f"**{verb} (IRREVERSIBLE)**" if action.irreversible else verb
        rows.append(
            f"| {label} | {_target(action.target_name, action.target_id)} | {md(action.reason)} |"
        )
    return ["| Action | Target | Reason |", "| --- | --- | --- |", *rows]


def _consequences(action: Action) -> list[str]:
    target = _target(action.target_name, action.target_id)
    lines = [f"**IRREVERSIBLE: remove relationship with {target}.** {IRREVERSIBLE_LEAD}", ""]
    return lines + [f"- {consequence}" for consequence in REMOVAL_CONSEQUENCES]


def _deferred(item: Deferred) -> str:
    what = f"{verb_of(item.type).text} {code(item.target_id) if item.target_id else ''}"
    return f"- **until {day(item.not_before)}:** {what.rstrip()}: {md(item.reason)}"


def _blocked(item: Blocked) -> list[str]:
    steps = [f"  {n}. {md(step)}" for n, step in enumerate(item.manual_steps, start=1)]
    return [f"- {md(item.reason)}", *steps]
