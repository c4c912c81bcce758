"""The calendar's formats read back by their own parsers: the ICS by a maintained iCalendar
library, the Markdown's chart by Mermaid's own parser under Node (as GitHub draws it), the
JSON by `json`; and the text grouped by week."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest

from reconciler.calendar.events import make_calendar
from reconciler.calendar.model import Calendar
from reconciler.calendar.model import Event
from reconciler.calendar.model import EventKind
from reconciler.calendar.model import from_dict
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import Relationship
from reconciler.live.models import SubscriptionKind
from reconciler.render.calendar import gantt
from reconciler.render.calendar import render_ics
from reconciler.render.calendar import render_json
from reconciler.render.calendar import render_markdown
from reconciler.render.calendar import render_text
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import override
from tests.plan.builders import relationship
from tests.plan.builders import sub

MERMAID = Path(__file__).parents[1] / "mermaid"
HOSTILE = 'Fabrikam; "Ltd", #1: a\\b\n\x1b[31mred'


def sample() -> Calendar:
    closing = sub(SubscriptionKind.NCE, window_days=2, term_end_days=365)
    renewing = sub(SubscriptionKind.NCE, window_days=-30, term_end_days=40)
    trial = sub(SubscriptionKind.NCE, window_days=5, term_end_days=20, is_trial=True)
    stays = customer(
        relationship=Relationship.RESELLER,
        name=HOSTILE,
        overrides=(override(closing.id, DesiredStatus.CANCELLED),),
    )
    desired, live = estate((stays, detail(closing, renewing, trial)))
    live.gdap[stays.tenant_id] = (relationship(stays.tenant_id, ends_in_days=60),)
    return make_calendar(desired, live, NOW, 90)


def test_the_ics_parses_with_an_icalendar_library_one_all_day_event_each() -> None:
    calendar = sample()
    parsed = icalendar.Calendar.from_ical(render_ics(calendar))
    events = list(parsed.walk("VEVENT"))
    assert len(events) == len(calendar.events) >= 5
    for vevent, event in zip(events, calendar.events, strict=True):
        assert str(vevent["UID"]) == event.uid
        start, end = vevent.decoded("DTSTART"), vevent.decoded("DTEND")
        assert type(start) is date and start == event.when.date()  # all day, on the UTC date
        assert end - start == timedelta(days=1)
        assert event.action in str(vevent["DESCRIPTION"])
        # The customer's name comes back as it was, its escapes undone; control characters go.
        assert HOSTILE.replace("\x1b", "") in str(vevent["SUMMARY"])


def test_every_ics_line_is_folded_to_75_octets_and_ends_in_crlf() -> None:
    calendar = sample()
    # Many bytes a character: folding counts octets, and never splits one.
    calendar.events = [replace(e, customer="Société Générale ☃ " * 3) for e in calendar.events]
    text = render_ics(calendar)
    assert "Société" in text.replace("\r\n ", "")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert max(len(line.encode()) for line in text.split("\r\n")) <= 75


def test_the_json_is_the_contract_and_reads_back_whole() -> None:
    calendar = sample()
    calendar.warnings = ["GDAP relationships could not be read"]
    calendar.scope = ["c"]
    assert from_dict(json.loads(render_json(calendar))) == calendar
    document = json.loads(render_json(calendar))
    assert (document["format_version"], document["days"]) == (1, 90)
    first = document["events"][0]
    assert set(first) >= {"date", "kind", "customer_id", "customer", "target_id", "target"}
    assert set(first) >= {"action", "urgent"}
    assert [e["date"] for e in document["events"]] == sorted(e["date"] for e in document["events"])
    assert [e["urgent"] for e in document["events"]].count(True) == len(calendar.urgent) == 1


def test_the_text_is_grouped_by_week_and_marks_what_is_urgent() -> None:
    text = render_text(sample())
    weeks = [line for line in text.splitlines() if line.startswith("Week of ")]
    assert weeks == sorted(set(weeks)) and len(weeks) >= 3
    assert "(URGENT)" in text and "\x1b" not in text


def mermaid_parses(chart: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None or not (MERMAID / "node_modules" / "mermaid").is_dir():
        pytest.skip("Node.js and tests/mermaid's packages are needed (make test installs them)")
    source = tmp_path / "chart.mmd"
    body = chart.strip().removeprefix("```mermaid").removesuffix("```")
    source.write_text(body)
    return subprocess.run(
        ["node", str(MERMAID / "check.mjs"), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_markdown_chart_is_a_gantt_mermaid_accepts(tmp_path: Path) -> None:
    document = render_markdown(sample())
    chart = document[
        document.index("```mermaid") : document.index("```\n", document.index("gantt")) + 3
    ]
    done = mermaid_parses(chart, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"ok": True, "type": "gantt"}
    assert "| Date | Event |" in document and "**URGENT**" in document


def test_mermaid_refuses_what_the_chart_must_not_write(tmp_path: Path) -> None:
    """The check can fail: a name that breaks its line leaves a task without its data."""
    broken = "gantt\n    dateFormat YYYY-MM-DD\n    section s\n"
    broken += "    Fabrikam\n    Ltd :milestone, e1, 2026-12-01, 0d\n"
    assert mermaid_parses(broken, tmp_path).returncode == 1


def test_an_event_named_with_mermaids_own_characters_still_parses(tmp_path: Path) -> None:
    event = Event(NOW, EventKind.TERM_ENDS, "c", HOSTILE, "t", "Plan: #1; `x`", "a")
    done = mermaid_parses(gantt([event], NOW), tmp_path)
    assert done.returncode == 0, done.stdout


def test_a_large_calendar_fits_githubs_limit_and_says_what_it_left_out() -> None:
    events = [
        Event(
            NOW + timedelta(hours=n),
            EventKind.TERM_ENDS,
            f"c{n}",
            f"Customer {n}",
            f"t{n}",
            "Offer",
            "x" * 200,
        )
        for n in range(2000)
    ]
    document = render_markdown(Calendar(NOW, 90, events), limit=65_000)
    assert len(document) <= 65_000
    assert "more events left out to fit GitHub's limit" in document


def test_names_that_are_mermaid_keywords_stay_names(tmp_path: Path) -> None:
    events = [
        Event(NOW, EventKind.TERM_ENDS, "c1", "Click Therapeutics", "t1", "Plan", "a"),
        Event(NOW, EventKind.TERM_ENDS, "c2", "title Co", "t2", "Plan %% x", "a"),
        Event(NOW, EventKind.TERM_ENDS, "c3", "section 8", "t3", "dateFormat", "a"),
    ]
    chart = gantt(events, NOW)
    lines = chart.splitlines()
    assert [line for line in lines if line.strip().startswith(("title", "section 8"))] == [
        "    title Dated events from 2026-11-22"
    ]
    assert "%%" not in chart
    done = mermaid_parses(chart, tmp_path)
    assert done.returncode == 0, done.stdout


def test_an_all_day_event_today_is_not_past_due_and_hidden_characters_leave_the_ics() -> None:
    today = NOW.replace(hour=0, minute=0)
    event = Event(today, EventKind.TERM_ENDS, "c", "Fab\u202erikam", "t", "Plan", "a", all_day=True)
    calendar = Calendar(NOW, 90, [event])
    assert "Past due" not in render_text(calendar)
    ics = render_ics(calendar)
    assert "\u202e" not in ics and "Fabrikam" in ics
