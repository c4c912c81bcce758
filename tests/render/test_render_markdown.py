"""The Markdown rendering: alerts, summary table, sections, escaping and the size limit."""

from __future__ import annotations

import re

import pytest

from reconciler.plan import REMOVAL_CONSEQUENCES, Action, ActionType, CustomerRef, Plan
from reconciler.render.common import NO_CHANGES, md
from reconciler.render.markdown import DEFAULT_LIMIT, render
from tests.render.plans import CONTOSO, NOW, STEPS, large_plan, remove, small_plan

HOSTILE = "Evil | Corp <script>alert(1)</script> *x* `y` [l](http://e) </details>\n- injected"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def section_of(document: str, name: str) -> str:
    start = document.index(f"<summary><b>{name}</b>")
    return document[start : document.index("</details>", start)]


def test_heading_table_and_sections() -> None:
    document = render(small_plan())
    assert document.startswith("### pcr plan\n\n")
    table = document[document.index("| Plan | |") :].split("\n\n")[0].splitlines()
    assert table == [
        "| Plan | |",
        "| --- | --- |",
        "| Customers | 4 |",
        "| Actions | 6 |",
        "| · suspend | 1 |",
        "| · cancel | 1 |",
        "| · remove relationship | 1 (at most 10 per run) |",
        "| · auto-renew off | 1 |",
        "| · reactivate | 1 |",
        "| · auto-renew on | 1 |",
        "| Deferred | 1 |",
        "| Blocked | 1 |",
        "| API calls | 42 |",
        "| Expires at | 2026-11-25T23:59:00Z (an NCE cancellation window closes) |",
    ]
    assert document.count("<details><summary>") == document.count("</details>") == 4
    assert "[!CAUTION]" not in document


def test_errors_and_removal_limit_are_a_caution_alert_before_the_table() -> None:
    plan = Plan(now=NOW, actions=[remove(f"c-{n}") for n in range(3)], max_removals=2)
    plan.errors = ["customers/a.yaml: protected: true, refusing remove_relationship"]
    document = render(plan)
    alert = document[document.index("> [!CAUTION]") : document.index("| Plan | |")]
    assert alert.strip().splitlines() == [
        "> [!CAUTION]",
        "> **This plan will not be applied: apply refuses it until these errors are fixed.**",
        ">",
        r"> - customers/a.yaml: protected: true, refusing remove\_relationship",
        r"> - This plan removes 3 relationships, more than max\_removals\_per\_run (2): "
        "apply will refuse it.",
    ]


def test_warnings_and_unmanaged() -> None:
    document = render(small_plan())
    assert "**Warnings**\n\n- customers/fabrikam.yaml: name 'Fabrikam' differs" in document
    assert (
        "**Unmanaged:** 5 customers in Partner Center not in the desired state (left alone): "
        r"<code>u-1</code>, <code>u-2</code>, <code>u-3</code> and 2 more." in document
    )


def test_irreversible_action_is_bold_with_consequences_in_its_section() -> None:
    section = section_of(render(small_plan()), "Contoso Ltd")
    assert "<b>removes the relationship (irreversible)</b></summary>" in section
    row = next(line for line in section.splitlines() if "IRREVERSIBLE)**" in line)
    assert row.startswith(f"| **remove relationship (IRREVERSIBLE)** | Contoso Ltd <code>{CONTOSO}")
    assert "\n".join(f"- {c}" for c in REMOVAL_CONSEQUENCES) in section
    assert "| cancel | Microsoft 365 E5 <code>nce-2</code> | inside the window |" in section


def test_deferred_and_blocked_items() -> None:
    document = render(small_plan())
    deferred = section_of(document, "Northwind Traders")
    assert "1 deferred</summary>" in deferred
    assert "- **until 2027-03-01:** remove relationship <code>" in deferred
    blocked = section_of(document, "Tailspin Toys")
    assert f"  1. {STEPS[0]}\n  2. {STEPS[1]}" in blocked


