"""Render a drift report: text for a terminal, JSON for machines, Markdown for a job summary.

Same conventions as the plan renderers: the text groups differences by
customer under a Terraform-like marker, the Markdown escapes everything
Partner Center or a file supplies and stays under a size limit, the JSON is
exactly the drift-JSON contract that `reconciler.drift.to_dict` builds.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable

from reconciler.drift import DriftKind, DriftRecord, DriftReport, Value, to_dict
from reconciler.render import plural
from reconciler.render.markdown import code, md
from reconciler.render.text import BOLD, GREEN, RED, YELLOW, Paint

FORMATS = ("text", "json", "markdown")
NO_DRIFT = "No drift. Partner Center matches the desired state."
WIDTH = 100
INDENT = " " * 7
KIND_WIDTH = max(len(kind.value) for kind in DriftKind)
MARKDOWN_LIMIT = 65_000
HEADING = "### pcr drift\n\n"

# The terminal marker per kind: "-" missing, "?" not declared, "!" the relationship, "~" a value.
SYMBOLS = {
    DriftKind.MISSING_CUSTOMER: "-",
    DriftKind.UNMANAGED_CUSTOMER: "?",
    DriftKind.RELATIONSHIP: "!",
    DriftKind.SUBSCRIPTION_MISSING: "-",
}


def render_drift(report: DriftReport, fmt: str, *, color: bool = False) -> str:
    """The report in one of FORMATS; `color` only affects text."""
    if fmt == "text":
        return text(report, color=color)
    if fmt == "json":
        return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown(report)
    raise ValueError(f"unknown drift format {fmt!r}; use one of: {', '.join(FORMATS)}")


def value(item: Value) -> str:
    """A desired or live value for people: booleans as in YAML, absence as a dash."""
    if item is None:
        return "-"
    if isinstance(item, bool):
        return "true" if item else "false"
    return item


def by_customer(records: Iterable[DriftRecord]) -> dict[str, list[DriftRecord]]:
    """Records grouped by customer, customers in report order."""
    groups: dict[str, list[DriftRecord]] = {}
    for record in records:
        groups.setdefault(record.customer_id, []).append(record)
    return groups


def summary_line(report: DriftReport) -> str:
    if not report.has_drift:
        return f"{NO_DRIFT} {plural(report.checked, 'customer')} checked."
    declared = len(report.records) - report.unmanaged
    parts = [
        f"Drift: {plural(declared, 'difference')} in {report.drifted} of "
        f"{plural(report.checked, 'declared customer')}",
    ]
    if report.unmanaged:
        parts.append(f"{plural(report.unmanaged, 'unmanaged customer')}")
    line = "; ".join(parts)
    if report.api_calls:
        line += f"; {plural(report.api_calls, 'API call')}"
    return line + "."


# --- text ----------------------------------------------------------------------------------


def _wrap(words: str) -> list[str]:
    # Ids must stay whole to be copied, so no breaking inside words or at hyphens.
    return textwrap.wrap(
        words,
        width=WIDTH,
        initial_indent=INDENT,
        subsequent_indent=INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )


def text(report: DriftReport, *, color: bool) -> str:
    paint = Paint(color)
    if not report.has_drift:
        return paint(summary_line(report), GREEN) + "\n"
    blocks = [
        _text_customer(report, cid, records, paint)
        for cid, records in by_customer(report.records).items()
    ]
    blocks.append([paint(summary_line(report), BOLD)])
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _text_customer(
    report: DriftReport, customer_id: str, records: list[DriftRecord], paint: Paint
) -> list[str]:
    ref = report.customers.get(customer_id)
    where = f"tenant {customer_id}, " + (ref.file if ref and ref.file else "not declared")
    lines = [paint(f"{report.name_of(customer_id)} ({where})", BOLD)]
    for record in records:
        lines += _text_record(record, paint)
    return lines


def _text_record(record: DriftRecord, paint: Paint) -> list[str]:
    symbol = SYMBOLS.get(record.kind, "~")
    style = RED if symbol in ("-", "!") else YELLOW
    marker = paint(f"  {symbol:<2} {record.kind.value:<{KIND_WIDTH}}", style)
    head = marker
    if record.target_id != record.customer_id:
        name = record.target_name
        head += f"  {name} ({record.target_id})" if name else f"  {record.target_id}"
    values = f"desired {value(record.desired)}, live {value(record.live)}"
    lines = [head.rstrip(), *_wrap(f"{values}: {record.message}")]
    for sub in record.detail.get("subscriptions", ()):
        renew = "auto-renew on" if sub["auto_renew"] else "auto-renew off"
        lines.append(
            f"{INDENT}- {sub['offer']} ({sub['kind']}) {sub['id']}: {sub['status']}, {renew}"
        )
    return lines


# --- Markdown ----------------------------------------------------------------------------------


def markdown(report: DriftReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """Overview, then a table per customer; whole customers are left out past `limit`."""
    head = HEADING + _overview(report)
    if not report.has_drift:
        return head + NO_DRIFT + "\n"
    sections = [
        _section(report, cid, records) for cid, records in by_customer(report.records).items()
    ]
    note_room = 300  # for the note that says how many customers were left out
    budget = limit - len(head) - note_room
    kept: list[str] = []
    for section in sections:
        if len(section) > budget:
            break
        budget -= len(section)
        kept.append(section)
    document = head + "".join(kept)
    if len(kept) < len(sections):
        left_out = len(sections) - len(kept)
        document += (
            f"> [!NOTE]\n> {left_out} of {plural(len(sections), 'customer')} not shown, to "
            f"stay within {limit} characters: `pcr drift --format json` lists every difference.\n"
        )
    return document.rstrip("\n") + "\n"


def _overview(report: DriftReport) -> str:
    rows = [
        ("Customers checked", report.checked),
        ("Drifted", report.drifted),
        ("Unmanaged", report.unmanaged),
        ("Differences", len(report.records)),
        ("API calls", report.api_calls),
    ]
    lines = ["| Drift | |", "| --- | --- |", *(f"| {label} | {n} |" for label, n in rows)]
    return "\n".join(lines) + "\n\n"


def _section(report: DriftReport, customer_id: str, records: list[DriftRecord]) -> str:
    ref = report.customers.get(customer_id)
    where = f"file {code(ref.file)}" if ref and ref.file else "not declared"
    lines = [
        f"**{md(report.name_of(customer_id))}** · tenant {code(customer_id)} · {where}",
        "",
        "| Difference | Target | Desired | Live | Note |",
        "| --- | --- | --- | --- | --- |",
        *(_row(record) for record in records),
    ]
    return "\n".join(lines) + "\n\n"


def _row(record: DriftRecord) -> str:
    target = ""
    if record.target_id != record.customer_id:
        target = code(record.target_id)
        target = f"{md(record.target_name)} {target}" if record.target_name else target
    note = md(record.message)
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
