"""The calendar in every format `pcr calendar --format` knows: text for a terminal (by
week), JSON (docs/design.md, "Calendar JSON"), Markdown (a Mermaid `gantt` chart that GitHub
draws, then the table, within GitHub's size limit) and iCalendar (RFC 5545), which a
calendar application subscribes to.

One module for the one document, its four formats side by side: they render the same
events, and the iCalendar format has no other document to render.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from reconciler.calendar.model import Calendar
from reconciler.calendar.model import Event
from reconciler.calendar.model import EventKind
from reconciler.calendar.model import to_dict
from reconciler.live.models import moment
from reconciler.printable import JSON_ESCAPES
from reconciler.printable import shown
from reconciler.render.common import code
from reconciler.render.common import finish
from reconciler.render.common import keep_what_fits
from reconciler.render.common import md
from reconciler.render.common import wrap
from reconciler.render.text import BOLD
from reconciler.render.text import RED
from reconciler.render.text import YELLOW
from reconciler.render.text import Paint
from reconciler.timestamps import format_time
from reconciler.wording import named
from reconciler.wording import plural

DEFAULT_LIMIT = 65_000  # GitHub's limit on a comment's or a job summary's body
HEADING = "### pcr calendar\n\n"
CHART_DAYS = 30  # the chart shows the month ahead; the table, every event
CHART_EVENTS = 60  # a chart of more tasks is too tall to read: the table has them all
URGENT_SHOWN = 50
NOTHING = "Nothing dated in the declared estate in this window."
TABLE_HEAD = "| Date | Event | Customer | Target | What to do |\n| --- | --- | --- | --- | --- |\n"
LEFT_OUT_ROOM = 200  # for the line that says how many rows were left out

WORDS = {
    EventKind.CANCELLATION_WINDOW_CLOSES: "cancellation window closes",
    EventKind.TERM_ENDS: "term ends",
    EventKind.RENEWAL_LOCK: "renewal lock",
    EventKind.REMOVAL_DUE: "removal due",
    EventKind.TRIAL_CONVERTS: "trial converts",
    EventKind.GDAP_ENDS: "GDAP ends",
    EventKind.RESERVATION_ENDS: "reservation ends",
    EventKind.SAVINGS_PLAN_ENDS: "savings plan ends",
}


def when(event: Event) -> str:
    return format_time(event.when)[:10] if event.all_day else moment(event.when)


def _header(calendar: Calendar) -> str:
    until = format_time(calendar.now + timedelta(days=calendar.days))[:10]
    head = f"{plural(len(calendar.events), 'event')} from now to {until}"
    head += f" ({calendar.days} days, past-due ones too)"
    if urgent := len(calendar.urgent):
        head += f"; {urgent} urgent: within 7 days, and the declared state says otherwise"
    if calendar.scope is not None:
        head += f". Scoped: {plural(len(calendar.scope), 'customer')} only"
    return head


# --- text ---------------------------------------------------------------------------------


def render_text(calendar: Calendar, *, color: bool = False) -> str:
    """By week; `color` paints the urgent events red and the weeks bold, as plans are."""
    calendar, paint = shown(calendar), Paint(color)
    lines = [_header(calendar)]
    for warning in calendar.warnings:
        lines += [paint(line, YELLOW) for line in wrap(f"Warning: {warning}", "    ", first="")]
    week = None
    for event in calendar.events:
        heading = _week(event, calendar.now)
        if heading != week:
            week = heading
            lines += ["", paint(heading, BOLD)]
        mark = "!" if event.urgent else " "
        head = f" {mark} {when(event):<20}  {WORDS[event.kind]:<26}  "
        text = [head + named(event.customer, event.customer_id)]
        text += wrap(f"{event.target}: {event.action}" + (" (URGENT)" if event.urgent else ""))
        lines += [paint(line, RED) for line in text] if event.urgent else text
    if not calendar.events:
        lines += ["", NOTHING]
    return "\n".join(lines) + "\n"


def _week(event: Event, now: datetime) -> str:
    # A day's event is past only once its day is; a moment's, once it has passed.
    past = event.when.date() < now.date() if event.all_day else event.when < now
    if past:
        return "Past due"
    monday = event.when.date() - timedelta(days=event.when.weekday())
    return f"Week of {monday.isoformat()}"


# --- JSON ---------------------------------------------------------------------------------


def render_json(calendar: Calendar, *, color: bool = False) -> str:
    text = json.dumps(to_dict(calendar), indent=2, ensure_ascii=False)
    return text.translate(JSON_ESCAPES) + "\n"


# --- Markdown -----------------------------------------------------------------------------


def render_markdown(calendar: Calendar, *, color: bool = False, limit: int = DEFAULT_LIMIT) -> str:
    """The urgent events first, then the chart of the next CHART_DAYS days, then every
    event in a table; rows that do not fit GitHub's limit are left out, and said so."""
    calendar = shown(calendar)
    head = HEADING + md(_header(calendar)) + "\n\n"
    head += "".join(f"> [!NOTE]\n> {md(warning)}\n\n" for warning in calendar.warnings)
    if not calendar.events:
        return finish(head + NOTHING)
    head += _urgent(calendar.urgent)
    # The month ahead: past-due events are in the warning and the table, not the chart.
    today = calendar.now.replace(hour=0, minute=0, second=0, microsecond=0)
    ahead = [e for e in calendar.events if today <= e.when <= today + timedelta(days=CHART_DAYS)]
    chart = gantt(ahead[:CHART_EVENTS], calendar.now) if ahead else ""
    rows = [("row", _row(event)) for event in calendar.events]
    budget = limit - len(head) - len(chart) - len(TABLE_HEAD) - LEFT_OUT_ROOM
    kept, left_out = keep_what_fits(rows, budget)
    note = ""
    if count := left_out["row"]:
        note = f"\n_{plural(count, 'more event')} left out to fit GitHub's limit: run "
        note += "`pcr calendar` for all of them._\n"
    return finish(head + chart + "\n" + TABLE_HEAD + "".join(kept) + note)