def test_hostile_customer_name_cannot_break_the_table_or_inject_html() -> None:
    plan = Plan(now=NOW, actions=[remove(CONTOSO, HOSTILE)])
    plan.actions.append(Action(CONTOSO, ActionType.CANCEL, "s|1", HOSTILE, HOSTILE))
    plan.customers[CONTOSO] = CustomerRef(HOSTILE, "customers/<evil>.yaml")
    plan.warnings = [HOSTILE]
    document = render(plan)
    assert "<script>" not in document
    assert "<evil>" not in document
    assert document.count("</details>") == 1
    assert "\n- injected" not in document
    assert "<summary><b>Evil | Corp &lt;script&gt;alert(1)&lt;/script&gt;" in document
    rows = [line for line in document.splitlines() if line.startswith("| ")]
    section_rows = rows[rows.index("| Action | Target | Reason |") :]
    assert len(section_rows) == 4
    assert all(len(UNESCAPED_PIPE.findall(row)) == 4 for row in section_rows)
    assert r"\*x\* \`y\` \[l\](http://e)" in document


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("- item", r"\- item"),
        ("12. item", r"12\. item"),
        ("# heading", r"\# heading"),
        ("a-b.c", "a-b.c"),
        ("a|b", r"a\|b"),
        ("<b>&", "&lt;b&gt;&amp;"),
        ("$x$ ~s~ _u_", r"\$x\$ \~s\~ \_u\_"),
        ("two\nlines", "two lines"),
    ],
)
def test_md_escaping(text: str, escaped: str) -> None:
    assert md(text) == escaped


def test_no_changes() -> None:
    document = render(Plan(now=NOW, api_calls=2))
    assert NO_CHANGES in document
    assert "<details>" not in document
    assert "| API calls | 2 |" in document


def test_small_plan_is_not_truncated_and_is_deterministic() -> None:
    document = render(small_plan())
    assert "Not shown here" not in document
    assert document == render(small_plan())


def test_thousands_of_customers_fit_the_default_limit_with_a_count() -> None:
    document = render(large_plan(3000))
    assert len(document) <= DEFAULT_LIMIT
    shown = document.count("<details><summary>")
    assert 0 < shown < 3000
    assert document.count("</details>") == shown
    note = f"Not shown here, to stay within {DEFAULT_LIMIT} characters: {3000 - shown} of 3000"
    assert f"> [!NOTE]\n> {note} customers. The full plan is in this job's artifacts" in document
    assert "| Customers | 3000 |" in document
    assert "| Actions | 6000 |" in document
    # The first customers are the ones shown.
    assert f"<b>Customer {shown - 1}</b>" in document
    assert f"<b>Customer {shown}</b>" not in document


@pytest.mark.parametrize("limit", [3_000, 10_000, 65_536])
def test_any_limit_holds(limit: int) -> None:
    document = render(large_plan(1000), limit=limit)
    assert len(document) <= limit
    shown = document.count("<details><summary>")
    assert f": {1000 - shown} of 1000 customers." in document


def test_a_document_that_just_fits_is_whole() -> None:
    full = render(small_plan(), limit=10**9)
    assert render(small_plan(), limit=len(full)) == full
    cut = render(small_plan(), limit=len(full) - 1)
    assert len(cut) < len(full)
    assert re.search(r"Not shown here, to stay within \d+ characters: [1-4] of 4 customers", cut)


def test_thousands_of_warnings_are_cut_too() -> None:
    plan = small_plan()
    plan.warnings = [f"warning {n}: " + "x" * 80 for n in range(5000)]
    document = render(plan)
    assert len(document) <= DEFAULT_LIMIT
    shown = len(re.findall(r"^- warning \d+", document, flags=re.MULTILINE))
    assert f"{5000 - shown} of 5000 warnings, 4 of 4 customers." in document
