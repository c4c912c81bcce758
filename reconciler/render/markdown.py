"""Plans and drift as Markdown for a pull-request comment or a CI job summary (GitHub-flavoured).

Everything a customer, a planner message or Partner Center supplies is
escaped, so that a name with `|`, `<` or `*` can neither break a table nor
inject HTML. Each document stays under a size limit (GitHub refuses comments
over 65,536 characters) by leaving out whole customer sections, and says so.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from reconciler.drift.model import DriftNote
from reconciler.drift.model import DriftRecord
from reconciler.drift.model import DriftReport
from reconciler.live.models import moment
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import kind_of
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import Deferred
from reconciler.plan.model import Plan
from reconciler.render.common import EXPIRY_REASON
from reconciler.render.common import IRREVERSIBLE_LEAD
from reconciler.render.common import NO_CHANGES
from reconciler.render.common import NO_DRIFT
from reconciler.render.common import NOT_APPLIED
from reconciler.render.common import NOTHING_TO_APPLY
from reconciler.render.common import ONLY_WAITING
from reconciler.render.common import UNMANAGED_SHOWN
from reconciler.render.common import Chunk
from reconciler.render.common import CustomerItems
from reconciler.render.common import billing_words
from reconciler.render.common import by_customer
from reconciler.render.common import code
from reconciler.render.common import counts_by_type
from reconciler.render.common import deadline_words
from reconciler.render.common import deferred_count
from reconciler.render.common import finish
from reconciler.render.common import irreversible_headline
from reconciler.render.common import keep_what_fits
from reconciler.render.common import md
from reconciler.render.common import prose
from reconciler.render.common import raw_html
from reconciler.render.common import records_by_customer
from reconciler.render.common import scope_line
from reconciler.render.common import value
from reconciler.wording import named
from reconciler.wording import plural

DEFAULT_LIMIT = 65_000
HEADING = "### pcr plan\n\n"
DRIFT_HEADING = "### pcr drift\n\n"
DRIFT_NOTE_ROOM = 300  # for the note that says how many customers were left out


def render(plan: Plan, *, color: bool = False, limit: int = DEFAULT_LIMIT) -> str:
    """The plan as Markdown; `color` is for the `Renderer` protocol and has no effect."""
    return _fit(_document(plan), limit)


# --- staying under the limit -----------------------------------------------------------


def _fit(chunks: list[Chunk], limit: int) -> str:
    """The whole document if it fits, else the fixed parts plus as many items as fit."""
    full = finish("".join(text for _, text in chunks))
    if len(full) <= limit:
        return full
    totals = Counter(kind for kind, _ in chunks if kind is not None)
    # The note with every item left out is the longest it can be: reserve that.
    budget = limit - len(_note(totals, totals, limit))
    budget -= sum(len(text) for kind, text in chunks if kind is None)
    kept, left_out = keep_what_fits(chunks, budget)
    document = finish("".join(kept) + _note(left_out, totals, limit))
    # Only a limit too small for the summary itself gets here; the limit still holds.
    return document if len(document) <= limit else document[:limit]


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
    if line := scope_line(plan):
        chunks.append((None, f"> [!NOTE]\n> {md(line)}\n\n"))
    chunks += _warnings(plan)
    chunks += _unmanaged(plan)
    if plan.is_empty:
        chunks.append((None, NO_CHANGES + "\n\n"))
    elif not plan.has_changes:
        chunks.append((None, f"**{NOTHING_TO_APPLY}**\n\n"))
    for customer_id, items in by_customer(plan).items():
        chunks.append(("customer", _section(plan, customer_id, items)))
    return chunks


def _caution(plan: Plan) -> list[Chunk]:
    messages: list[Chunk] = [("error", f"> - {md(error)}\n") for error in plan.errors]
    if not messages:
        return []
    return [(None, f"> [!CAUTION]\n> **{NOT_APPLIED}**\n>\n"), *messages, (None, "\n")]


def _overview(plan: Plan) -> str:
    rows = [
        ("Customers", str(len(plan.customer_ids()))),
        ("Actions", str(len(plan.actions))),
    ]
    for kind, count in counts_by_type(plan.actions):
        value = str(count)
        if kind.type is ActionType.REMOVE_RELATIONSHIP and plan.max_removals is not None:
            value += f" (at most {plan.max_removals} per run)"
        rows.append((f"· {kind.verb}", value))
    headline = irreversible_headline(plan)
    rows.append(("Irreversible", f"**{headline}**" if headline else "none"))
    rows += [
        ("Deferred", deferred_count(plan, "")),
        ("Blocked", str(len(plan.blocked))),
        ("API calls", str(plan.api_calls)),
    ]
    if plan.expires_at is not None:
        rows.append(("Expires at", f"{moment(plan.expires_at)} ({EXPIRY_REASON})"))
    lines = ["| Plan | |", "| --- | --- |", *(f"| {label} | {value} |" for label, value in rows)]
    return "\n".join(lines) + "\n\n"


def _warnings(plan: Plan) -> list[Chunk]:
    if not plan.warnings:
        return []
    items: list[Chunk] = [("warning", f"- {md(warning)}\n") for warning in plan.warnings]
    return [(None, "**Warnings**\n\n"), *items, (None, "\n")]


def _named(plan: Plan, customer_id: str) -> str:
    name = plan.name_of(customer_id)
    return named(md(name) if name != customer_id else None, code(customer_id))


def _unmanaged(plan: Plan) -> list[Chunk]:
    if not plan.unmanaged:
        return []
    shown = ", ".join(_named(plan, cid) for cid in plan.unmanaged[:UNMANAGED_SHOWN])
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
        lines += ["**Deferred**", "", *(_deferred(d, plan.now) for d in items.deferred), ""]
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
    if irreversible := sum(a.irreversible for a in items.actions):
        parts.append(f"<b>{plural(irreversible, 'irreversible step')}</b>")
    # The step that ends the partnership is named even in a collapsed section.
    if any(a.type is ActionType.REMOVE_RELATIONSHIP for a in items.actions):
        parts.append("<b>removes the relationship</b>")
    return " · ".join(parts)


def _target(name: str, target_id: str) -> str:
    if name and target_id and name != target_id:
        return f"{md(name)} {code(target_id)}"
    return code(target_id) if target_id else md(name)


def _actions_table(actions: list[Action]) -> list[str]:
    rows = []
    for action in actions:
        verb = kind_of(action.type).verb
        label = f"**{verb} (IRREVERSIBLE)**" if action.irreversible else verb
        cells = [
            label,
            _target(action.target_name, action.target_id),
            md(action.reason)
            + (f" **{md(by)}**" if (by := deadline_words(action)) is not None else ""),
            md(billing_words(action.billing, action.type)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return ["| Action | Target | Reason | Billing |", "| --- | --- | --- | --- |", *rows]


def _consequences(action: Action) -> list[str]:
    what = f"{kind_of(action.type).verb} {_target(action.target_name, action.target_id)}"
    lines = [f"**IRREVERSIBLE: {what}.** {IRREVERSIBLE_LEAD}", ""]
    return lines + [f"- {md(consequence)}" for consequence in action.consequences]


def _deferred(item: Deferred, now: datetime) -> str:
    what = f"{kind_of(item.type).verb} {code(item.target_id) if item.target_id else ''}"
    when = (
        f"due since {moment(item.not_before)}"
        if item.due(now)
        else f"until {moment(item.not_before)}"
    )
    return f"- **{when}:** {what.rstrip()}: {md(item.reason)}"


def _blocked(item: Blocked) -> list[str]:
    steps = [f"  {n}. {md(step)}" for n, step in enumerate(item.manual_steps, start=1)]
    return [f"- {md(item.reason)}", *steps]


# --- drift: an overview, then a table per customer ---------------------------------------


def render_drift(report: DriftReport, *, color: bool = False, limit: int = DEFAULT_LIMIT) -> str:
    """The drift report as Markdown; whole customers are left out past `limit`.

    `color` is for the `Renderer` protocol and has no effect.
    """
    head = DRIFT_HEADING + _drift_overview(report) + _drift_warnings(report)
    if not report.has_drift:
        head += NO_DRIFT + "\n\n"
    elif not report.has_changes:
        head += f"**{ONLY_WAITING}**\n\n"
    sections: list[Chunk] = [
        ("customer", _drift_section(report, cid, records))
        for cid, records in records_by_customer(report.records).items()
    ]
    sections += _drift_notes(report)
    kept, left_out = keep_what_fits(sections, limit - len(head) - DRIFT_NOTE_ROOM)
    document = head + "".join(kept)
    if left_out["customer"]:
        shown = sum(kind == "customer" for kind, _ in sections)
        document += (
            f"> [!NOTE]\n> {left_out['customer']} of {plural(shown, 'customer')} not "
            f"shown, to stay within {limit} characters: `pcr drift --format json` lists every "
            "difference.\n"
        )
    if left_out["note"]:
        document += (
            f"> [!NOTE]\n> {plural(left_out['note'], 'note')} not shown, to stay within "
            f"{limit} characters: `pcr drift --format json` lists every note.\n"
        )
    return finish(document)


def _drift_warnings(report: DriftReport) -> str:
    """What drift could not compare: never silent, and not drift either."""
    return "".join(f"> [!WARNING]\n> {md(warning)}\n\n" for warning in report.warnings)


def _drift_notes(report: DriftReport) -> list[Chunk]:
    """Not drift: what is about to happen (a GDAP relationship ending), a row each."""
    if not report.notes:
        return []
    head = (
        "**Notes** (not drift)\n\n| Customer | GDAP relationship | Ends | Note |\n"
        "| --- | --- | --- | --- |\n"
    )
    rows: list[Chunk] = [("note", _note_row(report, note)) for note in report.notes]
    # The heading goes with the first row, so that it is never left on its own.
    first_kind, first_row = rows[0]
    return [(first_kind, head + first_row), *rows[1:], (None, "\n")]


def _note_row(report: DriftReport, note: DriftNote) -> str:
    target = code(note.target_id)
    target = f"{md(note.target_name)} {target}" if note.target_name else target
    ends = md(moment(note.ends)) if note.ends else ""
    cells = [md(report.name_of(note.customer_id)), target, ends, prose(note.message)]
    return "| " + " | ".join(cells) + " |\n"


def _drift_overview(report: DriftReport) -> str:
    rows = [
        ("Customers checked", report.checked),
        ("Drifted", report.drifted),
        ("Unmanaged", report.unmanaged),
        ("Differences", len(report.records)),
        ("Waiting for a date", report.waiting),
        ("API calls", report.api_calls),
    ]
    lines = ["| Drift | |", "| --- | --- |", *(f"| {label} | {n} |" for label, n in rows)]
    return "\n".join(lines) + "\n\n"


def _drift_section(report: DriftReport, customer_id: str, records: list[DriftRecord]) -> str:
    ref = report.customers.get(customer_id)
    where = f"file {code(ref.file)}" if ref and ref.file else "not declared"
    lines = [
        f"**{md(report.name_of(customer_id))}** · tenant {code(customer_id)} · {where}",
        "",
        "| Difference | Target | Desired | Live | Note |",
        "| --- | --- | --- | --- | --- |",
        *(_drift_row(record) for record in records),
    ]
    return "\n".join(lines) + "\n\n"


def _drift_row(record: DriftRecord) -> str:
    target = ""
    if record.target_id != record.customer_id:
        target = code(record.target_id)
        target = f"{md(record.target_name)} {target}" if record.target_name else target
    note = ("**Waiting:** " if record.waiting else "") + prose(record.message)
    subscriptions = record.detail.get("subscriptions", ())
    if subscriptions:
        note += "<br>" + "<br>".join(
            f"{md(s['offer'])} ({md(s['kind'])}) {code(s['id'])}: {md(s['status'])}"
            for s in subscriptions
        )
    cells = [
        code(record.kind.value),
        target,
        md(value(record.desired)),
        md(value(record.live)),
        note,
    ]
    return "| " + " | ".join(cells) + " |"