def _urgent(events: list[Event]) -> str:
    """A warning with each urgent event: within a week, and the declared state says
    otherwise. At most URGENT_SHOWN of them, so that the chart and table still fit."""
    if not events:
        return ""
    lines = [f"> [!WARNING]\n> **{plural(len(events), 'urgent event')}**: within 7 days, "]
    lines[0] += "and the declared state says otherwise.\n>\n"
    for event in events[:URGENT_SHOWN]:
        lines.append(
            f"> - {when(event)}, {WORDS[event.kind]}: {md(event.customer)}, "
            f"{md(event.target)}: {md(event.action)}\n"
        )
    if len(events) > URGENT_SHOWN:
        lines.append(f"> - and {len(events) - URGENT_SHOWN} more in the table below\n")
    return "".join(lines) + "\n"


def _row(event: Event) -> str:
    what = md(event.action) + (" **URGENT**" if event.urgent else "")
    return (
        f"| {when(event)} | {WORDS[event.kind]} | {md(event.customer)} | "
        f"{md(event.target)} {code(event.target_id)} | {what} |\n"
    )


def gantt(events: Iterable[Event], now: datetime) -> str:
    """A Mermaid `gantt` block: one section per kind of event, each event a milestone on
    its day (urgent ones marked `crit`)."""
    lines = [
        "```mermaid",
        "gantt",
        "    dateFormat YYYY-MM-DD",
        "    axisFormat %m-%d",
        f"    title Dated events from {format_time(now)[:10]}",
    ]
    by_kind: dict[EventKind, list[Event]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    number = 0
    for kind in EventKind:
        if kind not in by_kind:
            continue
        lines.append(f"    section {WORDS[kind]}")
        for event in by_kind[kind]:
            number += 1
            tags = "crit, milestone" if event.urgent else "milestone"
            day = format_time(event.when)[:10]
            lines.append(f"    {_task(event)} :{tags}, e{number}, {day}, 0d")
    lines.append("```")
    return "\n".join(lines) + "\n"


def _task(event: Event) -> str:
    """A task's name in Mermaid's own syntax, where `:`, `;`, `#` and `%%` mean something
    and a line that starts with a keyword (`title`, `section`, `click`…) is that keyword:
    each name starts with a fixed mark instead, so that no customer's name is read as one."""
    text = f"{event.customer} {event.target}"
    cleaned = "".join(" " if ch in ":;#%`\n\r" or not ch.isprintable() else ch for ch in text)
    return "▸ " + (" ".join(cleaned.split())[:60] or "event")


# --- iCalendar (RFC 5545) -----------------------------------------------------------------


def render_ics(calendar: Calendar, *, color: bool = False) -> str:
    """One VEVENT per event, all-day on its UTC date, its UID stable across runs."""
    stamp = calendar.now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//pcr//estate calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:pcr estate calendar",
    ]
    for event in calendar.events:
        day = event.when.date()
        lines += [
            "BEGIN:VEVENT",
            "UID:" + _text(event.uid),
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
            "SUMMARY:" + _text(f"{WORDS[event.kind]}: {event.customer}, {event.target}"),
            "DESCRIPTION:" + _text(_description(event)),
            "CATEGORIES:" + _text(str(event.kind)),
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _description(event: Event) -> str:
    urgent = "URGENT: " if event.urgent else ""
    return (
        f"{urgent}{event.action}\n{when(event)}\ncustomer {event.customer_id}\n"
        f"target {event.target_id}"
    )


def _text(value: str) -> str:
    """An iCalendar TEXT value: backslash, semicolon, comma and newline escaped."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    escaped = escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    # Control and format characters (bidirectional overrides among them) have no place in
    # a content line.
    return "".join(
        ch for ch in escaped if ch == "\t" or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545, 3.1), never inside a character."""
    out: list[str] = []
    current = ""
    for ch in line:
        limit = 75 if not out else 74  # a continuation line starts with one space
        if len((current + ch).encode()) > limit:
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return "\r\n ".join(out)


RENDERERS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "ics": render_ics,
}
